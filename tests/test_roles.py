"""Least privilege: the API's role reads and executes, nothing more; the refresher's reads the
request table and keeps the store."""
import os

import psycopg
import pytest
from psycopg import errors

from webapp import migrate, seed
from webapp.db import API_ROLE
from webapp.dsn import with_database

from helpers import connect_as

OUTSIDER = "chatstats_test_outsider"

FORBIDDEN = [
    "INSERT INTO providers (name, slug) VALUES ('Evil', 'evil')",
    "UPDATE chat_completion_requests SET status = 'failed'",
    "UPDATE models SET model_name = 'renamed'",
    "DELETE FROM chat_completion_requests",
    "DELETE FROM _yoyo_migration",
    "TRUNCATE chat_completion_requests",
    "COPY chat_completion_requests (request_id, processing_time_ms) FROM PROGRAM 'true'",
    "CREATE TABLE stolen (secret text)",
    "CREATE SCHEMA private",
    "CREATE INDEX ON chat_completion_requests (user_id)",
    "CREATE VIEW public.v AS SELECT 1",
    "CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "DROP TABLE chat_completion_requests",
    "DROP FUNCTION get_provider_request_stats(timestamptz, timestamptz)",
    "ALTER TABLE chat_completion_requests ADD COLUMN note text",
    "ALTER TABLE models DISABLE TRIGGER ALL",
    "ALTER FUNCTION chat_request_stats(timestamptz, timestamptz, integer[], boolean) SECURITY DEFINER",
    "CREATE ROLE intruder",
    "SET ROLE postgres",
]



@pytest.fixture
def api(database_url, conn):
    seed.seed(conn, 300, providers=2, models=4, days=2)
    with connect_as(database_url, API_ROLE) as api_conn:
        yield api_conn


@pytest.fixture(scope="module")
def outsider(server_url):
    """A role with nothing granted: what PUBLIC may do. Roles are cluster-wide: dropped after."""
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP ROLE IF EXISTS {OUTSIDER}")
        admin.execute(f"CREATE ROLE {OUTSIDER} LOGIN")
    yield OUTSIDER
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP ROLE {OUTSIDER}")


def test_api_role_reads_exact_stats(api, conn):
    rows = api.execute("SELECT * FROM get_provider_request_stats()").fetchall()
    unattributed = api.execute("SELECT get_unattributed_request_count() AS n").fetchone()["n"]
    expected = conn.execute(
        "SELECT count(*) FILTER (WHERE model_id IS NOT NULL) AS attributed,"
        "       count(*) FILTER (WHERE model_id IS NULL) AS unattributed"
        "  FROM chat_completion_requests").fetchone()
    assert sum(row["total_requests"] for row in rows) == expected["attributed"]
    assert unattributed == expected["unattributed"]
    assert len(api.execute("SELECT * FROM get_models_with_requests()").fetchall()) == 4
    assert api.execute("SELECT count(*) AS n FROM chat_completion_requests").fetchone()["n"] == 300
    assert api.execute("SELECT count(*) AS n FROM models JOIN providers p ON true").fetchone()["n"] == 8
    assert migrate.pending_ids(api) == []


@pytest.mark.parametrize("statement", FORBIDDEN)
def test_api_role_cannot_write_or_change_the_schema(api, conn, statement):
    before = conn.execute("SELECT count(*) AS n, max(status) AS s FROM chat_completion_requests").fetchone()
    with pytest.raises(errors.InsufficientPrivilege):
        api.execute(statement)
    assert conn.execute("SELECT count(*) AS n, max(status) AS s FROM chat_completion_requests"
                        ).fetchone() == before


def test_rollup_role_reads_requests_only(database_url, api):
    with connect_as(database_url, "chatstats_rollup") as rollup:
        assert rollup.execute("SELECT count(*) AS n FROM chat_completion_requests").fetchone()["n"] == 300
        for statement in ("DELETE FROM chat_completion_requests", "SELECT * FROM models",
                          "SELECT * FROM get_provider_request_stats()"):
            with pytest.raises(errors.InsufficientPrivilege):
                rollup.execute(statement)


def can_execute(conn, role):
    return conn.execute("SELECT has_function_privilege(%s, 'get_provider_request_stats("
                        "timestamptz, timestamptz)', 'EXECUTE') AS ok", (role,)).fetchone()["ok"]


def test_public_cannot_read_or_execute(database_url, conn, outsider):
    assert not can_execute(conn, outsider) and can_execute(conn, API_ROLE)
    with connect_as(database_url, outsider) as stranger:
        for query, denied in (("SELECT * FROM chatstats.get_provider_request_stats()", "schema"),
                              ("SELECT * FROM chatstats.chat_request_stats()", "schema"),
                              ("SELECT count(*) FROM chat_completion_requests", "table")):
            with pytest.raises(errors.InsufficientPrivilege, match=f"permission denied for {denied}"):
                stranger.execute(query)


def test_app_logs_in_as_the_api_role(app, client):
    assert client.get("/api/monitoring/chat-requests/providers").status_code == 200
    assert client.get("/api/monitoring/chat-requests?limit=1").status_code == 200
    with app.extensions["chatstats_pool"].connection() as pooled:
        assert pooled.execute("SELECT current_user AS u").fetchone()["u"] == API_ROLE


def test_uninstall_revokes_but_keeps_roles_other_databases_use(server_url, database_url):
    name = f"chatstats_roles_{os.getpid()}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    url = with_database(server_url, name)
    try:
        migrate.apply(url)
        run, left = migrate.uninstall(url)
        # The session's database made the roles and still grants them privileges: they stay.
        assert not any(statement.startswith("DROP ROLE") for statement in run) and left == []
        with connect_as(url, API_ROLE) as api_conn:
            with pytest.raises(errors.InsufficientPrivilege):
                api_conn.execute("SELECT count(*) FROM chat_completion_requests")
        with connect_as(database_url, API_ROLE) as api_conn:
            api_conn.execute("SELECT * FROM get_provider_request_stats()")

        assert migrate.apply(url) == migrate.applied_ids(url)  # installed again, in full
        with connect_as(url, API_ROLE) as api_conn:
            assert api_conn.execute("SELECT count(*) AS n FROM chat_completion_requests").fetchone()["n"] == 0
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
