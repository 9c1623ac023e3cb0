"""Marshmallow schemas for every argument and response of the API."""
from datetime import timezone
from urllib.parse import unquote_to_bytes

from flask import has_request_context, request
from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from ..queries.request_list import EXPORT_FORMATS

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
STATUSES = ("completed", "failed", "partial")

_id = dict(validate=validate.Range(min=1, max=INT32_MAX))
# Decimals travel as strings (exact); the spec must say so, not "number".
_DECIMAL_STRING = {"type": "string", "format": "decimal", "pattern": r"^-?\d+(\.\d+)?$"}


def _date(description):
    return fields.AwareDateTime(
        load_default=None, default_timezone=timezone.utc,
        metadata={"description": description, "example": "2026-11-01T00:00:00Z"})


class QueryArgs(Schema):
    """Query arguments (unknown ones are refused by the API's Blueprint)."""

    @pre_load
    def _once_and_without_nul(self, data, **kwargs):
        """A repeated parameter is ambiguous, PostgreSQL text cannot hold NUL, and werkzeug
        silently replaces invalid UTF-8: refuse all three."""
        multidict = getattr(data, "data", data)  # webargs hands over a proxy of request.args
        errors = _invalid_utf8_parameters(request.query_string) if has_request_context() else {}
        for key in multidict:
            values = multidict.getlist(key) if hasattr(multidict, "getlist") else [multidict[key]]
            if len(values) > 1:
                errors[key] = ["Give this parameter at most once."]
            elif any(isinstance(value, str) and "\x00" in value for value in values):
                errors[key] = ["Must not contain NUL characters."]
        if errors:
            raise ValidationError(errors)
        return data


class RangeArgs(QueryArgs):
    start_date = _date("Inclusive start (ISO 8601; no zone means UTC).")
    end_date = _date("Exclusive end (ISO 8601; no zone means UTC).")

    @validates_schema
    def _start_not_after_end(self, data, **kwargs):
        start, end = data.get("start_date"), data.get("end_date")
        if start and end and start > end:
            raise ValidationError("start_date must not be after end_date.", "start_date")


def _top_n(example):
    return fields.Integer(
        load_default=None, validate=validate.Range(min=1, max=INT32_MAX),
        metadata={"description": "Only the first N models, busiest first; the metadata's "
                                 "totals still count every model. Omitted: all.",
                  "example": example})


class ModelsArgs(RangeArgs):
    provider_id = fields.Integer(load_default=None, **_id,
                                 metadata={"description": "Only this provider's models.", "example": 1})
    limit = _top_n(20)


class CountsArgs(RangeArgs):
    limit = _top_n(5)


class PlotDataArgs(RangeArgs):
    model_id = fields.Integer(load_default=None, **_id,
                              metadata={"description": "Model (models.id).", "example": 3})
    provider_id = fields.Integer(load_default=None, **_id,
                                 metadata={"description": "Provider id.", "example": 1})


class RequestFilterArgs(PlotDataArgs):
    """The filters of the request list (and of the export)."""
    model_name = fields.String(
        load_default=None, validate=validate.Length(min=1, max=200),
        metadata={"description": "Case-insensitive substring of the model's name (models.model_name).",
                  "example": "gpt"})
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES),
                           metadata={"description": "Only requests with this status.", "example": "failed"})


class RequestListArgs(RequestFilterArgs):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=100_000),
                           metadata={"description": "Rows per page (1-100000); large pages stream.",
                                     "example": 100})
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=INT64_MAX),
                            metadata={"description": "Rows to skip (newest first).", "example": 0})


def _request_column_filter(column, example):
    return fields.Integer(load_default=None, validate=validate.Range(min=0, max=INT64_MAX),
                          metadata={"description": f"Only requests with this {column}.",
                                    "example": example})


class ExportArgs(RequestFilterArgs):
    user_id = _request_column_filter("user_id", 7)
    api_key_id = _request_column_filter("api_key_id", 3)
    format = fields.String(
        load_default="csv", validate=validate.OneOf(EXPORT_FORMATS),
        metadata={"description": "`csv` (default): a header line, then one line per request "
                                 "(RFC 4180 quoting, CRLF line ends); `ndjson`: one JSON object "
                                 "per line.", "example": "csv"})
    order = fields.String(
        load_default="desc", validate=validate.OneOf(("desc", "asc")),
        metadata={"description": "`desc` (default): newest first, as the request list; `asc`: "
                                 "oldest first. Ties on created_at go by id.", "example": "desc"})


