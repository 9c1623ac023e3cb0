"""Fixtures: a real PostgreSQL (embedded, or TEST_DATABASE_URL), a fresh database per run."""
import os

import psycopg
import pytest
from psycopg.rows import dict_row

from webapp import create_app, db, embedded, migrate
from webapp.db import with_database
from webapp.config import PROJECT_DIR


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
            "TRUNCATE chat_completion_requests, models, providers RESTART IDENTITY CASCADE")
        yield connection


@pytest.fixture
def app(request, database_url, conn):
    """The app; `@pytest.mark.app_config(KEY=value)` overrides settings (e.g. ROLLUP_INTERVAL_S=0)."""
    marker = request.node.get_closest_marker("app_config")
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, **(marker.kwargs if marker else {})})
    yield app
    db.shutdown(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
