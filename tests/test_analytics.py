"""Time series and breakdowns equal an independent aggregation in Python.

Bucket boundaries are found here by walking instants minute by minute (or quarter by
quarter for long ranges) and asking zoneinfo for each one's local time, never by local
arithmetic as the implementation does. Rows are random, around the DST changes of
America/New_York and Europe/Berlin in 2026, partly rolled up, with quarters and the
keys' and users' fine rollups pruned in the middle of the data, so that answers mix
rollup rows of every dimension, raw edges and the raw tail.
"""
import json
import os
import random
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.rows import dict_row

import rollupcheck as rc
from rollupcheck import no_background_refreshers  # noqa: F401 (autouse fixture)
from helpers import migrated_database
from webapp import rollups
from webapp.queries import analytics as analytics_queries

API = "/api/monitoring/chat-requests"
UTC = timezone.utc
MINUTE, QUARTER, HOUR, DAY = (timedelta(minutes=1), timedelta(minutes=15), timedelta(hours=1),
                              timedelta(days=1))
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Kathmandu", "Asia/Kolkata",
         "Australia/Lord_Howe", "America/Santiago"]
# 2026's DST changes of the zones above (UTC instants, roughly).
CHANGES = [datetime(2026, 3, 8, 7, tzinfo=UTC), datetime(2026, 3, 29, 1, tzinfo=UTC),
           datetime(2026, 4, 5, 3, tzinfo=UTC), datetime(2026, 9, 6, 4, tzinfo=UTC),
           datetime(2026, 10, 3, 16, tzinfo=UTC), datetime(2026, 10, 25, 1, tzinfo=UTC),
           datetime(2026, 11, 1, 6, tzinfo=UTC)]
# The data: two windows holding the changes of New York and Berlin.
WINDOWS = [(datetime(2026, 3, 5, tzinfo=UTC), datetime(2026, 4, 2, tzinfo=UTC)),
           (datetime(2026, 10, 22, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC))]
PERCENTILES = {"p50_processing_time_ms": 0.5, "p95_processing_time_ms": 0.95, "p99_processing_time_ms": 0.99}


# -- bucket boundaries ------------------------------------------------------------

def local_key(at, zone, bucket):
    """Which local bucket the instant is in. Minutes and hours start wherever the wall
    clock shows :00 (a repeated hour is two buckets; an hour that a 30-minute shift
    lengthens is one): their key changes at each such instant; days, weeks and months
    are the local calendar's."""
    local = at.astimezone(zone)
    if bucket in ("minute", "hour"):
        return at if local.second == 0 and (bucket == "minute" or local.minute == 0) else None
    if bucket == "day":
        return local.date()
    if bucket == "week":
        return local.date() - timedelta(days=local.weekday())
    return local.year, local.month


def walked_bounds(bucket, zone, start, end):
    """(bounds, labels) by walking: a bucket starts where the key changes."""
    step = MINUTE if bucket in ("minute", "hour", "day") else QUARTER
    at = start - (start - rc.ORIGIN) % step - {"minute": MINUTE, "hour": 2 * HOUR, "day": 2 * DAY,
                                               "week": 8 * DAY, "month": 32 * DAY}[bucket]
    starts, previous = [], None
    while at < end:
        key = local_key(at, zone, bucket)
        if key is not None and key != previous:
            starts.append(at)
            previous = key
        at += step
    first = max(i for i, s in enumerate(starts) if s <= start)
    starts = starts[first:]
    return [start] + [s for s in starts if s > start] + [end], [s.astimezone(zone) for s in starts]


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("bucket,length", [("minute", 7 * HOUR), ("hour", 3 * DAY), ("day", 20 * DAY),
                                           ("week", 70 * DAY), ("month", 400 * DAY)])
def test_bucket_bounds_follow_the_local_calendar(zone, bucket, length):
    rng = random.Random(f"{zone}{bucket}")
    for change in CHANGES:
        start = change - length / 2 + timedelta(seconds=rng.randrange(-3600, 3600), microseconds=7)
        end = start + length - timedelta(seconds=rng.randrange(0, 3600))
        assert analytics_queries.bucket_bounds(bucket, ZoneInfo(zone), start, end) == \
            walked_bounds(bucket, ZoneInfo(zone), start, end), (zone, bucket, start, end)


