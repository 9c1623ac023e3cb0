"""The chatstats CLI on scratch databases: migrations up/down/up, uninstall, seeding."""
import configparser
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from helpers import PROJECT_DIR, run_cli
from schemasnapshot import snapshot
from webapp import cli, create_app, db, migrate

# The seeded rows, apart from created_at's absolute time (seeding is relative to now()).
FINGERPRINT = """
    SELECT md5(string_agg(row(r.id, r.request_id, m.model_name, m.provider_model_id, p.slug,
                              r.input_tokens, r.output_tokens, r.processing_time_ms, r.status,
                              r.error_message, r.user_id, r.api_key_id, r.cost_usd,
                              r.created_at - f.first)::text, ',' ORDER BY r.id)) AS md5
      FROM chat_completion_requests r
      LEFT JOIN models m ON m.id = r.model_id
      LEFT JOIN providers p ON p.id = m.provider_id
     CROSS JOIN (SELECT min(created_at) AS first FROM chat_completion_requests) f
"""


@pytest.fixture
def chatstats():
    """invoke(url, *args): run a chatstats command against the database at url."""
    def invoke(url, *args):
        result = run_cli(cli.Settings.from_environment(DATABASE_URL=url), list(args))
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result.output
    return invoke


def query(url, sql, *params):
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


def applied(url):
    return [row["migration_id"] for row in query(
        url, "SELECT migration_id FROM chatstats._yoyo_migration ORDER BY applied_at_utc, migration_id")]


def test_migrate_up_down_up_and_uninstall(make_database, chatstats):
    demo_tables = make_database()  # what chatstats makes for a demo, and leaves there
    with psycopg.connect(demo_tables, autocommit=True) as conn:
        migrate._make_demo_tables(conn)
    url = make_database()
    assert "applied: 0001.baseline, 0002.demo-retention" in chatstats(url, "migrate")
    ids = applied(url)
    full = snapshot(url)
    assert "up to date" in chatstats(url, "migrate")  # idempotent
    assert snapshot(url) == full

    levels = {len(ids): full}  # schema after the first k migrations
    for k in range(len(ids) - 1, 0, -1):
        assert f"rolled back: {ids[k]}" in chatstats(url, "migrate", "--rollback", "1")
        levels[k] = snapshot(url)
        assert levels[k] != levels[k + 1], f"rolling back {ids[k]} changed nothing"
        assert applied(url) == ids[:k]
    refused = run_cli(cli.Settings.from_environment(DATABASE_URL=url), ["migrate", "--rollback", "1"])
    assert refused.exit_code == 1 and refused.output.strip() == (
        "Error: 0001.baseline makes chatstats' schema and has no rollback: "
        "`chatstats uninstall --yes` removes chatstats")

    chatstats(url, "migrate")
    assert snapshot(url) == full
    for k in range(1, len(ids)):  # down to each level at once, then up again
        chatstats(url, "migrate", "--rollback", str(len(ids) - k))
        assert snapshot(url) == levels[k], k
        chatstats(url, "migrate")
        assert snapshot(url) == full and applied(url) == ids

    chatstats(url, "uninstall", "--yes")
    assert snapshot(url) == snapshot(demo_tables)
    chatstats(url, "migrate")
    assert snapshot(url) == full


def test_uninstall_keeps_rows_it_does_not_own(make_database, chatstats):
    url = make_database()
    chatstats(url, "migrate")
    chatstats(url, "seed", "--rows", "300", "--providers", "2", "--models", "4", "--seed", "3")
    before = query(url, FINGERPRINT)
    chatstats(url, "uninstall", "--yes")
    assert query(url, FINGERPRINT) == before
    chatstats(url, "migrate")
    assert query(url, FINGERPRINT) == before
    assert "watermark_id: " in chatstats(url, "rollup", "status")

    app = create_app({"TESTING": True, "DATABASE_URL": url})
    try:
        body = app.test_client().get("/api/monitoring/chat-requests/providers").get_json()
    finally:
        db.shutdown(app)
    assert body["metadata"]["method"] == "rpc"
    counted = sum(p["total_requests"] for p in body["data"]) + body["metadata"]["unattributed_requests"]
    assert counted == 300


def seed(chatstats, url, seed_value, rows=5000):
    chatstats(url, "migrate")
    chatstats(url, "seed", "--rows", str(rows), "--providers", "3", "--models", "6", "--days", "2",
        "--seed", str(seed_value))
    return query(url, FINGERPRINT)[0]["md5"]


