"""The connection pools: per process, one for the primary and one for the standbys (when
configured), each opened on first use (after gunicorn forks).

Views choose a connection by intent, with one function: `get_db()` reads (statistics,
the request list, keys' verification, probes), `get_db(primary=True)` writes
(`last_used_at`). Reads go to the read pool on the standbys when
READ_DATABASE_URL is set, else to the primary; the streamed responses take theirs
from `connection()` (same flag). A new view that only reads calls `get_db()` and
is served by the standbys.

The API logs in as the read-only role of migration 0007, on the primary and the
standbys alike. Creating the app never touches the database, but fails without one
configured; no request waits longer than POOL_TIMEOUT_S for a connection: a
database that is down, restarting or saturated becomes a 503. A standby that
cannot be reached (its connection attempts fail) sends reads to the primary for
RETRY_AFTER_S, unless READ_FALLBACK is off; a standby that is merely busy (every
connection lent out) is a 503 like a busy primary, so that the dashboards' load
never spills onto the gateway's database.
"""
import logging
import os
import threading
import time
from contextlib import contextmanager

import psycopg
from flask import current_app, g
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from . import dsn

API_ROLE = "chatstats_api"
ROLLUP_ROLE = "chatstats_rollup"
PRIMARY_POOL = "chatstats_pool"
READ_POOL = "chatstats_read_pool"

log = logging.getLogger(__name__)
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


def read_database_url(config):
    """The standbys of READ_DATABASE_URL (hosts, ports, database, options) with the API's
    login (user and password), or None: reads go to the primary."""
    if not config["READ_DATABASE_URL"]:
        return None
    return dsn.with_login_of(config["READ_DATABASE_URL"], api_database_url(config))


def connect_kwargs(config, application_name):
    """psycopg.connect()'s settings for the app's connections. Behind PgBouncer in
    transaction pooling mode (PGBOUNCER) there are no startup options (it refuses them:
    set the timeout on the role, see docs/scaling.md) and no server-side prepared
    statements (PgBouncer before 1.21 cannot route them)."""
    kwargs = {"application_name": application_name, "connect_timeout": config["CONNECT_TIMEOUT_S"]}
    if config["PGBOUNCER"]:
        kwargs["prepare_threshold"] = None
    else:
        kwargs["options"] = (f"-c statement_timeout={int(config['STATEMENT_TIMEOUT_MS'])}"
                             f" -c TimeZone=UTC -c chatstats.stats_source={config['STATS_SOURCE']}")
    return kwargs


class _Pool(ConnectionPool):
    """Checks each connection before lending it (one empty query): a connection killed
    while idle (server restart, pg_terminate_backend) is replaced, never handed to a
    request. The first dead one found replaces all idle ones, since a restart kills
    them all and each further failed check would cost a request a second of backoff.

    It counts the connections it has lent, and knows when it is unreachable: it could
    not lend one in time while its connection attempts failed, or while no request held
    one (so it was not busy); `rest()` then lets the caller skip it for a while."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, check=self._check_or_drain, **kwargs)
        self.pid = os.getpid()
        self.lent = 0
        self.resting_until = 0.0
        self._count_lock = threading.Lock()

    def _check_or_drain(self, conn):
        try:
            self.check_connection(conn)
        except psycopg.OperationalError:
            self.drain()
            raise

    def getconn(self, timeout=None):
        conn = super().getconn(timeout)
        with self._count_lock:
            self.lent += 1
        return conn

    def putconn(self, conn):
        with self._count_lock:
            self.lent -= 1
        super().putconn(conn)

    def getconn_unless_down(self):
        """A connection; None when the server is unreachable (PoolTimeout when busy)."""
        errors = self.get_stats().get("connections_errors", 0)
        try:
            return self.getconn()
        except PoolTimeout:
            if self.get_stats().get("connections_errors", 0) > errors or self.lent == 0:
                return None
            raise

    def rest(self, seconds):
        self.resting_until = time.monotonic() + seconds

    def resting(self):
        return time.monotonic() < self.resting_until


def _pool(key):
    """This process's pool `key` (PRIMARY_POOL or READ_POOL); None: no read pool configured."""
    app = current_app._get_current_object()
    with _lock:
        pool = app.extensions.get(key)
        if pool is None or pool.pid != os.getpid():
            config = app.config
            url = api_database_url(config) if key == PRIMARY_POOL else read_database_url(config)
            if url is None:
                return None
            pool = _Pool(
                url,
                min_size=config["POOL_MIN_SIZE"],
                max_size=config["POOL_MAX_SIZE"],
                timeout=config["POOL_TIMEOUT_S"],
                # Give up a failing connection slot after this long instead of backing off
                # for minutes: the next request retries at once when the database is back.
                reconnect_timeout=max(config["POOL_TIMEOUT_S"], 1),
                kwargs={"autocommit": True, "row_factory": dict_row,
                        **connect_kwargs(config, "chatstats")},
                open=True,
            )
            pool.key = key
            app.extensions[key] = pool
    return pool


