"""Fixtures: a real PostgreSQL (embedded, or TEST_DATABASE_URL), a fresh database per run."""
import os

import psycopg
import pytest
from psycopg.rows import dict_row

from webapp import auth, create_app, db, embedded, migrate
from webapp.db import with_database
from webapp.config import PROJECT_DIR
from webapp.queries import keys


@pytest.fixture(scope="session")
def server_url():
    return os.environ.get("TEST_DATABASE_URL") or embedded.start(PROJECT_DIR / ".chatstats" / "test")


@pytest.fixture(scope="session")
def database_url(server_url):
    """A new, migrated database for this test run, dropped afterwards."""
    name = f"chatstats_test_{os.getpid()}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
    url = with_database(server_url, name)
    migrate.apply(url)
    yield url
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def conn(database_url):
    """An autocommit connection to an emptied database."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as connection:
        connection.execute(
            "TRUNCATE chat_completion_requests, models, providers, api_keys RESTART IDENTITY CASCADE")
        yield connection


@pytest.fixture
def app(database_url, conn):
    app = create_app({"TESTING": True, "DATABASE_URL": database_url})
    yield app
    db.shutdown(app)


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


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
