"""Every endpoint's numbers equal an independent aggregation in Python of the inserted rows.

Random datasets (hypothesis) are written with plain SQL, like the gateway writes
them, partly rolled up, then updated and deleted in part; the expected answers are
computed here from those Python values. Three modes: the SQL functions over rollups
(the default), the same functions over raw rows (CHATSTATS_STATS_SOURCE=raw), and
the app's fallback when the functions are missing (chatstats uninstalled).
"""
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, localcontext

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import rollupcheck as rc
from webapp import migrate

BASE = "/api/monitoring/chat-requests"
T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
US = timedelta(microseconds=1)
STATUSES = ("completed", "failed", "partial")
# ASCII only (Python's lower() and PostgreSQL's ILIKE agree), with LIKE's metacharacters.
NAME_CHARS = "abcAB%_\\ -."
INT32_MAX = 2**31 - 1
# mode: (app settings, providers' method, models' method, metadata.source)
MODES = {"rollup": ({}, "rpc", "rpc", "rollup"),
         "raw": ({"STATS_SOURCE": "raw"}, "rpc", "rpc", "raw"),
         "fallback": ({}, "fallback_with_counts", "fallback_optimized", "raw")}
SPAN_DAYS = 3
PERCENTILES = {"p50_processing_time_ms": 0.5, "p95_processing_time_ms": 0.95, "p99_processing_time_ms": 0.99}

# Day, hour and 5-minute marks (the rollups' bucket edges), instants next to them,
# and anything in between: many ties and edges.
instants = st.one_of(
    st.sampled_from([T0 + d * DAY + h * HOUR + e for d in range(SPAN_DAYS) for h in (0, 1, 23)
                     for e in (timedelta(0), US, -US, timedelta(minutes=5))]),
    st.integers(0, SPAN_DAYS * 86400 * 10**6).map(lambda us: T0 + us * US),
    st.integers(0, SPAN_DAYS * 24 * 12).map(lambda k: T0 + k * timedelta(minutes=5)),
)
small_or_large = st.one_of(st.just(0), st.integers(0, 10), st.integers(0, 10**9))
costs = st.one_of(st.none(), st.just(Decimal(0)),
                  st.integers(0, 10**12 - 1).map(lambda n: Decimal(n).scaleb(-6)))
bigints = st.one_of(st.none(), st.integers(0, 2**63 - 1))


@dataclass
class Dataset:
    providers: list = field(default_factory=list)  # dicts: id, name, slug
    models: list = field(default_factory=list)     # dicts: id, provider, model_id, model_name, ...
    rows: list = field(default_factory=list)       # dicts: the inserted columns, id, model


@st.composite
def datasets(draw):
    """Providers (some without models), models (some without requests), requests."""
    n_providers = draw(st.integers(0, 4))
    providers = [{"name": f"Provider {i} {draw(st.text(NAME_CHARS, max_size=3))}",
                  "slug": f"p-{i}"} for i in range(n_providers)]
    models = []
    if providers:
        for k in range(draw(st.integers(0, 6))):
            models.append({"provider": draw(st.integers(0, n_providers - 1)),
                           # the gateway's identifier; names repeat across providers
                           "model_name": draw(st.just(f"m-{k % 3}") | st.text(NAME_CHARS, min_size=1, max_size=8)),
                           "provider_model_id": f"pm-{k}"})
    rows = [{"request_id": f"req-{i}", **draw(request_values(len(models)))}
            for i in range(draw(st.integers(0, 30)))]
    return providers, models, rows


@st.composite
def request_values(draw, n_models):
    model_index = st.none() | st.integers(0, n_models - 1) if n_models else st.none()
    return {"model": draw(model_index),
            "input_tokens": draw(small_or_large), "output_tokens": draw(small_or_large),
            "processing_time_ms": draw(st.one_of(st.integers(0, 10), st.integers(0, INT32_MAX))),
            "status": draw(st.sampled_from(STATUSES)),
            "error_message": draw(st.none() | st.text(NAME_CHARS, max_size=5)),
            "user_id": draw(bigints), "api_key_id": draw(bigints),
            "cost_usd": draw(costs), "created_at": draw(instants)}


