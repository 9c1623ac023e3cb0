"""The gateway's insert latency with chatstats attached and without, in one run.

The gateway writes one row per request, one INSERT per transaction, from many workers.
chatstats adds no INSERT trigger; what it adds while attached is its refresher (every
second: it waits for in-flight writers to end for its safe id, under a table lock it
waits at most 5 ms for since attach migration 0004, without one past that; then it
folds) and its UPDATE/DELETE triggers. This seeds a scratch database (kept for reruns), then runs
--writers threads inserting at --rate rows/s in all, for --blocks blocks of --seconds each,
alternating: the refresher running (as the rollup role, every --interval seconds) and
stopped. The refresher runs in a process of its own (in the writers' process it would
take their interpreter lock, and the client's own delays would count). Latencies of every
insert, as the client sees them; the table gives p50, p95 and p99 per condition, and
their ratios.

    .venv/bin/python loadtests/insert_latency.py [--database-url URL] [--rows 1000000] [--gateway]
        [--compare-lock]

--gateway: the scratch database is built like the gateway's (tests/gatewayz_schema.sql:
Supabase's roles, RLS, the gateway's columns), chatstats attached by its non-superuser
owner, and the writers insert as service_role, as PostgREST does.
"""
import multiprocessing
import statistics
import sys
import threading
import time
from pathlib import Path

import click
import psycopg
from psycopg.rows import dict_row

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from webapp import embedded, migrate, refresher, rollups, seed  # noqa: E402
from webapp.config import Config  # noqa: E402
from webapp.db import ROLLUP_ROLE  # noqa: E402
from webapp.dsn import with_database, with_user  # noqa: E402

SCRATCH_DB = "chatstats_insert_latency"
WITH, WITH_LOCK = "with chatstats' refresher", "with the refresher's lock as before 0004"
LOCKLESS_REFRESH = "0004.refresh-brief-table-lock"
GATEWAY_OWNER = "gateway_owner"  # tests/gatewayz_schema.sql's stand-in for Supabase's postgres
INSERT = """INSERT INTO chat_completion_requests
                (request_id, model_id, input_tokens, output_tokens, processing_time_ms, status,
                 user_id, api_key_id, cost_usd)
            VALUES (gen_random_uuid()::text, %s, 812, 233, 1450, 'completed', 17, 3, 0.000912)"""
# The gateway's insert (src/db/chat_completion_requests.py writes these columns).
GATEWAY_INSERT = """INSERT INTO chat_completion_requests
                        (model_id, input_tokens, output_tokens, processing_time_ms, status, cost_usd)
                    VALUES (%s, 812, 233, 1450, 'completed', 0.000912)"""
GATEWAY_SEED = """
    INSERT INTO chat_completion_requests (model_id, input_tokens, output_tokens, processing_time_ms, status,
                                          created_at)
    SELECT (SELECT min(id) FROM models) + g %% 100, 500 + g %% 900, g %% 400, (g %% 20000) * 1.0,
           CASE WHEN g %% 50 = 0 THEN 'failed' ELSE 'completed' END, now() - (g %% 7776000) * interval '1 second'
      FROM generate_series(1, %(rows)s) g"""


def gateway_database(server, rows):
    """The scratch gateway database (made once, then kept): the fixture's schema, 100 models,
    `rows` requests, chatstats attached by the owner. Returns the owner's URL."""
    name = SCRATCH_DB + "_gateway"
    with psycopg.connect(server, autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return with_user(with_database(server, name), GATEWAY_OWNER)
        admin.execute(f"CREATE DATABASE {name}")
    url = with_database(server, name)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute((PROJECT_DIR / "tests" / "gatewayz_schema.sql").read_text())
        for role in ("chatstats_api", "chatstats_rollup"):  # what migrate asks the operator for
            if admin.execute("SELECT FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
                admin.execute(f"CREATE ROLE {role} LOGIN")
            admin.execute(f"GRANT USAGE ON SCHEMA extensions TO {role}")
            admin.execute(f"GRANT {role} TO {GATEWAY_OWNER} WITH ADMIN OPTION")
    owner_url = with_user(url, GATEWAY_OWNER)
    with psycopg.connect(owner_url, autocommit=True) as owner:
        provider = owner.execute("INSERT INTO providers (name, slug) VALUES ('P', 'p') RETURNING id").fetchone()[0]
        owner.execute("INSERT INTO models (provider_id, model_name, provider_model_id)"
                      " SELECT %s, 'm' || g, 'm' || g FROM generate_series(1, 100) g", (provider,))
        owner.execute(GATEWAY_SEED, {"rows": rows})
    migrate.apply(owner_url)
    return owner_url


def table_lock(url, wanted):
    """The refresh's safe id under the table lock (attach 0004 rolled back), or not."""
    locking = LOCKLESS_REFRESH not in migrate.applied_ids(url)
    if wanted and not locking:
        migrate.rollback(url, len(migrate.applied_ids(url)) - migrate.applied_ids(url).index(LOCKLESS_REFRESH))
    elif locking and not wanted:
        migrate.apply(url)


def writer(url, rate, stop, model_ids, latencies, gateway):
    """Insert at `rate` rows/s until stop; append each insert's seconds to latencies."""
    with psycopg.connect(url, autocommit=True) as conn:
        if gateway:  # as PostgREST does
            conn.execute("SET ROLE service_role")
            conn.execute("SET search_path = public, extensions")
        interval, next_at, i = 1 / rate, time.monotonic(), 0
        while not stop.is_set():
            started = time.monotonic()
            conn.execute(GATEWAY_INSERT if gateway else INSERT, (model_ids[i % len(model_ids)],))
            latencies.append(time.monotonic() - started)
            i += 1
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))


