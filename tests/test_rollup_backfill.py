"""The one-pass backfill (migration 0014): an empty store built from a history holds
exactly what the incremental refresh builds, and writers that insert, update and delete
during the backfill end up counted exactly (checked against rollupcheck's independent
aggregation in Python)."""
import random
import threading
import time
from datetime import timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

import rollupcheck as rc
from rollupcheck import no_background_refreshers  # noqa: F401 (autouse fixture)
from webapp import rollups

# A history of over two years (every level, 1024-day blocks included, holds several
# buckets), ending past the horizons below.
HISTORY_START, HISTORY_END = rc.BASE - timedelta(days=700), rc.BASE + timedelta(days=100)
NEVER = 10**12  # as backfill_min_rows: the incremental refresh alone
LONG_WAIT_MS = 10_000


def connect(url, autocommit=True):
    return psycopg.connect(url, autocommit=autocommit, row_factory=dict_row,
                           options=f"-c lock_timeout={LONG_WAIT_MS}")


def random_instant(rng):
    return HISTORY_START + timedelta(microseconds=rng.randrange(int((HISTORY_END - HISTORY_START) / rc.US)))


def set_horizons(conn, days):
    """Quarters, the keys' and users' hours and 6 hours, the users' days to 16 days: kept
    from BASE + these days on (None: everywhere)."""
    if days:
        conn.execute("SELECT chat_rollup_prune(%s, %s, %s)", [rc.BASE + timedelta(days=d) for d in days])


def store(conn):
    """Every row of the store, every column (numbers and histograms as text: exactly)."""
    return conn.execute(
        """SELECT level, dim, bucket::text, id, completed, failed, partial, input_tokens, output_tokens,
                  processing_time_ms, cost_usd::text, latency::text, latency_over::text
             FROM chat_rollups ORDER BY level, dim, bucket, id""").fetchall()


def empty_store(conn):
    """The store emptied as before a first rollup, the horizons kept."""
    conn.execute("TRUNCATE chat_rollups")
    conn.execute("UPDATE chat_rollup_state SET watermark_id = 0, refreshed_at = NULL")


@pytest.fixture
def catalog(conn):
    """(shape, model ids)."""
    return rc.shape(conn), rc.make_catalog(conn, providers=2, models=5)[1]


# quarters from 40 days, keys' and users' hours from 70, users' days from 20; the user
# horizon after the detail horizon; none at all
@pytest.mark.parametrize("seed, horizons", [(1, (40, 70, 20)), (2, (10, 5, 60)), (3, None)])
def test_one_pass_equals_the_incremental_refresh(conn, catalog, seed, horizons):
    sh, model_ids = catalog
    rng = random.Random(seed)
    rc.insert(conn, [rc.random_request(rng, model_ids, random_instant(rng)) for _ in range(3000)])
    set_horizons(conn, horizons)

    assert rollups.catch_up(conn, batch_rows=700, backfill_min_rows=NEVER) == 3000
    incremental = store(conn)
    rc.check_store(conn, sh)

    empty_store(conn)
    assert rollups.backfill(conn, min_rows=1) == 3000
    assert conn.execute("SELECT watermark_id, backfill_upto FROM chat_rollup_state").fetchone() == \
        {"watermark_id": conn.execute("SELECT max(id) AS m FROM chat_completion_requests").fetchone()["m"],
         "backfill_upto": None}
    assert store(conn) == incremental
    assert conn.execute("SELECT count(*) AS n FROM chat_rollup_backfill_sums").fetchone()["n"] == 0


def test_backfill_only_fills_an_empty_store(conn, catalog):
    sh, model_ids = catalog
    rng = random.Random(4)
    rc.insert(conn, [rc.random_request(rng, model_ids, random_instant(rng)) for _ in range(50)])
    assert rollups.backfill(conn, min_rows=51) == 0  # fewer wait
    assert rollups.catch_up(conn, backfill_min_rows=NEVER) == 50
    rc.insert(conn, [rc.random_request(rng, model_ids, random_instant(rng)) for _ in range(50)])
    assert rollups.backfill(conn, min_rows=1) == 0  # the store holds rows
    assert rollups.catch_up(conn, backfill_min_rows=1) == 50
    rc.check_store(conn, sh)


