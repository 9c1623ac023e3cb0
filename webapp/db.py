"""The connection pool: one per process, opened on first use (after gunicorn forks)."""
import os
import threading
import urllib.parse
from contextlib import contextmanager

from flask import current_app, g
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from . import embedded, rollups

_lock = threading.Lock()


def database_url(config):
    """DATABASE_URL, or the embedded server's URL (starting it if needed)."""
    return config["DATABASE_URL"] or embedded.start(config["DATA_DIR"])


def with_database(url, name):
    """The same server's URL, pointing at database `name`."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


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
                    "options": (f"-c statement_timeout={int(config['STATEMENT_TIMEOUT_MS'])}"
                                f" -c TimeZone=UTC -c chatstats.stats_source={config['STATS_SOURCE']}"),
                },
                open=True,
            )
            pool.pid = os.getpid()
            app.extensions["chatstats_pool"] = pool
            if config["ROLLUP_INTERVAL_S"] > 0:
                refresher = rollups.Refresher(pool.conninfo, config["ROLLUP_INTERVAL_S"])
                refresher.start()
                app.extensions["chatstats_refresher"] = refresher
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


def shutdown(app):
    """Stop this process's refresher thread and close its pool (tests, clean exits)."""
    refresher = app.extensions.pop("chatstats_refresher", None)
    if refresher is not None:
        refresher.stop()
    pool = app.extensions.pop("chatstats_pool", None)
    if pool is not None:
        pool.close()