@pytest.mark.parametrize("zone,day,hours", [
    ("America/New_York", "2026-03-08", 23), ("America/New_York", "2026-11-01", 25),
    ("Europe/Berlin", "2026-03-29", 23), ("Europe/Berlin", "2026-10-25", 25),
    ("Asia/Kathmandu", "2026-03-29", 24), ("America/Santiago", "2026-09-06", 23)])
def test_dst_days_have_23_or_25_hours(zone, day, hours):
    tz = ZoneInfo(zone)
    start = datetime.fromisoformat(day).replace(tzinfo=tz).astimezone(UTC)
    days, labels = analytics_queries.bucket_bounds("day", tz, start, start + 2 * DAY)
    assert days[1] - days[0] == timedelta(hours=hours)
    hourly, labels = analytics_queries.bucket_bounds("hour", tz, days[0], days[1])
    assert len(labels) == hours
    assert labels[0].isoformat().startswith(day + "T00:00") or zone == "America/Santiago"


def test_kathmandu_hours_start_at_a_quarter_past():
    tz = ZoneInfo("Asia/Kathmandu")
    start = datetime(2026, 6, 1, 12, 40, tzinfo=UTC)
    bounds, labels = analytics_queries.bucket_bounds("hour", tz, start, start + 3 * HOUR)
    assert [b.minute for b in bounds[1:-1]] == [15, 15, 15]
    assert labels[0].isoformat() == "2026-06-01T18:00:00+05:45"


@pytest.mark.parametrize("bucket,zone,start,end", [
    ("hour", "Asia/Kathmandu", datetime(302, 8, 25, tzinfo=UTC), datetime(2167, 2, 6, tzinfo=UTC)),
    ("minute", "Europe/Berlin", datetime(1850, 1, 1, 0, 0, 30, tzinfo=UTC), datetime(1850, 1, 2, tzinfo=UTC)),
    ("month", "UTC", datetime(9999, 11, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, tzinfo=UTC))])
def test_undefined_buckets_are_an_error(bucket, zone, start, end):
    """Local mean time (offsets with seconds) has no local hour starts on any grid; a
    bucket past the year 9999 does not exist."""
    with pytest.raises(analytics_queries.BucketError):
        analytics_queries.bucket_bounds(bucket, ZoneInfo(zone), start, end)


def test_more_than_1000_buckets_are_refused():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert len(analytics_queries.bucket_bounds("minute", UTC, start, start + 1000 * MINUTE)[1]) == 1000
    with pytest.raises(analytics_queries.TooManyBuckets):
        analytics_queries.bucket_bounds("minute", UTC, start, start + 1000 * MINUTE + timedelta(seconds=1))


# -- data -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dataset_url(server_url):
    """A database of this module's own (the `conn` fixture empties the shared one)."""
    with migrated_database(server_url, f"chatstats_analytics_{os.getpid()}") as url:
        yield url


@pytest.fixture(scope="module")
def dataset(dataset_url):
    """Random rows in WINDOWS: most rolled up, quarters before the middle of the first
    window pruned, the keys' and users' hours and 6 hours before the middle of the
    second, the users' days to 16 days three days earlier; the last 300 rows left in the
    tail. Returns (rows, {model id: provider id})."""
    rng = random.Random(11)
    with psycopg.connect(dataset_url, autocommit=True, row_factory=dict_row) as conn:
        providers, models = rc.make_catalog(conn, providers=2, models=4)

        def row():
            window = rng.choice(WINDOWS)
            at = window[0] + (window[1] - window[0]) * rng.random()
            if rng.random() < 0.2:  # on a quarter, hour or day mark
                at = at - (at - rc.ORIGIN) % rng.choice([QUARTER, HOUR, DAY])
            return {"model_id": rng.choice([*models, None]), "input_tokens": rng.randrange(5000),
                    "output_tokens": rng.choice([0, rng.randrange(10**6)]),
                    "processing_time_ms": rng.choice([rng.randrange(100), rng.randrange(100, 60_000),
                                                      rng.randrange(600_000, 5_000_000)]),
                    "status": rng.choice(rc.STATUSES),
                    "cost_usd": rng.choice([None, Decimal(rng.randrange(10**9)).scaleb(-6)]),
                    "created_at": at, "api_key_id": rng.choice([None, 1, 2, 3, 2**40]),
                    "user_id": rng.choice([None, 10, 11, 12, 13, 2**62])}

        rc.insert(conn, [row() for _ in range(2500)])
        conn.execute("SELECT chat_rollup_prune(%s, %s, %s)", (datetime(2026, 3, 20, tzinfo=UTC),
                                                               datetime(2026, 10, 28, tzinfo=UTC),
                                                               datetime(2026, 10, 25, tzinfo=UTC)))
        rollups.catch_up(conn)
        rc.insert(conn, [row() for _ in range(300)])
        return rc.fetch_rows(conn), rc.model_providers(conn)