class ModelPath(Schema):
    model_id = fields.Integer(required=True, **_id,
                              metadata={"description": "Model (models.id).", "example": 3})


def _invalid_utf8_parameters(query_string):
    errors = {}
    for pair in query_string.split(b"&"):
        name, _, value = pair.partition(b"=")
        try:
            unquote_to_bytes(name.replace(b"+", b" ")).decode()
            unquote_to_bytes(value.replace(b"+", b" ")).decode()
        except UnicodeDecodeError:
            errors[unquote_to_bytes(name).decode(errors="replace")] = ["Must be valid UTF-8."]
    return errors


# -- responses ---------------------------------------------------------------

class RangeFilters(Schema):
    start_date = fields.AwareDateTime(allow_none=True, default_timezone=timezone.utc)
    end_date = fields.AwareDateTime(allow_none=True, default_timezone=timezone.utc)


class CountsFilters(RangeFilters):
    limit = fields.Integer(allow_none=True)


class ModelsFilters(CountsFilters):
    provider_id = fields.Integer(allow_none=True)


class PlotDataFilters(RangeFilters):
    model_id = fields.Integer(allow_none=True)
    provider_id = fields.Integer(allow_none=True)


class RequestListFilters(PlotDataFilters):
    model_name = fields.String(allow_none=True)
    status = fields.String(allow_none=True)


class Metadata(Schema):
    timestamp = fields.AwareDateTime(default_timezone=timezone.utc,
                                     metadata={"description": "When the answer was computed (UTC)."})
    method = fields.String(metadata={
        "description": "`rpc` when the SQL functions answered; `fallback_*` when they are missing "
                       "and plain SQL in the app answered (same numbers, slower)."})
    replica_lag_seconds = fields.Float(allow_none=True, metadata={
        "description": "How far the standby that answered is behind the primary, in seconds "
                       "(0: it has replayed all it received and is streaming); null when the "
                       "primary answered (no standby configured, or the standbys unreachable)."})


class StatsMetadata(Metadata):
    source = fields.String(metadata={
        "description": "`rollup`: pre-aggregated buckets plus the raw rows not rolled up yet "
                       "(exact and fresh); `raw`: aggregated from the request rows."})
    rollup_lag_rows = fields.Integer(allow_none=True, metadata={
        "description": "Requests not rolled up yet (read raw); null without rollups."})
    rollup_lag_seconds = fields.Float(allow_none=True, metadata={
        "description": "Seconds since the last refresh while rows wait; 0 when none wait."})
    range_exact = fields.Boolean(metadata={
        "description": "False when an edge of the range fell before the raw-data retention "
                       "horizon at a finer precision than the rollups keep there, and was "
                       "rounded outwards to whole buckets (see effective_*_date)."})
    effective_start_date = fields.AwareDateTime(allow_none=True, default_timezone=timezone.utc, metadata={
        "description": "The start the numbers cover: start_date unless rounded (null: open)."})
    effective_end_date = fields.AwareDateTime(allow_none=True, default_timezone=timezone.utc, metadata={
        "description": "The end the numbers cover: end_date unless rounded (null: open)."})


class Provider(Schema):
    provider_id = fields.Integer()
    name = fields.String()
    slug = fields.String()
    models_with_requests = fields.Integer(metadata={"description": "Distinct models with requests."})
    total_requests = fields.Integer()


class ProvidersMetadata(StatsMetadata):
    total_providers = fields.Integer()
    unattributed_requests = fields.Integer(
        metadata={"description": "Requests in range of no known provider: model_id NULL, or a model "
                                 "that left the catalog or has no provider."})
    filters = fields.Nested(RangeFilters)


class ProvidersResponse(Schema):
    success = fields.Boolean(dump_default=True)
    data = fields.List(fields.Nested(Provider))
    metadata = fields.Nested(ProvidersMetadata)


class ProviderRef(Schema):
    id = fields.Integer(allow_none=True)
    name = fields.String(allow_none=True)
    slug = fields.String(allow_none=True)


_PERCENTILE = ("{} the processing times (percentile_disc's ranking), from the rollups' "
               "latency histograms: within 1% or 1 ms, whichever is larger; exact in the "
               "fallback and with the raw source. Null without requests.")


