"""Marshmallow schemas of the analytics endpoints (time series, breakdowns)."""
from datetime import timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import Schema, ValidationError, fields, validate

from ..queries.analytics import BUCKETS, GROUPINGS, MAX_BUCKETS, ORDERS
from .schemas import INT64_MAX, STATUSES, Metadata, ModelStats, RangeArgs, _id

_big_id = dict(validate=validate.Range(min=1, max=INT64_MAX))


class TimeZone(fields.String):
    """An IANA zone name, loaded as a ZoneInfo."""

    def _deserialize(self, value, attr, data, **kwargs):
        name = super()._deserialize(value, attr, data, **kwargs)
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(f"Unknown time zone: {name!r} (an IANA name, e.g. Europe/Berlin).") from None

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)


class AnalyticsFilterArgs(RangeArgs):
    provider_id = fields.Integer(load_default=None, **_id,
                                 metadata={"description": "Only this provider's models.", "example": 1})
    model_id = fields.Integer(load_default=None, **_id,
                              metadata={"description": "Only this model (models.id).", "example": 3})
    api_key_id = fields.Integer(load_default=None, **_big_id,
                                metadata={"description": "Only this API key's requests.", "example": 7})
    user_id = fields.Integer(load_default=None, **_big_id,
                             metadata={"description": "Only this user's requests.", "example": 42})
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES),
                           metadata={"description": "Only requests with this status.", "example": "failed"})


class TimeseriesArgs(AnalyticsFilterArgs):
    bucket = fields.String(load_default="day", validate=validate.OneOf(BUCKETS), metadata={
        "description": f"Bucket of the zone's local calendar (weeks start on Monday); at most "
                       f"{MAX_BUCKETS} buckets a call.", "example": "hour"})
    tz = TimeZone(load_default=ZoneInfo("UTC"), metadata={
        "description": "IANA time zone of the buckets.", "example": "Asia/Kathmandu"})


class BreakdownArgs(AnalyticsFilterArgs):
    by = fields.String(required=True, validate=validate.OneOf(GROUPINGS), metadata={
        "description": "What to group by.", "example": "api_key"})
    top = fields.Integer(load_default=20, validate=validate.Range(min=1, max=1000), metadata={
        "description": "Groups listed (1-1000); the rest add up to `others`.", "example": 20})
    order = fields.String(load_default="requests", validate=validate.OneOf(ORDERS), metadata={
        "description": "What ranks the groups (descending; ties by id).", "example": "cost"})


class Stats(ModelStats):
    """A model's statistics, of any set of requests."""


class Point(Stats):
    bucket_start = fields.AwareDateTime(metadata={
        "description": "The local bucket's start, with the zone's offset (the first bucket may "
                       "start before `start_date`; only requests in the range count).",
        "example": "2026-11-01T00:00:00+05:45"})


class AnalyticsFilters(Schema):
    start_date = fields.AwareDateTime(allow_none=True, default_timezone=timezone.utc)
    end_date = fields.AwareDateTime(allow_none=True, default_timezone=timezone.utc)
    provider_id = fields.Integer(allow_none=True)
    model_id = fields.Integer(allow_none=True)
    api_key_id = fields.Integer(allow_none=True)
    user_id = fields.Integer(allow_none=True)
    status = fields.String(allow_none=True)


class TimeseriesFilters(AnalyticsFilters):
    bucket = fields.String()
    tz = TimeZone()


class AnalyticsMetadata(Metadata):
    source = fields.String(metadata={
        "description": "`rollup` (the rollups, raw rows where a filter combination has none) or `raw`."})
    rollup_lag_rows = fields.Integer(allow_none=True, metadata={
        "description": "Rows not rolled up yet (counted from the raw rows: answers stay exact)."})
    rollup_lag_seconds = fields.Float(allow_none=True, metadata={
        "description": "Seconds since the last refresh when rows wait; 0 when none do."})


class TimeseriesMetadata(AnalyticsMetadata):
    bucket_count = fields.Integer(metadata={"example": 24})
    filters = fields.Nested(TimeseriesFilters)


class TimeseriesResponse(Schema):
    success = fields.Boolean(dump_default=True)
    data = fields.List(fields.Nested(Point), metadata={"description": "Oldest first, one per bucket."})
    metadata = fields.Nested(TimeseriesMetadata)


class Group(Stats):
    id = fields.Integer(allow_none=True, attribute="group_id", metadata={
        "description": "The API key's, user's, model's (models.id) or provider's id; null for "
                       "the requests without one.", "example": 7})
    name = fields.String(allow_none=True, metadata={
        "description": "The model's identifier or the provider's name; null otherwise.",
        "example": "gpt-4o"})


class BreakdownFilters(AnalyticsFilters):
    by = fields.String()
    top = fields.Integer()
    order = fields.String()


class BreakdownMetadata(AnalyticsMetadata):
    total_groups_listed = fields.Integer(metadata={"example": 20})
    filters = fields.Nested(BreakdownFilters)


class BreakdownResponse(Schema):
    success = fields.Boolean(dump_default=True)
    data = fields.List(fields.Nested(Group), metadata={"description": "The first `top` groups."})
    others = fields.Nested(Stats, metadata={"description": "Every other group together."})
    total = fields.Nested(Stats, metadata={
        "description": "All matching requests: `data` and `others` add up to it."})
    metadata = fields.Nested(BreakdownMetadata)