def _held():
    """This request's connections: {pool key: (pool, connection)}; reads that go to the
    primary share its entry."""
    if "db_held" not in g:
        g.db_held = {}
    return g.db_held


def get_db(primary=False, optional=False):
    """This request's connection (autocommit; use conn.transaction() for snapshots): for
    reading (the standbys, when configured), or with primary=True for writing.

    optional=True (with primary): None instead of waiting while the primary is
    unreachable, for what can be skipped (last_used_at, probes); it is then not tried
    again for RETRY_AFTER_S."""
    held = _held()
    want = PRIMARY_POOL if primary else READ_POOL
    if primary and optional and want not in held:
        pool = _pool(PRIMARY_POOL)
        if pool.resting():
            return None
        conn = pool.getconn_unless_down()
        if conn is None:
            pool.rest(current_app.config["RETRY_AFTER_S"])
            return None
        held[want] = (pool, conn)
    if want not in held:
        entry = None
        read_pool = None if primary else _pool(READ_POOL)
        if read_pool is not None and not read_pool.resting():
            conn = read_pool.getconn_unless_down()
            if conn is None:
                _standbys_down(read_pool)
            else:
                entry = (read_pool, conn)
        if entry is None:
            entry = held.get(PRIMARY_POOL)
            if entry is None:
                pool = _pool(PRIMARY_POOL)
                entry = (pool, pool.getconn())
            held[PRIMARY_POOL] = entry
        held[want] = entry
    return held[want][1]


def _standbys_down(read_pool):
    """The standbys are unreachable: reads go to the primary for RETRY_AFTER_S, or, with
    READ_FALLBACK off, this request fails (503)."""
    config = current_app.config
    if not config["READ_FALLBACK"]:
        raise PoolTimeout("the standbys (CHATSTATS_READ_DATABASE_URL) are unreachable")
    read_pool.rest(config["RETRY_AFTER_S"])
    log.warning("the standbys are unreachable: reads go to the primary for %ss", config["RETRY_AFTER_S"])


@contextmanager
def connection(primary=False):
    """This request's connection, handed over to a streamed response: it returns to
    the pool when the stream ends, not with the request context (which ends first)."""
    get_db(primary)
    held = _held()
    pool, conn = held.pop(PRIMARY_POOL if primary else READ_POOL)
    for key in [key for key, (_, other) in held.items() if other is conn]:
        del held[key]  # the same connection, held for the other intent too, goes along
    try:
        yield conn
    finally:
        pool.putconn(conn)


def close_db(exc=None):
    returned = set()
    for pool, conn in g.pop("db_held", {}).values():
        if id(conn) not in returned:
            returned.add(id(conn))
            pool.putconn(conn)


def init_app(app):
    api_database_url(app.config)  # a server without a database fails now, not on a request
    app.teardown_appcontext(close_db)


def shutdown(app):
    """Close this process's pools (tests, clean exits)."""
    for key in (PRIMARY_POOL, READ_POOL):
        pool = app.extensions.pop(key, None)
        if pool is not None:
            pool.close()
