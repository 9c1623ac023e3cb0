"""Migrations under stress: two concurrent `chatstats migrate`, and rollbacks over live data."""
import multiprocessing
import os

import psycopg
import pytest
from psycopg.rows import dict_row

from helpers import apply_first_series
from webapp import create_app, migrate, seed
from webapp.dsn import with_database

ALL_IDS = migrate._migration_ids(migrate.ATTACH_MIGRATIONS)
RUNS = 4  # concurrent migrate runs
FIRST_SERIES_IDS = migrate._migration_ids(migrate.MIGRATIONS)
# Every column of every request, in id order: equal digests mean untouched rows.
_DIGEST = """
    SELECT count(*) AS n,
           md5(string_agg(r::text, '|' ORDER BY r.id)) AS requests,
           (SELECT md5(string_agg(m::text, '|' ORDER BY m.id)) FROM models m) AS models,
           (SELECT md5(string_agg(p::text, '|' ORDER BY p.id)) FROM providers p) AS providers
      FROM chat_completion_requests r
"""


@pytest.fixture
def scratch_url(server_url, request):
    name = f"chatstats_scratch_{os.getpid()}_{request.node.name[:30].lower()}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    yield with_database(server_url, name)
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def applied_ids(url, table="chatstats._yoyo_migration"):
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute(f"SELECT migration_id FROM {table} ORDER BY applied_at_utc")]


def _migrate_when_released(barrier, url, results):
    barrier.wait()
    try:
        results.put(migrate.apply(url))
    except Exception as error:  # reported to the test, which fails on it
        results.put(repr(error))


@pytest.mark.parametrize("upgrade", [True, False], ids=["upgrade", "fresh"])
def test_concurrent_migrate_applies_each_migration_once(scratch_url, upgrade):
    """Four processes released at the same instant, on a database migrated up to its
    baseline (without yoyo's lock this fails) and on an empty one (the demo's tables and
    chatstats' schema made once; with the setup lock taken inside the transaction, a
    waiter could miss the schema made meanwhile, in 9 of 30 runs of six processes)."""
    if upgrade:
        migrate.apply(scratch_url)
        migrate.rollback(scratch_url, len(ALL_IDS) - 1)
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(RUNS), context.Queue()
    runs = [context.Process(target=_migrate_when_released, args=(barrier, scratch_url, results))
            for _ in range(RUNS)]
    for run in runs:
        run.start()
    outcomes = [results.get(timeout=60) for _ in runs]
    for run in runs:
        run.join(timeout=10)
    assert [run.exitcode for run in runs] == [0] * RUNS
    assert sorted(outcomes, key=len) == [[]] * (RUNS - 1) + [ALL_IDS[1:] if upgrade else ALL_IDS], outcomes
    assert applied_ids(scratch_url) == ALL_IDS
    with psycopg.connect(scratch_url) as conn:
        assert conn.execute("SELECT count(*) FROM chatstats.yoyo_lock").fetchone()[0] == 0


def providers_answer(url):
    """The providers endpoint's numbers, through the app logged in as the owner
    (the API role loses its grants when the first series' 0007 is rolled back)."""
    app = create_app({"TESTING": True, "DATABASE_URL": url, "API_DATABASE_URL": url})
    try:
        response = app.test_client().get("/api/monitoring/chat-requests/providers")
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        return body["data"], body["metadata"]["unattributed_requests"]
    finally:
        app.extensions["chatstats_pool"].close()


def test_each_rollback_of_the_first_series_keeps_the_data(scratch_url):
    """Databases made before the attach series keep the first series, which rolls back."""
    apply_first_series(scratch_url)
    with psycopg.connect(scratch_url, autocommit=True, row_factory=dict_row) as conn:
        seed.seed(conn, 3000, providers=3, models=6, days=3)
        digest = conn.execute(_DIGEST).fetchone()
    assert digest["n"] == 3000
    answer = providers_answer(scratch_url)

    for expected in reversed(FIRST_SERIES_IDS[1:]):  # everything but the tables themselves
        assert migrate.rollback(scratch_url, 1) == [expected]
        with psycopg.connect(scratch_url, row_factory=dict_row) as conn:
            assert conn.execute(_DIGEST).fetchone() == digest, f"rows changed by rolling back {expected}"
        assert providers_answer(scratch_url) == answer, f"numbers changed by rolling back {expected}"

    assert migrate.apply(scratch_url) == FIRST_SERIES_IDS[1:]
    with psycopg.connect(scratch_url, row_factory=dict_row) as conn:
        assert conn.execute(_DIGEST).fetchone() == digest
    assert providers_answer(scratch_url) == answer
