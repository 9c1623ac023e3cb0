"""The connection pool: one per process, opened on first use (after gunicorn forks)."""
import os
import threading
from contextlib import contextmanager

from flask import current_app, g
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from . import embedded

_lock = threading.Lock()


def database_url(config):
    """DATABASE_URL, or the embedded server's URL (starting it if needed)."""
    return config["DATABASE_URL"] or embedded.start(config["DATA_DIR"])


def _pool():
    app = current_app._get_current_object()
    with _lock:
        pool = app.extensions.get("chatstats_pool")
        if pool is None or pool.pid != os.getpid():
            config = app.config
            pool = ConnectionPool(
                database_url(config),
                min_size=config["POOL_MIN_SIZE"],
                max_size=config["POOL_MAX_SIZE"],
                timeout=config["POOL_TIMEOUT_S"],
                kwargs={
                    "autocommit": True,
                    "row_factory": dict_row,
                    "application_name": "chatstats",
                    "options": f"-c statement_timeout={int(config['STATEMENT_TIMEOUT_MS'])} -c TimeZone=UTC",
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
    """A connection that outlives the request context, for streamed responses."""
    with _pool().connection() as conn:
        yield conn


def close_db(exc=None):
    conn = g.pop("db", None)
    if conn is not None:
        _pool().putconn(conn)


def init_app(app):
    app.teardown_appcontext(close_db)
