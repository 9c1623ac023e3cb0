"""Marshmallow schemas for every argument and response of the API."""
from datetime import timezone
from urllib.parse import unquote_to_bytes

from flask import has_request_context, request
from marshmallow import Schema, ValidationError, fields, pre_dump, pre_load, validate, validates_schema

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


class ModelsArgs(RangeArgs):
    provider_id = fields.Integer(load_default=None, **_id,
                                 metadata={"description": "Only this provider's models.", "example": 1})


class RequestListArgs(RangeArgs):
    model_id = fields.Integer(load_default=None, **_id,
                              metadata={"description": "Model (models.id).", "example": 3})
    provider_id = fields.Integer(load_default=None, **_id,
                                 metadata={"description": "Provider id.", "example": 1})
    model_name = fields.String(
        load_default=None, validate=validate.Length(min=1, max=200),
        metadata={"description": "Case-insensitive substring of the model's name (models.model_name).",
                  "example": "gpt"})
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES),
                           metadata={"description": "Only requests with this status.", "example": "failed"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=100_000),
                           metadata={"description": "Rows per page (1-100000); large pages stream.",
                                     "example": 100})
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=INT64_MAX),
                            metadata={"description": "Rows to skip (newest first).", "example": 0})


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


class ModelsFilters(RangeFilters):
    provider_id = fields.Integer(allow_none=True)


class RequestListFilters(RangeFilters):
    model_id = fields.Integer(allow_none=True)
    provider_id = fields.Integer(allow_none=True)
    model_name = fields.String(allow_none=True)
    status = fields.String(allow_none=True)


class Metadata(Schema):
    timestamp = fields.AwareDateTime(default_timezone=timezone.utc,
                                     metadata={"description": "When the answer was computed (UTC)."})
    method = fields.String(metadata={
        "description": "`rpc` when the SQL functions answered; `fallback_*` when they are missing "
                       "and plain SQL in the app answered (same numbers, slower)."})


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
        metadata={"description": "Requests in range whose model_id is NULL (no provider)."})
    filters = fields.Nested(RangeFilters)


class ProvidersResponse(Schema):
    success = fields.Boolean(dump_default=True)
    data = fields.List(fields.Nested(Provider))
    metadata = fields.Nested(ProvidersMetadata)


class ProviderRef(Schema):
    id = fields.Integer()
    name = fields.String()
    slug = fields.String()


_PERCENTILE = ("{} the processing times (percentile_disc's ranking), from the rollups' "
               "latency histograms: within 1% or 1 ms, whichever is larger; exact in the "
               "fallback and with the raw source. Null without requests.")


class ModelStats(Schema):
    total_requests = fields.Integer()
    completed_requests = fields.Integer()
    failed_requests = fields.Integer()
    partial_requests = fields.Integer()
    total_input_tokens = fields.Integer()
    total_output_tokens = fields.Integer()
    total_tokens = fields.Integer()
    avg_processing_time_ms = fields.Float(allow_none=True, metadata={
        "description": "Mean over all counted requests, 2 decimals; null without requests."})
    total_cost_usd = fields.Decimal(as_string=True, places=6, metadata={**_DECIMAL_STRING,
        "description": "Exact sum of the known costs, as a decimal string.", "example": "12.345678"})
    p50_processing_time_ms = fields.Float(allow_none=True, metadata={
        "description": _PERCENTILE.format("Median"), "example": 2148.71})
    p95_processing_time_ms = fields.Float(allow_none=True, metadata={
        "description": _PERCENTILE.format("95th percentile of"), "example": 8308.78})
    p99_processing_time_ms = fields.Float(allow_none=True, metadata={
        "description": _PERCENTILE.format("99th percentile of"), "example": 12788.25})


class Model(Schema):
    model_id = fields.Integer(metadata={"description": "models.id"})
    model_identifier = fields.String(metadata={"description": "Public identifier, e.g. gpt-4."})
    model_name = fields.String()
    provider_model_id = fields.String()
    provider = fields.Nested(ProviderRef)
    stats = fields.Nested(ModelStats)

    @pre_dump
    def _nest(self, row, **kwargs):
        """SQL returns one flat row; the API nests provider and stats."""
        if "stats" in row:
            return row
        return {**row,
                "provider": {"id": row["provider_id"], "name": row["provider_name"],
                             "slug": row["provider_slug"]},
                "stats": row}


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


class RequestModelRef(Schema):
    id = fields.Integer()
    model_id = fields.String(metadata={"description": "Public identifier, e.g. gpt-4."})
    model_name = fields.String()
    provider_model_id = fields.String()


class RequestRow(Schema):
    id = fields.Integer()
    request_id = fields.String()
    model_id = fields.Integer(allow_none=True)
    input_tokens = fields.Integer()
    output_tokens = fields.Integer()
    total_tokens = fields.Integer()
    processing_time_ms = fields.Integer()
    status = fields.String()
    error_message = fields.String(allow_none=True)
    user_id = fields.Integer(allow_none=True)
    api_key_id = fields.Integer(allow_none=True)
    cost_usd = fields.Decimal(as_string=True, allow_none=True, metadata=_DECIMAL_STRING)
    created_at = fields.AwareDateTime(default_timezone=timezone.utc)
    model = fields.Nested(RequestModelRef, allow_none=True)
    provider = fields.Nested(ProviderRef, allow_none=True)


class RequestListMetadata(Metadata):
    total_count = fields.Integer(metadata={"description": "Rows matching all filters (exact)."})
    limit = fields.Integer()
    offset = fields.Integer()
    returned_count = fields.Integer()
    filters = fields.Nested(RequestListFilters)


class RequestListResponse(Schema):
    success = fields.Boolean(dump_default=True)
    data = fields.List(fields.Nested(RequestRow))
    metadata = fields.Nested(RequestListMetadata)


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
    rollup = fields.Nested(RollupLag, allow_none=True)
