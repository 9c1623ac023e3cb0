"""The `chatstats` command line.

Commands work from the configuration alone (webapp.config, handed to each as
click's obj): none builds the Flask app; `serve` leaves that to gunicorn.
"""
import os
import shutil
import sys
import time

import click
import psycopg
from psycopg.rows import dict_row

from . import bench, embedded, keys_cli, migrate, rollups, seed, serving
from .config import Config


class Settings(dict):
    """Config's settings as a dict (tests override some), and the owner's database."""

    @classmethod
    def from_environment(cls, **overrides):
        return cls({name: getattr(Config, name) for name in dir(Config) if name.isupper()}, **overrides)

    def database_url(self):
        """DATABASE_URL, or the embedded server's while it runs (never started here)."""
        url = self["DATABASE_URL"] or embedded.running_url(self["DATA_DIR"])
        if url is None:
            raise click.ClickException(
                "DATABASE_URL is not set and the embedded server is not running: set DATABASE_URL, "
                "or start the embedded server with `chatstats db start`")
        return url

    def connect(self):
        return psycopg.connect(self.database_url(), autocommit=True, row_factory=dict_row)


@click.group("db")
def db_group():
    """The embedded PostgreSQL server (commands use it while it runs and DATABASE_URL is unset)."""


@db_group.command("start")
@click.pass_obj
def db_start(settings):
    """Start the embedded server and print its URL."""
    click.echo(embedded.start(settings["DATA_DIR"]))


@db_group.command("stop")
@click.pass_obj
def db_stop(settings):
    """Stop the embedded server."""
    stopped = embedded.stop(settings["DATA_DIR"])
    click.echo("stopped" if stopped else "not running")


@db_group.command("url")
@click.pass_obj
def db_url(settings):
    """Print the database URL the commands use."""
    click.echo(settings.database_url())


@click.command("migrate")
@click.option("--rollback", "rollback_count", type=click.IntRange(min=1),
              help="Roll back this many of the newest migrations instead.")
@click.pass_obj
def migrate_command(settings, rollback_count):
    """Apply pending migrations (or roll back the newest N)."""
    if rollback_count:
        done = migrate.rollback(settings.database_url(), rollback_count)
        click.echo(f"rolled back: {', '.join(done) or 'nothing'}")
    else:
        done = migrate.apply(settings.database_url())
        click.echo(f"applied: {', '.join(done) or 'nothing (up to date)'}")
        _refresh_rollups(settings)


def _refresh_rollups(settings):
    """Roll up everything not rolled up yet, e.g. the history of a table just migrated."""
    started = time.perf_counter()
    with settings.connect() as conn:
        if rollups.lag(conn) is None:
            return
        rolled = rollups.catch_up(conn, progress=lambda n: click.echo(f"  rolled up {n} rows", err=True))
        lag = rollups.lag(conn)
    click.echo(f"rolled up {rolled} rows in {time.perf_counter() - started:.1f}s; "
               f"{lag['lag_rows']} rows wait (watermark id {lag['watermark_id']})")


@click.group("rollup")
def rollup_group():
    """The statistics rollups (refreshed automatically by every API process)."""


@rollup_group.command("refresh")
@click.pass_obj
def rollup_refresh(settings):
    """Roll up all pending rows now (for cron, or after a bulk load)."""
    _refresh_rollups(settings)


@rollup_group.command("status")
@click.pass_obj
def rollup_status(settings):
    """Show how far the rollups are behind."""
    with settings.connect() as conn:
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
@click.pass_obj
def seed_command(settings, rows, providers, models, days, seed_value):
    """Insert synthetic requests (deterministic for a given --seed)."""
    started = time.perf_counter()
    with settings.connect() as conn, click.progressbar(length=rows, label="seeding", file=sys.stderr) as bar:
        seed.seed(conn, rows, providers, models, days, seed_value, progress=bar.update)
        conn.execute("ANALYZE chat_completion_requests")
    click.echo(f"seeded {rows} rows in {time.perf_counter() - started:.1f}s")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=2, show_default=True)
@click.option("--threads", default=4, show_default=True)
@click.pass_obj
def serve_command(settings, host, port, workers, threads):
    """Serve the API with gunicorn (JSON access lines on stdout)."""
    os.environ["DATABASE_URL"] = settings.database_url()  # what the workers' create_app() reads
    serving.check_keys(settings, host, settings.connect)
    serving.prepare_metrics_dir(settings["DATA_DIR"])
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or "gunicorn"
    os.execv(gunicorn, [gunicorn, "--bind", f"{host}:{port}", "--workers", str(workers),
                        "--threads", str(threads), "--worker-class", "gthread",
                        "--config", "python:webapp.gunicorn_conf", "webapp:create_app()"])


@click.command("demo")
@click.option("--rows", type=click.IntRange(min=0), default=1_000_000, show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.pass_context
def demo_command(ctx, rows, port):
    """Embedded database (unless DATABASE_URL), migrations, 1M seeded rows (if empty), then serve."""
    ctx.obj["DATABASE_URL"] = ctx.obj["DATABASE_URL"] or embedded.start(ctx.obj["DATA_DIR"])
    click.echo(f"database: {ctx.obj.database_url()}")
    ctx.invoke(migrate_command)
    with ctx.obj.connect() as conn:
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
@click.pass_obj
def bench_command(settings, sizes, raw_reps, rollup_reps, copy_rows, writers, writer_seconds, rounds,
                  skip_ingest):
    """Raw aggregation vs rollups: latency, exactness, flatness and ingest."""
    server = settings.database_url()
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


@click.group("chatstats", commands=[db_group, migrate_command, rollup_group, bench_command,
                                     seed_command, serve_command, demo_command, keys_cli.keys_group])
@click.pass_context
def main(ctx):
    """chatstats: statistics of an LLM gateway's chat completion requests."""
    if ctx.obj is None:  # tests hand in Settings of their own
        ctx.obj = Settings.from_environment()
