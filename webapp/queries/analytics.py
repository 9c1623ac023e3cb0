"""Time series in a time zone's local calendar, and breakdowns by key, user, model or
provider: bucket boundaries computed here with zoneinfo, statistics by the SQL
functions of migration 0012 (chat_request_series, chat_request_breakdown), joined to
the rollups' lag in one statement, so that all of it is one snapshot."""
from datetime import datetime, time, timedelta, timezone

from .replication import REPLICA_LAG_SECONDS

BUCKETS = ("minute", "hour", "day", "week", "month")
GROUPINGS = ("api_key", "user", "model", "provider")
ORDERS = ("requests", "tokens", "cost")
MAX_BUCKETS = 1000

# Offsets of every zone (since 1972) are whole minutes, and those of local hours whole
# quarters: the instants where a local minute or hour starts lie on this UTC grid.
_GRID = {"minute": timedelta(minutes=1), "hour": timedelta(minutes=15)}
_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


class BucketError(ValueError):
    """The range cannot be cut into the buckets asked for."""


class TooManyBuckets(BucketError):
    """The range holds more than MAX_BUCKETS buckets."""


def _starts_unit(local, bucket):
    return local.second == 0 and local.microsecond == 0 and (bucket == "minute" or local.minute == 0)


def _floor_date(day, bucket):
    if bucket == "week":
        return day - timedelta(days=day.weekday())  # weeks start on Monday
    return day.replace(day=1) if bucket == "month" else day


