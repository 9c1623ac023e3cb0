"""Schema migrations through yoyo's Python API.

The files live in the top-level migrations/, shipped as package data of webapp
(webapp/migrations links to them), so an installed wheel reads its own copies.

The attach series (migrations/attach/) installs chatstats in a schema of its own
(chatstats) beside a gateway's tables, which it finds in public. A database without
them is a demo: migrate first makes them, shaped as the gateway's
(migrations/demo/tables.sql), then attaches to them the same way.

Databases made before the attach series (docs/attach-plan.md) keep the first series
(migrations/*.sql: the demo tables and everything of chatstats in schema public),
recognised by its bookkeeping in public.
"""
import contextlib
import functools
import io
from importlib import resources

import psycopg
from yoyo import get_backend, read_migrations

from . import dsn

MIGRATIONS = "package:webapp:migrations"  # yoyo reads them through importlib.resources
ATTACH_MIGRATIONS = "package:webapp:migrations/attach"
DEMO_TABLES = "demo/tables.sql"  # in webapp/migrations
SCHEMA = "chatstats"  # the attach series' schema
ROLES = ("chatstats_api", "chatstats_rollup")
GATEWAY_TABLES = ("chat_completion_requests", "models", "providers")  # what chatstats reads, in public
# Backfilling rollups over tens of millions of rows takes a while: wait that long for the lock.
LOCK_TIMEOUT_S = 1800
_SETUP_LOCK_KEY = "hashtext('chatstats migrate')"


class NotReady(Exception):
    """The database lacks something chatstats needs, which its migrations cannot make."""


@contextlib.contextmanager
def _setup_lock(conn):
    """A transaction holding the lock under which what yoyo's lock cannot cover is made
    (yoyo's lock lives in the schema made here): the demo's tables and chatstats' schema,
    made once when several migrate at a time. The lock is taken before the transaction
    begins, so that the transaction reads the catalog as the previous holder left it (a
    session waiting inside a transaction may keep a stale cache of it)."""
    conn.execute(f"SELECT pg_advisory_lock({_SETUP_LOCK_KEY})")
    try:
        with conn.transaction():
            yield
    finally:
        if not conn.broken:  # else the server has let go of it with the session
            conn.execute(f"SELECT pg_advisory_unlock({_SETUP_LOCK_KEY})")


def _first_series(conn):
    """Whether this database was made by the first series (its bookkeeping in public
    records its first migration) and has not moved to the attach series."""
    attached, first = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL, to_regclass('public._yoyo_migration') IS NOT NULL",
        (f"{SCHEMA}._yoyo_migration",)).fetchone()
    return not attached and first and conn.execute(
        "SELECT EXISTS (SELECT FROM public._yoyo_migration WHERE migration_id = %s)",
        (_migration_ids(MIGRATIONS)[0],)).fetchone()[0]


def _make_demo_tables(conn):
    """Make the demo's gateway tables where public has no chat_completion_requests (once,
    also when several migrate at the same time), and pgvector where a superuser may.
    Raises NotReady where public holds other tables: not a new database, nor a gateway's."""
    with _setup_lock(conn):
        if conn.execute("SELECT to_regclass('public.chat_completion_requests') IS NULL").fetchone()[0]:
            others = [row[0] for row in conn.execute(
                "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
                " AND relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY 1 LIMIT 3")]
            if others:
                raise NotReady(f"this database has no chat_completion_requests but other tables ({', '.join(others)}"
                               " ...): point DATABASE_URL at the gateway's database, or at a new one for a demo;"
                               " nothing was changed")
            conn.execute(resources.files(__package__).joinpath("migrations", DEMO_TABLES).read_text())
            if conn.info.parameter_status("is_superuser") == "on":
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")


def _attach_path(conn):
    """The attach series' search path: its schema, the gateway's, pgvector's. Makes the
    schema; raises NotReady without the gateway's tables, or without pgvector (which
    needs rights the owner may lack)."""
    missing = [table for table in GATEWAY_TABLES if conn.execute(
        "SELECT to_regclass(%s) IS NULL", (f"public.{table}",)).fetchone()[0]]
    if missing:
        raise NotReady(f"this database has some of the gateway's tables but not {', '.join(missing)} (in schema "
                       f"public): chatstats reads {', '.join(GATEWAY_TABLES)}; nothing was changed")
    found = conn.execute("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'vector'").fetchone()
    if found is None:
        raise NotReady("pgvector is not installed in this database: run CREATE EXTENSION vector SCHEMA extensions "
                       "(on Supabase: Database, Extensions, vector), then migrate again; nothing was changed")
    vector_schema = found[0]
    needed = _operator_statements(conn, vector_schema)
    if needed:
        raise NotReady(f"{conn.info.user} may not give chatstats' roles what they need: as a superuser (or the "
                       f"owner of schema {vector_schema}), run {' '.join(needed)} then migrate again; "
                       "nothing was changed")
    with _setup_lock(conn):
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    return ", ".join(dict.fromkeys([SCHEMA, "public", vector_schema]))


