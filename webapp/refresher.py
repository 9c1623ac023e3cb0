"""The rollup refresher: a thread in each server process, started where the server starts.

`chatstats serve` starts one in each gunicorn worker (gunicorn_conf.py); under
any other server, START_REFRESHER makes create_app() start it (or run
`chatstats rollup refresh` from cron). Opening the pool or serving a request
never starts one.
"""
import logging
import threading
import time

import psycopg
from psycopg.rows import dict_row

from . import config, db, rollups

log = logging.getLogger(__name__)

_KEY = "chatstats_refresher"


def start(app):
    """Start this process's refresher for the app, unless ROLLUP_INTERVAL_S is 0 or one runs."""
    interval_s = app.config["ROLLUP_INTERVAL_S"]
    if interval_s > 0 and _KEY not in app.extensions:
        pgbouncer = {"prepare_threshold": None} if app.config["PGBOUNCER"] else None
        thread = Refresher(db.rollup_database_url(app.config), interval_s,
                                   config.horizons(app.config), app.config["RAW_RETENTION_DAYS"],
                                   connect_kwargs=pgbouncer,
                                   source_ttl_days=app.config["SOURCE_TTL_DAYS"])
        thread.start()
        app.extensions[_KEY] = thread


def running(app):
    """This process's refresher thread for the app, or None."""
    return app.extensions.get(_KEY)


def stop(app):
    """Stop it, if it runs (worker exit, tests)."""
    thread = app.extensions.pop(_KEY, None)
    if thread is not None:
        thread.stop()


class Refresher(threading.Thread):
    """Refreshes every `interval_s` seconds on its own connection until stopped, and
    applies the retention settings (`horizons`: rollups.prune()'s days; raw_days, None: keep every
    row; source_ttl_days: rollups.set_source_ttl()'s, None: left as it is).

    Its lock waits at most 200 ms, so writers queued behind it barely notice. An
    autovacuum of the table holds a conflicting lock for as long as it runs, and
    gives way only to a waiter older than deadlock_timeout (1 s): after
    PATIENT_AFTER_S of being blocked, the refresher waits that long.
    """

    PATIENT_AFTER_S = 60

    def __init__(self, database_url, interval_s, horizons=(90, 35, 95), raw_days=None,
                 connect_kwargs=None, source_ttl_days=None):
        super().__init__(name="rollup-refresher", daemon=True)
        self.database_url = database_url
        self.interval_s = interval_s
        self.horizons = horizons
        self.raw_days = raw_days
        self.source_ttl_days = source_ttl_days
        self.connect_kwargs = connect_kwargs or {}
        self.stopped = threading.Event()
        self.waiting_for = None  # why it cannot refresh (logged once), None while it can

    def run(self):
        conn = None
        blocked_since = None
        while True:  # at once, then every interval_s
            try:
                if conn is None or conn.closed:
                    conn = self._connect()
                patient = blocked_since and time.monotonic() - blocked_since > self.PATIENT_AFTER_S
                while (result := rollups.refresh(conn, lock_timeout_ms=1500 if patient else 200)) \
                        and not result[1]:
                    pass  # more than a batch waits: go on at once
                blocked_since = (blocked_since or time.monotonic()) if result is None else None
                if result is not None:
                    if self.source_ttl_days is not None:
                        rollups.set_source_ttl(conn, self.source_ttl_days)
                    rollups.prune(conn, *self.horizons)
                    if self.raw_days is not None:
                        rollups.retain(conn, self.raw_days)
                self._resumed()
            except psycopg.errors.UndefinedFunction:
                pass  # rollup migrations not applied (yet): nothing to do
            except (psycopg.Error, _Standby) as error:
                self._waiting(error)
                if conn is not None:
                    conn.close()
                conn = None
            if self.stopped.wait(self.interval_s):
                break
        if conn is not None:
            conn.close()

    def _connect(self):
        """A connection to the primary: the server DATABASE_URL names now (with several
        hosts and target_session_attrs=read-write, whichever is the primary, so that it
        follows a promotion); a standby there is waited out until it is promoted."""
        conn = psycopg.connect(self.database_url, autocommit=True, row_factory=dict_row,
                               **{"application_name": "chatstats-rollup", "connect_timeout": 5,
                                  **self.connect_kwargs})
        if conn.execute("SELECT pg_is_in_recovery() AS r").fetchone()["r"]:
            conn.close()
            raise _Standby("the rollup database is a standby (read-only) until it is promoted")
        return conn

    def _waiting(self, error):
        """Log why it waits, once (not every interval) while the reason stays the same."""
        reason = f"{type(error).__name__}: {error}".strip()
        if reason != self.waiting_for:
            log.warning("rollup refresh waits (answers stay exact, only slower; retried every "
                        "%ss): %s", self.interval_s, reason)
        self.waiting_for = reason

    def _resumed(self):
        if self.waiting_for is not None:
            log.warning("rollup refresh resumed")
        self.waiting_for = None

    def stop(self):
        self.stopped.set()
        self.join()


class _Standby(Exception):
    """The refresher's database is in recovery."""