def _next_date(day, bucket):
    if bucket == "month":
        return (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return day + timedelta(days=7 if bucket == "week" else 1)


def _midnight(day, zone):
    """The first instant of a local day: fold=0 maps a midnight skipped by a DST change to
    the instant the clocks jump, and a repeated one to its first occurrence."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(timezone.utc)


def _on_grid(at, step, zone, bucket):
    """The first instant from `at` on (or back, with a negative step) where a local minute
    or hour starts; a day of steps without one means the zone's offset was not whole
    minutes then (local mean time, before the zone's standard offsets)."""
    for _ in range(int(timedelta(days=1) / abs(step))):
        if _starts_unit(at.astimezone(zone), bucket):
            return at
        at += step
    raise BucketError(f"{bucket} buckets are not defined in {zone.key} around {at:%Y-%m-%d} "
                      "(its UTC offset was not whole minutes then)")


def _bucket_starts(bucket, zone, start):
    """The starts (UTC) of the local buckets, from the one holding `start` on."""
    if bucket in _GRID:
        step = _GRID[bucket]
        at = _on_grid(start - (start - _EPOCH) % step, -step, zone, bucket)
        while True:
            yield at
            at = _on_grid(at + step, step, zone, bucket)
    else:
        day = _floor_date(start.astimezone(zone).date(), bucket)
        while True:
            yield _midnight(day, zone)
            day = _next_date(day, bucket)


def bucket_bounds(bucket, zone, start, end):
    """(bounds, labels): the slots [bounds[i], bounds[i + 1]) that cut [start, end) at the
    local buckets' starts, and each slot's bucket start in the zone (the first slot's
    bucket may begin before `start`). Raises TooManyBuckets beyond MAX_BUCKETS, and
    BucketError where the buckets are not defined."""
    bounds, labels = [start], []
    try:
        for at in _bucket_starts(bucket, zone, start):
            if at >= end:
                break
            if at > start:
                bounds.append(at)
            labels.append(at.astimezone(zone))
            if len(labels) > MAX_BUCKETS:
                raise TooManyBuckets(f"the range holds more than {MAX_BUCKETS} {bucket} buckets, the "
                                     "most a call may ask for: narrow the range or widen the bucket")
    except OverflowError:
        raise BucketError(f"{bucket} buckets of this range reach beyond the years 1-9999") from None
    bounds.append(end)
    return bounds, labels


def _filters(conn, filters):
    """SQL arguments of the filters: a provider is its models."""
    model_ids = None
    if filters.get("model_id") is not None:
        model_ids = [filters["model_id"]]
    if filters.get("provider_id") is not None:
        ids = [r["id"] for r in conn.execute("SELECT id FROM models WHERE provider_id = %s",
                                             (filters["provider_id"],))]
        model_ids = [i for i in ids if model_ids is None or i in model_ids]
    return {"model_ids": model_ids, "api_key_id": filters.get("api_key_id"),
            "user_id": filters.get("user_id"), "status": filters.get("status")}


_LAG = f"""SELECT lag_rows AS rollup_lag_rows, lag_seconds AS rollup_lag_seconds,
                  {REPLICA_LAG_SECONDS} AS replica_lag_seconds
             FROM chat_rollup_lag()"""
_LAG_COLUMNS = ("rollup_lag_rows", "rollup_lag_seconds", "replica_lag_seconds")

# A chat_request_group row g with a model's statistics (as chat_model_stats has them).
GROUP_STATS = """
    g.kind, g.group_id, g.completed_requests, g.failed_requests, g.partial_requests, g.other_requests,
    g.total_input_tokens, g.total_output_tokens, g.total_cost_usd, g.p50_processing_time_ms,
    g.p95_processing_time_ms, g.p99_processing_time_ms,
    g.completed_requests + g.failed_requests + g.partial_requests + g.other_requests AS total_requests,
    g.total_input_tokens + g.total_output_tokens AS total_tokens,
    round(g.processing_time_ms_sum / nullif(g.completed_requests + g.failed_requests + g.partial_requests
                                            + g.other_requests - g.untimed_requests, 0), 2)
        AS avg_processing_time_ms"""


def _with_lag(conn, query, params):
    """(rows, lag): the rows of `query` (chat_request_group rows g, and more) with their
    statistics, and the rollups' and the replica's lag, read in one statement."""
    rows = conn.execute(f"SELECT l.*, s.* FROM ({_LAG}) l LEFT JOIN LATERAL ({query}) s ON true",
                        params).fetchall()
    lag = {key: rows[0].pop(key) for key in _LAG_COLUMNS}
    for row in rows[1:]:
        for key in _LAG_COLUMNS:
            del row[key]
    return [row for row in rows if row["kind"] is not None], lag


def first_request_at(conn):
    return conn.execute("SELECT chat_request_first_at() AS at").fetchone()["at"]


def timeseries(conn, bucket, zone, start, end, filters):
    """(points oldest first, lag): one per local bucket of [start, end), zeros where none
    happened; start None: the first request's bucket (no points without requests)."""
    end = end or datetime.now(timezone.utc)
    start = start or first_request_at(conn)
    if start is None or start >= end:
        return [], conn.execute(_LAG).fetchone()
    bounds, labels = bucket_bounds(bucket, zone, start, end)
    rows, lag = _with_lag(conn, f"""
        SELECT {GROUP_STATS}
          FROM chat_request_series(%(bounds)s, %(model_ids)s, %(api_key_id)s, %(user_id)s,
                                   %(status)s) g""",
                          {"bounds": bounds, **_filters(conn, filters)})
    if len(rows) != len(labels):
        raise RuntimeError(f"{len(rows)} points for {len(labels)} buckets")
    for row, label in zip(rows, labels):
        row["bucket_start"] = label
    return rows, lag


def breakdown(conn, by, top, order, start, end, filters):
    """(the first `top` groups by `order`, then 'others' and 'total', lag)."""
    return _with_lag(conn, f"""
        SELECT {GROUP_STATS}, coalesce(m.model_identifier, p.name) AS name
          FROM chat_request_breakdown(%(start)s, %(end)s, %(by)s, %(top)s, %(order)s,
                                      %(model_ids)s, %(api_key_id)s, %(user_id)s, %(status)s)
               WITH ORDINALITY g
          LEFT JOIN chat_model_catalog() m ON %(by)s = 'model' AND m.id = g.group_id
          LEFT JOIN providers p ON %(by)s = 'provider' AND p.id = g.group_id
         ORDER BY g.ordinality""",
                     {"start": start, "end": end, "by": by, "top": top, "order": order,
                      **_filters(conn, filters)})
