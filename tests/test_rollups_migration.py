"""Rolling the rollup migrations back and applying them again on a table that holds rows.

Runs in a database of its own, so that no other test sees the rollups missing.
"""
import random
from datetime import timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

import rollupcheck as rc
from rollupcheck import no_background_refreshers  # noqa: F401 (autouse fixture)
from webapp import migrate, rollups, seed

FIRST_ROLLUP_MIGRATION = "0003.rollup-tables"


@pytest.fixture
def scratch_url(make_database):
    url = make_database()
    migrate.apply(url)
    return url


def ranges_over(rows, rng, count=25):
    """Unbounded ends, and edges on, next to and between bucket boundaries within the data."""
    lo, hi = min(r["created_at"] for r in rows), max(r["created_at"] for r in rows)

    def instant():
        at = lo + (hi - lo) * rng.random()
        grain = rng.choice([None, *rc.GRAINS])
        if grain is None:
            return at
        return rc.bucket_of(grain, at) + timedelta(microseconds=rng.choice([0, 0, -1, 1]))
    found = [(None, None), (None, instant()), (instant(), None)]
    while len(found) < count:
        start, end = instant(), instant()
        found.append((min(start, end), max(start, end)))
    return found


def check_all(conn, ranges, provider_ids, model_ids):
    rows = rc.fetch_rows(conn)
    for bounds in ranges:
        for model_id in (None, *model_ids[:3]):
            rc.check_totals(conn, *bounds, model_id, rows=rows)
        rc.check_public(conn, *bounds, provider_ids, model_ids)
    return rows


def test_rollup_migrations_down_and_up_with_rows(scratch_url):
    rng = random.Random(11)
    with psycopg.connect(scratch_url, autocommit=True, row_factory=dict_row) as conn:
        seed.seed(conn, 3000, providers=3, models=6, days=3)
        provider_ids = [r["id"] for r in conn.execute("SELECT id FROM providers ORDER BY id")]
        model_ids = [r["id"] for r in conn.execute("SELECT id FROM models ORDER BY id")]
        ranges = ranges_over(rc.fetch_rows(conn), rng)
        assert rollups.catch_up(conn) == 3000
        check_all(conn, ranges, provider_ids, model_ids)
        before = {bounds: rc.public_answers(conn, *bounds, provider_ids, model_ids) for bounds in ranges[:5]}

        applied = migrate.applied_ids(scratch_url)
        rolled_back = migrate.rollback(scratch_url, len(applied) - applied.index(FIRST_ROLLUP_MIGRATION))
        assert {"0003.rollup-tables", "0004.rollup-refresh", "0005.rollup-reads"} <= set(rolled_back)
        assert rollups.lag(conn) is None
        # The foundation's functions answer alone, with the same numbers.
        for bounds, answer in before.items():
            assert rc.public_answers(conn, *bounds, provider_ids, model_ids) == answer

        # The table moves on while the rollups are away.
        seed.seed(conn, 500, providers=3, models=6, days=3, seed=7)
        conn.execute("UPDATE chat_completion_requests SET status = 'failed', output_tokens = 0 WHERE id % 7 = 0")
        conn.execute("DELETE FROM chat_completion_requests WHERE id % 11 = 0")
        total = conn.execute("SELECT count(*) AS n FROM chat_completion_requests").fetchone()["n"]

        migrate.apply(scratch_url)
        lag = rollups.lag(conn)
        assert (lag["lag_rows"], lag["watermark_id"]) == (total, 0)
        check_all(conn, ranges, provider_ids, model_ids)  # exact at once: everything is tail

        assert rollups.catch_up(conn, batch_rows=1000) == total
        assert rollups.lag(conn)["lag_rows"] == 0
        rc.check_rollup_table(conn)
        check_all(conn, ranges, provider_ids, model_ids)

        conn.execute("UPDATE chat_completion_requests SET model_id = NULL, created_at = created_at - "
                     "interval '90 minutes' WHERE id % 13 = 0")
        conn.execute("DELETE FROM chat_completion_requests WHERE id % 17 = 0")
        rc.check_rollup_table(conn)
        assert len(check_all(conn, ranges, provider_ids, model_ids)) < total