def use_schema(conn):
    """Put chatstats' schema first on this session's search path where the database is
    attached (chatstats' roles have it there by their settings; the owner does not)."""
    conn.execute("SELECT set_config('search_path', %s || ', ' || current_setting('search_path'), false)"
                 " WHERE to_regnamespace(%s) IS NOT NULL", (SCHEMA, SCHEMA))


def _operator_statements(conn, vector_schema):
    """What the operator must run first where the installing role may not: make chatstats'
    roles, let them use pgvector's schema, let the installer administer them."""
    grantable = conn.execute("SELECT has_schema_privilege(%s, 'USAGE WITH GRANT OPTION')",
                             (vector_schema,)).fetchone()[0]
    needed = []
    for role in ROLES:
        exists, usage, admin = conn.execute(
            "SELECT r.oid IS NOT NULL, coalesce(has_schema_privilege(r.oid, %s, 'USAGE'), false),"
            " coalesce(pg_has_role(r.oid, 'USAGE WITH ADMIN OPTION'), false)"
            " FROM (SELECT NULL) one LEFT JOIN pg_roles r ON r.rolname = %s", (vector_schema, role)).fetchone()
        if not exists and not grantable:
            needed.append(f"CREATE ROLE {role} LOGIN;")
        if not usage and not grantable:
            needed.append(f"GRANT USAGE ON SCHEMA {vector_schema} TO {role};")
        if (exists or not grantable) and not admin:
            needed.append(f"GRANT {role} TO {conn.info.user} WITH ADMIN OPTION;")
    return needed


def _series(database_url, demo=False):
    """(backend, migrations) of the series this database takes; with `demo`, first make
    the demo's tables where there are none."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        if _first_series(conn):
            return get_backend(dsn.as_uri(database_url, "postgresql+psycopg")), read_migrations(MIGRATIONS)
        if demo:
            _make_demo_tables(conn)
        path = _attach_path(conn)
    uri = dsn.as_uri(database_url, "postgresql+psycopg", schema=path)  # yoyo sets it as the search path
    return get_backend(uri), read_migrations(ATTACH_MIGRATIONS)


def apply(database_url):
    """Apply pending migrations; return the ids applied. Safe to run concurrently.
    Raises NotReady where something the migrations need is missing."""
    backend, migrations = _series(database_url, demo=True)
    # yoyo prints the rows of each SELECT a migration runs (the baseline's ledger entries)
    with backend.lock(timeout=LOCK_TIMEOUT_S), contextlib.redirect_stdout(io.StringIO()):
        todo = backend.to_apply(migrations)
        backend.apply_migrations(todo)
    return [m.id for m in todo]


def rollback(database_url, count):
    """Roll back the newest `count` applied migrations; return their ids."""
    backend, migrations = _series(database_url)
    with backend.lock(timeout=LOCK_TIMEOUT_S):
        todo = backend.to_rollback(migrations)[:count]
        if any(m.id == _migration_ids(ATTACH_MIGRATIONS)[0] for m in todo):
            raise NotReady(f"{todo[-1].id} makes chatstats' schema and has no rollback: "
                           "`chatstats uninstall --yes` removes chatstats")
        backend.rollback_migrations(todo)
    return [m.id for m in todo]


def applied_ids(database_url):
    """Ids of the applied migrations, oldest first."""
    backend, migrations = _series(database_url)
    applied = backend.to_rollback(migrations)
    return [m.id for m in reversed(applied)]


def pending_ids(conn):
    """Ids not yet applied, read through an ordinary connection (cheap enough for /ready)."""
    attached = conn.execute("SELECT to_regclass(%s) AS t", (f"{SCHEMA}._yoyo_migration",)).fetchone()["t"]
    first = not attached and conn.execute("SELECT to_regclass('public._yoyo_migration') AS t").fetchone()["t"]
    table = attached or first
    applied = set()
    if table:
        applied = {row["migration_id"] for row in
                   conn.execute(f"SELECT migration_id FROM {table}").fetchall()}
    return [mid for mid in _migration_ids(MIGRATIONS if first else ATTACH_MIGRATIONS) if mid not in applied]


@functools.cache
def _migration_ids(source):
    return [m.id for m in read_migrations(source)]


def uninstall(database_url):
    """Remove chatstats from an attached database: the changes it made outside its schema
    (recorded with their undo statements), newest first, then the schema. Roles it created
    are dropped last, each unless another database still holds rights of theirs. Returns
    (the statements run, the roles left with the reason)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        if not conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{SCHEMA}.outside_changes",)).fetchone()[0]:
            raise NotReady(f"this database has no chatstats schema to remove ({SCHEMA}.outside_changes is missing)")
        undo = [row[0] for row in conn.execute(f"SELECT undo FROM {SCHEMA}.outside_changes ORDER BY id DESC")]
        run = [statement for statement in undo if not statement.startswith("DROP ROLE ")]
        with conn.transaction():
            for statement in run:
                conn.execute(statement)
            conn.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
        run.append(f"DROP SCHEMA {SCHEMA} CASCADE")
        left = []
        for statement in undo:
            if statement.startswith("DROP ROLE "):
                try:
                    conn.execute(statement)
                    run.append(statement)
                except psycopg.errors.DependentObjectsStillExist as error:
                    left.append(f"{statement.removeprefix('DROP ROLE ')}: {error.diag.message_primary}")
    return run, left