@pytest.fixture
def dconn(dataset_url, dataset):
    with psycopg.connect(dataset_url, autocommit=True, row_factory=dict_row) as connection:
        yield connection


@pytest.fixture(params=["rollup", "raw"])
def source(request, dconn):
    """The SQL functions over the rollups, or the raw baseline (`raw`)."""
    if request.param == "raw":
        dconn.execute("SET chatstats.stats_source = 'raw'")
    return request.param


@pytest.fixture
def dclient(app_factory, dataset_url):
    """Anonymous from loopback: the dataset's database holds no API key."""
    return app_factory(DATABASE_URL=dataset_url, RATELIMIT_APPLICATION="").test_client()


def matches(r, filters, providers):
    return ((filters.get("model_id") is None or r["model_id"] == filters["model_id"])
            and (filters.get("provider_id") is None
                 or providers.get(r["model_id"]) == filters["provider_id"])
            and all(filters.get(k) is None or r[k] == filters[k] for k in ("api_key_id", "user_id", "status")))


def totals(rows):
    """A model's statistics of these rows, and their processing times."""
    n = len(rows)
    proc = sum(r["processing_time_ms"] for r in rows)
    return {"completed_requests": sum(r["status"] == "completed" for r in rows),
            "failed_requests": sum(r["status"] == "failed" for r in rows),
            "partial_requests": sum(r["status"] == "partial" for r in rows),
            "total_requests": n,
            "total_input_tokens": sum(r["input_tokens"] for r in rows),
            "total_output_tokens": sum(r["output_tokens"] for r in rows),
            "total_tokens": sum(r["input_tokens"] + r["output_tokens"] for r in rows),
            "total_cost_usd": sum((r["cost_usd"] or 0 for r in rows), Decimal(0)),
            "avg_processing_time_ms": rc.half_up_mean(proc, n) if n else None,
            }, [r["processing_time_ms"] for r in rows]


def check_stats(actual, rows, exact, what):
    expected, times = totals(rows)
    for key, value in expected.items():
        assert actual[key] == value, (what, key, actual[key], value)
    for key, fraction in PERCENTILES.items():
        truth = rc.exact_percentile(times, fraction) if times else None
        if exact or truth is None:
            assert actual[key] == truth, (what, key, actual[key], truth)
        else:
            assert rc.within_error(actual[key], truth), (what, key, actual[key], truth)


# -- time series --------------------------------------------------------------------

