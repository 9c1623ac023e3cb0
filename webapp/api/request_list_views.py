"""The request list, streamed so that a 100,000-row page needs no more memory than 100 rows."""
import json
from contextlib import closing
from datetime import datetime, timezone

from flask import Response, current_app
from flask.views import MethodView

from .. import db
from ..queries.request_list_queries import stream_requests
from . import schemas
from .blueprint import Blueprint

blp = Blueprint("requests", __name__, url_prefix="/api/monitoring/chat-requests",
                description="Individual chat completion requests.")

_metadata_schema = schemas.RequestListMetadata()


def _json_body(args, chunk_rows):
    """The response envelope, written piece by piece as rows arrive.

    The first step (yielding nothing) reads the count, so that a database fault
    still becomes a 5xx before the status line goes out.
    """
    filters = {key: args[key] for key in schemas.RequestListFilters().fields}
    # Closing the rows' generator ends its transaction before the connection goes back
    # to the pool, also when the client leaves mid-stream (else the pool discards it).
    with db.connection() as conn, closing(
            stream_requests(conn, filters, args["limit"], args["offset"], chunk_rows)) as chunks:
        total_count = next(chunks)
        yield ""
        yield '{"success": true, "data": ['
        returned = 0
        for rows in chunks:
            yield ("," if returned else "") + ",".join(rows)
            returned += len(rows)
    metadata = _metadata_schema.dump({
        "timestamp": datetime.now(timezone.utc), "method": "sql",
        "total_count": total_count, "limit": args["limit"], "offset": args["offset"],
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
        body = _json_body(args, current_app.config["STREAM_CHUNK_ROWS"])
        next(body)
        return Response(body, mimetype="application/json")
