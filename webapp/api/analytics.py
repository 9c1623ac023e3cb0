"""Analytics endpoints: time series in a time zone, breakdowns by key, user, model or
provider."""
from datetime import datetime, timezone

from flask import current_app
from flask.views import MethodView
from flask_smorest import abort

from ..db import get_db
from ..queries import analytics as queries
from . import analytics_schemas as schemas
from .blueprint import Blueprint

blp = Blueprint("analytics", __name__, url_prefix="/api/monitoring/chat-requests",
                description="Time series and breakdowns of the requests.")

_FILTERS = ("provider_id", "model_id", "api_key_id", "user_id", "status")

_STATS_EXAMPLE = {"total_requests": 1520, "completed_requests": 1450, "failed_requests": 48,
                  "partial_requests": 22, "other_requests": 0, "total_input_tokens": 890112, "total_output_tokens": 431908,
                  "total_tokens": 1322020, "avg_processing_time_ms": 3310.73, "total_cost_usd": "4.031270",
                  "p50_processing_time_ms": 2369.96, "p95_processing_time_ms": 9530.69,
                  "p99_processing_time_ms": 14668.93}
_TIMESERIES_EXAMPLE = {
    "success": True,
    "data": [{"bucket_start": "2026-11-23T00:00:00+05:45", **_STATS_EXAMPLE},
             {"bucket_start": "2026-11-23T01:00:00+05:45", **_STATS_EXAMPLE, "total_requests": 0,
              "completed_requests": 0, "failed_requests": 0, "partial_requests": 0, "other_requests": 0,
              "total_input_tokens": 0, "total_output_tokens": 0, "total_tokens": 0,
              "avg_processing_time_ms": None, "total_cost_usd": "0.000000",
              "p50_processing_time_ms": None, "p95_processing_time_ms": None,
              "p99_processing_time_ms": None}],
    "metadata": {"timestamp": "2026-11-24T12:00:00+00:00", "method": "rpc", "source": "rollup",
                 "rollup_lag_rows": 0, "rollup_lag_seconds": 0.0, "bucket_count": 2,
                 "filters": {"bucket": "hour", "tz": "Asia/Kathmandu",
                             "start_date": "2026-11-22T18:15:00+00:00",
                             "end_date": "2026-11-22T20:15:00+00:00", "provider_id": None,
                             "model_id": 3, "api_key_id": None, "user_id": None, "status": None}}}
_BREAKDOWN_EXAMPLE = {
    "success": True,
    "data": [{"id": 7, "name": None, **_STATS_EXAMPLE}, {"id": None, "name": None, **_STATS_EXAMPLE}],
    "others": _STATS_EXAMPLE, "total": _STATS_EXAMPLE,
    "metadata": {"timestamp": "2026-11-24T12:00:00+00:00", "method": "rpc", "source": "rollup",
                 "rollup_lag_rows": 0, "rollup_lag_seconds": 0.0, "total_groups_listed": 2,
                 "filters": {"by": "api_key", "top": 2, "order": "cost", "start_date": None,
                             "end_date": None, "provider_id": None, "model_id": None,
                             "api_key_id": None, "user_id": None, "status": None}}}


def _metadata(lag, args, **extra):
    return {"timestamp": datetime.now(timezone.utc), "method": "rpc",
            "source": current_app.config["STATS_SOURCE"], **lag, "filters": args, **extra}


@blp.route("/timeseries")
class Timeseries(MethodView):
    @blp.arguments(schemas.TimeseriesArgs, location="query")
    @blp.response(200, schemas.TimeseriesResponse, example=_TIMESERIES_EXAMPLE)
    @blp.alt_response(422, description="Invalid query parameters, or more than 1,000 buckets.")
    def get(self, args):
        """Statistics per bucket of a time zone's local calendar

        One point per `minute`, `hour`, `day`, `week` (from Monday) or `month`
        of the zone `tz`, oldest first, zeros where nothing happened: days of a
        DST change have 23 or 25 hours. Without `start_date` the series starts
        at the first request's bucket; without `end_date` it ends now. Sums are
        exact; percentiles come from the rollups' histograms (within 1% or
        1 ms), exact where raw rows answer (a `status` filter, two of model,
        key and user at once, or minute buckets).
        """
        try:
            points, lag = queries.timeseries(
                get_db(), args["bucket"], args["tz"], args["start_date"], args["end_date"],
                {key: args[key] for key in _FILTERS})
        except queries.BucketError as error:  # too many, or undefined there
            abort(422, message=f"Bad buckets: {error}.", errors={"query": {"bucket": [f"{error}."]}})
        return {"data": points, "metadata": _metadata(lag, args, bucket_count=len(points))}


@blp.route("/breakdown")
class Breakdown(MethodView):
    @blp.arguments(schemas.BreakdownArgs, location="query")
    @blp.response(200, schemas.BreakdownResponse, example=_BREAKDOWN_EXAMPLE)
    @blp.alt_response(422, description="Invalid query parameters.")
    def get(self, args):
        """The top groups by API key, user, model or provider

        The first `top` groups by `order` (requests, tokens or cost), each with
        a model's statistics; requests without a key, user or model form their
        own group (`id` null). `others` sums every group after them and `total`
        all matching requests, so the numbers always add up.
        """
        rows, lag = queries.breakdown(
            get_db(), args["by"], args["top"], args["order"], args["start_date"], args["end_date"],
            {key: args[key] for key in _FILTERS})
        kinds = {row["kind"]: row for row in rows if row["kind"] != "group"}
        groups = [row for row in rows if row["kind"] == "group"]
        return {"data": groups, "others": kinds["others"], "total": kinds["total"],
                "metadata": _metadata(lag, args, total_groups_listed=len(groups))}
