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

from .. import config, embedded, migrate, rollups, seed
from ..config import Config
from . import keys as keys_cli, serve as serving, stats as stats_cli


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
        """The owner's connection (behind PgBouncer: without server-side prepared statements),
        chatstats' schema on its path."""
        conn = psycopg.connect(self.database_url(), autocommit=True, row_factory=dict_row,
                               **({"prepare_threshold": None} if self["PGBOUNCER"] else {}))
        migrate.use_schema(conn)
        return conn


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


@db_group.group("replica")
def replica_group():
    """A streaming standby of the embedded server (for CHATSTATS_READ_DATABASE_URL)."""


@replica_group.command("start")
@click.pass_obj
def replica_start(settings):
    """Start the standby (made from a base backup the first time) and print its URL."""
    click.echo(embedded.start_replica(settings["DATA_DIR"]))


@replica_group.command("stop")
@click.option("--remove", is_flag=True, help="Also delete the standby and its replication slot.")
@click.pass_obj
def replica_stop(settings, remove):
    """Stop the standby."""
    stopped = embedded.stop_replica(settings["DATA_DIR"], remove=remove)
    click.echo(("stopped" if stopped else "not running") + (", removed" if remove else ""))


@replica_group.command("url")
@click.pass_obj
def replica_url(settings):
    """Print the standby's URL (it must run)."""
    url = embedded.replica_url(settings["DATA_DIR"])
    if url is None:
        raise click.ClickException("the standby is not running: `chatstats db replica start`")
    click.echo(url)


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


@click.command("uninstall")
@click.confirmation_option(prompt="Remove chatstats (its schema, statistics and keys) from this database?")
@click.pass_obj
def uninstall_command(settings):
    """Remove chatstats from an attached database: its schema, and everything it added
    outside it (triggers, policies, grants, role settings, the roles it created)."""
    done, left = migrate.uninstall(settings.database_url())
    for statement in done:
        click.echo(statement)
    for reason in left:
        click.echo(f"left role {reason}", err=True)


def _refresh_rollups(settings):
    """Roll up everything not rolled up yet, e.g. the history of a table just migrated
    (15-minute rollups only as far back as they are kept)."""
    started = time.perf_counter()
    with settings.connect() as conn:
        if rollups.lag(conn) is None:
            return
        rollups.set_source_ttl(conn, settings["SOURCE_TTL_DAYS"])
        rollups.prune(conn, *config.horizons(settings))
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


@click.command("retention")
@click.option("--raw-days", type=click.IntRange(min=1), required=True,
              help="Keep request rows of this many days; older ones are removed once rolled up.")
@click.pass_obj
def retention_command(settings, raw_days):
    """Remove old request rows; their statistics stay in the rollups.

    Rows go in batches of 10,000, each its own short transaction, so the gateway's
    writers are never blocked for long. Statistics over older ranges stay what they
    were; the request list no longer shows the rows.
    """
    _refresh_rollups(settings)
    with settings.connect() as conn:
        removed = rollups.retain(conn, raw_days, progress=lambda n: click.echo(f"  removed {n} rows", err=True))
    click.echo(f"removed {removed} request rows older than {raw_days} days")


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


class _Commands(click.Group):
    """Database errors end a command with one line (the server's message and hint), not a
    traceback; so does a database that lacks what migrations cannot make (migrate.NotReady)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (migrate.NotReady, embedded.NotInstalled) as error:
            raise click.ClickException(str(error)) from None
        except psycopg.Error as error:
            diag = error.diag
            message = diag.message_primary or (str(error).strip() or type(error).__name__).splitlines()[0]
            raise click.ClickException(message + (f" ({diag.message_hint})" if diag.message_hint else "")) \
                from None


@click.group("chatstats", cls=_Commands,
             commands=[db_group, migrate_command, uninstall_command, rollup_group, retention_command, seed_command,
                       serve_command, demo_command, keys_cli.keys_group, stats_cli.stats_group])
@click.version_option(package_name="chatstats", message="%(prog)s %(version)s")
@click.pass_context
def main(ctx):
    """chatstats: statistics of an LLM gateway's chat completion requests."""
    if ctx.obj is None:  # tests hand in Settings of their own
        ctx.obj = Settings.from_environment()
