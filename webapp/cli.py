"""The `chatstats` command line (also `flask --app webapp ...`)."""
import os
import shutil
import sys
import time

import click
import psycopg
from flask import current_app
from flask.cli import FlaskGroup
from psycopg.rows import dict_row

from . import db, embedded, keys_cli, migrate as migrations, seed as seeding, serving
from .config import PROJECT_DIR


def _url():
    return db.database_url(current_app.config)


def _connect():
    return psycopg.connect(_url(), autocommit=True, row_factory=dict_row)


@click.group("db")
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
def migrate_command(rollback_count):
    """Apply pending migrations (or roll back the newest N)."""
    if rollback_count:
        done = migrations.rollback(_url(), rollback_count)
        click.echo(f"rolled back: {', '.join(done) or 'nothing'}")
    else:
        done = migrations.apply(_url())
        click.echo(f"applied: {', '.join(done) or 'nothing (up to date)'}")


@click.command("seed")
@click.option("--rows", type=click.IntRange(min=0), default=1_000_000, show_default=True)
@click.option("--providers", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--models", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--seed", "seed_value", type=int, default=42, show_default=True)
def seed_command(rows, providers, models, days, seed_value):
    """Insert synthetic requests (deterministic for a given --seed)."""
    started = time.perf_counter()
    with _connect() as conn, click.progressbar(length=rows, label="seeding", file=sys.stderr) as bar:
        seeding.seed(conn, rows, providers, models, days, seed_value, progress=bar.update)
        conn.execute("ANALYZE chat_completion_requests")
    click.echo(f"seeded {rows} rows in {time.perf_counter() - started:.1f}s")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=2, show_default=True)
@click.option("--threads", default=4, show_default=True)
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


COMMANDS = [db_group, migrate_command, seed_command, serve_command, demo_command,
            keys_cli.keys_group]


def init_app(app):
    for command in COMMANDS:
        app.cli.add_command(command)


def _create_app():
    from . import create_app

    return create_app()


main = FlaskGroup(name="chatstats", create_app=_create_app,
                  help="chatstats: statistics of an LLM gateway's chat completion requests.")
