"""Keeping the rollups current: the refresh procedure, the backfill, their lag,
retention (the thread that runs them in each server process is refresher.Refresher).

The procedure's advisory lock lets only one process work at a time, so any number of
processes (and cron) can run it.
"""
import logging
import queue
import threading
import time

import psycopg
from psycopg.rows import scalar_row

log = logging.getLogger(__name__)

BATCH_ROWS = 250_000
# An empty store with more rows than this waiting is built in one pass (backfill()).
BACKFILL_MIN_ROWS = BATCH_ROWS
# Blocks a backfill sums at once, each on a connection of its own: a block is one
# statement, which runs on one core.
BACKFILL_SESSIONS = 2
# The dimensions whose coarser levels one session sums (models have about as many rows
# as the others together).
BACKFILL_LEVELS = (["m"], ["u", "k", "a"])
RETENTION_BATCH_ROWS = 10_000


def refresh(conn, batch_rows=BATCH_ROWS, lock_timeout_ms=200):
    """Roll up one batch of ids (conn must be autocommit).

    Returns (rows rolled up, caught up), or None when another refresh, a long
    COPY or a VACUUM was in the way: try again later.
    """
    result = conn.execute("CALL chat_rollup_refresh(%s, %s, NULL, NULL)",
                          (batch_rows, lock_timeout_ms)).fetchone()
    if result["caught_up"] is None:
        return None
    return result["rolled_up"], result["caught_up"]


def backfill(conn, min_rows=BACKFILL_MIN_ROWS, lock_timeout_ms=2000, progress=None,
             sessions=BACKFILL_SESSIONS):
    """Build an empty store in one pass when at least min_rows requests wait (conn must
    be autocommit): each 32-day block of the history summed in its own statement, up to
    `sessions` blocks at once (_at_once()), then the coarser levels (as many dimensions
    at once), then the hand-over to the watermark (migrations 0014, 0016), on conn: it
    holds the backfill's lock. A block's group of more than 2^24 requests (its float4
    histogram sum might round) leaves the history to the refresh.

    Returns the rows rolled up (0: nothing to backfill, the store holds rows or few
    wait), or None when a refresh, busy writers or a change of the state (TRUNCATE,
    pruning, retention) was in the way: try again later. Rows written meanwhile wait
    for the refresh. Raises InsufficientPrivilege, rolling up nothing, when row level
    security hides rows from the caller (migration 0020).
    """
    try:
        start = conn.execute("SELECT * FROM chat_rollup_backfill_start(%s, %s)",
                             (min_rows, lock_timeout_ms)).fetchone()
    except psycopg.errors.UndefinedFunction:
        return 0  # a database migrated to 0013 or below: the refresh alone
    if not start["started"]:
        return None if start["started"] is None else 0
    try:
        conn.execute("SELECT chat_rollup_check_seen(0, s.backfill_upto, (SELECT count(*) FROM chat_completion_requests"
                     " WHERE id <= s.backfill_upto)) FROM chat_rollup_state s")
        bounds = [None, *start["bounds"], None]  # unbounded at both ends
        _at_once(conn, [("SELECT chat_rollup_backfill_block(%s, %s) AS n", block)
                        for block in zip(bounds, bounds[1:])], sessions, progress)
        _at_once(conn, [("SELECT chat_rollup_backfill_levels(%s) AS n", (dims,)) for dims in BACKFILL_LEVELS],
                 sessions)
        return conn.execute("SELECT chat_rollup_backfill_finish(%s) AS n",
                            (start["state_version"],)).fetchone()["n"]
    except psycopg.errors.SerializationFailure:
        conn.execute("SELECT chat_rollup_backfill_abandon()")
        return None
    except psycopg.errors.ProgramLimitExceeded as error:  # a block's group of more than 2^24 requests
        log.warning("rollup backfill gives way to the refresh: %s", error)
        conn.execute("SELECT chat_rollup_backfill_abandon()")
        return 0
    except BaseException:
        if not conn.closed:  # else the server ends the session, and with it the backfill's lock
            conn.execute("SELECT chat_rollup_backfill_abandon()")
        raise