def write(writer, rng, model_ids, ids):
    """Random writes: new rows, rows updated (moved in time too, across blocks), rows deleted."""
    ids += rc.insert(writer, [rc.random_request(rng, model_ids, random_instant(rng)) for _ in range(rng.randrange(1, 6))])
    for _ in range(rng.randrange(1, 6)):
        new = rc.random_request(rng, model_ids, random_instant(rng))
        writer.execute(
            """UPDATE chat_completion_requests SET created_at = %s, processing_time_ms = %s, model_id = %s,
                      status = %s, user_id = %s, cost_usd = %s WHERE id = %s""",
            (new["created_at"], new["processing_time_ms"], new["model_id"], new["status"], new["user_id"],
             new["cost_usd"], rng.choice(ids)))
    writer.execute("DELETE FROM chat_completion_requests WHERE id = %s", (ids.pop(rng.randrange(len(ids))),))


def test_writes_between_blocks_and_across_the_hand_over(conn, database_url, catalog):
    """Writes after every block (rows summed already, rows not yet, rows moved between
    them), and a transaction that logged a change and commits only while the hand-over
    waits for it."""
    sh, model_ids = catalog
    rng = random.Random(5)
    ids = rc.insert(conn, [rc.random_request(rng, model_ids, random_instant(rng)) for _ in range(2000)])
    set_horizons(conn, (40, 70, 20))
    blocks = []
    with connect(database_url) as writer, connect(database_url, autocommit=False) as open_writer, \
            connect(database_url) as observer:
        def between_blocks(summed):
            if not blocks:  # stays open through the other blocks, until the hand-over waits for it
                write(open_writer, rng, model_ids, ids)
                threading.Thread(target=commit_once_waited_for, daemon=True).start()
            blocks.append(summed)
            write(writer, rng, model_ids, ids)

        def commit_once_waited_for():
            wait_until_blocked(observer, conn)
            open_writer.commit()

        assert rollups.backfill(conn, min_rows=1, progress=between_blocks) > 1900  # less rows deleted meanwhile
        assert len(blocks) > 20
        write(writer, rng, model_ids, ids)  # adjusted by the triggers now
    assert conn.execute("SELECT count(*) AS n FROM chat_rollup_backfill_log").fetchone()["n"] == 0
    rollups.catch_up(conn)
    rc.check_store(conn, sh)


def wait_until_blocked(observer, session, timeout_s=60):
    """Until session waits for a row lock (not, say, to extend the staging table, which
    the other session summing blocks may be doing)."""
    pid = session.info.backend_pid
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = observer.execute("SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE pid = %s",
                               (pid,)).fetchone()
        if row and row["wait_event_type"] == "Lock" and row["wait_event"] in ("transactionid", "tuple"):
            return
        time.sleep(0.02)
    raise AssertionError(f"session {pid} never waited for a row lock")


def test_concurrent_writers_during_the_backfill(conn, database_url, catalog):
    """Writers in threads, each statement its own transaction (two transactions of several
    statements adjusting the store may deadlock on its rows, as without a backfill),
    all through the backfill."""
    sh, model_ids = catalog
    rng = random.Random(6)
    ids = rc.insert(conn, [rc.random_request(rng, model_ids, random_instant(rng)) for _ in range(4000)])
    set_horizons(conn, (10, 5, 60))
    stop = threading.Event()
    errors = []

    def writer_loop(seed):
        rng, own = random.Random(seed), ids[seed::3]  # rows of its own: no deadlocks between writers
        try:
            with connect(database_url) as writer:
                while not stop.is_set():
                    write(writer, rng, model_ids, own)
        except Exception as error:  # reported by the main thread
            errors.append(error)

    writers = [threading.Thread(target=writer_loop, args=(seed,)) for seed in range(3)]
    for thread in writers:
        thread.start()
    try:
        time.sleep(0.2)
        while (rolled := rollups.backfill(conn, min_rows=1)) is None:  # writers in the way: again
            time.sleep(0.1)
        assert rolled > 3000
        time.sleep(0.2)
    finally:
        stop.set()
        for thread in writers:
            thread.join()
    assert not errors, errors
    rollups.catch_up(conn)
    rc.check_store(conn, sh)


