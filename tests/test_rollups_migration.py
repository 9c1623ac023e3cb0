"""Rolling the first series' rollup migrations back and applying them again on a table
that holds rows: databases made before the attach series keep that series.

Runs in a database of its own, so that no other test sees the rollups missing.
"""
import random
from datetime import timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

import rollupcheck as rc
from helpers import apply_first_series, roll_back_through
from rollupcheck import no_background_refreshers  # noqa: F401 (autouse fixture)
from webapp import migrate, rollups, seed

FIRST_STORE_MIGRATION = "0008.rollup-store"
FIRST_ROLLUP_MIGRATION = "0003.rollup-tables"
# What both the old (0002) and the new bodies of the public functions answer.
PERCENTILES = ("p50_processing_time_ms", "p95_processing_time_ms", "p99_processing_time_ms")


@pytest.fixture
def scratch_url(make_database):
    return apply_first_series(make_database())


def ranges_over(sh, rows, rng, count=15):
    """Unbounded ends, and edges on, next to and between bucket boundaries of every level
    within the data."""
    lo, hi = min(r["created_at"] for r in rows), max(r["created_at"] for r in rows)

    def instant():
        at = lo + (hi - lo) * rng.random()
        level = rng.choice([None, *range(1, sh.top)])
        if level is None:
            return at
        return sh.floor(level, at) + timedelta(microseconds=rng.choice([0, 0, -1, 1]))
    found = [(None, None), (None, instant()), (instant(), None)]
    while len(found) < count:
        start, end = instant(), instant()
        found.append((min(start, end), max(start, end)))
    return found


def check_all(conn, sh, ranges, model_ids):
    """The stored rollups, and every range's statistics from the rollups and the raw rows
    against the Python aggregation; return the rows."""
    now = rc.check_store(conn, sh)
    rows = now[1]
    providers_of = rc.model_providers(conn)
    for i, bounds in enumerate(ranges):
        for model_id in (None, model_ids[i % len(model_ids)]):
            assert rc.check_range_stats(conn, sh, [], *bounds, model_id, now=now) == bounds
            rc.check_raw_stats(conn, *bounds, model_id, rows=rows)
        if i % 3 == 0:
            rc.check_public_functions(conn, *bounds, rc.python_stats(rows, *bounds), providers_of)
    return rows


def public_answers(conn, start, end, provider_ids, model_ids, percentiles=True):
    """Every public statistics function's answer for the range."""
    args = {"start": start, "end": end}

    def models(rows):
        return [{k: v for k, v in r.items() if percentiles or k not in PERCENTILES} for r in rows]
    answers = {
        # (0011 lists providers with requests only, older bodies every provider)
        "providers": [r for r in conn.execute("SELECT * FROM get_provider_request_stats(%(start)s, %(end)s)",
                                              args) if r["total_requests"]],
        "unattributed": conn.execute("SELECT get_unattributed_request_count(%(start)s, %(end)s) AS n",
                                     args).fetchone(),
        "models": models(conn.execute("SELECT * FROM get_models_with_requests(%(start)s, %(end)s)", args)),
    }
    for p in provider_ids:
        answers[f"provider {p}"] = models(conn.execute(
            "SELECT * FROM get_models_with_requests_by_provider(%(p)s, %(start)s, %(end)s)", {**args, "p": p}))
    for m in model_ids:
        answers[f"model {m}"] = models(conn.execute(
            "SELECT * FROM get_model_request_stats(%(m)s, %(start)s, %(end)s)", {**args, "m": m}))
    return answers


def as_older(answer, percentiles=False):
    """The answer as older functions give it: (before 0017) no percentiles, and (before 0022)
    no other_requests, which the demo's rows never have."""
    assert all(row.get("other_requests", 0) == 0 for rows in answer.values() if isinstance(rows, list)
               for row in rows)
    dropped = ("other_requests",) + (() if percentiles else PERCENTILES)
    return {key: [{k: v for k, v in row.items() if k not in dropped} for row in rows]
            if isinstance(rows, list) else rows for key, rows in answer.items()}


def test_first_refresh_of_a_new_database_fills_every_level(scratch_url):
    """Regression: on a new state row (refreshed_at NULL) `p_state IS NOT NULL` was false, so
    the first refresh after `migrate` wrote only the all-time level."""
    with psycopg.connect(scratch_url, autocommit=True, row_factory=dict_row) as conn:
        sh = rc.shape(conn)
        seed.seed(conn, 30, providers=1, models=2, days=1)
        assert rollups.refresh(conn, batch_rows=10) == (10, False)
        rc.check_store(conn, sh)


