"""Fixtures: a real PostgreSQL (embedded, or TEST_DATABASE_URL), a fresh database per run."""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
import requests
from click.testing import CliRunner
from psycopg.rows import dict_row
from yoyo import get_backend, read_migrations

# The tests' histories lie years back, where the request table's own TTL (90 days by
# default) would keep the statistics of every delete: off, but where a test sets it.
# Set before webapp.config reads the environment (and inherited by the servers started).
os.environ["CHATSTATS_SOURCE_TTL_DAYS"] = "0"

from webapp import auth, cli, create_app, db, embedded, migrate, refresher, rollups, seed  # noqa: E402
from webapp.dsn import as_uri, with_database, with_user  # noqa: E402
from webapp.queries import keys  # noqa: E402

PROJECT_DIR = Path(__file__).resolve().parent.parent  # the checkout: tests run from it
TEST_SERVER_DIR = PROJECT_DIR / ".chatstats" / "test"


def pytest_addoption(parser):
    parser.addoption("--update-schema-snapshot", action="store_true",
                     help="Record the schema a fresh migration makes in tests/schema_snapshot.txt.")


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


@pytest.fixture(scope="session", autouse=True)
def stop_refreshers():
    """Apps made by tests may leave refresher threads behind: stop them before the report."""
    yield
    for thread in threading.enumerate():
        if isinstance(thread, rollups.Refresher):
            thread.stop()


@pytest.fixture(scope="session")
def server_url():
    """TEST_DATABASE_URL, or the embedded test server (stopped afterwards if this run started it)."""
    if os.environ.get("TEST_DATABASE_URL"):
        yield os.environ["TEST_DATABASE_URL"]
        return
    started = embedded.running_pid(TEST_SERVER_DIR) is None
    yield embedded.start(TEST_SERVER_DIR)
    if started:
        embedded.stop(TEST_SERVER_DIR)


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


@pytest.fixture(scope="session")
def database_url(server_url):
    """A new, migrated database for this test run, dropped afterwards."""
    with migrated_database(server_url, f"chatstats_test_{os.getpid()}") as url:
        yield url


@pytest.fixture
def make_database(server_url):
    """Factory of empty, unmigrated scratch databases (URLs), dropped after the test."""
    names = []

    def make():
        name = f"chatstats_scratch_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        names.append(name)
        return with_database(server_url, name)

    yield make
    with psycopg.connect(server_url, autocommit=True) as admin:
        for name in names:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def conn(database_url):
    """An autocommit connection to an emptied database."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as connection:
        empty_tables(connection)
        yield connection


@pytest.fixture
def empty_database(conn):
    """Empty the database again, for tests that load several datasets."""
    return lambda: empty_tables(conn)


@pytest.fixture
def without_stats_functions(database_url, conn):
    """Uninstall chatstats (its SQL functions go, the demo's tables stay); migrate afterwards."""
    migrate.uninstall(database_url)
    try:
        yield
    finally:
        migrate.apply(database_url)


@pytest.fixture
def app_config():
    """Extra app settings; a test module overrides this fixture to change them."""
    return {}


@pytest.fixture
def app_factory():
    """create_app(config) for tests that need apps of their own; all shut down afterwards."""
    apps = []

    def make(**config):
        app = create_app({"TESTING": True, **config})
        apps.append(app)
        return app

    yield make
    for app in apps:
        shutdown(app)


@pytest.fixture
def app(database_url, conn, app_config):
    # Tiny stream chunks, so that the tests cross chunk boundaries of the request list.
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "STREAM_CHUNK_ROWS": 3,
                      **app_config})
    yield app
    shutdown(app)


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


@pytest.fixture
def api_key(conn):
    return make_key(conn, "tests")


@pytest.fixture
def client(app, api_key):
    """A test client that sends a valid API key (use app.test_client() for none)."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_key}"
    return client


def run_cli(settings, args):
    """A chatstats command, in process, with these cli.Settings."""
    return CliRunner().invoke(cli.main, args, obj=settings)


@pytest.fixture
def cli_settings(database_url):
    """The command line's settings for the test database (a test may change them)."""
    return cli.Settings.from_environment(DATABASE_URL=database_url)


@pytest.fixture
def runner(cli_settings):
    """runner.invoke(args=[...]): a chatstats command against the test database."""
    return SimpleNamespace(invoke=lambda args: run_cli(cli_settings, args))


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
