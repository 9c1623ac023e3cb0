"""Migration 0022 side by side with 0021, on the same requests (docs/benchmarks: the
source function, numeric latency sums, other and untimed).

Two databases on one server get the same seeded requests: one migrated through 0021, the
other through 0022. Each is rolled up by the backfill (timed), then the statistics the
API asks most (chat_request_stats over ragged ranges, a breakdown by user, an hourly
series) and a refresh of freshly written rows are timed alternately on both, so that
the machine's noise falls on both alike. The answers are compared first.

    python loadtests/source_bench.py --url postgresql://... --rows 1000000 --models 20 --days 30
"""
import argparse
import random
import statistics
import time
from datetime import datetime, timedelta, timezone

import psycopg
from psycopg.rows import dict_row

from webapp import migrate, rollups, seed

BEFORE, AFTER = "0021.vanished-models", "0022.request-source"


def database(admin_url, name, upto, args):
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
    url = psycopg.conninfo.make_conninfo(admin_url, dbname=name)
    migrate.apply(url)
    applied = migrate.applied_ids(url)
    migrate.rollback(url, len(applied) - applied.index(upto) - 1)
    conn = psycopg.connect(url, autocommit=True, row_factory=dict_row)
    seed.seed(conn, args.rows, models=args.models, days=args.days, until=args.until)
    conn.execute("VACUUM ANALYZE")
    started = time.perf_counter()
    rollups.catch_up(conn)
    print(f"{upto}: backfill of {args.rows} rows {time.perf_counter() - started:.1f} s", flush=True)
    conn.execute("VACUUM ANALYZE")
    return conn


def questions(now, rng):
    def ragged(days):
        end = now - timedelta(minutes=rng.uniform(1, 600))
        return end - timedelta(days=days, minutes=rng.uniform(0, 600)), end
    asked = []
    for days in (1, 7, 30):
        start, end = ragged(days)
        asked.append((f"stats {days}d", "SELECT * FROM chat_request_stats(%s, %s, NULL, true) ORDER BY 1",
                      (start, end)))
    start, end = ragged(7)
    asked.append(("breakdown user 7d", "SELECT * FROM chat_request_breakdown(%s, %s, 'user', 10)", (start, end)))
    hours = [now - timedelta(hours=h) for h in range(48, -1, -1)]
    asked.append(("series 48 h", "SELECT * FROM chat_request_series(%s)", (hours,)))
    asked.append(("stats all time", "SELECT * FROM chat_request_stats(%s, %s, NULL, true) ORDER BY 1", (None, None)))
    return asked


def comparable(rows):
    """0022 adds other_requests and untimed_requests (0 here) and sums latency as numeric."""
    return [{k: (float(v) if k == "processing_time_ms_sum" else v) for k, v in r.items()
             if k not in ("other_requests", "untimed_requests")} for r in rows]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--until", default=None)
    args = parser.parse_args()
    # one instant for both databases' histories (seeding takes a while)
    args.until = args.until or datetime.now(timezone.utc).replace(second=0, microsecond=0)
    conns = {name: database(args.url, f"bench_{name[:4]}", name, args) for name in (BEFORE, AFTER)}
    now = conns[BEFORE].execute("SELECT max(created_at) AS t FROM chat_completion_requests").fetchone()["t"]
    rng = random.Random(3)
    times = {}
    for round_ in range(args.rounds):
        asked = questions(now, rng)
        order = list(conns.items()) if round_ % 2 else list(conns.items())[::-1]
        answers = {}
        for name, conn in order:
            for what, sql, params in asked:
                started = time.perf_counter()
                answers[(name, what)] = conn.execute(sql, params).fetchall()
                times.setdefault((what, name), []).append(1000 * (time.perf_counter() - started))
        for what, _, _ in asked:
            assert comparable(answers[(BEFORE, what)]) == comparable(answers[(AFTER, what)]), what
        for name, conn in order:  # a refresh of 2000 new rows
            seed.seed(conn, 2000, models=args.models, days=1, seed=100 + round_, until=now)
            started = time.perf_counter()
            rollups.catch_up(conn)
            times.setdefault(("refresh 2000 rows", name), []).append(1000 * (time.perf_counter() - started))
    print(f"| {args.rows} rows, {args.models} models, {args.days} days | 0021 median / p95 ms "
          f"| 0022 median / p95 ms | ratio of medians |")
    print("|---|---|---|---|")
    for what in dict.fromkeys(w for w, _ in times):
        a, b = times[(what, BEFORE)], times[(what, AFTER)]
        p95 = lambda xs: statistics.quantiles(xs, n=20)[-1]  # noqa: E731
        print(f"| {what} | {statistics.median(a):.1f} / {p95(a):.1f} | {statistics.median(b):.1f} / {p95(b):.1f} "
              f"| {statistics.median(b) / statistics.median(a):.2f} |")


if __name__ == "__main__":
    main()