@pytest.mark.parametrize("first", [FIRST_STORE_MIGRATION, FIRST_ROLLUP_MIGRATION])
def test_rollup_migrations_down_and_up_with_rows(scratch_url, first):
    rng = random.Random(11)
    # No prepared statements: the migrations change the functions' result types under them.
    with psycopg.connect(scratch_url, autocommit=True, row_factory=dict_row, prepare_threshold=None) as conn:
        sh = rc.shape(conn)
        seed.seed(conn, 3000, providers=3, models=6, days=3)
        conn.execute("UPDATE chat_completion_requests SET processing_time_ms = processing_time_ms * 400 "
                     "WHERE id % 9 = 0")  # some of 10 minutes and more (latency_over)
        provider_ids = [r["id"] for r in conn.execute("SELECT id FROM providers ORDER BY id")]
        model_ids = [r["id"] for r in conn.execute("SELECT id FROM models ORDER BY id")]
        ranges = ranges_over(sh, rc.fetch_rows(conn), rng)
        assert rollups.catch_up(conn, batch_rows=700) == 3000
        check_all(conn, sh, ranges, model_ids)
        before = {bounds: public_answers(conn, *bounds, provider_ids, model_ids) for bounds in ranges[:5]}

        applied = migrate.applied_ids(scratch_url)
        rolled_back = roll_back_through(scratch_url, first)
        assert "0010.rollup-store-reads" in rolled_back
        assert rollups.lag(conn) is None
        # The older functions answer alone, with the same numbers (they have no percentiles).
        for bounds, answer in before.items():
            assert public_answers(conn, *bounds, provider_ids, model_ids, percentiles=False) == \
                as_older(answer), bounds

        # The table moves on while the store is away.
        seed.seed(conn, 500, providers=3, models=6, days=3, seed=7)
        conn.execute("UPDATE chat_completion_requests SET status = 'failed', output_tokens = 0 WHERE id % 7 = 0")
        conn.execute("DELETE FROM chat_completion_requests WHERE id % 11 = 0")
        total = conn.execute("SELECT count(*) AS n FROM chat_completion_requests").fetchone()["n"]

        migrate.apply(scratch_url)
        assert migrate.applied_ids(scratch_url) == applied
        lag = rollups.lag(conn)
        assert (lag["lag_rows"], lag["watermark_id"]) == (total, 0)
        assert rc.state(conn) == rc.State(0, None, None, None, None)
        check_all(conn, sh, ranges, model_ids)  # exact at once: everything is tail

        assert rollups.catch_up(conn, batch_rows=1000) == total
        assert rollups.lag(conn)["lag_rows"] == 0
        check_all(conn, sh, ranges, model_ids)
        conn.execute("UPDATE chat_completion_requests SET model_id = NULL, created_at = created_at - "
                     "interval '90 minutes' WHERE id % 13 = 0")
        conn.execute("DELETE FROM chat_completion_requests WHERE id % 17 = 0")
        assert len(check_all(conn, sh, ranges, model_ids)) < total


@pytest.mark.parametrize("anchor", [rc.ANCHORS[a] for a in ("mid-block", "after-1024-day-boundary", "year-end")],
                         ids=["mid-block", "after-1024-day-boundary", "year-end"])
