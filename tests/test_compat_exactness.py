"""/counts, `limit` on /models and /plot-data equal an independent computation in Python.

The random datasets, the three modes (rollups, raw rows, the app's fallback) and the
expected request rows are test_exactness.py's; the new answers are compared with
Python over the same inserted rows.
"""
import json

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from test_exactness import (BASE, T0, US, app_config, change_some, client, comparable_request,  # noqa: F401
                            datasets, draw_range, draw_request_filters, expected_requests, get_ok,
                            in_range, load, mode, parse_instant, range_query, roll_up)

limits = st.none() | st.integers(1, 8)


def expected_counts(data, rows):
    """Models with requests in rows, busiest first (ties by id), as /counts lists them."""
    items = []
    for m in data.models:
        count = sum(r["model"] is m for r in rows)
        if count:
            items.append({"model_id": m["id"], "model_name": m["model_name"],
                          "model_identifier": m["model_name"], "provider_name": m["provider"]["name"],
                          "provider_slug": m["provider"]["slug"], "request_count": count})
    return sorted(items, key=lambda item: (-item["request_count"], item["model_id"]))


def with_limit(query, limit):
    return query if limit is None else {**query, "limit": limit}


def check_counts(client, data, rows, query, limit, mode):
    expected = expected_counts(data, rows)
    body = get_ok(client, f"{BASE}/counts", with_limit(query, limit))
    assert body["data"] == expected[:limit], query
    meta = body["metadata"]
    assert meta["total_models"] == len(expected)  # every model, also beyond the limit
    assert meta["total_requests"] == sum(item["request_count"] for item in expected)
    assert meta["total_requests"] == sum(r["model"] is not None for r in rows)
    assert (meta["method"], meta["source"]) == (mode[2], mode[3])
    assert meta["filters"]["limit"] == limit


def check_models_limit(client, data, rows, query, limit, provider_id):
    """The first `limit` of the whole answer (itself checked in test_exactness.py)."""
    if provider_id is not None:
        query = {**query, "provider_id": provider_id}
    expected = [item["model_id"] for item in expected_counts(data, rows)
                if provider_id is None or item["model_id"] in
                {m["id"] for m in data.models if m["provider"]["id"] == provider_id}]
    everything = get_ok(client, f"{BASE}/models", query)
    assert [item["model_id"] for item in everything["data"]] == expected
    body = get_ok(client, f"{BASE}/models", with_limit(query, limit))
    assert body["data"] == everything["data"][:limit]
    assert body["metadata"]["total_models"] == everything["metadata"]["total_models"] == len(expected)
    assert body["metadata"]["filters"]["limit"] == limit


def check_plot(client, data, q, draw):
    query = {key: q[key] for key in ("model_id", "provider_id") if q[key] is not None}
    query.update(range_query(draw, q["start"], q["end"]))
    total, newest_first = expected_requests(
        data, {key: q[key] for key in ("model_id", "provider_id", "start", "end")})
    oldest_first = newest_first[::-1]

    body = get_ok(client, f"{BASE}/plot-data", query)
    assert [comparable_request(row) for row in body["recent_requests"]] == newest_first[:10], query
    plot = body["plot_data"]
    assert plot["tokens"] == [r["total_tokens"] for r in oldest_first], query
    assert plot["latency"] == [r["processing_time_ms"] for r in oldest_first]
    assert [parse_instant(t) for t in plot["timestamps"]] == [r["created_at"] for r in oldest_first]
    meta = body["metadata"]
    assert (meta["total_count"], meta["recent_count"]) == (total, min(total, 10))
    assert (meta["compression"], meta["format_version"]) == ("arrays", "1.0")
    for key in ("model_id", "provider_id"):
        assert meta["filters"][key] == q[key]
    for key, value in (("start_date", q["start"]), ("end_date", q["end"])):
        assert (meta["filters"][key] and parse_instant(meta["filters"][key])) == value


@settings(max_examples=15, deadline=None, print_blob=True,
          phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.data())
def test_counts_top_n_and_plot_equal_python(client, conn, empty_database, mode, draw_data):
    draw = draw_data.draw
    empty_database()
    data = load(conn, *draw(datasets()))
    roll_up(conn, draw(st.integers(0, len(data.rows) + 1)))  # some rows rolled up, some not
    change_some(conn, data, draw)
    providers = [None] + [p["id"] for p in data.providers]
    for _ in range(2):
        start, end = draw_range(draw, data)
        query = range_query(draw, start, end)
        rows = in_range(data.rows, start, end)
        check_counts(client, data, rows, query, draw(limits), mode)
        check_models_limit(client, data, rows, query, draw(limits), draw(st.sampled_from(providers)))
    check_counts(client, data, data.rows, {}, draw(limits), mode)
    for _ in range(2):
        check_plot(client, data, draw_request_filters(draw, data), draw)


def test_plot_is_one_snapshot_streamed_in_chunks(client, conn):
    """Rows committed while the arrays stream are in none of them: every array and
    total_count come from the snapshot the recent rows were read in."""
    provider = conn.execute("INSERT INTO providers (name, slug) VALUES ('P', 'p') RETURNING id").fetchone()
    model = conn.execute("INSERT INTO models (provider_id, model_name, provider_model_id)"
                         " VALUES (%s, 'm', 'm1') RETURNING id", (provider["id"],)).fetchone()

    def insert(first, count):
        for i in range(first, first + count):
            conn.execute("INSERT INTO chat_completion_requests (request_id, model_id, input_tokens,"
                         " processing_time_ms, created_at) VALUES (%s, %s, %s, %s, %s)",
                         (f"r{i}", model["id"], i, 10 * i, T0 + i * US))

    insert(0, 20)
    response = client.get(f"{BASE}/plot-data", query_string={"model_id": model["id"]})
    assert response.status_code == 200 and response.is_streamed
    chunks = iter(response.response)
    received = [next(chunks)]
    insert(20, 5)  # newer rows, committed mid-stream
    received += list(chunks)
    response.close()
    assert len(received) > 6  # 20 values in chunks of 3 (STREAM_CHUNK_ROWS), per array
    body = json.loads(b"".join(received))
    assert body["plot_data"]["tokens"] == list(range(20))
    assert body["plot_data"]["latency"] == [10 * i for i in range(20)]
    assert len(body["plot_data"]["timestamps"]) == body["metadata"]["total_count"] == 20
    assert [r["request_id"] for r in body["recent_requests"]] == [f"r{i}" for i in range(19, 9, -1)]
    assert get_ok(client, f"{BASE}/plot-data", {})["metadata"]["total_count"] == 25


def test_empty_answers(client, conn):
    for path in ("/counts", "/models"):
        body = get_ok(client, f"{BASE}{path}", {"limit": 3})
        assert body["data"] == [] and body["metadata"]["total_models"] == 0
    body = get_ok(client, f"{BASE}/plot-data", {"provider_id": 1})
    assert body["recent_requests"] == [] and body["plot_data"] == {
        "tokens": [], "latency": [], "timestamps": []}
    assert (body["metadata"]["total_count"], body["metadata"]["recent_count"]) == (0, 0)
