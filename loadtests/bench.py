"""The rollup benchmark (`make bench`): every public statistics function and the analytics (time series,
breakdowns) through the rollups and the raw baseline side by side, at the data shapes of
issue 8, plus HTTP, storage, backfill and ingest figures.

Each shape gets a database of its own (chatstats_bench_<shape>, reused once seeded).
Query timings are client round trips over the local socket; ranges end at the newest
request, so a reused database answers the same questions. Every rollup answer is
checked against the raw one: sums equal, percentiles within the stated error.
"""
import itertools
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import namedtuple
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import click
import psycopg
from psycopg.rows import dict_row

from webapp import auth, cli, config, migrate, refresher, rollups, seed
from webapp.dsn import with_database
from webapp.queries import analytics as analytics_queries, keys

SHAPES = {
    # a small gateway: few models, users and keys, a month of history
    "small": dict(rows=1_000_000, providers=5, models=20, days=30, users=200, keys=20),
    "gateway": dict(rows=20_000_000, providers=50, models=500, days=730, users=5000, keys=200,
                    unattributed=0.03),
}

# The public functions and the HTTP endpoint answering the same question.
FUNCTIONS = {
    "providers": ("SELECT * FROM get_provider_request_stats(%(start)s, %(end)s)", "/providers"),
    "unattributed": ("SELECT get_unattributed_request_count(%(start)s, %(end)s) AS n", None),
    "models": ("SELECT * FROM get_models_with_requests(%(start)s, %(end)s)", "/models"),
    "models_by_provider": ("SELECT * FROM get_models_with_requests_by_provider("
                           "%(provider_id)s, %(start)s, %(end)s)", "/models?provider_id={provider_id}"),
    "one_model": ("SELECT * FROM get_model_request_stats(%(model_id)s, %(start)s, %(end)s)",
                  "/models/{model_id}"),
}
PERCENTILES = ("p50_processing_time_ms", "p95_processing_time_ms", "p99_processing_time_ms")
# p95 targets in ms (database, HTTP): the statistics functions (issue 8), the analytics (issue 11).
TARGETS = {"stats": (10, 12), "analytics": (25, 30)}
# The analytics questions of issue 11: series of 24 hours by hour and 30 days by day, in
# UTC and in a zone 45 minutes off the hour, for everything and one model; the top 20
# keys and users over the last 30 days and all time.
SERIES = {"hourly": ("hour", timedelta(hours=24)), "daily": ("day", timedelta(days=30))}
ZONES = ("UTC", "Asia/Kathmandu")
BREAKDOWNS = ("api_key", "user")

# One timed question: SQL with its arguments, and the same over HTTP (None: no endpoint).
Case = namedtuple("Case", "function range sql args http")


def ranges(newest):
    """All time, the last day and month, and ~200 days with second-precision edges."""
    return {
        "all": (None, None),
        "24h": (newest - timedelta(hours=24), newest),
        "30d": (newest - timedelta(days=30), newest),
        "ragged-200d": (newest - timedelta(days=203, hours=5, minutes=17, seconds=23.5),
                        newest - timedelta(days=3, hours=2, minutes=41, seconds=7.25)),
    }


def connect(url):
    return psycopg.connect(url, autocommit=True, row_factory=dict_row)