SERIES = [  # (zone, bucket, start, end)
    ("America/New_York", "minute", datetime(2026, 3, 8, 3, 7, tzinfo=UTC), datetime(2026, 3, 8, 17, tzinfo=UTC)),
    ("Europe/Berlin", "hour", datetime(2026, 3, 27, 22, 30, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC)),
    ("Asia/Kathmandu", "hour", datetime(2026, 10, 24, 3, 1, 2, tzinfo=UTC), datetime(2026, 10, 30, tzinfo=UTC)),
    ("America/New_York", "day", None, datetime(2026, 11, 4, tzinfo=UTC)),
    ("Asia/Kathmandu", "day", datetime(2026, 3, 6, 11, tzinfo=UTC), datetime(2026, 11, 3, 9, tzinfo=UTC)),
    ("Europe/Berlin", "week", None, datetime(2026, 12, 1, tzinfo=UTC)),
    ("UTC", "month", datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
    ("Asia/Kolkata", "day", datetime(2026, 10, 21, tzinfo=UTC), datetime(2026, 11, 5, tzinfo=UTC)),
]
FILTERS = [{}, {"model_id": 2}, {"provider_id": 1}, {"api_key_id": 2}, {"user_id": 2**62},
           {"status": "failed"}, {"model_id": 1, "user_id": 11}, {"api_key_id": 3, "user_id": 10}]


@pytest.mark.parametrize("zone,bucket,start,end", SERIES)
def test_timeseries_equals_python(dconn, dataset, source, zone, bucket, start, end):
    rows, providers = dataset
    tz = ZoneInfo(zone)
    first = min(r["created_at"] for r in rows)
    for filters in FILTERS:
        points, lag = analytics_queries.timeseries(dconn, bucket, tz, start, end, filters)
        assert lag["rollup_lag_rows"] == 300
        bounds, labels = walked_bounds(bucket, tz, start or first, end)
        assert [p["bucket_start"] for p in points] == labels
        assert [p["bucket_start"].utcoffset() for p in points] == [l.utcoffset() for l in labels]
        chosen = [r for r in rows if matches(r, filters, providers)]
        for i, point in enumerate(points):
            inside = [r for r in chosen if bounds[i] <= r["created_at"] < bounds[i + 1]]
            exact = source == "raw" or bucket == "minute" or "status" in filters or len(filters) > 1
            check_stats(point, inside, exact, (zone, bucket, filters, point["bucket_start"]))


def test_timeseries_over_http(dclient, dataset):
    rows, _ = dataset
    response = dclient.get(f"{API}/timeseries", query_string={
        "bucket": "day", "tz": "Asia/Kathmandu", "start_date": "2026-10-25T00:00:00+05:45",
        "end_date": "2026-10-28T00:00:00+05:45", "api_key_id": 1})
    assert response.status_code == 200, response.json
    body = response.json
    assert [p["bucket_start"] for p in body["data"]] == [
        "2026-10-25T00:00:00+05:45", "2026-10-26T00:00:00+05:45", "2026-10-27T00:00:00+05:45"]
    start = datetime(2026, 10, 24, 18, 15, tzinfo=UTC)
    inside = [r for r in rows if r["api_key_id"] == 1 and start <= r["created_at"] < start + 3 * DAY]
    assert sum(p["total_requests"] for p in body["data"]) == len(inside)
    assert sum(Decimal(p["total_cost_usd"]) for p in body["data"]) == sum(r["cost_usd"] or 0 for r in inside)
    assert body["metadata"]["bucket_count"] == 3 and body["metadata"]["filters"]["tz"] == "Asia/Kathmandu"


def test_buckets_without_requests_are_zeros(dconn):
    start = datetime(2026, 6, 1, tzinfo=UTC)
    points, _ = analytics_queries.timeseries(dconn, "day", UTC, start, start + 3 * DAY, {})
    assert len(points) == 3
    assert all(p["total_requests"] == 0 and p["total_cost_usd"] == 0 and p["p50_processing_time_ms"] is None
               and p["avg_processing_time_ms"] is None for p in points)


# -- breakdowns ---------------------------------------------------------------------

def group_of(by, r, providers):
    return {"model": r["model_id"], "provider": providers.get(r["model_id"]), "api_key": r["api_key_id"],
            "user": r["user_id"]}[by]


def metric(order, rows):
    if order == "tokens":
        return sum(r["input_tokens"] + r["output_tokens"] for r in rows)
    if order == "cost":
        return sum((r["cost_usd"] or 0 for r in rows), Decimal(0))
    return len(rows)


RANGES = [(None, None), (datetime(2026, 3, 7, 13, 14, 15, tzinfo=UTC), datetime(2026, 10, 30, 1, 2, 3, tzinfo=UTC)),
          (datetime(2026, 10, 29, 5, tzinfo=UTC), None)]


@pytest.mark.parametrize("by", analytics_queries.GROUPINGS)
@pytest.mark.parametrize("start,end", RANGES)
def test_breakdown_equals_python(dconn, dataset, source, by, start, end):
    rows, providers = dataset
    for order, top, filters in [("requests", 3, {}), ("tokens", 1, {}), ("cost", 1000, {}),
                                ("requests", 2, {"model_id": 3}), ("cost", 2, {"provider_id": 2}),
                                ("tokens", 2, {"user_id": 12}), ("requests", 2, {"status": "partial"})]:
        answer, _ = analytics_queries.breakdown(dconn, by, top, order, start, end, filters)
        chosen = [r for r in rows if matches(r, filters, providers)
                  and (start is None or r["created_at"] >= start) and (end is None or r["created_at"] < end)]
        groups = defaultdict(list)
        for r in chosen:
            groups[group_of(by, r, providers)].append(r)
        ranked = sorted(groups, key=lambda g: (-metric(order, groups[g]), g is None, g or 0))
        what = (by, order, top, filters, start, end)
        listed = [a for a in answer if a["kind"] == "group"]
        assert [a["group_id"] for a in listed] == ranked[:top], what
        exact = source == "raw" or "status" in filters or (
            filters and {"model": "model_id", "provider": "model_id", "api_key": "api_key_id",
                         "user": "user_id"}[by] != next(iter(filters)).replace("provider_id", "model_id"))
        for a in listed:
            check_stats(a, groups[a["group_id"]], exact, what)
        others = [r for g in ranked[top:] for r in groups[g]]
        kinds = {a["kind"]: a for a in answer if a["kind"] != "group"}
        check_stats(kinds["others"], others, exact, what + ("others",))
        check_stats(kinds["total"], chosen, exact, what + ("total",))
        for key in ("total_requests", "total_tokens", "total_cost_usd"):
            assert sum(a[key] for a in listed) + kinds["others"][key] == kinds["total"][key]


def test_breakdown_over_http(dclient, dataset):
    response = dclient.get(f"{API}/breakdown", query_string={"by": "model", "top": 2, "order": "cost"})
    assert response.status_code == 200, response.json
    body = response.json
    assert len(body["data"]) == 2 and all(g["name"].startswith("m") for g in body["data"] if g["id"])
    assert sum(g["total_requests"] for g in body["data"]) + body["others"]["total_requests"] \
        == body["total"]["total_requests"] == len(dataset[0])
    assert body["metadata"]["filters"]["by"] == "model" and body["metadata"]["total_groups_listed"] == 2


# -- bad input ------------------------------------------------------------------------

@pytest.mark.parametrize("path,query,field", [
    ("timeseries", {"tz": "Mars/Olympus"}, "tz"),
    ("timeseries", {"tz": "../../etc/passwd"}, "tz"),
    ("timeseries", {"bucket": "fortnight"}, "bucket"),
    ("timeseries", {"bucket": "minute", "start_date": "2026-01-01T00:00:00Z",
                    "end_date": "2026-01-02T00:00:00Z"}, "bucket"),
    ("timeseries", {"bucket": "hour", "tz": "Asia/Kathmandu", "start_date": "0302-08-25T04:31:32Z",
                    "end_date": "2167-02-06T15:34:41Z"}, "bucket"),
    ("timeseries", {"status": "lost"}, "status"),
    ("timeseries", {"user_id": "0"}, "user_id"),
    ("breakdown", {}, "by"),
    ("breakdown", {"by": "team"}, "by"),
    ("breakdown", {"by": "user", "top": "0"}, "top"),
    ("breakdown", {"by": "user", "top": "1001"}, "top"),
    ("breakdown", {"by": "user", "order": "latency"}, "order"),
    ("breakdown", {"by": "user", "start_date": "2026-02-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"},
     "start_date"),
])
def test_bad_input_is_a_422_naming_the_field(client, path, query, field):
    response = client.get(f"{API}/{path}", query_string=query)
    assert response.status_code == 422, response.json
    assert response.json["success"] is False and field in response.json["errors"]["query"]
    if query.get("bucket") == "minute":
        assert "1000" in response.json["message"]


# -- the command line ---------------------------------------------------------------

def test_cli_prints_the_api_items(dataset_url, dataset):
    from helpers import run_cli
    from webapp import cli
    settings = cli.Settings.from_environment(DATABASE_URL=dataset_url)
    args = ["--tz", "Europe/Berlin", "--start", "2026-03-27T00:00:00+01:00", "--end", "2026-04-01T00:00:00+02:00"]
    result = run_cli(settings, ["stats", "timeseries", "--bucket", "day", *args, "--user-id", "10", "--json"])
    assert result.exit_code == 0, result.output
    points = json.loads(result.output)
    assert [p["bucket_start"][:10] for p in points] == ["2026-03-27", "2026-03-28", "2026-03-29", "2026-03-30",
                                                         "2026-03-31"]
    start, end = datetime(2026, 3, 26, 23, tzinfo=UTC), datetime(2026, 3, 31, 22, tzinfo=UTC)
    assert sum(p["total_requests"] for p in points) == sum(
        1 for r in dataset[0] if r["user_id"] == 10 and start <= r["created_at"] < end)
    table = run_cli(settings, ["stats", "breakdown", "--by", "api_key", "--top", "2", "--order", "cost"])
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].split()[:4] == ["kind", "id", "name", "requests"]
    assert [line.split()[0] for line in lines[1:]] == ["group", "group", "others", "total"]
    assert int(lines[-1].split()[1]) == len(dataset[0])
    bad = run_cli(settings, ["stats", "timeseries", "--bucket", "minute", "--start", "2026-01-01", "--end", "2026-01-03"])
    assert bad.exit_code == 2 and "1000" in bad.output
