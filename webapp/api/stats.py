"""Provider and model statistics endpoints."""
import json
from datetime import datetime, timezone

from flask import current_app
from flask.views import MethodView
from flask_smorest import abort

from ..db import get_db
from ..queries import stats as queries
from . import schemas
from .blueprint import Blueprint

blp = Blueprint("stats", __name__, url_prefix="/api/monitoring/chat-requests",
                description="Request statistics per provider and per model.")


def _metadata(method, context, args, **extra):
    """Common metadata: where the numbers came from, how fresh the rollups are, and the
    range answered (wider than asked only where raw rows before the retention horizon
    are gone and an edge was rounded to the rollups' buckets)."""
    context = context or {}
    start, end = args["start_date"], args["end_date"]
    effective = (context["effective_start"] if context.get("start_rounded") else start,
                 context["effective_end"] if context.get("end_rounded") else end)
    return {"timestamp": datetime.now(timezone.utc), "method": method,
            "source": current_app.config["STATS_SOURCE"] if context else "raw",
            "rollup_lag_rows": context.get("rollup_lag_rows"),
            "rollup_lag_seconds": context.get("rollup_lag_seconds"),
            "replica_lag_seconds": context.get("replica_lag_seconds"),
            "range_exact": effective == (start, end),
            "effective_start_date": effective[0], "effective_end_date": effective[1],
            "filters": args, **extra}


def _answer(data_json, metadata, schema):
    """The response envelope around data that PostgreSQL wrote as JSON (the model lists:
    see queries/stats.py), with the metadata dumped by its schema."""
    body = f'{{"success": true, "data": {data_json}, "metadata": {json.dumps(schema.dump(metadata))}}}'
    return current_app.response_class(body, mimetype="application/json")


_models_metadata = schemas.ModelsMetadata()
_counts_metadata = schemas.CountsMetadata()


@blp.route("/providers")
class Providers(MethodView):
    @blp.arguments(schemas.RangeArgs, location="query")
    @blp.response(200, schemas.ProvidersResponse)
    @blp.alt_response(422, description="Invalid query parameters.")
    def get(self, args):
        """Request counts per provider

        Providers with at least one request in the range, busiest first.
        Requests of no known provider (without a model, or of a model that
        left the catalog or has no provider) are counted in
        `metadata.unattributed_requests`: the providers' totals and it add
        up to every request.
        """
        rows, unattributed, context, method = queries.provider_stats(
            get_db(), args["start_date"], args["end_date"])
        return {"data": rows, "metadata": _metadata(
            method, context, args, total_providers=len(rows), unattributed_requests=unattributed)}


@blp.route("/models")
class Models(MethodView):
    @blp.arguments(schemas.ModelsArgs, location="query")
    @blp.response(200, schemas.ModelsResponse)
    @blp.alt_response(422, description="Invalid query parameters.")
    def get(self, args):
        """Statistics per model

        Models with at least one request in the range, busiest first;
        optionally only one provider's, or only the first `limit`
        (`metadata.total_models` still counts them all). A model that left
        the catalog is listed under its id, its catalog fields null.
        """
        items, totals, context, method = queries.model_stats(
            get_db(), args["start_date"], args["end_date"], provider_id=args["provider_id"],
            limit=args["limit"])
        return _answer(f"[{','.join(items)}]", _metadata(method, context, args, total_models=totals["models"]),
                       _models_metadata)


@blp.route("/counts")
class Counts(MethodView):
    @blp.arguments(schemas.CountsArgs, location="query")
    @blp.response(200, schemas.CountsResponse)
    @blp.alt_response(422, description="Invalid query parameters.")
    def get(self, args):
        """Request counts per model

        The light alternative to `/models` (gatewayz's `/counts`): models with
        at least one request in the range, busiest first, optionally only the
        first `limit`. `metadata.total_models` and `metadata.total_requests`
        count every model; requests without a model are not counted (see
        `/providers`' `unattributed_requests`).
        """
        items, totals, context, method = queries.model_counts(
            get_db(), args["start_date"], args["end_date"], limit=args["limit"])
        return _answer(f"[{','.join(items)}]", _metadata(
            method, context, args, total_models=totals["models"], total_requests=totals["requests"]),
            _counts_metadata)


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
        items, _, context, method = queries.model_stats(
            get_db(), args["start_date"], args["end_date"], model_id=model_id)
        if not items:
            abort(404, message=f"Model {model_id} not found.")
        return _answer(items[0], _metadata(method, context, args, total_models=1), _models_metadata)