def ensure_database(server_url, name):
    """URL of database `name` on the server, created if missing."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(server_url, name)


def prepare(server_url, shape, horizons, log):
    """The shape's database, seeded (unless it already is) and migrated; returns its URL
    and the rate at which its history was rolled up, when that happened now."""
    url = ensure_database(server_url, f"chatstats_bench_{shape}")
    migrate.apply(url)
    params = dict(SHAPES[shape])
    rows = params.pop("rows")
    with connect(url) as conn:
        if conn.execute("SELECT NOT EXISTS (SELECT FROM chat_completion_requests) AS e").fetchone()["e"]:
            log(f"seeding {rows:,} rows ({shape}) ...")
            seed.seed(conn, rows, **params)
            conn.execute("VACUUM ANALYZE chat_completion_requests")
    return url, backfill(url, horizons, log, again=False)


def backfill(url, horizons, log, again=True):
    """Rows per second rolling up the history (`chatstats migrate` on a table holding rows),
    from empty rollups when `again`; None when there was next to nothing to roll up."""
    with connect(url) as conn:
        if again:
            conn.execute("TRUNCATE chat_rollups")
            conn.execute("UPDATE chat_rollup_state SET watermark_id = 0, quarter_horizon = '-infinity',"
                         " detail_horizon = '-infinity', user_horizon = '-infinity'")
        rollups.prune(conn, *horizons)
        started = time.perf_counter()
        rolled = rollups.catch_up(conn, progress=lambda n: log(f"  rolled up {n:,}"))
        elapsed = time.perf_counter() - started
        conn.execute("VACUUM ANALYZE chat_rollups")
    return rolled / elapsed if rolled >= 100_000 else None


def storage(url):
    """Bytes (tables, indexes, TOAST) of the rollups and of the request table."""
    with connect(url) as conn:
        return conn.execute(
            """SELECT (SELECT sum(pg_total_relation_size(c)) FROM unnest(
                           '{chat_rollups,chat_rollup_state,chat_latency_steps}'::regclass[]) c) AS rollups,
                      pg_total_relation_size('chat_completion_requests') AS requests""").fetchone()


def _params(conn):
    """The busiest model and its provider, and the newest request's time."""
    row = conn.execute(
        """SELECT m.id AS model_id, m.provider_id,
                  (SELECT max(created_at) FROM chat_completion_requests) AS newest
             FROM models m
            ORDER BY (SELECT count(*) FROM chat_completion_requests c
                       WHERE c.model_id = m.id AND c.id < 100000) DESC, m.id LIMIT 1""").fetchone()
    return row


def within_error(estimate, exact):
    """The stated error of a percentile: 1 ms or 1%, whichever is larger."""
    if estimate is None or exact is None:
        return estimate is exact
    return abs(Decimal(str(estimate)) - Decimal(exact)) <= max(Decimal(1), Decimal(exact) / 100)


def same_answer(rollup, raw):
    """Equal rows, but for percentiles, which must be within the stated error."""
    if len(rollup) != len(raw):
        return False
    for a, b in zip(rollup, raw):
        if {k: v for k, v in a.items() if k not in PERCENTILES} != \
                {k: v for k, v in b.items() if k not in PERCENTILES}:
            return False
        if not all(within_error(a.get(p), b.get(p)) for p in PERCENTILES):
            return False
    return True


def _timed(conn, sql, args):
    started = time.perf_counter()
    rows = conn.execute(sql, args).fetchall()
    return (time.perf_counter() - started) * 1000, rows


def _query(**args):
    return urllib.parse.urlencode({k: v.isoformat() if hasattr(v, "isoformat") else v
                                   for k, v in args.items() if v is not None})


def cases(params):
    """Every timed question at these parameters (_params)."""
    found = []
    for name, (sql, path) in FUNCTIONS.items():
        for rname, (start, end) in ranges(params["newest"]).items():
            http = path and path.format(**params) + ("&" if "?" in path else "?") + _query(
                start_date=start, end_date=end)
            found.append(Case(name, rname, sql, {**params, "start": start, "end": end}, http))
    end = params["newest"]
    for (sname, (bucket, length)), zone, model_id in itertools.product(
            SERIES.items(), ZONES, (None, params["model_id"])):
        bounds, _ = analytics_queries.bucket_bounds(bucket, ZoneInfo(zone), end - length, end)
        found.append(Case(
            "timeseries" + (" one model" if model_id else ""), f"{sname} {zone}",
            f"SELECT {analytics_queries.GROUP_STATS} FROM chat_request_series(%(bounds)s, %(model_ids)s) g",
            {"bounds": bounds, "model_ids": model_id and [model_id]},
            "/timeseries?" + _query(bucket=bucket, tz=zone, start_date=end - length, end_date=end,
                                    model_id=model_id)))
    for by, (rname, start) in itertools.product(BREAKDOWNS, (("30d", end - timedelta(days=30)),
                                                             ("all", None))):
        found.append(Case(f"breakdown {by}", rname,
                          f"SELECT {analytics_queries.GROUP_STATS}"
                          " FROM chat_request_breakdown(%(start)s, %(end)s, %(by)s, 20) g",
                          {"start": start, "end": start and end, "by": by},
                          "/breakdown?" + _query(by=by, start_date=start, end_date=start and end)))
    return found


