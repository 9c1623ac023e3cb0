"""The `chatstats` command line (also `flask --app webapp ...`)."""
import os
import shutil
import sys
import time

import click
import psycopg
from flask import current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext
from psycopg.rows import dict_row

from . import bench, db, embedded, keys_cli, migrate, rollups, seed, serving
from .config import PROJECT_DIR


def _url():
    return db.database_url(current_app.config)


def _connect():
    return psycopg.connect(_url(), autocommit=True, row_factory=dict_row)


@click.group("db", cls=AppGroup)  # AppGroup: subcommands get the app context
def db_group():
    """The embedded PostgreSQL server (used when DATABASE_URL is unset)."""


@db_group.command("start")
def db_start():
    """Start the embedded server and print its URL."""
    click.echo(embedded.start(current_app.config["DATA_DIR"]))


@db_group.command("stop")
def db_stop():
    """Stop the embedded server."""
    stopped = embedded.stop(current_app.config["DATA_DIR"])
    click.echo("stopped" if stopped else "not running")


@db_group.command("url")
def db_url():
    """Print the database URL in use (starting the embedded server if needed)."""
    click.echo(_url())


@click.command("migrate")
@click.option("--rollback", "rollback_count", type=click.IntRange(min=1),
              help="Roll back this many of the newest migrations instead.")
@with_appcontext
def migrate_command(rollback_count):
    """Apply pending migrations (or roll back the newest N)."""
    if rollback_count:
        done = migrate.rollback(_url(), rollback_count)
        click.echo(f"rolled back: {', '.join(done) or 'nothing'}")
    else:
        done = migrate.apply(_url())
        click.echo(f"applied: {', '.join(done) or 'nothing (up to date)'}")
        _refresh_rollups()


def _refresh_rollups():
    """Roll up everything not rolled up yet, e.g. the history of a table just migrated."""
    started = time.perf_counter()
    with _connect() as conn:
        if rollups.lag(conn) is None:
            return
        rolled = rollups.catch_up(conn, progress=lambda n: click.echo(f"  rolled up {n} rows", err=True))
        lag = rollups.lag(conn)
    click.echo(f"rolled up {rolled} rows in {time.perf_counter() - started:.1f}s; "
               f"{lag['lag_rows']} rows wait (watermark id {lag['watermark_id']})")


@click.group("rollup", cls=AppGroup)
def rollup_group():
    """The statistics rollups (refreshed automatically by every API process)."""


@rollup_group.command("refresh")
def rollup_refresh():
    """Roll up all pending rows now (for cron, or after a bulk load)."""
    _refresh_rollups()


@rollup_group.command("status")
def rollup_status():
    """Show how far the rollups are behind."""
    with _connect() as conn:
        lag = rollups.lag(conn)
    if lag is None:
        raise click.ClickException("rollup migrations are not applied")
    for key, value in lag.items():
        click.echo(f"{key}: {value}")


@click.command("seed")
@click.option("--rows", type=click.IntRange(min=0), default=1_000_000, show_default=True)
@click.option("--providers", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--models", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--seed", "seed_value", type=int, default=42, show_default=True)
@with_appcontext
def seed_command(rows, providers, models, days, seed_value):
    """Insert synthetic requests (deterministic for a given --seed)."""
    started = time.perf_counter()
    with _connect() as conn, click.progressbar(length=rows, label="seeding", file=sys.stderr) as bar:
        seed.seed(conn, rows, providers, models, days, seed_value, progress=bar.update)
        conn.execute("ANALYZE chat_completion_requests")
    click.echo(f"seeded {rows} rows in {time.perf_counter() - started:.1f}s")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=2, show_default=True)
@click.option("--threads", default=4, show_default=True)
@with_appcontext
def serve_command(host, port, workers, threads):
    """Serve the API with gunicorn (JSON access lines on stdout)."""
    _url()  # start the embedded server before the workers fork
    serving.check_keys(current_app.config, host, _connect)
    serving.prepare_metrics_dir(current_app.config["DATA_DIR"])
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or "gunicorn"
    os.chdir(PROJECT_DIR)
    os.execv(gunicorn, [gunicorn, "--bind", f"{host}:{port}", "--workers", str(workers),
                        "--threads", str(threads), "--worker-class", "gthread",
                        "--config", "python:webapp.gunicorn_conf", "wsgi:app"])