@pytest.mark.parametrize("raw_days", [None, 4, 2])
def test_0013_on_a_store_in_use_builds_the_users_hours_from_the_rows_kept(scratch_url, raw_days, anchor):
    """Migration 0013 on a rolled-up, pruned (and retained) 0012 store (a history of 6 days
    to `now`, an anchor: where it falls against 32-day blocks matters): the users' hours
    above the detail horizon are built from the request rows, the detail horizon moves up
    to the raw horizon where retention removed rows, and the store is then exactly what
    the rules keep for every row, retained ones included; time series by user stay exact,
    and so do breakdowns by user. Rolled back, 0012's store answers the same over all time."""
    with psycopg.connect(scratch_url, autocommit=True, row_factory=dict_row, prepare_threshold=None) as conn:
        roll_back_through(scratch_url, "0013.user-rollups")
        now = anchor
        seed.seed(conn, 3000, providers=3, models=6, days=6, users=40, keys=5, until=now)
        rollups.catch_up(conn)
        conn.execute("SELECT chat_rollup_prune(%s, %s)", (now - timedelta(days=5), now - timedelta(days=3)))
        before = rc.fetch_rows(conn)
        if raw_days is not None:
            conn.execute("SELECT chat_rollup_retain(%s, 100000)", (now - timedelta(days=raw_days),))
        left = {r["id"] for r in rc.fetch_rows(conn)}
        retained = [r for r in before if r["id"] not in left]
        assert bool(retained) == (raw_days is not None)

        migrate.apply(scratch_url)
        sh = rc.shape(conn)
        st_, rows = rc.check_store(conn, sh, retained)
        detail = rc.midnight(now - timedelta(days=3))
        raw = rc.midnight(now - timedelta(days=raw_days)) if raw_days else None
        assert st_.detail_horizon == max(detail, raw or detail) == st_.user_horizon
        assert conn.execute("SELECT count(*) AS n FROM chat_rollups WHERE dim = 'u' AND level = 2").fetchone()["n"] \
            == len({(sh.floor(2, r["created_at"]), r["user_id"] or 0) for r in rows
                    if r["created_at"] >= st_.detail_horizon})
        user = rows[0]["user_id"]
        start = st_.detail_horizon + timedelta(minutes=7)
        series = conn.execute("SELECT * FROM chat_request_series(%s, NULL, NULL, %s)",
                              ([start + timedelta(hours=h) for h in range(0, 30, 3)], user)).fetchall()
        for point in series:
            expected = [r for r in rows if r["user_id"] == user
                        and point["slot"] <= r["created_at"] < point["slot"] + timedelta(hours=3)]
            assert point["completed_requests"] + point["failed_requests"] + point["partial_requests"] \
                == len(expected), point["slot"]

        # Breakdowns by user count every request once (also across the end of the users'
        # coarse stretch, which 0013's pieces counted twice: see migration 0018).
        everything = rows + list(retained)
        for start, end in [(None, None), (now - timedelta(days=700), now - timedelta(hours=1)),
                           (now - timedelta(days=5), now - timedelta(hours=1))]:
            rc.check_breakdown(conn, sh, everything, "user", start, end)

        # Rolled back, 0012's users read their 64- to 1024-day blocks again: summed anew
        # from the 32-day ones, they answer over all time as 0013 did. (Over a range that
        # crosses the end of the users' coarse stretch, 0012's reads count some requests
        # twice, as 0013's did before 0018: a rollback brings that back.)
        top_users = ("SELECT kind, group_id, completed_requests, failed_requests, partial_requests,"
                     " total_input_tokens, total_cost_usd, p95_processing_time_ms"
                     " FROM chat_request_breakdown(NULL, NULL, 'user', 5)")
        answer = conn.execute(top_users).fetchall()
        roll_back_through(scratch_url, "0013.user-rollups")
        assert conn.execute("SELECT count(*) AS n FROM chat_rollups WHERE dim = 'u' AND level > 9").fetchone()["n"] \
            > conn.execute("SELECT count(*) AS n FROM chat_rollups WHERE dim = 'u' AND level = 15").fetchone()["n"]
        assert conn.execute(top_users).fetchall() == answer


def test_0016_rolled_back_keeps_the_wide_rows_values(scratch_url):
    """Rolled back, migration 0016's wide rows (hi + lo) become 0015's float4 vectors
    holding the same value: every statistic answers as before. (Limits lowered so that
    a small history has wide rows: more than 2 requests a stored row.)"""
    with psycopg.connect(scratch_url, autocommit=True, row_factory=dict_row, prepare_threshold=None) as conn:
        conn.execute("CREATE OR REPLACE FUNCTION chat_histogram_narrow_limit() RETURNS bigint "
                     "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 2::bigint $$")
        seed.seed(conn, 3000, providers=3, models=6, days=6, users=40, keys=5)
        for _ in range(3):  # several refreshes, so that rows turn wide and take deltas then
            rollups.catch_up(conn, batch_rows=1000, backfill_min_rows=10**12)
        assert conn.execute("SELECT count(*) AS n FROM chat_rollups WHERE latency_hi IS NOT NULL").fetchone()["n"] > 0
        now = conn.execute("SELECT now() AS t").fetchone()["t"]
        questions = [("SELECT * FROM get_models_with_requests(%s, %s)", r)
                     for r in ((None, None), (now - timedelta(days=3, minutes=7), now))]
        questions += [("SELECT kind, group_id, completed_requests, p50_processing_time_ms, p95_processing_time_ms,"
                       " p99_processing_time_ms FROM chat_request_breakdown(%s, %s, 'user', 5)", (None, None))]
        answers = [conn.execute(sql, args).fetchall() for sql, args in questions]
        assert all(a["p50_processing_time_ms"] is not None for a in answers[0])
        roll_back_through(scratch_url, "0016.exact-histograms")
        assert [conn.execute(sql, args).fetchall() for sql, args in questions] == \
            [as_older({"rows": rows}, percentiles=True)["rows"] for rows in answers]