def sessions_summing_blocks(observer, count, timeout_s=60):
    """The backends of `count` sessions each summing a block, waiting for a lock."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pids = [row["pid"] for row in observer.execute(
            """SELECT pid FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock'
                  AND query LIKE 'SELECT chat_rollup_backfill_block(%'""")]
        if len(pids) >= count:
            return pids
        time.sleep(0.02)
    raise AssertionError(f"never saw {count} sessions summing blocks at once")


def backfill_while_blocks_wait(conn, database_url, then):
    """Backfill (in a thread) while every block waits for a lock (the latency steps, which
    each block reads) until both sessions summing blocks wait; then(pids), then the lock
    is released. Returns what the backfill returned or raised."""
    outcome = []

    def backfill():
        try:
            outcome.append(rollups.backfill(conn, min_rows=1))
        except Exception as error:  # noqa: BLE001 (the test looks at it)
            outcome.append(error)

    with connect(database_url, autocommit=False) as blocker, connect(database_url) as observer:
        blocker.execute("LOCK TABLE chat_latency_steps IN ACCESS EXCLUSIVE MODE")
        backfilling = threading.Thread(target=backfill)
        backfilling.start()
        try:
            then(observer, sessions_summing_blocks(observer, 2))
        finally:
            blocker.commit()
            backfilling.join()
    return outcome[0]


def test_blocks_summed_on_two_sessions_at_once(conn, database_url, catalog):
    """The backfill's session and a second one each sum a block at the same time."""
    sh, model_ids = catalog
    rng = random.Random(7)
    rc.insert(conn, [rc.random_request(rng, model_ids, random_instant(rng)) for _ in range(1000)])
    seen = []
    assert backfill_while_blocks_wait(conn, database_url, lambda observer, pids: seen.extend(pids)) == 1000
    assert len(set(seen)) == 2 and conn.info.backend_pid in seen
    assert conn.execute("SELECT count(*) AS n FROM chat_rollup_backfill_blocks").fetchone()["n"] == 0
    rc.check_store(conn, sh)


def test_an_error_in_the_second_session_abandons_the_backfill(conn, database_url, catalog):
    """The second session ends while both wait: the first session's block is cancelled,
    the backfill abandoned (its lock released, its tables emptied) and the error raised;
    the next backfill starts afresh."""
    sh, model_ids = catalog
    rng = random.Random(8)
    rc.insert(conn, [rc.random_request(rng, model_ids, random_instant(rng)) for _ in range(1000)])

    def end_the_other(observer, pids):
        other, = set(pids) - {conn.info.backend_pid}
        observer.execute("SELECT pg_terminate_backend(%s)", (other,))
        deadline = time.monotonic() + 60
        while observer.execute("SELECT backfill_upto FROM chat_rollup_state").fetchone()["backfill_upto"]:
            assert time.monotonic() < deadline, "the backfill was not abandoned"
            time.sleep(0.02)  # abandoned while the lock is still held: the first block was cancelled

    error = backfill_while_blocks_wait(conn, database_url, end_the_other)
    assert isinstance(error, psycopg.OperationalError), error
    assert conn.execute(
        """SELECT (SELECT watermark_id FROM chat_rollup_state) AS watermark,
                  (SELECT count(*) FROM chat_rollup_backfill_sums) + (SELECT count(*) FROM chat_rollup_backfill_blocks)
                  + (SELECT count(*) FROM chat_rollups) AS staged,
                  (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS locks"""
    ).fetchone() == {"watermark": 0, "staged": 0, "locks": 0}
    assert rollups.backfill(conn, min_rows=1) == 1000
    rc.check_store(conn, sh)
