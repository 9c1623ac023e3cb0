"""A range's pieces, and breakdowns by user, key and model over a retained history, at
chosen instants.

Where a range falls against the store's boundaries (32-day and 1024-day blocks, the
horizons, the raw horizon) depends on the day, so these tests do not use today: the
history ends at each instant of rc.ANCHORS, the horizons are set relative to it, and every
answer is compared with a Python aggregation of the rows. (The migration 0013 test that
failed from 2026-12-04 on was such a case: see migration 0018.)
"""
import random
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

import rollupcheck as rc
from rollupcheck import no_background_refreshers  # noqa: F401 (autouse fixture)
from webapp import rollups

NEW_YORK = ZoneInfo("America/New_York")
# (quarter, detail, user, raw) horizons as days before the anchor; None: not moved.
HORIZONS = [(5, 3, 3, 4), (20, 10, 30, 12), (20, 10, 15, 25), (3, 2, 2, None)]


def history(conn, anchor, rng, count=1500, days=45):
    """count requests over the `days` days before anchor, of a few users, keys and models."""
    _, model_ids = rc.make_catalog(conn, providers=2, models=4)
    rows = rc.random_requests(rng, model_ids, anchor, days, 0, count)
    rc.insert(conn, rows)
    return rc.fetch_rows(conn)


def retained_store(conn, anchor, horizons):
    """Roll up, prune and retain as the refresher would, `horizons` days before anchor."""
    rollups.catch_up(conn)
    quarter, detail, user, raw = horizons
    conn.execute("SELECT chat_rollup_prune(%s, %s, %s)",
                 [anchor - timedelta(days=d) for d in (quarter, detail, user)])
    if raw is not None:
        while conn.execute("SELECT chat_rollup_retain(%s, 100000) AS n",
                           (anchor - timedelta(days=raw),)).fetchone()["n"]:
            pass


def ranges_around(sh, anchor, rng, count=25):
    """Open ends, and ends on, next to and between the boundaries of every level near the
    history and the horizons."""
    def instant():
        at = anchor - timedelta(seconds=rng.uniform(-86400, 50 * 86400))
        level = rng.choice([None, *range(1, sh.top)])
        if level is not None:
            at = sh.floor(level, at) + timedelta(microseconds=rng.choice([0, 0, -1, 1]))
        return at
    found = [(None, None), (None, anchor - timedelta(hours=1)), (anchor - timedelta(days=700), anchor)]
    while len(found) < count:
        a, b = instant(), instant()
        found.append((min(a, b), max(a, b)) if a != b else (a, None))
    return found


@pytest.mark.parametrize("horizons", HORIZONS, ids=lambda h: "-".join(map(str, h)))
@pytest.mark.parametrize("anchor", rc.ANCHORS.values(), ids=rc.ANCHORS.keys())
def test_breakdowns_count_every_request_once(conn, anchor, horizons):
    rng = random.Random(f"{anchor}{horizons}")
    sh = rc.shape(conn)
    rows = history(conn, anchor, rng)
    retained_store(conn, anchor, horizons)
    for start, end in ranges_around(sh, anchor, rng):
        for by in rc.BREAKDOWNS:
            rc.check_breakdown(conn, sh, rows, by, start, end)


def test_a_users_range_across_the_end_of_their_coarse_stretch(conn):
    """The case of migration 0018: users keep 32-day blocks only before user_horizon, the
    raw horizon is earlier, and the newest requests lie in the block that holds both: a
    range from long before to an hour ago counted the requests after user_horizon twice."""
    anchor = rc.ANCHORS["mid-block"]
    sh = rc.shape(conn)
    assert sh.floor(9, anchor - timedelta(days=6)) == sh.floor(9, anchor)  # one block holds it all
    rows = history(conn, anchor, random.Random(3), days=6)
    retained_store(conn, anchor, (5, 3, 3, 4))
    start, end = anchor - timedelta(days=700), anchor - timedelta(hours=1)
    # (the start, where users keep 32-day blocks only, rounds down to its block)
    assert rc.covered(conn, sh, "u", start, end) == (sh.floor(9, start), end)
    assert rc.sql_groups(conn, "user", start, end) == rc.python_groups(rows, "user_id", start, end)


@pytest.mark.parametrize("horizons", HORIZONS[:3], ids=lambda h: "-".join(map(str, h)))
@pytest.mark.parametrize("anchor", [rc.ANCHORS[a] for a in ("mid-block", "year-end", "after-1024-day-boundary")],
                         ids=["mid-block", "year-end", "after-1024-day-boundary"])
def test_a_users_time_series_counts_each_slots_requests_once(conn, anchor, horizons):
    """Each slot of a user's series (days, 6 hours across the horizons, and days in New
    York, which cross the UTC midnights where the horizons lie) answers for
    the rows of the range its pieces cover: its own, or wider where its ends lie before
    the raw horizon."""
    sh = rc.shape(conn)
    rows = history(conn, anchor, random.Random(f"series{anchor}{horizons}"))
    retained_store(conn, anchor, horizons)
    user = 3
    days = [sh.floor(4, anchor) - timedelta(days=d) for d in range(44, -2, -1)]
    quarter_days = [days[-12] + timedelta(hours=6 * h) for h in range(0, 4 * 11)]
    new_york = [datetime.combine(anchor.astimezone(NEW_YORK).date() - timedelta(days=d), time(), NEW_YORK)
                for d in range(44, -2, -1)]  # local midnights: 04:00 or 05:00 UTC
    for bounds in (days, quarter_days, new_york):
        series = conn.execute("SELECT slot, completed_requests, failed_requests, partial_requests"
                              " FROM chat_request_series(%s, NULL, NULL, %s)", (bounds, user)).fetchall()
        assert [p["slot"] for p in series] == bounds[:-1]
        for point, lo, hi in zip(series, bounds, bounds[1:]):
            start, end = rc.covered(conn, sh, "u", lo, hi, lo == bounds[0], hi == bounds[-1])
            expected = rc.python_groups([r for r in rows if r["user_id"] == user], "user_id", start, end)
            assert (point["completed_requests"], point["failed_requests"], point["partial_requests"]) \
                == expected.get(user, (0, 0, 0, 0))[:3], (lo, hi, start, end)