@click.command("demo")
@click.option("--rows", type=click.IntRange(min=0), default=1_000_000, show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.pass_context
@with_appcontext
def demo_command(ctx, rows, port):
    """Embedded database, migrations, 1M seeded rows (if empty), then serve."""
    click.echo(f"database: {_url()}")
    ctx.invoke(migrate_command)
    with _connect() as conn:
        empty = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM chat_completion_requests) AS e").fetchone()["e"]
    if empty and rows:
        ctx.invoke(seed_command, rows=rows)
    click.echo(f"API docs: http://127.0.0.1:{port}/docs")
    ctx.invoke(serve_command, port=port)


@click.command("bench")
@click.option("--rows", "sizes", type=click.IntRange(min=1000), multiple=True,
              default=[1_000_000, 10_000_000], show_default=True,
              help="Data sizes, each in its own database chatstats_bench_<rows> (reused).")
@click.option("--raw-reps", default=5, show_default=True, help="Timed runs per raw query.")
@click.option("--rollup-reps", default=40, show_default=True, help="Timed runs per rollup query.")
@click.option("--copy-rows", default=1_000_000, show_default=True)
@click.option("--writers", default=8, show_default=True)
@click.option("--writer-seconds", default=10.0, show_default=True)
@click.option("--rounds", default=3, show_default=True, help="Ingest rounds (alternating).")
@click.option("--skip-ingest", is_flag=True)
@with_appcontext
def bench_command(sizes, raw_reps, rollup_reps, copy_rows, writers, writer_seconds, rounds,
                  skip_ingest):
    """Raw aggregation vs rollups: latency, exactness, flatness and ingest."""
    server = _url()
    log = lambda text: click.echo(text, err=True)  # noqa: E731
    summaries, failed = {}, False
    for rows in sorted(sizes):
        url = bench.ensure_database(server, f"chatstats_bench_{rows}")
        log(f"== {rows} rows")
        bench.prepare(url, rows, log)
        timings, mismatches = bench.time_queries(url, raw_reps, rollup_reps, log)
        summaries[rows] = bench.summarize(timings)
        for qname, rname in mismatches:
            click.echo(f"MISMATCH: {qname} {rname}: rollup answer differs from raw", err=True)
            failed = True

    click.echo(f"\n{os.cpu_count()} cores; medians and p95 in ms, client round trips; "
               f"{raw_reps} raw / {rollup_reps} rollup runs each, alternated\n")
    click.echo("| rows | query | range | raw median | raw p95 | rollup median | rollup p95 | speed-up |")
    click.echo("|---:|---|---|---:|---:|---:|---:|---:|")
    for rows, summary in summaries.items():
        for r in summary:
            click.echo(f"| {rows:,} | {r['query']} | {r['range']} | {r['raw_median']:.1f} | "
                       f"{r['raw_p95']:.1f} | {r['rollup_median']:.2f} | {r['rollup_p95']:.2f} | "
                       f"{r['ratio']:.0f}x |")
    largest = summaries[max(summaries)]
    worst_p95 = max(r["rollup_p95"] for r in largest)
    click.echo(f"\nworst rollup p95 at {max(summaries):,} rows: {worst_p95:.2f} ms (target <= 25)")
    all_time = [r["ratio"] for r in largest if r["range"] == "all" and "model" in r["query"]]
    click.echo(f"all-time model stats speed-up: {min(all_time):.0f}x at least (target >= 50x)")
    if len(summaries) > 1:
        smallest = summaries[min(summaries)]
        flat = max(big["rollup_p95"] / small["rollup_p95"] for big, small in zip(largest, smallest))
        click.echo(f"flatness: worst p95({max(summaries):,}) / p95({min(summaries):,}) = "
                   f"{flat:.2f} (target <= 1.5)")
    if not skip_ingest:
        log("== ingest")
        ingest = bench.measure_ingest(server, copy_rows, writers, writer_seconds, rounds, log)
        for kind, label in (("copy", f"COPY of {copy_rows:,} rows (rows/s)"),
                            ("writers", f"{writers} hot-model single-row writers (inserts/s)")):
            plain, with_rollups = ingest[kind]["plain"], ingest[kind]["rollups"]
            click.echo(f"{label}: without rollups {plain:,.0f}, with {with_rollups:,.0f} "
                       f"= {100 * with_rollups / plain:.0f}% (target >= 90%)")
    click.echo("exactness: " + ("FAILED" if failed else "every rollup answer equals the raw answer"))
    if failed:
        sys.exit(1)


COMMANDS = [db_group, migrate_command, rollup_group, bench_command, seed_command, serve_command,
            demo_command, keys_cli.keys_group]


def init_app(app):
    for command in COMMANDS:
        app.cli.add_command(command)


def _create_app():
    from . import create_app

    return create_app()


main = FlaskGroup(name="chatstats", create_app=_create_app,
                  help="chatstats: statistics of an LLM gateway's chat completion requests.")
