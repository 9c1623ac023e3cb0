"""Rows as the gateway writes them (migration 0022): processing_time_ms numeric with
fractions, or NULL; token counts NULL; statuses other than completed, failed and partial
(the gateway's column defaults to 'pending'). The demo table has the gateway's column
types (docs/gatewayz-schema.md).

Every path must count such rows as the Python aggregation here does: NULL tokens as 0,
NULL latencies left out of the latency sum, average and percentiles (and counted), every
status in the totals (other statuses under other_requests), fractions summed exactly.
The paths: the store filled by the refresh or by the backfill (and kept by the triggers
through updates and deletes), the raw baseline, and the app's fallback without chatstats'
schema.
"""
import random
import psycopg
import pytest
from psycopg.rows import dict_row

import rollupcheck as rc
from webapp import migrate, rollups

API = "/api/monitoring/chat-requests"
@pytest.fixture
def gateway_db(make_database):
    url = make_database()
    migrate.apply(url)
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        _, model_ids = rc.make_catalog(conn, providers=2, models=3)
        rc.insert(conn, rc.gateway_requests(random.Random(5), model_ids, 1500))
        yield url, conn, model_ids


@pytest.mark.parametrize("fill", ["refresh", "backfill"])
def test_the_store_counts_gateway_rows(gateway_db, fill):
    _, conn, model_ids = gateway_db
    sh = rc.shape(conn)
    rollups.catch_up(conn, batch_rows=400, backfill_min_rows=1 if fill == "backfill" else 10**12)
    rc.check_store(conn, sh)
    rc.check_gateway_statistics(conn, sh, "rollup")
    rc.check_gateway_statistics(conn, sh, "raw")

    # The triggers map the table's rows as the source does: updates to and from NULL and
    # other statuses, and deletes.
    conn.execute("UPDATE chat_completion_requests SET status = 'pending', processing_time_ms = NULL,"
                 " input_tokens = NULL WHERE id % 7 = 0")
    conn.execute("UPDATE chat_completion_requests SET status = 'completed', processing_time_ms = 12.345,"
                 " output_tokens = 3 WHERE id % 11 = 0")
    conn.execute("DELETE FROM chat_completion_requests WHERE id % 13 = 0")
    rc.insert(conn, rc.gateway_requests(random.Random(6), model_ids, 300))
    rollups.catch_up(conn, batch_rows=400)
    rc.check_store(conn, sh)
    rc.check_gateway_statistics(conn, sh, "rollup")


@pytest.mark.parametrize("mode", ["rollup", "raw", "fallback"])
def test_the_api_counts_gateway_rows(gateway_db, app_factory, mode):
    url, conn, _ = gateway_db
    rollups.catch_up(conn)
    config = {"STATS_SOURCE": "raw"} if mode == "raw" else {}
    if mode == "fallback":  # chatstats uninstalled; the owner reads (the API's grants go too)
        migrate.uninstall(url)
        config = {"API_DATABASE_URL": url}
    client = app_factory(DATABASE_URL=url, ALLOW_ANONYMOUS=True, **config).test_client()
    rows = rc.fetch_rows(conn)
    expected = rc.python_stats(rows)
    body = client.get(API + "/models").get_json()
    assert body["metadata"]["method"] != "rpc" if mode == "fallback" else body["metadata"]["method"] == "rpc"
    assert sorted(item["model_id"] for item in body["data"]) == sorted(m for m in expected if m is not None)
    for item in body["data"]:
        totals, stats = expected[item["model_id"]], item["stats"]
        public = rc.public_model_row(item["model_id"], totals)
        assert {k: stats[k] for k in public if k in stats} == {
            **{k: v for k, v in public.items() if k in stats},
            "avg_processing_time_ms": float(public["avg_processing_time_ms"]),
            "total_cost_usd": f"{totals.cost_usd:.6f}"}, item["model_id"]
        for q, exact in zip(rc.QUANTILES, totals.percentiles()):
            reported = stats[f"p{int(q * 100)}_processing_time_ms"]
            assert reported == float(exact) if mode != "rollup" else rc.within_error(reported, exact)
    providers = client.get(API + "/providers").get_json()
    assert sum(p["total_requests"] for p in providers["data"]) + providers["metadata"]["unattributed_requests"] \
        == len(rows)
