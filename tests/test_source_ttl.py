"""The request table's own TTL (migration 0019): the gateway's cleanup job deletes rows
older than 90 days, and the statistics must not shrink.

The TTL counts from now, so these histories do too; every answer is compared with a
Python aggregation of the rows ever written (less those deleted while younger).
"""
import random
from datetime import timedelta

import pytest

import rollupcheck as rc
from rollupcheck import no_background_refreshers  # noqa: F401 (autouse fixture)
from webapp import rollups

TTL_DAYS = 90
# The gateway's cleanup job, as it deletes.
CLEANUP = "DELETE FROM chat_completion_requests WHERE created_at < now() - make_interval(days => %s)"


@pytest.fixture(autouse=True)
def no_ttl_afterwards(conn):
    """The TTL is a setting of the store, which TRUNCATE keeps: the other tests' histories
    lie years back, where it would keep the statistics of every delete."""
    yield
    rollups.set_source_ttl(conn, 0)


def rolled_up_history(conn, seed, count):
    """count requests over the last 120 days, rolled up: (rng, model ids, now)."""
    rng = random.Random(seed)
    _, model_ids = rc.make_catalog(conn)
    now = conn.execute("SELECT now() AS t").fetchone()["t"]
    rc.insert(conn, rc.random_requests(rng, model_ids, now, 120, 0, count))
    rollups.catch_up(conn)
    return rng, model_ids, now


def test_the_sources_ttl_keeps_the_statistics_and_newer_deletes_subtract(conn):
    sh = rc.shape(conn)
    rng, model_ids, now = rolled_up_history(conn, 90, 1500)
    assert rollups.set_source_ttl(conn, TTL_DAYS) and not rollups.set_source_ttl(conn, TTL_DAYS)
    # Old rows written after the refresh: the cleanup deletes them before any refresh saw them.
    rc.insert(conn, rc.random_requests(rng, model_ids, now, 110, 95, 40))
    written = rc.fetch_rows(conn)

    assert conn.execute(CLEANUP, (TTL_DAYS,)).rowcount > 40
    expired = [r for r in written if r["created_at"] < now - timedelta(days=TTL_DAYS)]
    newest = max(r["created_at"] for r in expired)
    st_ = rc.state(conn)
    assert st_.raw_horizon == rc.midnight(newest) + rc.DAY
    st_, rows = rc.check_store(conn, sh, retained=expired)
    assert st_.watermark < max(r["id"] for r in written)  # the late old rows were never refreshed

    # Deleting younger rows subtracts them, whether rolled up or not.
    conn.execute("DELETE FROM chat_completion_requests WHERE id % 7 = 0")
    rollups.catch_up(conn)
    rc.check_store(conn, sh, retained=expired)
    for start, end in [(None, None), (now - timedelta(days=100), None), (now - timedelta(days=30), now),
                       (now - timedelta(days=91, hours=5), now - timedelta(days=60, minutes=7))]:
        rc.check_range_stats(conn, sh, expired, start, end)
        rc.check_breakdown(conn, sh, rc.fetch_rows(conn) + expired, "user", start, end)


def test_without_a_ttl_every_delete_subtracts(conn):
    sh = rc.shape(conn)
    rolled_up_history(conn, 91, 500)
    assert rollups.set_source_ttl(conn, TTL_DAYS) and rollups.set_source_ttl(conn, 0)
    conn.execute(CLEANUP, (TTL_DAYS,))
    st_, _ = rc.check_store(conn, sh)
    assert st_.raw_horizon is None


def test_the_request_list_says_from_when_it_is_complete(conn, client):
    rolled_up_history(conn, 92, 200)
    listed = client.get("/api/monitoring/chat-requests", query_string={"limit": 1}).get_json()
    assert listed["metadata"]["complete_from"] is None and listed["metadata"]["total_count"] == 200
    rollups.set_source_ttl(conn, TTL_DAYS)
    removed = conn.execute(CLEANUP, (TTL_DAYS,)).rowcount
    horizon = rc.state(conn).raw_horizon
    listed = client.get("/api/monitoring/chat-requests", query_string={"limit": 1}).get_json()
    assert listed["metadata"]["complete_from"] == horizon.isoformat()
    assert listed["metadata"]["total_count"] == 200 - removed
    stats = client.get("/api/monitoring/chat-requests/providers").get_json()
    assert sum(p["total_requests"] for p in stats["data"]) + stats["metadata"]["unattributed_requests"] == 200
