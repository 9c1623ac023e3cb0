"""Keeping the rollups current: the refresh procedure, its lag, and a background thread.

Every API process runs a Refresher thread; the procedure's advisory lock lets only
one of them work at a time, so any number of processes (and cron) can run it.
"""
import logging
import threading

import psycopg
from psycopg.rows import dict_row

log = logging.getLogger(__name__)

BATCH_ROWS = 1_000_000


def refresh(conn, batch_rows=BATCH_ROWS):
    """Roll up at most one batch of new rows (conn must be autocommit); return how many."""
    return conn.execute("CALL refresh_chat_request_rollups(%s, 200, NULL)",
                        (batch_rows,)).fetchone()["rolled_up"]


def catch_up(conn, batch_rows=BATCH_ROWS, progress=None):
    """Refresh until a batch ends short of its limit; return the rows rolled up.

    A batch spans `batch_rows` ids, and ids have gaps (deletes, rolled-back
    inserts), so it is the watermark, not the row count, that tells whether
    the newest id was reached (or the lock was not taken).
    """
    total = 0
    watermark = _watermark(conn)
    while True:
        rolled = refresh(conn, batch_rows)
        total += rolled
        if progress:
            progress(rolled)
        watermark, before = _watermark(conn), watermark
        if watermark - before < batch_rows:
            return total


def _watermark(conn):
    return conn.execute("SELECT watermark_id FROM chat_request_rollup_state").fetchone()["watermark_id"]


def lag(conn):
    """{lag_rows, lag_seconds, watermark_id, refreshed_at}, or None without rollups."""
    try:
        with conn.transaction():
            return conn.execute("SELECT * FROM chat_request_rollup_lag()").fetchone()
    except psycopg.errors.UndefinedFunction:
        return None


class Refresher(threading.Thread):
    """Refreshes every `interval_s` seconds on its own connection until stopped."""

    def __init__(self, database_url, interval_s):
        super().__init__(name="rollup-refresher", daemon=True)
        self.database_url = database_url
        self.interval_s = interval_s
        self.stopped = threading.Event()

    def run(self):
        conn = None
        while not self.stopped.wait(self.interval_s):
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.database_url, autocommit=True, row_factory=dict_row,
                                           application_name="chatstats-rollup", connect_timeout=5)
                catch_up(conn)
            except (psycopg.errors.UndefinedFunction, psycopg.errors.UndefinedTable):
                pass  # rollup migrations not applied (yet): nothing to do
            except psycopg.Error as error:
                log.warning("rollup refresh failed (answers stay exact, only slower): %s", error)
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def stop(self):
        self.stopped.set()
        self.join()
