"""The request list, streamed so that a 100,000-row page needs no more memory than 100 rows."""
import json
from contextlib import ExitStack
from datetime import datetime, timezone

from flask import Response, current_app
from flask.views import MethodView

from .. import db
from ..queries.request_list_queries import open_page
from . import schemas
from .blueprint import Blueprint

blp = Blueprint("requests", __name__, url_prefix="/api/monitoring/chat-requests",
                description="Individual chat completion requests.")

_metadata_schema = schemas.RequestListMetadata()


def _json_body(page, args, done):
    """The response envelope, written piece by piece as the page's chunks arrive;
    `done` (ending the page) is left as soon as the last row is written."""
    with done:
        yield '{"success": true, "data": ['
        returned = 0
        for rows in page.chunks:
            yield ("," if returned else "") + ",".join(rows)
            returned += len(rows)
    metadata = _metadata_schema.dump({
        "timestamp": datetime.now(timezone.utc), "method": "sql",
        "total_count": page.total, "limit": args["limit"], "offset": args["offset"],
        "returned_count": returned, "filters": args})
    yield '], "metadata": ' + json.dumps(metadata) + "}"


@blp.route("")
class RequestList(MethodView):
    @blp.arguments(schemas.RequestListArgs, location="query")
    @blp.response(200, schemas.RequestListResponse)
    @blp.alt_response(422, description="Invalid query parameters.")
    def get(self, args):
        """List requests, newest first

        Each row carries its model and provider. `metadata.total_count` counts
        every row matching all filters; the page is streamed.
        """
        filters = {key: args[key] for key in schemas.RequestListFilters().fields}
        # The page opens here, so that a database fault while counting is still a 5xx;
        # its rows are read as the body is written. It ends (its transaction, then the
        # connection back to the pool) after the last row, or when the server closes
        # the response of a client that left early.
        with ExitStack() as opened:
            conn = opened.enter_context(db.connection())
            page = opened.enter_context(open_page(conn, filters, args["limit"], args["offset"],
                                                  current_app.config["STREAM_CHUNK_ROWS"]))
            done = opened.pop_all()
        response = Response(_json_body(page, args, done), mimetype="application/json")
        response.call_on_close(done.close)
        return response
