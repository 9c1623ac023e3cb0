"""Provider and model statistics endpoints."""
from datetime import datetime, timezone

from flask import current_app
from flask.views import MethodView
from flask_smorest import abort

from .. import rollups
from ..db import get_db
from ..queries import stats_queries
from . import schemas
from .blueprint import Blueprint

blp = Blueprint("stats", __name__, url_prefix="/api/monitoring/chat-requests",
                description="Request statistics per provider and per model.")


def _metadata(method, **extra):
    """Common metadata, including where the numbers came from and how fresh the rollups are."""
    lag = rollups.lag(get_db()) if method == stats_queries.RPC else None
    return {"timestamp": datetime.now(timezone.utc), "method": method,
            "source": current_app.config["STATS_SOURCE"] if lag else "raw",
            "rollup_lag_rows": lag and lag["lag_rows"],
            "rollup_lag_seconds": lag and lag["lag_seconds"], **extra}


@blp.route("/providers")
class Providers(MethodView):
    @blp.arguments(schemas.RangeArgs, location="query")
    @blp.response(200, schemas.ProvidersResponse)
    @blp.alt_response(422, description="Invalid query parameters.")
    def get(self, args):
        """Request counts per provider

        Every provider, busiest first. Requests whose model is unknown are
        counted in `metadata.unattributed_requests`.
        """
        rows, unattributed, method = stats_queries.provider_stats(get_db(), args["start_date"], args["end_date"])
        return {"data": rows, "metadata": _metadata(
            method, total_providers=len(rows), unattributed_requests=unattributed, filters=args)}


@blp.route("/models")
class Models(MethodView):
    @blp.arguments(schemas.ModelsArgs, location="query")
    @blp.response(200, schemas.ModelsResponse)
    @blp.alt_response(422, description="Invalid query parameters.")
    def get(self, args):
        """Statistics per model

        Models with at least one request in the range, busiest first;
        optionally only one provider's.
        """
        rows, method = stats_queries.model_stats(get_db(), args["start_date"], args["end_date"],
                                                 provider_id=args["provider_id"])
        return {"data": rows, "metadata": _metadata(method, total_models=len(rows), filters=args)}


# The id is validated by a schema, not by the route, so that a bad id gets a 422 naming it.
@blp.route("/models/<model_id>")
class ModelDetail(MethodView):
    @blp.arguments(schemas.ModelPath, location="path", as_kwargs=True)
    @blp.arguments(schemas.RangeArgs, location="query")
    @blp.response(200, schemas.ModelResponse)
    @blp.alt_response(404, description="No model has this id.")
    @blp.alt_response(422, description="Invalid query parameters or model id out of range.")
    def get(self, args, model_id):
        """Statistics of one model

        Zeros when the model has no requests in the range.
        """
        rows, method = stats_queries.model_stats(get_db(), args["start_date"], args["end_date"],
                                                 model_id=model_id)
        if not rows:
            abort(404, message=f"Model {model_id} not found.")
        return {"data": rows[0], "metadata": _metadata(method, total_models=1, filters=args)}
