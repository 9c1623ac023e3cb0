"""The request list, streamed so that a 100,000-row page needs no more memory than 100 rows."""
import json
from contextlib import closing
from datetime import datetime, timezone

from flask import Response, current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from .. import db
from ..queries.requests import stream_requests
from . import schemas

blp = Blueprint("requests", __name__, url_prefix="/api/monitoring/chat-requests",
                description="Individual chat completion requests.")

_row_schema = schemas.RequestRow(many=True)
_metadata_schema = schemas.RequestListMetadata()


def _nest(row):
    model = provider = None
    if row["model_id"] is not None:
        model = {"id": row["model_id"], "model_id": row["model_identifier"],
                 "model_name": row["model_name"], "provider_model_id": row["provider_model_id"]}
        provider = {"id": row["provider_id"], "name": row["provider_name"], "slug": row["provider_slug"]}
    return {**row, "model": model, "provider": provider}


def _json_body(args, chunk_rows):
    """The response envelope, written piece by piece as rows arrive.

    The first step (yielding nothing) reads the count, so that a database fault
    still becomes a 5xx before the status line goes out.
    """
    filters = {key: args[key] for key in schemas.RequestListFilters().fields}
    # closing(): a client that goes away mid-stream ends the cursor's transaction
    # before the connection goes back to the pool.
    with db.connection() as conn, closing(
            stream_requests(conn, filters, args["limit"], args["offset"], chunk_rows)) as chunks:
        total_count = next(chunks)
        yield ""
        yield '{"success": true, "data": ['
        returned = 0
        for rows in chunks:
            text = json.dumps(_row_schema.dump(_nest(row) for row in rows))[1:-1]
            yield ("," if returned else "") + text
            returned += len(rows)
    metadata = _metadata_schema.dump({
        "timestamp": datetime.now(timezone.utc), "method": "sql",
        "total_count": total_count, "limit": args["limit"], "offset": args["offset"],
        "returned_count": returned, "filters": args})
    yield '], "metadata": ' + json.dumps(metadata) + "}"


@blp.route("")
class RequestList(MethodView):
    @blp.arguments(schemas.RequestListArgs, location="query", unknown=RAISE)
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
