"""The rollup benchmark: raw aggregation vs rollups, side by side in one run.

For each data size it seeds a database of its own (reused when already seeded),
times every statistics query through both sources in alternation, checks that
both give identical answers, and then measures ingest with and without the
rollup machinery. Timings are client round trips over the local socket, an
upper bound of the time spent in the database.
"""
import io
import statistics
import threading
import time
from datetime import datetime, timedelta, timezone

import psycopg
from psycopg.rows import dict_row

from . import migrate, rollups, seed
from .dsn import with_database
from .queries import stats_queries

QUERIES = {
    "providers": lambda conn, r: stats_queries.provider_stats(conn, *r)[:2],
    "models": lambda conn, r: stats_queries.model_stats(conn, *r)[0],
    "models_by_provider": lambda conn, r: stats_queries.model_stats(conn, *r, provider_id=1)[0],
    "single_model": lambda conn, r: stats_queries.model_stats(conn, *r, model_id=1)[0],
}


def ranges(now):
    """The ranges a dashboard asks for, plus one with edges inside hours and minutes."""
    return {
        "all": (None, None),
        "24h": (now - timedelta(hours=24), now),
        "7d": (now - timedelta(days=7), now),
        "mid-hour": (now - timedelta(days=9, hours=3, minutes=17, seconds=23.5),
                     now - timedelta(days=2, minutes=41, seconds=7.25)),
    }


def _connect(url):
    return psycopg.connect(url, autocommit=True, row_factory=dict_row)


def prepare(url, rows, log):
    """Migrate, seed up to `rows` requests, roll everything up, VACUUM ANALYZE."""
    migrate.apply(url)
    with _connect(url) as conn:
        have = conn.execute("SELECT count(*) AS n FROM chat_completion_requests").fetchone()["n"]
        if have < rows:
            log(f"seeding {rows - have} rows ...")
            started = time.perf_counter()
            seed.seed(conn, rows - have)
            log(f"  seeded in {time.perf_counter() - started:.1f}s")
        started = time.perf_counter()
        rolled = rollups.catch_up(conn)
        if rolled:
            log(f"  rolled up {rolled} rows in {time.perf_counter() - started:.1f}s")
        conn.execute("VACUUM ANALYZE")


def _percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def time_queries(url, raw_reps, rollup_reps, log):
    """{(query, range): {source: [ms, ...]}} and the list of mismatches."""
    timings, mismatches = {}, []
    with _connect(url) as conn:
        now = conn.execute("SELECT now() AS t").fetchone()["t"]
        for qname, query in QUERIES.items():
            for rname, bounds in ranges(now).items():
                samples = {"raw": [], "rollup": []}
                answers = {}
                for rep in range(max(raw_reps, rollup_reps)):
                    for source, reps in (("raw", raw_reps), ("rollup", rollup_reps)):
                        if rep >= reps:
                            continue
                        conn.execute(f"SET chatstats.stats_source = '{source}'")
                        started = time.perf_counter()
                        answers[source] = query(conn, bounds)
                        samples[source].append((time.perf_counter() - started) * 1000)
                    if answers["raw"] != answers["rollup"]:
                        mismatches.append((qname, rname))
                timings[(qname, rname)] = samples
                log(f"  {qname:<18} {rname:<8} raw {statistics.median(samples['raw']):8.1f} ms"
                    f"   rollup {statistics.median(samples['rollup']):6.2f} ms")
        conn.execute("RESET chatstats.stats_source")
    return timings, mismatches


def summarize(timings):
    rows = []
    for (qname, rname), samples in timings.items():
        raw, rollup = samples["raw"], samples["rollup"]
        rows.append({"query": qname, "range": rname,
                     "raw_median": statistics.median(raw), "raw_p95": _percentile(raw, 0.95),
                     "rollup_median": statistics.median(rollup),
                     "rollup_p95": _percentile(rollup, 0.95),
                     "ratio": statistics.median(raw) / statistics.median(rollup)})
    return rows


# -- ingest ------------------------------------------------------------------

_COPY_COLUMNS = ("request_id, model_id, input_tokens, output_tokens, processing_time_ms, "
                 "status, cost_usd, created_at")


def copy_payload(rows, tag):
    """Tab-separated rows for COPY, made once and reused by every run."""
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    buf = io.StringIO()
    for i in range(rows):
        status = "failed" if i % 37 == 0 else "completed"
        buf.write(f"{tag}-{i}\t{1 + i % 20}\t{100 + i % 900}\t{i % 400}\t{200 + i % 3000}\t"
                  f"{status}\t0.{i % 1000:06d}\t{start + timedelta(microseconds=3 * i)}\n")
    return buf.getvalue()


def copy_rows(url, payload):
    """Rows per second for one COPY of the payload into the emptied table."""
    with _connect(url) as conn:
        conn.execute("TRUNCATE chat_completion_requests")
        started = time.perf_counter()
        with conn.cursor().copy(
                f"COPY chat_completion_requests ({_COPY_COLUMNS}) FROM STDIN") as copy:
            copy.write(payload)
        elapsed = time.perf_counter() - started
        count = conn.execute("SELECT count(*) AS n FROM chat_completion_requests").fetchone()["n"]
    return count / elapsed


def hot_writers(url, writers, seconds, model_id):
    """Inserts per second by `writers` threads doing single-row autocommit inserts of one model."""
    stop = threading.Event()
    counts = [0] * writers

    def work(slot):
        with psycopg.connect(url, autocommit=True) as conn:
            n = 0
            while not stop.is_set():
                conn.execute(
                    "INSERT INTO chat_completion_requests (request_id, model_id, input_tokens,"
                    " output_tokens, processing_time_ms, cost_usd)"
                    " VALUES (%s, %s, 120, 80, 900, 0.000420)",
                    (f"hot-{slot}-{n}-{time.monotonic_ns()}", model_id))
                n += 1
            counts[slot] = n

    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(writers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def ensure_database(server_url, name):
    """URL of database `name` on the server, created if missing."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(server_url, name)


def measure_ingest(server_url, copy_rows_n, writers, seconds, rounds, log):
    """Median ingest rates without rollups (migrations up to 0002) and with them
    (all migrations, the refresher thread running), alternated round by round."""
    plain = ensure_database(server_url, "chatstats_bench_ingest_plain")
    with_rollups = ensure_database(server_url, "chatstats_bench_ingest_rollups")
    for url in (plain, with_rollups):
        migrate.apply(url)
        with _connect(url) as conn:
            seed.ensure_catalog(conn, providers=5, models=20)
    migrate.rollback(plain, len(migrate.applied_ids(plain)) - 2)
    payload = copy_payload(copy_rows_n, "bench")
    refresher = rollups.Refresher(with_rollups, interval_s=1.0)
    refresher.start()
    results = {"copy": {"plain": [], "rollups": []}, "writers": {"plain": [], "rollups": []}}
    try:
        for round_no in range(rounds):
            for label, url in (("plain", plain), ("rollups", with_rollups)):
                results["copy"][label].append(copy_rows(url, payload))
                results["writers"][label].append(hot_writers(url, writers, seconds, model_id=1))
                log(f"  round {round_no + 1} {label:<8} COPY {results['copy'][label][-1]:9.0f} rows/s"
                    f"   {writers} writers {results['writers'][label][-1]:7.0f} inserts/s")
    finally:
        refresher.stop()
    return {kind: {label: statistics.median(v) for label, v in by_label.items()}
            for kind, by_label in results.items()}