def roll_up(conn, batch_rows):
    """Fold up to batch_rows more requests into the rollups, when they exist."""
    try:
        conn.execute("CALL chat_rollup_refresh(%s, 2000, NULL, NULL)", (batch_rows,))
    except psycopg.errors.UndefinedFunction:
        pass  # fallback mode: no rollups


def change_some(conn, data, draw):
    """Update or delete random requests (rolled up or not) with plain SQL, here and there."""
    for _ in range(draw(st.integers(0, 4))):
        if not data.rows:
            return
        row = draw(st.sampled_from(data.rows))
        if draw(st.booleans()):
            conn.execute("DELETE FROM chat_completion_requests WHERE id = %s", (row["id"],))
            data.rows.remove(row)
            continue
        values = draw(request_values(len(data.models)))
        model = None if values["model"] is None else data.models[values["model"]]
        conn.execute(
            """UPDATE chat_completion_requests
                  SET model_id = %(model_id)s, input_tokens = %(input_tokens)s,
                      output_tokens = %(output_tokens)s, processing_time_ms = %(processing_time_ms)s,
                      status = %(status)s, cost_usd = %(cost_usd)s, created_at = %(created_at)s
                WHERE id = %(id)s""",
            {**values, "model_id": model and model["id"], "id": row["id"]})
        row.update({key: values[key] for key in ("input_tokens", "output_tokens",
                                                 "processing_time_ms", "status", "cost_usd",
                                                 "created_at")}, model=model)


def load(conn, providers, models, rows):
    """Insert with plain SQL into an empty database; return the Dataset with database ids."""
    data = Dataset()
    with conn.cursor() as cur:
        for p in providers:
            cur.execute("INSERT INTO providers (name, slug) VALUES (%(name)s, %(slug)s) RETURNING id", p)
            data.providers.append({**p, "id": cur.fetchone()["id"]})
        for m in models:
            provider = data.providers[m["provider"]]
            cur.execute("""INSERT INTO models (provider_id, model_name, provider_model_id)
                           VALUES (%s, %s, %s) RETURNING id""",
                        (provider["id"], m["model_name"], m["provider_model_id"]))
            data.models.append({**m, "id": cur.fetchone()["id"], "provider": provider})
        for r in rows:
            model = None if r["model"] is None else data.models[r["model"]]
            cur.execute(
                """INSERT INTO chat_completion_requests
                       (request_id, model_id, input_tokens, output_tokens, processing_time_ms,
                        status, error_message, user_id, api_key_id, cost_usd, created_at)
                   VALUES (%(request_id)s, %(model_id)s, %(input_tokens)s, %(output_tokens)s,
                           %(processing_time_ms)s, %(status)s, %(error_message)s, %(user_id)s,
                           %(api_key_id)s, %(cost_usd)s, %(created_at)s)
                   RETURNING id""",
                {**r, "model_id": model and model["id"]})
            data.rows.append({**r, "id": cur.fetchone()["id"], "model": model})
    return data


# -- the independent computation ---------------------------------------------

def in_range(rows, start, end):
    return [r for r in rows if (start is None or r["created_at"] >= start)
            and (end is None or r["created_at"] < end)]


