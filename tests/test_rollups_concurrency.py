"""Rollups stay exact with real concurrent sessions: open transactions, racing refreshes, a stress loop.

Each session is its own psycopg connection (threads where one must block).
Pauses are made deterministic with locks and by waiting until PostgreSQL
reports the session as waiting for a lock.
"""
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from psycopg.rows import dict_row

import rollupcheck as rc
from rollupcheck import no_background_refreshers  # noqa: F401 (autouse fixture)
from webapp import rollups

# Waits give up after this long, so that a failing test fails instead of hanging.
LONG_WAIT_MS = 10_000


def connect(url, autocommit=True):
    return psycopg.connect(url, autocommit=autocommit, row_factory=dict_row,
                           options=f"-c lock_timeout={LONG_WAIT_MS}")


def watermark(conn):
    return conn.execute("SELECT watermark_id FROM chat_request_rollup_state").fetchone()["watermark_id"]


def wait_until_blocked(observer, session, timeout_s=60):
    """Return once `session` waits for a lock (it is running a statement in another thread)."""
    pid = session.info.backend_pid
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = observer.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
        if row and row["wait_event_type"] == "Lock":
            return
        time.sleep(0.02)
    raise AssertionError(f"session {pid} never waited for a lock")


def refresh_waiting(conn):
    """A refresh whose phase 1 waits for writers (up to LONG_WAIT_MS); return the rows rolled up."""
    rolled, _ = rollups.refresh(conn, lock_timeout_ms=LONG_WAIT_MS)
    return rolled