def refresh_until(url, interval, stop):
    """The rollup role's Refresher, in a process of its own, until stop is set."""
    thread = refresher.Refresher(with_user(url, ROLLUP_ROLE), interval)
    thread.start()
    stop.wait()
    thread.stop()


def run_block(url, writers, rate, seconds, model_ids, gateway):
    stop, latencies = threading.Event(), []
    threads = [threading.Thread(target=writer, args=(url, rate / writers, stop, model_ids, latencies, gateway))
               for _ in range(writers)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return latencies


def quantiles(values):
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": cuts[49] * 1000, "p95": cuts[94] * 1000, "p99": cuts[98] * 1000, "n": len(values)}


@click.command()
@click.option("--database-url", default=None, help="A server to make the scratch database on (default: embedded).")
@click.option("--rows", default=1_000_000, show_default=True, help="Rows in the table before the run.")
@click.option("--writers", default=16, show_default=True)
@click.option("--rate", default=400, show_default=True, help="Rows/s all writers insert together.")
@click.option("--seconds", default=30, show_default=True, help="Length of one block.")
@click.option("--blocks", default=6, show_default=True, help="Blocks, alternating with and without.")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between refreshes (the default's).")
@click.option("--gateway", is_flag=True, help="A database built like the gateway's, chatstats attached.")
@click.option("--compare-lock", is_flag=True,
              help="Also blocks whose refresher waits for the table lock as before attach 0004 (rolled back).")
def main(database_url, rows, writers, rate, seconds, blocks, interval, gateway, compare_lock):
    server = database_url or embedded.start(Config.DATA_DIR)
    if gateway:
        url = gateway_database(server, rows)
    else:
        with psycopg.connect(server, autocommit=True) as admin:
            if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (SCRATCH_DB,)).fetchone():
                admin.execute(f"CREATE DATABASE {SCRATCH_DB}")
        url = with_database(server, SCRATCH_DB)
        migrate.apply(url)
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        migrate.use_schema(conn)
        have = conn.execute("SELECT count(*) AS n FROM chat_completion_requests").fetchone()["n"]
        if have < rows and not gateway:
            seed.seed(conn, rows - have, providers=10, models=100, days=90)
        rollups.catch_up(conn)
        model_ids = [r["id"] for r in conn.execute("SELECT id FROM models")]
    conditions = [WITH, "without"] + [WITH_LOCK] * compare_lock
    results = {name: [] for name in conditions}
    for block in range(blocks):
        condition = conditions[block % len(conditions)]
        attached = condition != "without"
        if compare_lock and attached:
            table_lock(url, condition == WITH_LOCK)
        stop = multiprocessing.Event()
        refreshing = multiprocessing.Process(target=refresh_until, args=(url, interval, stop)) if attached else None
        if refreshing:
            refreshing.start()
        try:
            latencies = run_block(url, writers, rate, seconds, model_ids, gateway)
        finally:
            if refreshing:
                stop.set()
                refreshing.join()
        results[condition].extend(latencies)
        click.echo(f"block {block + 1}/{blocks} ({condition}): {len(latencies)} inserts", err=True)
    found = {name: quantiles(values) for name, values in results.items()}
    click.echo(f"{writers} writers, {rate} rows/s, {blocks} blocks of {seconds} s alternating, "
               f"refresh every {interval} s; table of {rows:,}+ rows"
               + ("; the gateway's database, chatstats attached, inserts as service_role" if gateway else ""))
    click.echo("| condition | inserts | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|")
    for name, q in found.items():
        click.echo(f"| {name} | {q['n']} | {q['p50']:.2f} | {q['p95']:.2f} | {q['p99']:.2f} |")
    without = found["without"]
    for name in results:
        if name != "without":
            click.echo(f"| ratio, {name} | | {found[name]['p50'] / without['p50']:.2f} | "
                       f"{found[name]['p95'] / without['p95']:.2f} | {found[name]['p99'] / without['p99']:.2f} |")


if __name__ == "__main__":
    main()