def half_up_mean(values):
    """PostgreSQL's round(numeric, 2): half away from zero, on the exact mean."""
    if not values:
        return None
    with localcontext() as ctx:
        ctx.prec = 60
        mean = Decimal(sum(values)) / Decimal(len(values))
    return float(mean.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def model_item(model, rows):
    mine = [r for r in rows if r["model"] is model]
    inputs = sum(r["input_tokens"] for r in mine)
    outputs = sum(r["output_tokens"] for r in mine)
    provider = model["provider"]
    return {
        "model_id": model["id"], "model_identifier": model["model_name"],
        "model_name": model["model_name"], "provider_model_id": model["provider_model_id"],
        "provider": {"id": provider["id"], "name": provider["name"], "slug": provider["slug"]},
        "stats": {
            "total_requests": len(mine),
            **{f"{s}_requests": sum(r["status"] == s for r in mine) for s in STATUSES},
            "other_requests": sum(r["status"] not in STATUSES for r in mine),
            "total_input_tokens": inputs, "total_output_tokens": outputs,
            "total_tokens": inputs + outputs,
            "avg_processing_time_ms": half_up_mean([r["processing_time_ms"] for r in mine]),
            "total_cost_usd": sum((r["cost_usd"] for r in mine if r["cost_usd"] is not None),
                                  Decimal(0)),
            **{key: exact_percentile([r["processing_time_ms"] for r in mine], q)
               for key, q in PERCENTILES.items()},
        }}


def exact_percentile(values, fraction):
    """percentile_disc: the ceil(fraction * n)-th smallest value; None without values."""
    if not values:
        return None
    return sorted(values)[max(math.ceil(fraction * len(values)), 1) - 1]


def expected_providers(data, rows):
    """Providers with requests in the range only (as gatewayz lists them)."""
    items = []
    for p in data.providers:
        mine = [r for r in rows if r["model"] is not None and r["model"]["provider"] is p]
        if mine:
            items.append({"provider_id": p["id"], "name": p["name"], "slug": p["slug"],
                          "models_with_requests": len({r["model"]["id"] for r in mine}),
                          "total_requests": len(mine)})
    return sorted(items, key=lambda item: (-item["total_requests"], item["provider_id"]))


def expected_models(data, rows, provider_id=None):
    items = [model_item(m, rows) for m in data.models
             if provider_id is None or m["provider"]["id"] == provider_id]
    items = [item for item in items if item["stats"]["total_requests"] > 0]
    return sorted(items, key=lambda item: (-item["stats"]["total_requests"], item["model_id"]))


def request_item(r):
    model = r["model"]
    return {
        "id": r["id"], "request_id": r["request_id"], "model_id": model and model["id"],
        "input_tokens": r["input_tokens"], "output_tokens": r["output_tokens"],
        "total_tokens": r["input_tokens"] + r["output_tokens"],
        "processing_time_ms": r["processing_time_ms"], "status": r["status"],
        "error_message": r["error_message"], "user_id": r["user_id"],
        "api_key_id": r["api_key_id"], "cost_usd": r["cost_usd"], "created_at": r["created_at"],
        "models": model and {
            "id": model["id"], "model_id": model["model_name"], "model_name": model["model_name"],
            "provider_model_id": model["provider_model_id"], "provider_id": model["provider"]["id"],
            "providers": {"id": model["provider"]["id"], "name": model["provider"]["name"],
                          "slug": model["provider"]["slug"]}},
    }


def expected_requests(data, q):
    rows = in_range(data.rows, q.get("start"), q.get("end"))
    if q.get("status"):
        rows = [r for r in rows if r["status"] == q["status"]]
    for key, match in (("model_id", lambda m, v: m["id"] == v),
                       ("provider_id", lambda m, v: m["provider"]["id"] == v),
                       ("model_name", lambda m, v: v.lower() in m["model_name"].lower())):
        if q.get(key) is not None:
            rows = [r for r in rows if r["model"] is not None and match(r["model"], q[key])]
    rows.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
    return len(rows), [request_item(r) for r in rows]


# -- what the API answered, in comparable form -----------------------------------

def get_ok(client, path, query):
    response = client.get(path, query_string=query)
    body = response.get_json()
    assert response.status_code == 200, (path, query, body)
    assert body["success"] is True
    return body


def comparable_model(item):
    stats = item["stats"]
    assert isinstance(stats["total_cost_usd"], str)  # exact decimal, never a float
    avg = stats["avg_processing_time_ms"]
    assert avg is None or (isinstance(avg, (int, float)) and round(avg, 2) == avg)
    return {**item, "stats": {**stats, "total_cost_usd": Decimal(stats["total_cost_usd"])}}


def check_models(items, expected, mode):
    """The API's model items equal the expected ones; percentiles exactly (raw rows), or
    from the rollups' histograms within max(1 ms, 1%) of the exact value."""
    def without_percentiles(item):
        return {**item, "stats": {k: v for k, v in item["stats"].items() if k not in PERCENTILES}}
    actual = [comparable_model(item) for item in items]
    assert [without_percentiles(item) for item in actual] == [without_percentiles(item) for item in expected]
    for got, want in zip(actual, expected):
        for key in PERCENTILES:
            value, exact = got["stats"][key], want["stats"][key]
            if exact is None or mode[3] != "rollup":
                assert value == exact, (got["model_id"], key, value, exact)
            else:
                assert rc.within_error(value, exact), (got["model_id"], key, value, exact)


def comparable_request(item):
    cost = item["cost_usd"]
    assert cost is None or isinstance(cost, str)
    return {**item, "cost_usd": None if cost is None else Decimal(cost),
            "created_at": parse_instant(item["created_at"])}


def parse_instant(text):
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None, text
    return value


# -- the query parameters ------------------------------------------------------

def date_text(draw, instant):
    """The same instant written as clients write it (no zone = UTC)."""
    formats = [lambda t: t.isoformat(), lambda t: t.isoformat().replace("+00:00", "Z"),
               lambda t: t.replace(tzinfo=None).isoformat(),
               lambda t: t.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(),
               lambda t: t.astimezone(timezone(-timedelta(hours=8))).isoformat()]
    if instant.time() == datetime.min.time():
        formats.append(lambda t: t.date().isoformat())
    return draw(st.sampled_from(formats))(instant)


def draw_range(draw, data):
    """(start, end) with start <= end, often exactly on row timestamps; None = unbounded."""
    candidates = st.one_of(st.none(), instants,
                           *([st.sampled_from([r["created_at"] for r in data.rows])] * 2
                             if data.rows else []))
    start, end = draw(candidates), draw(candidates)
    if start is not None and end is not None and start > end:
        start, end = end, start
    return start, end


def range_query(draw, start, end):
    query = {}
    if start is not None:
        query["start_date"] = date_text(draw, start)
    if end is not None:
        query["end_date"] = date_text(draw, end)
    return query


def draw_request_filters(draw, data):
    model_ids = [m["id"] for m in data.models]
    provider_ids = [p["id"] for p in data.providers]
    unknown = st.sampled_from([max(model_ids + provider_ids + [0]) + 1, INT32_MAX])
    names = [m["model_name"] for m in data.models]
    name_filter = st.text(NAME_CHARS, min_size=1, max_size=3)
    if names:
        name_filter |= st.sampled_from(names).flatmap(
            lambda n: st.tuples(st.integers(0, len(n) - 1), st.integers(1, len(n)))
            .map(lambda ij: n[ij[0]:ij[0] + ij[1]] or n).map(
                lambda s: "".join(c.swapcase() if i % 2 else c for i, c in enumerate(s))))
    q = {"model_id": draw(st.none() | (st.sampled_from(model_ids) if model_ids else unknown) | unknown),
         "provider_id": draw(st.none() | (st.sampled_from(provider_ids) if provider_ids else unknown)
                             | unknown),
         "model_name": draw(st.none() | name_filter),
         "status": draw(st.none() | st.sampled_from(STATUSES)),
         "limit": draw(st.none() | st.integers(1, 40)),
         "offset": draw(st.none() | st.integers(0, 40))}
    # Most draws use few filters, so that pages are not always empty.
    for key in ("model_id", "provider_id", "model_name"):
        if draw(st.booleans()):
            q[key] = None
    q["start"], q["end"] = draw_range(draw, data)
    return q


# -- the checks ------------------------------------------------------------------

def check_stats(client, data, start, end, query, mode):
    rows = in_range(data.rows, start, end)
    _, providers_method, models_method, source = mode

    body = get_ok(client, f"{BASE}/providers", query)
    assert body["data"] == expected_providers(data, rows)
    meta = body["metadata"]
    check_range_metadata(meta, start, end)
    assert meta["method"] == providers_method
    assert meta["source"] == source
    assert meta["total_providers"] == len(body["data"])
    assert meta["unattributed_requests"] == sum(r["model"] is None for r in rows)

    body = get_ok(client, f"{BASE}/models", query)
    check_models(body["data"], expected_models(data, rows), mode)
    check_range_metadata(body["metadata"], start, end)
    assert body["metadata"]["method"] == models_method
    assert body["metadata"]["total_models"] == len(body["data"])

    for p in data.providers:
        body = get_ok(client, f"{BASE}/models", {**query, "provider_id": p["id"]})
        check_models(body["data"], expected_models(data, rows, p["id"]), mode)
        assert body["metadata"]["method"] == models_method
        assert body["metadata"]["filters"]["provider_id"] == p["id"]

    for m in data.models:
        body = get_ok(client, f"{BASE}/models/{m['id']}", query)
        check_models([body["data"]], [model_item(m, rows)], mode)
        check_range_metadata(body["metadata"], start, end)
        assert body["metadata"]["method"] == models_method

    unknown_provider = max([p["id"] for p in data.providers], default=0) + 1
    body = get_ok(client, f"{BASE}/models", {**query, "provider_id": unknown_provider})
    assert body["data"] == [] and body["metadata"]["total_models"] == 0

    unknown = max([m["id"] for m in data.models], default=0) + 1
    response = client.get(f"{BASE}/models/{unknown}", query_string=query)
    assert response.status_code == 404
    assert response.get_json()["success"] is False


def check_range_metadata(meta, start, end):
    """No retention here: every range is answered exactly as asked."""
    assert meta["range_exact"] is True
    assert (meta["effective_start_date"] and parse_instant(meta["effective_start_date"])) == start
    assert (meta["effective_end_date"] and parse_instant(meta["effective_end_date"])) == end


def check_request_list(client, data, q, draw):
    query = {key: q[key] for key in ("model_id", "provider_id", "model_name", "status",
                                     "limit", "offset") if q[key] is not None}
    query.update(range_query(draw, q["start"], q["end"]))
    total, rows = expected_requests(data, q)
    limit = 100 if q["limit"] is None else q["limit"]
    offset = q["offset"] or 0
    page = rows[offset:offset + limit]

    body = get_ok(client, BASE, query)
    assert [comparable_request(item) for item in body["data"]] == page, query
    meta = body["metadata"]
    assert (meta["total_count"], meta["returned_count"], meta["limit"], meta["offset"]) == \
        (total, len(page), limit, offset), query
    filters = meta["filters"]
    for key in ("model_id", "provider_id", "model_name", "status"):
        assert filters[key] == q[key]
    for key, value in (("start_date", q["start"]), ("end_date", q["end"])):
        assert (filters[key] and parse_instant(filters[key])) == value


@pytest.fixture(params=sorted(MODES))
def mode(request):
    """(app settings, expected methods, source); fallback removes the SQL functions first."""
    if request.param == "fallback":
        request.getfixturevalue("without_stats_functions")
    return MODES[request.param]


@pytest.fixture
def app_config(mode, database_url):
    config = {**mode[0], "RATELIMIT_APPLICATION": ""}  # hundreds of requests per test
    if mode is MODES["fallback"]:  # the API's grants go with chatstats: log in as owner
        config.update(API_DATABASE_URL=database_url, ROLLUP_DATABASE_URL=database_url)
    return config


@pytest.fixture
def client(app):
    """Anonymous from loopback: no API key exists (in fallback mode not even the table)."""
    return app.test_client()


# Every example writes to the database, so shrinking a failure would take minutes: the
# failing example is reported as found (with its reproduction blob) instead.
@settings(max_examples=25, deadline=None, print_blob=True,
          phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.data())
def test_every_endpoint_equals_python_aggregation(client, conn, empty_database, mode, draw_data):
    draw = draw_data.draw
    empty_database()
    data = load(conn, *draw(datasets()))
    roll_up(conn, draw(st.integers(0, len(data.rows) + 1)))  # some rows rolled up, some not
    change_some(conn, data, draw)
    roll_up(conn, draw(st.integers(0, 5)))
    for _ in range(2):
        start, end = draw_range(draw, data)
        check_stats(client, data, start, end, range_query(draw, start, end), mode)
    check_stats(client, data, None, None, {}, mode)
    for _ in range(3):
        check_request_list(client, data, draw_request_filters(draw, data), draw)


# -- a few fixed cases that a random search might take long to hit -----------------

def test_boundaries_ties_and_half_up_rounding(client, conn, mode):
    """[start, end) on exact timestamps; a mean of x.xx5 rounds away from zero (0.125 -> 0.13)."""
    providers = [{"name": "Only", "slug": "only"}, {"name": "Idle", "slug": "idle"}]
    models = [{"provider": 0, "model_name": "50%_off", "provider_model_id": "m1"},
              {"provider": 0, "model_name": "500 off", "provider_model_id": "n1"}]
    start, end = T0 + HOUR, T0 + 2 * HOUR
    times = [start] * 4 + [start + US, end - US, end, start - US]
    rows = [{"request_id": f"r{i}", "model": 0, "input_tokens": 0, "output_tokens": 0,
             "processing_time_ms": int(i == 0), "status": STATUSES[i % 3], "error_message": None,
             "user_id": None, "api_key_id": None, "cost_usd": Decimal("0.000005") if i < 2 else None,
             "created_at": t} for i, t in enumerate(times)]
    rows += [{**rows[-1], "request_id": f"other{i}", "model": 1, "created_at": start}
             for i in range(2)]
    rows.append({**rows[-1], "request_id": "orphan", "model": None, "created_at": start})
    data = load(conn, providers, models, rows)

    query = {"start_date": start.isoformat(), "end_date": end.replace(tzinfo=None).isoformat()}
    roll_up(conn, 3)
    check_stats(client, data, start, end, query, mode)
    body = get_ok(client, f"{BASE}/models/{data.models[0]['id']}", query)
    assert body["data"]["stats"]["total_requests"] == 6
    assert body["data"]["stats"]["avg_processing_time_ms"] == 0.17  # 1/6
    assert body["data"]["stats"]["total_cost_usd"] == "0.000010"
    body = get_ok(client, f"{BASE}/models/{data.models[0]['id']}",
                  {"start_date": start.isoformat(), "end_date": (start + US).isoformat()})
    assert body["data"]["stats"]["avg_processing_time_ms"] == 0.25  # 1/4, exact
    eight = {"end_date": (end + US).isoformat(), "start_date": (start - US).isoformat()}
    body = get_ok(client, f"{BASE}/models/{data.models[0]['id']}", eight)
    assert body["data"]["stats"]["avg_processing_time_ms"] == 0.13  # 1/8 = 0.125, half up
    body = get_ok(client, f"{BASE}/providers", query)
    assert body["metadata"]["unattributed_requests"] == 1
    assert [p["name"] for p in body["data"]] == ["Only"]  # not Idle: no requests

    # LIKE metacharacters match literally: as wildcards they would match "500 off" too.
    for needle, count in (("%_", 6), ("0%", 6), ("_", 6), ("%", 6), ("0 O", 2), ("500", 2),
                          ("50%_OFF", 6), ("\\", 0)):
        body = get_ok(client, BASE, {**query, "model_name": needle})
        assert body["metadata"]["total_count"] == count, needle
    # Ties on created_at come back by id, newest (largest) first.
    body = get_ok(client, BASE, {"start_date": start.isoformat(), "end_date": (start + US).isoformat()})
    assert [r["request_id"] for r in body["data"]] == \
        ["orphan", "other1", "other0", "r3", "r2", "r1", "r0"]


def test_a_function_that_fails_with_every_migration_applied_is_a_fault_not_a_fallback(make_database, app_factory):
    """42883 (no such function) from inside the statistics once every migration is applied
    (a function missing or taking other types: the gateway's numeric latency against
    integer functions) answered from the fallback before, which may answer nothing with
    success true; now it is a 500."""
    url = make_database()
    migrate.apply(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP FUNCTION chat_rollup_effective_range(timestamptz, timestamptz)")
    client = app_factory(DATABASE_URL=url, ALLOW_ANONYMOUS=True).test_client()
    for path in ("/providers", "/models"):
        response = client.get(BASE + path)
        assert response.status_code == 500 and response.get_json()["success"] is False, path