def random_instant(rng):
    if rng.random() < 0.5:
        return rc.BASE - rc.DAY + timedelta(microseconds=rng.randrange(int(rc.SPAN.total_seconds() * 1e6)))
    grain = rng.choice(rc.GRAINS)
    return rc.BASE + grain * rng.randrange(-(rc.DAY // grain), 3 * rc.DAY // grain) \
        + timedelta(microseconds=rng.choice([0, 0, -1, 1]))


def random_request(rng, model_ids):
    return {"model_id": rng.choice([*model_ids, None]), "input_tokens": rng.randrange(5000),
            "output_tokens": rng.randrange(5000), "processing_time_ms": rng.randrange(100_000),
            "status": rng.choice(rc.STATUSES),
            "cost_usd": None if rng.random() < 0.2 else Decimal(rng.randrange(10**7)) / 10**6,
            "created_at": random_instant(rng)}


def random_range(rng):
    return tuple(None if rng.random() < 0.2 else random_instant(rng) for _ in range(2))


def check_everything(conn, provider_ids, model_ids, rng, ranges=20):
    """Stored rollups, all-time and random ranges (rollup == raw == Python), public functions."""
    rc.check_rollup_table(conn)
    rows = rc.fetch_rows(conn)
    for bounds in [(None, None)] + [random_range(rng) for _ in range(ranges)]:
        for model_id in (None, *model_ids):
            rc.check_totals(conn, *bounds, model_id, rows=rows)
        rc.check_public(conn, *bounds, provider_ids, model_ids)
    return rows


@pytest.fixture
def catalog(conn):
    conn.execute(f"SET lock_timeout = {LONG_WAIT_MS}")
    return rc.make_catalog(conn)


def test_open_insert_transaction_holds_the_watermark_back(conn, database_url, catalog):
    provider_ids, model_ids = catalog
    rng = random.Random(1)
    rc.insert(conn, [random_request(rng, model_ids) for _ in range(5)])
    assert rollups.catch_up(conn) == 5
    with connect(database_url, autocommit=False) as writer, connect(database_url) as refresher:
        open_ids = rc.insert(writer, [random_request(rng, model_ids) for _ in range(3)])
        later_ids = rc.insert(conn, [random_request(rng, model_ids) for _ in range(2)])
        assert min(later_ids) > max(open_ids)

        # Gives up on the lock: the committed later rows must wait too.
        assert rollups.refresh(conn) is None
        assert watermark(conn) < min(open_ids)
        assert len(check_everything(conn, provider_ids, model_ids, rng)) == 7

        # Waits for the writer instead, then rolls up everything, uncommitted rows included.
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(refresh_waiting, refresher)
            wait_until_blocked(conn, refresher)
            writer.commit()
            assert pending.result(timeout=60) == 5
    assert watermark(conn) == max(later_ids)
    assert len(check_everything(conn, provider_ids, model_ids, rng)) == 10


def test_two_refreshes_at_once_count_each_row_once(conn, database_url, catalog):
    provider_ids, model_ids = catalog
    rng = random.Random(2)
    with connect(database_url) as a, connect(database_url) as b, ThreadPoolExecutor(2) as pool:
        total_inserted = total_rolled = 0
        for _ in range(8):
            rows = [random_request(rng, model_ids) for _ in range(rng.randrange(1, 300))]
            rc.insert(conn, rows)
            total_inserted += len(rows)
            batch = rng.choice([7, 50, rollups.BATCH_ROWS])
            start = threading.Barrier(2)

            def run(session):
                """Refresh until caught up; a refresh the other session was in the way of does nothing."""
                start.wait()
                rolled = 0
                while (result := rollups.refresh(session, batch)) is None or not result[1]:
                    rolled += result[0] if result else 0
                return rolled + result[0]
            total_rolled += sum(f.result(timeout=30) for f in [pool.submit(run, a), pool.submit(run, b)])
            total_rolled += rollups.catch_up(conn)  # whatever a lost lock race left behind
        assert rollups.lag(conn)["lag_rows"] == 0
    assert total_rolled == total_inserted
    rows = check_everything(conn, provider_ids, model_ids, rng)
    assert len(rows) == total_inserted


def test_refreshes_overlapping_across_their_two_phases(conn, database_url, catalog):
    """Refresh A waits in phase 2 while refresh B runs phase 1 over more rows: no row twice."""
    provider_ids, model_ids = catalog
    rng = random.Random(3)
    rc.insert(conn, [random_request(rng, model_ids) for _ in range(40)])
    with connect(database_url, autocommit=False) as holder, connect(database_url) as a, \
            connect(database_url) as b, ThreadPoolExecutor(2) as pool:
        holder.execute("LOCK TABLE chat_request_rollup_state IN EXCLUSIVE MODE")  # stalls phase 2
        first = pool.submit(rollups.refresh, a)
        wait_until_blocked(conn, a)
        rc.insert(conn, [random_request(rng, model_ids) for _ in range(25)])
        second = pool.submit(rollups.refresh, b)
        wait_until_blocked(conn, b)
        holder.commit()
        results = [first.result(timeout=60), second.result(timeout=60)]
    # The one that reaches phase 2 second finds the state changed, and does nothing.
    assert None in results
    rolled = sum(result[0] for result in results if result)
    assert rolled in (40, 65)
    assert rolled + rollups.catch_up(conn) == 65
    assert len(check_everything(conn, provider_ids, model_ids, rng)) == 65


def test_truncate_restart_identity_between_refresh_phases(conn, database_url, catalog):
    """Regression: phase 2 once set the old watermark over the restarted ids."""
    provider_ids, model_ids = catalog
    rng = random.Random(4)
    rc.insert(conn, [random_request(rng, model_ids) for _ in range(10)])
    with connect(database_url, autocommit=False) as other, connect(database_url) as refresher, \
            ThreadPoolExecutor(1) as pool:
        other.execute("LOCK TABLE chat_request_rollup_state IN EXCLUSIVE MODE")  # stalls phase 2
        pending = pool.submit(rollups.refresh, refresher)
        wait_until_blocked(conn, refresher)
        other.execute("TRUNCATE chat_completion_requests RESTART IDENTITY")
        rc.insert(other, [random_request(rng, model_ids) for _ in range(4)])
        other.commit()
        pending.result(timeout=60)
    rc.insert(conn, [random_request(rng, model_ids) for _ in range(3)])  # ids 5..7 again
    assert len(check_everything(conn, provider_ids, model_ids, rng)) == 7
    rollups.catch_up(conn)
    assert len(check_everything(conn, provider_ids, model_ids, rng)) == 7


def _update_some(session, rng, model_ids, where):
    session.execute(
        f"""UPDATE chat_completion_requests
               SET input_tokens = input_tokens + 7, output_tokens = %s, status = %s,
                   processing_time_ms = %s, model_id = %s,
                   created_at = created_at + %s, cost_usd = %s
             WHERE {where}""",
        (rng.randrange(1000), rng.choice(rc.STATUSES), rng.randrange(100_000), rng.choice([*model_ids, None]),
         rng.choice([timedelta(0), timedelta(minutes=5), timedelta(microseconds=1), -timedelta(days=1)]),
         rng.choice([None, Decimal("0.123456")])))


def test_open_update_transaction_of_rolled_up_rows(conn, database_url, catalog):
    provider_ids, model_ids = catalog
    rng = random.Random(5)
    rc.insert(conn, [random_request(rng, model_ids) for _ in range(20)])
    assert rollups.catch_up(conn) == 20
    with connect(database_url, autocommit=False) as updater, connect(database_url) as refresher, \
            ThreadPoolExecutor(1) as pool:
        _update_some(updater, rng, model_ids, "id <= 10")
        rc.insert(conn, [random_request(rng, model_ids) for _ in range(10)])
        assert rollups.refresh(conn) is None and watermark(conn) == 20  # the updater holds the table
        check_everything(conn, provider_ids, model_ids, rng)  # the old values, everywhere
        _update_some(updater, rng, model_ids, "id %% 3 = 0")  # rolled up or not
        pending = pool.submit(refresh_waiting, refresher)
        wait_until_blocked(conn, refresher)
        updater.commit()
        assert pending.result(timeout=60) == 10
    assert len(check_everything(conn, provider_ids, model_ids, rng)) == 30


def test_update_racing_refresh_phase_two(conn, database_url, catalog):
    """An UPDATE of rows being rolled up right now, its transaction left open: exact either way."""
    provider_ids, model_ids = catalog
    rng = random.Random(6)
    rc.insert(conn, [random_request(rng, model_ids) for _ in range(20)])
    rollups.catch_up(conn)
    rc.insert(conn, [random_request(rng, model_ids) for _ in range(20)])
    with connect(database_url, autocommit=False) as holder, connect(database_url, autocommit=False) as updater, \
            connect(database_url) as refresher, ThreadPoolExecutor(2) as pool:
        holder.execute("LOCK TABLE chat_request_rollup_state IN EXCLUSIVE MODE")
        refreshing = pool.submit(rollups.refresh, refresher)
        wait_until_blocked(conn, refresher)  # in phase 2, ids 21..40 chosen
        updating = pool.submit(_update_some, updater, rng, model_ids, "id %% 2 = 0")
        wait_until_blocked(conn, updater)  # its trigger waits for the state row
        holder.commit()
        updating.result(timeout=60)  # the update's trigger ran, before or after phase 2
        check_everything(conn, provider_ids, model_ids, rng)
        updater.commit()
        assert refreshing.result(timeout=60) == (20, True)
    assert watermark(conn) == 40
    assert len(check_everything(conn, provider_ids, model_ids, rng)) == 40


class Stress:
    """Writers, a refresher and a same-snapshot reader, all at once, for a bounded time."""

    def __init__(self, url, model_ids, provider_ids, seconds):
        self.url, self.model_ids, self.provider_ids = url, model_ids, provider_ids
        self.until = time.monotonic() + seconds
        self.errors, self.mismatches = [], []
        self.compared = self.compared_mixed = self.refreshes_that_moved = 0

    def running(self):
        return time.monotonic() < self.until and not self.errors

    def guarded(self, loop, seed):
        def run():
            rng = random.Random(seed)
            try:
                with connect(self.url) as session:
                    while self.running():
                        loop(session, rng)
            except Exception as error:  # reported by the test
                self.errors.append(f"{loop.__name__}: {error!r}")
        return threading.Thread(target=run, name=loop.__name__)

    def single_inserts(self, session, rng):
        rc.insert(session, [random_request(rng, self.model_ids)])

    def transactions(self, session, rng):
        with session.transaction():
            for _ in range(rng.randrange(1, 4)):
                rc.insert(session, [random_request(rng, self.model_ids) for _ in range(rng.randrange(1, 6))])
                time.sleep(rng.random() / 200)
            if rng.random() < 0.15:
                raise psycopg.Rollback()  # leaves a gap in the ids

    def updates_and_deletes(self, session, rng):
        pick = f"id IN (SELECT id FROM chat_completion_requests TABLESAMPLE BERNOULLI ({rng.choice([1, 5])}))"
        if rng.random() < 0.7:
            _update_some(session, rng, self.model_ids, pick)
        elif rng.random() < 0.8:
            session.execute(f"DELETE FROM chat_completion_requests WHERE {pick} AND random() < 0.3")
        else:
            session.execute(f"UPDATE chat_completion_requests SET id = DEFAULT WHERE {pick} AND random() < 0.3")
        time.sleep(rng.random() / 100)

    def refreshes(self, session, rng):
        before = watermark(session)
        rollups.refresh(session, rng.choice([1, 10, 100, rollups.BATCH_ROWS]))
        self.refreshes_that_moved += watermark(session) > before
        time.sleep(rng.random() / 50)

    def reads(self, session, rng):
        bounds, model_id = random_range(rng), rng.choice([None, *self.model_ids])
        session.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        try:
            lag = rollups_lag_in_transaction(session)
            rollup = rc.totals(session, "rollup", *bounds, model_id)
            raw = rc.totals(session, "raw", *bounds, model_id)
            public_rollup = rc.public_answers(session, *bounds, self.provider_ids, self.model_ids)
            session.execute("SELECT set_config('chatstats.stats_source', 'raw', true)")
            public_raw = rc.public_answers(session, *bounds, self.provider_ids, self.model_ids)
        finally:
            session.execute("COMMIT")
        self.compared += 1
        self.compared_mixed += lag["lag_rows"] > 0 and lag["watermark_id"] > 0
        if rollup != raw or public_rollup != public_raw:
            self.mismatches.append((bounds, model_id, rollup, raw))


def rollups_lag_in_transaction(session):
    return session.execute("SELECT * FROM chat_request_rollup_lag()").fetchone()


def test_stress_concurrent_writers_refresher_and_reader(conn, database_url, catalog):
    provider_ids, model_ids = catalog
    stress = Stress(database_url, model_ids, provider_ids, seconds=6)
    threads = [stress.guarded(stress.single_inserts, 1), stress.guarded(stress.single_inserts, 2),
               stress.guarded(stress.transactions, 3), stress.guarded(stress.updates_and_deletes, 4),
               stress.guarded(stress.refreshes, 5), stress.guarded(stress.reads, 6),
               stress.guarded(stress.reads, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not stress.errors, stress.errors
    assert not stress.mismatches, stress.mismatches[:3]
    # Not vacuous: many snapshots compared, with rows both rolled up and in the tail.
    assert stress.compared >= 20 and stress.compared_mixed >= 5 and stress.refreshes_that_moved >= 5, \
        (stress.compared, stress.compared_mixed, stress.refreshes_that_moved)

    rollups.catch_up(conn)
    assert rollups.lag(conn)["lag_rows"] == 0
    rows = check_everything(conn, provider_ids, model_ids, random.Random(8), ranges=30)
    assert len(rows) > 100


def test_repeatable_read_writer_across_a_refresh(conn, database_url, catalog):
    """A REPEATABLE READ transaction older than the last refresh cannot see the current
    watermark, so its UPDATE must not adjust the rollups from a stale one: it fails with
    a serialization failure (the writer retries), and nothing is miscounted."""
    provider_ids, model_ids = catalog
    rng = random.Random(9)
    rc.insert(conn, [random_request(rng, model_ids) for _ in range(10)])
    with connect(database_url, autocommit=False) as writer:
        writer.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        writer.execute("SELECT count(*) FROM chat_completion_requests")  # takes the snapshot
        assert rollups.catch_up(conn) == 10
        with pytest.raises(psycopg.errors.SerializationFailure):
            _update_some(writer, rng, model_ids, "id <= 5")
        writer.rollback()
        writer.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        _update_some(writer, rng, model_ids, "id <= 5")  # the retry sees the new watermark
        writer.commit()
    assert len(check_everything(conn, provider_ids, model_ids, rng)) == 10