def target(function):
    """The (database, HTTP) p95 targets of a function."""
    return TARGETS["analytics" if function.startswith(("timeseries", "breakdown")) else "stats"]


def time_functions(url, reps, raw_reps, log):
    """[{function, range, rollup: [ms], raw: [ms], exact}] with sources alternated."""
    results = []
    with connect(url) as conn:
        for name, rname, sql, args, _ in cases(_params(conn)):
            samples, answers, exact = {"rollup": [], "raw": []}, {}, True
            for rep in range(reps):
                for source in ("rollup", "raw"):
                    if source == "raw" and rep >= raw_reps:
                        continue
                    conn.execute("SELECT set_config('chatstats.stats_source', %s, false)", (source,))
                    ms, answers[source] = _timed(conn, sql, args)
                    samples[source].append(ms)
                if rep < raw_reps:
                    exact = exact and same_answer(answers["rollup"], answers["raw"])
            results.append({"function": name, "range": rname, **samples, "exact": exact})
            log(f"  {name:<22} {rname:<19} rollup {statistics.median(samples['rollup']):7.2f} ms"
                f"   raw {statistics.median(samples['raw']):9.1f} ms{'' if exact else '  MISMATCH'}")
        conn.execute("RESET chatstats.stats_source")
    return results


def p95(samples):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


WARM_UP = 3


