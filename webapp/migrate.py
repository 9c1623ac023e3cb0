"""Schema migrations through yoyo's Python API.

The files live in the top-level migrations/, shipped as package data of webapp
(webapp/migrations links to them), so an installed wheel reads its own copies.
"""
import functools

import psycopg
from yoyo import get_backend, read_migrations

from . import dsn

MIGRATIONS = "package:webapp:migrations"  # yoyo reads them through importlib.resources
# Backfilling rollups over tens of millions of rows takes a while: wait that long for the lock.
LOCK_TIMEOUT_S = 1800


def _backend(database_url):
    return get_backend(dsn.as_uri(database_url, "postgresql+psycopg"))


def _migrations():
    return read_migrations(MIGRATIONS)


class NotOurs(Exception):
    """The database holds request tables that chatstats' migrations did not create."""


def check_target(database_url):
    """Refuse, before anything is written, a database whose chat_completion_requests
    chatstats did not create (a gateway's own): its migrations would fail there after
    leaving yoyo's tables behind."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        requests, bookkeeping = conn.execute(
            "SELECT to_regclass('chat_completion_requests') IS NOT NULL,"
            " to_regclass('_yoyo_migration') IS NOT NULL").fetchone()
        ours = bookkeeping and conn.execute(
            "SELECT EXISTS (SELECT FROM _yoyo_migration WHERE migration_id = %s)",
            (_migration_ids()[0],)).fetchone()[0]
    if requests and not ours:
        raise NotOurs(
            "this database already has a chat_completion_requests table that chatstats did not create "
            "(a gateway's own): chatstats cannot attach to it yet (docs/attach-plan.md); nothing was changed. "
            "Point DATABASE_URL at an empty database.")


def apply(database_url):
    """Apply pending migrations; return the ids applied. Safe to run concurrently.
    Raises NotOurs for a gateway's own database (check_target)."""
    check_target(database_url)
    backend = _backend(database_url)
    with backend.lock(timeout=LOCK_TIMEOUT_S):
        todo = backend.to_apply(_migrations())
        backend.apply_migrations(todo)
    return [m.id for m in todo]


def rollback(database_url, count):
    """Roll back the newest `count` applied migrations; return their ids."""
    backend = _backend(database_url)
    with backend.lock(timeout=LOCK_TIMEOUT_S):
        todo = backend.to_rollback(_migrations())[:count]
        backend.rollback_migrations(todo)
    return [m.id for m in todo]


def applied_ids(database_url):
    """Ids of the applied migrations, oldest first."""
    backend = _backend(database_url)
    applied = backend.to_rollback(_migrations())
    return [m.id for m in reversed(applied)]


def pending_ids(conn):
    """Ids not yet applied, read through an ordinary connection (cheap enough for /ready)."""
    applied = set()
    if conn.execute("SELECT to_regclass('_yoyo_migration') AS t").fetchone()["t"]:
        applied = {row["migration_id"] for row in
                   conn.execute("SELECT migration_id FROM _yoyo_migration").fetchall()}
    return [mid for mid in _migration_ids() if mid not in applied]


@functools.cache
def _migration_ids():
    return [m.id for m in _migrations()]
