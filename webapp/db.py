"""The connection pool: one per process, opened on first use (after gunicorn forks).

The API logs in as the read-only role of migration 0007. Creating the app never
touches the database, but fails without one configured; no request waits longer
than POOL_TIMEOUT_S for a connection: a database that is down, restarting or
saturated becomes a 503.
"""
import os
import threading
from contextlib import contextmanager

import psycopg
from flask import current_app, g
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from . import dsn

API_ROLE = "chatstats_api"
ROLLUP_ROLE = "chatstats_rollup"

_lock = threading.Lock()


def _login(config, key, role):
    """config[key], or DATABASE_URL (the owner's) with `role` as user."""
    if config[key]:
        return config[key]
    if not config["DATABASE_URL"]:
        raise RuntimeError(f"DATABASE_URL is not set (nor CHATSTATS_{key}): set it to the "
                           "PostgreSQL database of the gateway's requests")
    return dsn.with_user(config["DATABASE_URL"], role)


def api_database_url(config):
    """CHATSTATS_API_DATABASE_URL, or the owner's URL with the API role as user."""
    return _login(config, "API_DATABASE_URL", API_ROLE)


def rollup_database_url(config):
    """CHATSTATS_ROLLUP_DATABASE_URL, or the owner's URL with the rollup role as user."""
    return _login(config, "ROLLUP_DATABASE_URL", ROLLUP_ROLE)


class _Pool(ConnectionPool):
    """Checks each connection before lending it (one empty query): a connection killed
    while idle (server restart, pg_terminate_backend) is replaced, never handed to a
    request. The first dead one found replaces all idle ones, since a restart kills
    them all and each further failed check would cost a request a second of backoff."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, check=self._check_or_drain, **kwargs)

    def _check_or_drain(self, conn):
        try:
            self.check_connection(conn)
        except psycopg.OperationalError:
            self.drain()
            raise


def _pool():
    app = current_app._get_current_object()
    with _lock:
        pool = app.extensions.get("chatstats_pool")
        if pool is None or pool.pid != os.getpid():
            config = app.config
            pool = _Pool(
                api_database_url(config),
                min_size=config["POOL_MIN_SIZE"],
                max_size=config["POOL_MAX_SIZE"],
                timeout=config["POOL_TIMEOUT_S"],
                # Give up a failing connection slot after this long instead of backing off
                # for minutes: the next request retries at once when the database is back.
                reconnect_timeout=max(config["POOL_TIMEOUT_S"], 1),
                kwargs={
                    "autocommit": True,
                    "row_factory": dict_row,
                    "application_name": "chatstats",
                    "connect_timeout": config["CONNECT_TIMEOUT_S"],
                    "options": (f"-c statement_timeout={int(config['STATEMENT_TIMEOUT_MS'])}"
                                f" -c TimeZone=UTC -c chatstats.stats_source={config['STATS_SOURCE']}"),
                },
                open=True,
            )
            pool.pid = os.getpid()
            app.extensions["chatstats_pool"] = pool
    return pool


def get_db():
    """This request's connection (autocommit; use conn.transaction() for snapshots)."""
    if "db" not in g:
        g.db = _pool().getconn()
    return g.db


@contextmanager
def connection():
    """This request's connection, handed over to a streamed response: it returns to
    the pool when the stream ends, not with the request context (which ends first)."""
    pool = _pool()
    conn = g.pop("db", None) or pool.getconn()
    try:
        yield conn
    finally:
        pool.putconn(conn)


def close_db(exc=None):
    conn = g.pop("db", None)
    if conn is not None:
        _pool().putconn(conn)


def init_app(app):
    api_database_url(app.config)  # a server without a database fails now, not on a request
    app.teardown_appcontext(close_db)


def shutdown(app):
    """Close this process's pool (tests, clean exits)."""
    pool = app.extensions.pop("chatstats_pool", None)
    if pool is not None:
        pool.close()