def time_http(url, reps, port, log):
    """[{endpoint, range, http: [ms]}]: one client, sequential, against `chatstats serve`.
    Each endpoint is asked WARM_UP times untimed first: a fresh worker (there are two)
    opens its pool's connections and plans its statements on its first requests."""
    key, prefix, key_hash = auth.new_key()
    with connect(url) as conn:
        keys.create(conn, f"bench-{time.time_ns()}", prefix, key_hash)
        params = _params(conn)
    chatstats = shutil.which("chatstats", path=os.path.dirname(sys.executable)) or "chatstats"
    server = subprocess.Popen([chatstats, "serve", "--port", str(port)],
                              env={**os.environ, "DATABASE_URL": url, "CHATSTATS_RATE_LIMIT": ""},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/api/monitoring/chat-requests"
    results = []
    try:
        _wait_ready(f"http://127.0.0.1:{port}/health")
        for name, rname, _, _, path in cases(params):
            if path is not None:
                request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {key}"})
                samples = [_timed_get(request) for _ in range(WARM_UP + reps)][WARM_UP:]
                results.append({"function": name, "range": rname, "http": samples})
                log(f"  HTTP {name:<22} {rname:<19} {statistics.median(samples):7.2f} ms")
    finally:
        server.terminate()
        server.wait()
    return results


def _timed_get(request):
    """Milliseconds to send the request and read the whole answer."""
    started = time.perf_counter()
    with urllib.request.urlopen(request) as response:
        response.read()
    return (time.perf_counter() - started) * 1000


def _wait_ready(url, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# -- ingest ------------------------------------------------------------------

def _writers(url, writers, rate, seconds, update_share, lag_samples):
    """Rows per second inserted by `writers` threads, paced to `rate` rows/s in total (of
    50 models, 5,000 users and 200 keys, as the gateway shape), each also updating one of
    its recent rows for `update_share` of its operations."""
    stop = threading.Event()
    counts = [0] * writers
    model_ids = None

    def work(slot):
        rng = random.Random(slot)
        interval = writers / rate
        with psycopg.connect(url, autocommit=True) as conn:
            recent, due = [], time.monotonic()
            while not stop.is_set():
                due += interval
                (row_id,) = conn.execute(
                    "INSERT INTO chat_completion_requests (request_id, model_id, input_tokens,"
                    " output_tokens, processing_time_ms, cost_usd, user_id, api_key_id)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                    (f"ingest-{slot}-{time.time_ns()}", rng.choice(model_ids), rng.randint(1, 4000),
                     rng.randint(0, 1000), rng.randint(80, 30000), Decimal(rng.randint(0, 99999)) / 10**6,
                     rng.randint(1, 5000), rng.randint(1, 200))
                ).fetchone()
                counts[slot] += 1
                recent = [*recent[-99:], row_id]
                if rng.random() < update_share:
                    conn.execute("UPDATE chat_completion_requests SET status = 'failed',"
                                 " processing_time_ms = processing_time_ms + 1 WHERE id = %s",
                                 (rng.choice(recent),))
                time.sleep(max(0.0, due - time.monotonic()))

    def sample_lag():
        with connect(url) as conn:
            while not stop.wait(0.5):
                lag = rollups.lag(conn)
                if lag is not None:
                    lag_samples.append(float(lag["lag_seconds"]))

    with connect(url) as conn:
        model_ids = [r["id"] for r in conn.execute("SELECT id FROM models ORDER BY id LIMIT 50")]
    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(writers)]
    threads.append(threading.Thread(target=sample_lag))
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def measure_ingest(server_url, writers, rate, seconds, update_share, log):
    """{plain, rollups: rows/s, lag_p95_s}: the same paced load on a database without the
    rollup machinery (chatstats uninstalled: the demo's tables alone) and on one with it
    (refresher running)."""
    plain = ensure_database(server_url, "chatstats_bench_ingest_plain")
    with_rollups = ensure_database(server_url, "chatstats_bench_ingest_rollups")
    for url in (plain, with_rollups):
        migrate.apply(url)
        with connect(url) as conn:
            seed.ensure_catalog(conn, providers=5, models=50)
            conn.execute("TRUNCATE chat_completion_requests")
    migrate.uninstall(plain)
    results, lag_samples = {}, []
    results["plain"] = _writers(plain, writers, rate, seconds, update_share, [])
    log(f"  without rollups: {results['plain']:,.0f} rows/s")
    thread = refresher.Refresher(with_rollups, interval_s=1.0)
    thread.start()
    try:
        results["rollups"] = _writers(with_rollups, writers, rate, seconds, update_share, lag_samples)
    finally:
        thread.stop()
    results["lag_p95_s"] = p95(lag_samples) if lag_samples else None
    log(f"  with rollups:    {results['rollups']:,.0f} rows/s, lag p95 {results['lag_p95_s']} s")
    return results


# -- report ------------------------------------------------------------------

