"""Fixtures: a real PostgreSQL (embedded, or TEST_DATABASE_URL), a fresh database per run.
What the tests share besides fixtures is in helpers.py."""
import os
import threading
import uuid
from types import SimpleNamespace

import psycopg
import pytest
from psycopg.rows import dict_row

# The tests' histories lie years back, where the request table's own TTL (90 days by
# default) would keep the statistics of every delete: off, but where a test sets it.
# Set before webapp.config reads the environment (and inherited by the servers started).
os.environ["CHATSTATS_SOURCE_TTL_DAYS"] = "0"

from helpers import PROJECT_DIR, empty_tables, make_key, migrated_database, run_cli, shutdown  # noqa: E402
from webapp import cli, create_app, embedded, migrate, refresher  # noqa: E402
from webapp.dsn import with_database  # noqa: E402

TEST_SERVER_DIR = PROJECT_DIR / ".chatstats" / "test"


def pytest_addoption(parser):
    parser.addoption("--update-schema-snapshot", action="store_true",
                     help="Record the schema a fresh migration makes in tests/schema_snapshot.txt.")


@pytest.fixture(scope="session", autouse=True)
def stop_refreshers():
    """Apps made by tests may leave refresher threads behind: stop them before the report."""
    yield
    for thread in threading.enumerate():
        if isinstance(thread, refresher.Refresher):
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


@pytest.fixture
def api_key(conn):
    return make_key(conn, "tests")


@pytest.fixture
def client(app, api_key):
    """A test client that sends a valid API key (use app.test_client() for none)."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_key}"
    return client


@pytest.fixture
def cli_settings(database_url):
    """The command line's settings for the test database (a test may change them)."""
    return cli.Settings.from_environment(DATABASE_URL=database_url)


@pytest.fixture
def runner(cli_settings):
    """runner.invoke(args=[...]): a chatstats command against the test database."""
    return SimpleNamespace(invoke=lambda args: run_cli(cli_settings, args))