class ModelStats(Schema):
    total_requests = fields.Integer()
    completed_requests = fields.Integer()
    failed_requests = fields.Integer()
    partial_requests = fields.Integer()
    other_requests = fields.Integer(metadata={
        "description": "Requests of any other status (the gateway's default is 'pending'); counted in "
                       "total_requests, as the three above."})
    total_input_tokens = fields.Integer()
    total_output_tokens = fields.Integer()
    total_tokens = fields.Integer()
    avg_processing_time_ms = fields.Float(allow_none=True, metadata={
        "description": "Mean over the requests with a processing time (the gateway may leave it NULL), "
                       "2 decimals; null without such requests."})
    total_cost_usd = fields.Decimal(as_string=True, places=6, metadata={**_DECIMAL_STRING,
        "description": "Exact sum of the known costs, as a decimal string.", "example": "12.345678"})
    p50_processing_time_ms = fields.Float(allow_none=True, metadata={
        "description": _PERCENTILE.format("Median"), "example": 2148.71})
    p95_processing_time_ms = fields.Float(allow_none=True, metadata={
        "description": _PERCENTILE.format("95th percentile of"), "example": 8308.78})
    p99_processing_time_ms = fields.Float(allow_none=True, metadata={
        "description": _PERCENTILE.format("99th percentile of"), "example": 12788.25})


class Model(Schema):
    """A model and its statistics (the API has PostgreSQL write it: queries/stats.py's _MODEL_JSON)."""
    model_id = fields.Integer(metadata={"description": "models.id (also of a model that left the catalog)"})
    model_identifier = fields.String(allow_none=True, metadata={
        "description": "Public identifier, e.g. gpt-4; null for a model that left the catalog, "
                       "as are the other catalog fields."})
    model_name = fields.String(allow_none=True)
    provider_model_id = fields.String(allow_none=True)
    provider = fields.Nested(ProviderRef, metadata={"description": "Its fields null without a known provider."})
    stats = fields.Nested(ModelStats)


class ModelsMetadata(StatsMetadata):
    total_models = fields.Integer()
    filters = fields.Nested(ModelsFilters)


class ModelsResponse(Schema):
    success = fields.Boolean(dump_default=True)
    data = fields.List(fields.Nested(Model))
    metadata = fields.Nested(ModelsMetadata)


class ModelResponse(Schema):
    success = fields.Boolean(dump_default=True)
    data = fields.Nested(Model)
    metadata = fields.Nested(ModelsMetadata)


class ModelCount(Schema):
    model_id = fields.Integer(metadata={"description": "models.id", "example": 1})
    model_name = fields.String(allow_none=True, metadata={"example": "GPT-4o"})
    model_identifier = fields.String(allow_none=True, metadata={
        "description": "Public identifier (models.model_id, or model_name where the catalog has no "
                       "model_id); null, as the names are, for a model "
                       "that left the catalog.", "example": "gpt-4o"})
    provider_name = fields.String(allow_none=True, metadata={"example": "OpenAI"})
    provider_slug = fields.String(allow_none=True, metadata={"example": "openai"})
    request_count = fields.Integer(metadata={"description": "Requests in the range, whatever "
                                             "their status.", "example": 458276})


class CountsMetadata(StatsMetadata):
    total_models = fields.Integer(metadata={"description": "Models with requests in the range "
                                            "(all of them, also beyond `limit`).", "example": 20})
    total_requests = fields.Integer(metadata={"description": "Their requests (all models, also "
                                              "beyond `limit`).", "example": 1000000})
    filters = fields.Nested(CountsFilters)


class CountsResponse(Schema):
    success = fields.Boolean(dump_default=True)
    data = fields.List(fields.Nested(ModelCount))
    metadata = fields.Nested(CountsMetadata)


class RequestModel(Schema):
    """A request's model as gatewayz nests it (PostgREST's embedding of models and providers)."""
    id = fields.Integer(metadata={"description": "models.id", "example": 1})
    model_id = fields.String(metadata={"description": "Public identifier: models.model_id, or model_name "
                                                      "where the catalog has no model_id (the gateway's).",
                                       "example": "gpt-4o"})
    model_name = fields.String(metadata={"example": "GPT-4o"})
    provider_model_id = fields.String(metadata={"example": "gpt-4o-2024-08-06"})
    provider_id = fields.Integer(metadata={"example": 1})
    providers = fields.Nested(ProviderRef, metadata={"description": "The model's provider."})