def render(report, ingest, reps, raw_reps, http_reps, cores):
    """The table and the target lines of docs/benchmarks.md, as Markdown."""
    lines = [f"{cores} cores; client round trips in ms; {reps} rollup / {raw_reps} raw runs per "
             f"function and range (alternated), {http_reps} sequential HTTP requests per endpoint",
             "",
             "| shape | function | range | rollup median | rollup p95 | raw median | speed-up "
             "| HTTP median | HTTP p95 |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for shape, result in report.items():
        for q in result["queries"]:
            http = result["http"].get((q["function"], q["range"]))
            lines.append(
                f"| {shape} | {q['function']} | {q['range']} | {statistics.median(q['rollup']):.2f} | "
                f"{p95(q['rollup']):.2f} | {statistics.median(q['raw']):.1f} | "
                f"{statistics.median(q['raw']) / statistics.median(q['rollup']):.0f}x | "
                + (f"{statistics.median(http):.2f} | {p95(http):.2f} |" if http else "- | - |"))
    lines.append("")
    for shape, result in report.items():
        for kind, (db_target, http_target) in TARGETS.items():
            queries = [q for q in result["queries"] if TARGETS[kind] is target(q["function"])]
            worst = max(queries, key=lambda q: p95(q["rollup"]))
            lines.append(f"{shape}: worst {kind} p95 {p95(worst['rollup']):.2f} ms ({worst['function']}, "
                         f"{worst['range']}; target <= {db_target})")
            http = [(key, samples) for key, samples in result["http"].items() if TARGETS[kind] is target(key[0])]
            if http:
                key, samples = max(http, key=lambda item: p95(item[1]))
                lines.append(f"{shape}: worst {kind} endpoint p95 {p95(samples):.2f} ms ({key[0]}, {key[1]}; "
                             f"target <= {http_target})")
        size = result["storage"]
        lines.append(f"{shape}: rollups {size['rollups'] / 2**20:,.0f} MiB, request table "
                     f"{size['requests'] / 2**20:,.0f} MiB = {100 * size['rollups'] / size['requests']:.1f}% "
                     f"(target <= 30%)")
        if result["backfill"]:
            lines.append(f"{shape}: backfill {result['backfill']:,.0f} rows/s (target >= 100,000)")
    if {"small", "gateway"} <= report.keys():
        small = {(q["function"], q["range"]): p95(q["rollup"]) for q in report["small"]["queries"]}
        ratio = max(p95(q["rollup"]) / small[(q["function"], q["range"])]
                    for q in report["gateway"]["queries"])
        lines.append(f"flatness: worst p95(gateway) / p95(small) = {ratio:.2f} (target <= 2)")
    if ingest:
        lines.append(f"ingest: {ingest['rollups']:,.0f} rows/s with rollups vs {ingest['plain']:,.0f} "
                     f"without = {100 * ingest['rollups'] / ingest['plain']:.0f}% (target >= 90%); "
                     f"rollup lag p95 {ingest['lag_p95_s']} s (target < 3)")
    exact = all(q["exact"] for r in report.values() for q in r["queries"])
    lines.append("exactness: " + ("every rollup answer equals the raw one (percentiles within 1% or 1 ms)"
                                  if exact else "FAILED"))
    return "\n".join(lines)


@click.command()
@click.option("--shape", "shapes", type=click.Choice(list(SHAPES)), multiple=True,
              default=list(SHAPES), show_default=True,
              help="Data shapes, each in its own database chatstats_bench_<shape> (reused).")
@click.option("--reps", default=40, show_default=True, help="Timed runs per rollup query.")
@click.option("--raw-reps", default=3, show_default=True, help="Timed runs per raw query.")
@click.option("--http-reps", default=30, show_default=True, help="Timed requests per endpoint; 0: none.")
@click.option("--backfill/--no-backfill", default=True, show_default=True,
              help="Roll up each shape's whole history again and time it.")
@click.option("--ingest-seconds", default=120.0, show_default=True, help="0: no ingest run.")
@click.option("--writers", default=16, show_default=True)
@click.option("--rate", default=2000, show_default=True, help="Rows/s the writers insert together.")
@click.option("--port", default=8123, show_default=True, help="Port of the server timed over HTTP.")
def main(shapes, reps, raw_reps, http_reps, backfill, ingest_seconds, writers,
                  rate, port):
    """Rollups vs raw at each data shape: latency, exactness, storage, backfill, ingest
    (`make bench`; DATABASE_URL, else the embedded server while it runs)."""
    settings = cli.Settings.from_environment()
    server = settings.database_url()
    log = lambda text: click.echo(text, err=True)  # noqa: E731
    report = {}
    for shape in shapes:
        log(f"== {shape}")
        horizons = config.horizons(settings)
        url, backfill_rate = prepare(server, shape, horizons, log)
        if backfill and backfill_rate is None:
            backfill_rate = backfill(url, horizons, log)
        report[shape] = {"backfill": backfill_rate,
                         "storage": storage(url),
                         "queries": time_functions(url, reps, raw_reps, log),
                         "http": {(r["function"], r["range"]): r["http"]
                                  for r in (time_http(url, http_reps, port, log) if http_reps else [])}}
    ingest = None
    if ingest_seconds:
        log("== ingest")
        ingest = measure_ingest(server, writers, rate, ingest_seconds, 0.05, log)
    click.echo(render(report, ingest, reps, raw_reps, http_reps, os.cpu_count()))
    if not all(q["exact"] for r in report.values() for q in r["queries"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
