"""What the tests share besides fixtures (those are in conftest.py): the checkout, databases
made and emptied, connections as a role, keys, the command line in process, a live server."""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
import requests
from click.testing import CliRunner
from psycopg.rows import dict_row
from yoyo import get_backend, read_migrations

from webapp import auth, cli, db, migrate, refresher, seed
from webapp.dsn import as_uri, with_database, with_user
from webapp.queries import keys

PROJECT_DIR = Path(__file__).resolve().parent.parent  # the checkout: tests run from it


def empty_tables(connection):
    """Delete every row the tests may have written (the schema stays).

    api_keys is missing while migrations above 0001 are rolled back.
    """
    tables = ["chat_completion_requests", "models", "providers"]
    if connection.execute("SELECT to_regclass('api_keys') AS t").fetchone()["t"]:
        tables.append("api_keys")
    connection.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


def apply_first_series(url):
    """Migrate an empty database with the first series, as chatstats did before the attach
    series (everything in public): the databases made then, for the tests of its migrations."""
    backend = get_backend(as_uri(url, "postgresql+psycopg"))
    with backend.lock():
        backend.apply_migrations(backend.to_apply(read_migrations(migrate.MIGRATIONS)))
    return url


def roll_back_through(url, migration_id):
    """Roll back the migrations applied after migration_id, then it; return their ids."""
    applied = migrate.applied_ids(url)  # newer migrations go first
    rolled_back = migrate.rollback(url, len(applied) - applied.index(migration_id))
    assert rolled_back[-1] == migration_id
    return rolled_back


@contextmanager
def migrated_database(server_url, name):
    """A new, migrated database `name` (its URL), dropped afterwards."""
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
    url = with_database(server_url, name)
    migrate.apply(url)
    yield url
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def shutdown(app):
    """Stop the app's refresher (if a test started one) and close its pool."""
    refresher.stop(app)
    db.shutdown(app)


def openapi_path(rule):
    """The OpenAPI path of a Flask rule: /models/<model_id> is /models/{model_id}."""
    return re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule)


def connect_as(url, role):
    """An autocommit connection to url's database as `role` (the embedded server trusts it)."""
    return psycopg.connect(with_user(url, role), autocommit=True, row_factory=dict_row)


def make_key(conn, name):
    """Store a new API key; return the key itself."""
    key, prefix, key_hash = auth.new_key()
    keys.create(conn, name, prefix, key_hash)
    return key


def run_cli(settings, args):
    """A chatstats command, in process, with these cli.Settings."""
    return CliRunner().invoke(cli.main, args, obj=settings)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def live_server(database_url, work_dir, rows=3000):
    """`chatstats serve` (gunicorn, 2 workers) on a free loopback port over freshly seeded
    data, with one key: SimpleNamespace(url, key, session), the session sending the key."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute("TRUNCATE chat_completion_requests, models, providers, api_keys"
                     " RESTART IDENTITY CASCADE")
        seed.seed(conn, rows, providers=3, models=6, days=10, seed=7)
        key = make_key(conn, "live")
    port = free_port()
    prometheus_dir = Path(work_dir) / "prometheus"
    prometheus_dir.mkdir()
    env = {**os.environ, "DATABASE_URL": database_url, "CHATSTATS_RATE_LIMIT": "100000/minute",
           "PROMETHEUS_MULTIPROC_DIR": str(prometheus_dir)}
    chatstats = shutil.which("chatstats", path=os.path.dirname(sys.executable))
    log_path = Path(work_dir) / "server.log"
    with open(log_path, "wb") as log:  # the server writes to its own copy
        server = subprocess.Popen(
            [chatstats, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
             "--threads", "4"], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(url + "/health", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"server did not start: {log_path.read_text()[-2000:]}")
        time.sleep(0.2)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    try:
        yield SimpleNamespace(url=url, key=key, session=session)
    finally:
        session.close()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    # A 500 is a bug whatever the test asserted: show what the server logged around it
    # (its access log, with the request, and the traceback).
    logged = log_path.read_text()
    first = logged.find("unexpected error")
    assert first < 0, logged[max(0, first - 3000):first + 6000]