class RequestRow(Schema):
    id = fields.Integer()
    request_id = fields.String(allow_none=True, metadata={
        "description": "Null where the gateway's table has no such column."})
    model_id = fields.Integer(allow_none=True)
    input_tokens = fields.Integer(allow_none=True, metadata={"description": "The gateway may leave it null."})
    output_tokens = fields.Integer(allow_none=True, metadata={"description": "The gateway may leave it null."})
    total_tokens = fields.Integer(metadata={"description": "input_tokens + output_tokens, null counted as 0."})
    processing_time_ms = fields.Float(allow_none=True, metadata={
        "description": "Milliseconds; the gateway's column is numeric and may be null."})
    status = fields.String()
    error_message = fields.String(allow_none=True)
    user_id = fields.Integer(allow_none=True)
    api_key_id = fields.Integer(allow_none=True)
    cost_usd = fields.Decimal(as_string=True, allow_none=True, metadata=_DECIMAL_STRING)
    created_at = fields.AwareDateTime(default_timezone=timezone.utc)
    models = fields.Nested(RequestModel, allow_none=True, metadata={
        "description": "The model with its provider; null when the request has none."})


class RequestListMetadata(Metadata):
    total_count = fields.Integer(metadata={"description": "Rows matching all filters (exact)."})
    complete_from = fields.AwareDateTime(allow_none=True, default_timezone=timezone.utc, metadata={
        "description": "The list holds every request from this instant on; older ones were removed "
                       "(CHATSTATS_RAW_RETENTION_DAYS, or the table's own TTL: "
                       "CHATSTATS_SOURCE_TTL_DAYS) and only their statistics remain. Null: none "
                       "were removed."})
    limit = fields.Integer()
    offset = fields.Integer()
    returned_count = fields.Integer()
    filters = fields.Nested(RequestListFilters)


class RequestListResponse(Schema):
    success = fields.Boolean(dump_default=True)
    data = fields.List(fields.Nested(RequestRow))
    metadata = fields.Nested(RequestListMetadata)


class PlotData(Schema):
    """One entry per request, oldest first; the arrays are aligned by index."""
    tokens = fields.List(fields.Integer(), metadata={"description": "total_tokens of each request.",
                                                     "example": [350, 420]})
    latency = fields.List(fields.Float(allow_none=True), metadata={
        "description": "processing_time_ms of each request (the gateway's column is numeric and may be "
                       "null).", "example": [1234, 890.5, None]})
    timestamps = fields.List(fields.AwareDateTime(default_timezone=timezone.utc), metadata={
        "description": "created_at of each request.",
        "example": ["2026-11-01T10:00:00+00:00", "2026-11-01T10:05:00.250000+00:00"]})


class PlotDataMetadata(Metadata):
    recent_count = fields.Integer(metadata={"description": "Rows in recent_requests (at most 10).",
                                            "example": 10})
    total_count = fields.Integer(metadata={"description": "Requests in plot_data: every request "
                                           "matching the filters (exact).", "example": 5432})
    compression = fields.String(metadata={"example": "arrays"})
    format_version = fields.String(metadata={"example": "1.0"})
    filters = fields.Nested(PlotDataFilters)


class PlotDataResponse(Schema):
    success = fields.Boolean(dump_default=True)
    recent_requests = fields.List(fields.Nested(RequestRow), metadata={
        "description": "The 10 newest matching requests, newest first."})
    plot_data = fields.Nested(PlotData)
    metadata = fields.Nested(PlotDataMetadata)


class Health(Schema):
    status = fields.String(metadata={"example": "ok"})


class RollupLag(Schema):
    lag_rows = fields.Integer()
    lag_seconds = fields.Float()
    watermark_id = fields.Integer()
    refreshed_at = fields.AwareDateTime(allow_none=True, default_timezone=timezone.utc)


class Readiness(Schema):
    status = fields.String(metadata={"example": "ready"})
    database = fields.String(metadata={"example": "ok"})
    pending_migrations = fields.List(fields.String())
    reads = fields.String(metadata={"description": "Who answers reads: `standby` or `primary`.",
                                    "example": "standby"})
    primary = fields.String(metadata={"description": "`ok`, or `unavailable` (statistics still "
                                      "answer from the standbys; last_used_at is not written)",
                                      "example": "ok"})
    rollup = fields.Nested(RollupLag, allow_none=True)
    replica_lag_seconds = fields.Float(allow_none=True, metadata={
        "description": "How far the standby answering reads is behind; null on the primary."})