def _at_once(conn, statements, sessions, progress=None):
    """Run the (sql, params) statements on conn and on up to sessions - 1 more
    connections at once, each taking the next when done: the backfill's blocks, then its
    coarser levels by dimension, are independent statements (a block reads in its own
    snapshot, which it records; all insert into staging tables without unique indexes).
    progress(n) is called in the caller's thread as statements end (n: their column n).
    An error in any session cancels the others' statements and is raised once they have
    stopped, so that the caller can abandon the backfill on conn."""
    conns = [conn, *_more_connections(conn, min(sessions, len(statements)) - 1)]
    todo, done, stop = queue.SimpleQueue(), queue.SimpleQueue(), threading.Event()
    for statement in statements:
        todo.put(statement)

    def work(session):
        try:
            while not stop.is_set():
                try:
                    sql, params = todo.get_nowait()
                except queue.Empty:
                    return
                done.put(session.execute(sql, params).fetchone()["n"])
        except BaseException as error:  # raised by the caller's thread
            done.put(error)

    workers = [threading.Thread(target=work, args=(c,), name=f"rollup-backfill-{i}", daemon=True)
               for i, c in enumerate(conns)]
    for worker in workers:
        worker.start()
    try:
        for _ in statements:
            if isinstance(summed := done.get(), BaseException):
                raise summed
            if progress:
                progress(summed)
    except BaseException:
        stop.set()
        for session, worker in zip(conns, workers):
            while worker.is_alive():  # cancelled again if it took a block meanwhile
                session.cancel_safe()
                worker.join(0.5)
        raise
    finally:
        for worker in workers:
            worker.join()
        for session in conns[1:]:
            session.close()


def _more_connections(conn, count):
    """Up to count more autocommit connections like conn (its conninfo, password, settings
    and search path); fewer, with a warning, when the server refuses them: the blocks then
    take longer, nothing else changes."""
    more = []
    path = conn.cursor(row_factory=scalar_row).execute("SELECT current_setting('search_path')").fetchone()
    try:
        for _ in range(count):
            more.append(psycopg.connect(conn.info.dsn, password=conn.info.password or None, autocommit=True,
                                        row_factory=conn.row_factory, prepare_threshold=conn.prepare_threshold))
            more[-1].execute("SELECT set_config('search_path', %s, false)", (path,))
    except psycopg.OperationalError as error:
        log.warning("backfill on %s connection(s), another one was refused: %s", 1 + len(more), error)
    return more


def catch_up(conn, batch_rows=BATCH_ROWS, lock_timeout_ms=2000, patience_s=600, progress=None,
             backfill_min_rows=BACKFILL_MIN_ROWS):
    """Roll up everything waiting; return the rows rolled up. An empty store with at
    least backfill_min_rows waiting is built in one pass first (backfill()), then
    refreshed until caught up.

    The longer lock timeout lets an autovacuum give way (it does after
    deadlock_timeout); other obstacles are retried for up to patience_s.
    """
    deadline = time.monotonic() + patience_s

    def retried(attempt):
        while (result := attempt()) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"rollup refresh kept finding the table busy for {patience_s}s")
            time.sleep(0.5)
        return result

    total = retried(lambda: backfill(conn, backfill_min_rows, lock_timeout_ms, progress))
    while True:  # rows written meanwhile (or all of them, below backfill_min_rows)
        rolled, caught_up = retried(lambda: refresh(conn, batch_rows, lock_timeout_ms))
        total += rolled
        if progress:
            progress(rolled)
        if caught_up:
            return total


def prune(conn, quarter_days, detail_days, user_days):
    """Stop keeping 15-minute rollups older than quarter_days, the keys' and users' hours
    and 6 hours older than detail_days, and the users' days to 16 days older than
    user_days; return the rows deleted."""
    return conn.execute("SELECT chat_rollup_prune(now() - make_interval(days => %s),"
                        " now() - make_interval(days => %s), now() - make_interval(days => %s)) AS n",
                        (quarter_days, detail_days, user_days)).fetchone()["n"]


def retain(conn, raw_days, batch_rows=RETENTION_BATCH_ROWS, progress=None):
    """Remove request rows older than raw_days, rolled up ones only, batch by batch (each
    its own short transaction); their contribution stays in the rollups. Return how many."""
    total = 0
    while removed := conn.execute("SELECT chat_rollup_retain(now() - make_interval(days => %s), %s) AS n",
                                  (raw_days, batch_rows)).fetchone()["n"]:
        total += removed
        if progress:
            progress(removed)
    return total


def set_source_ttl(conn, days):
    """Deletes of request rows older than `days` (0 or None: none) keep their statistics
    from now on: the request table's own TTL (migration 0019). Returns whether it changed."""
    return conn.execute("SELECT chat_rollup_set_source_ttl(%s) AS changed", (days,)).fetchone()["changed"]


def lag(conn):
    """{lag_rows, lag_seconds, watermark_id, refreshed_at}, or None without rollups."""
    try:
        with conn.transaction():
            return conn.execute("SELECT * FROM chat_rollup_lag()").fetchone()
    except psycopg.errors.UndefinedFunction:
        return None
