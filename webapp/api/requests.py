"""The request list, streamed so that a 100,000-row page needs no more memory than 100 rows."""
import json
from datetime import datetime, timezone

from flask import Response, current_app, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from ..db import get_db
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


def _json_body(total_count, chunks, args):
    """The response envelope, written piece by piece as rows arrive."""
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
        filters = {key: args[key] for key in schemas.RequestListFilters().fields}
        chunks = stream_requests(get_db(), filters, args["limit"], args["offset"],
                                 current_app.config["STREAM_CHUNK_ROWS"])
        # Counting before the status line goes out lets a database fault still become a 5xx.
        total_count = next(chunks)
        return Response(stream_with_context(_json_body(total_count, chunks, args)),
                        mimetype="application/json")