def test_seed_counts_and_shape(make_database, chatstats):
    url = make_database()
    seed(chatstats, url, 7)
    counts = query(url, """
        SELECT (SELECT count(*) FROM providers) AS providers, (SELECT count(*) FROM models) AS models,
               count(*) AS rows, count(*) FILTER (WHERE status = 'failed') AS failed,
               count(*) FILTER (WHERE model_id IS NULL) AS unattributed,
               min(created_at) > now() - interval '2 days 1 minute' AND max(created_at) <= now()
                   AS within_days
          FROM chat_completion_requests""")[0]
    assert counts == {**counts, "providers": 3, "models": 6, "rows": 5000, "within_days": True}
    assert 0.015 * 5000 <= counts["failed"] <= 0.05 * 5000
    assert counts["unattributed"] < 0.02 * 5000
    shares = [row["n"] for row in query(url, """
        SELECT count(*) AS n FROM chat_completion_requests WHERE model_id IS NOT NULL
         GROUP BY model_id ORDER BY n DESC""")]
    assert len(shares) == 6 and shares[0] > 3 * shares[-1]  # a few popular models

    seed(chatstats, url, 7)  # seeding again appends; the catalog is reused
    assert query(url, "SELECT count(*) AS n FROM chat_completion_requests")[0]["n"] == 10000
    assert query(url, "SELECT count(*) AS n FROM models")[0]["n"] == 6


def test_seed_is_deterministic(make_database, chatstats):
    first, again, other = (seed(chatstats, make_database(), value) for value in (7, 7, 8))
    assert first == again
    assert first != other


def test_console_script(make_database):
    """The installed `chatstats` script, configured by DATABASE_URL alone."""
    url = make_database()
    script = Path(sys.executable).with_name("chatstats")
    env = {**os.environ, "DATABASE_URL": url}

    def run(*args):
        done = subprocess.run([script, *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert run("db", "url").strip() == url
    setup = configparser.ConfigParser()
    setup.read(PROJECT_DIR / "setup.cfg")
    assert run("--version").strip() == f"chatstats {setup['metadata']['version']}"
    assert "0001.baseline" in run("migrate")
    assert "seeded 100 rows" in run("seed", "--rows", "100", "--seed", "1")
    assert query(url, "SELECT count(*) AS n FROM chat_completion_requests")[0]["n"] == 100
    bad = subprocess.run([script, "migrate", "--rollback", "0"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "--rollback" in bad.stderr


def test_commands_build_no_app(tmp_path):
    """Commands need the configuration alone; building the app does not import them."""
    command = """
import flask

def refuse(*args, **kwargs):
    raise AssertionError("a command built the Flask app")

flask.Flask.__init__ = refuse
from webapp import cli
cli.main(["db", "stop"], standalone_mode=False)
"""
    app = """
import sys
from webapp import create_app
create_app({"DATABASE_URL": "dbname=unused"})
assert "webapp.cli" not in sys.modules, "create_app() imported the command line"
"""
    env = {**os.environ, "CHATSTATS_DATA_DIR": str(tmp_path)}
    for code, output in ((command, "not running"), (app, "")):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=60, env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == output


GATEWAY_TABLES = ["CREATE TABLE chat_completion_requests (id bigserial PRIMARY KEY, status text NOT NULL)",
                  "CREATE TABLE models (id serial PRIMARY KEY, model_name text)",
                  "CREATE TABLE providers (id serial PRIMARY KEY, name text)"]


@pytest.mark.parametrize("tables, error", [
    (GATEWAY_TABLES, "Error: pgvector is not installed in this database: run CREATE EXTENSION"),
    (GATEWAY_TABLES[:1], "Error: this database has some of the gateway's tables but not models, providers"),
    (GATEWAY_TABLES[1:], "Error: this database has no chat_completion_requests but other tables (models, providers")])
def test_migrate_on_a_gateways_own_tables_without_what_it_needs_changes_nothing(make_database, tables, error):
    """A database with chat_completion_requests (the gateway's) is attached, which needs
    pgvector and the gateway's three tables; one without it is a demo only when it is new
    (no tables). Otherwise one line saying what is missing, exit 1, and the catalog as it
    was (no yoyo tables either)."""
    url = make_database()
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in tables:
            conn.execute(statement)
    before = snapshot(url), query(url, "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
                                       " ORDER BY 1")
    result = run_cli(cli.Settings.from_environment(DATABASE_URL=url), ["migrate"])
    assert result.exit_code == 1
    assert result.output.startswith(error)
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert (snapshot(url), query(url, "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
                                      " ORDER BY 1")) == before
