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
from webapp import migrate, rollups

# Waits give up after this long, so that a failing test fails instead of hanging.
LONG_WAIT_MS = 10_000


def connect(url, autocommit=True):
    return psycopg.connect(url, autocommit=autocommit, row_factory=dict_row,
                           options=f"-c lock_timeout={LONG_WAIT_MS}")


def watermark(conn):
    return conn.execute("SELECT watermark_id FROM chat_rollup_state").fetchone()["watermark_id"]


def wait_until_blocked(observer, session, timeout_s=60, lock=True):
    """Return once `session` waits for a lock (unless not `lock`), or for writers to end (a
    refresh's safe id polls for them: pg_sleep); it is running a statement in another thread."""
    pid = session.info.backend_pid
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = observer.execute("SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE pid = %s",
                               (pid,)).fetchone()
        if row and (lock and row["wait_event_type"] == "Lock" or row["wait_event"] == "PgSleep"):
            return
        time.sleep(0.02)
    raise AssertionError(f"session {pid} never waited for a lock")


def refresh_waiting(conn):
    """A refresh whose phase 1 waits for writers (up to LONG_WAIT_MS); return the rows rolled up."""
    rolled, _ = rollups.refresh(conn, lock_timeout_ms=LONG_WAIT_MS)
    return rolled


def random_instant(rng, sh):
    """In the data span: arbitrary, or on (or next to) a bucket boundary of some level."""
    if rng.random() < 0.5:
        return rc.SPAN_START + timedelta(microseconds=rng.randrange(int((rc.SPAN_END - rc.SPAN_START) / rc.US)))
    return rng.choice(sh.boundaries()) + timedelta(microseconds=rng.choice([0, 0, -1, 1]))


def random_range(rng, sh):
    return tuple(None if rng.random() < 0.2 else random_instant(rng, sh) for _ in range(2))


def check_everything(conn, sh, model_ids, rng, ranges=20, retained=()):
    """Stored rollups, all-time and random ranges (rollup and raw against Python), public
    functions; return the live rows."""
    now = rc.check_store(conn, sh, retained)
    rows = now[1]
    providers_of = rc.model_providers(conn)
    for i, bounds in enumerate([(None, None)] + [random_range(rng, sh) for _ in range(ranges)]):
        for model_id in (None, *model_ids):
            effective = rc.check_range_stats(conn, sh, retained, *bounds, model_id, now=now)
            if not retained:
                rc.check_raw_stats(conn, *bounds, model_id, rows=rows)
        if i % 4 == 0 and effective == bounds and not (None not in bounds and bounds[0] >= bounds[1]):
            rc.check_public_functions(conn, *bounds, rc.python_stats(rows + list(retained), *bounds),
                                      providers_of)
    return rows


@pytest.fixture
def catalog(conn):
    """(shape, provider ids, model ids)."""
    conn.execute(f"SET lock_timeout = {LONG_WAIT_MS}")
    return (rc.shape(conn), *rc.make_catalog(conn))


def test_open_insert_transaction_holds_the_watermark_back(conn, database_url, catalog):
    sh, provider_ids, model_ids = catalog
    rng = random.Random(1)
    rc.insert(conn, [rc.random_request(rng, model_ids, random_instant(rng, sh)) for _ in range(5)])
    assert rollups.catch_up(conn) == 5
    with connect(database_url, autocommit=False) as writer, connect(database_url) as refresher:
        open_ids = rc.insert(writer, [rc.random_request(rng, model_ids, random_instant(rng, sh)) for _ in range(3)])
        later_ids = rc.insert(conn, [rc.random_request(rng, model_ids, random_instant(rng, sh)) for _ in range(2)])
        assert min(later_ids) > max(open_ids)

        # Gives up on the lock: the committed later rows must wait too.
        assert rollups.refresh(conn) is None
        assert watermark(conn) < min(open_ids)
        assert len(check_everything(conn, sh, model_ids, rng)) == 7

        # Waits for the writer instead, then rolls up everything, uncommitted rows included.
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(refresh_waiting, refresher)
            wait_until_blocked(conn, refresher)
            writer.commit()
            assert pending.result(timeout=60) == 5
    assert watermark(conn) == max(later_ids)
    assert len(check_everything(conn, sh, model_ids, rng)) == 10


def test_the_gateway_inserts_while_a_refresh_waits_for_its_writers(conn, database_url, catalog):
    """The refresh waits for the writers it saw to end without locking the table: an insert
    meanwhile goes ahead at once (behind a table lock it would wait), and the refresh stops
    at the ids handed out when it looked."""
    sh, provider_ids, model_ids = catalog
    rng = random.Random(11)
    with connect(database_url, autocommit=False) as writer, connect(database_url) as refresher, \
            psycopg.connect(database_url, autocommit=True, options="-c lock_timeout=500") as gateway:
        open_ids = rc.insert(writer, [rc.random_request(rng, model_ids, random_instant(rng, sh)) for _ in range(3)])
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(refresh_waiting, refresher)
            wait_until_blocked(conn, refresher, lock=False)  # past its 5 ms try of the lock
            later_ids = rc.insert(gateway, [rc.random_request(rng, model_ids, random_instant(rng, sh)) for _ in range(2)])
            writer.commit()
            assert pending.result(timeout=60) == 3
    assert watermark(conn) == max(open_ids) < min(later_ids)
    assert rollups.catch_up(conn) == 2
    assert len(check_everything(conn, sh, model_ids, rng)) == 5


@pytest.mark.parametrize("ids, waits", [("from the sequence", True), ("cached", False), ("explicit", False)])
def test_with_a_writer_open_the_safe_id_waits_without_a_lock_where_ids_come_in_order(make_database, ids, waits):
    """No writer mid-transaction: the table lock at once, and max(id). One open (the lock
    not had within 5 ms): where the sequence hands ids out one at a time, the ids handed
    out, once that writer has ended, waited for without holding any lock; a cache hands
    them out of order and explicit ids bypass it: none then (the next refresh tries)."""
    url = make_database()
    migrate.apply(url)
    with connect(url) as owner, connect(url, autocommit=False) as writer:
        if ids == "cached":
            owner.execute("ALTER SEQUENCE chat_completion_requests_id_seq CACHE 5")
        owner.execute("INSERT INTO chat_completion_requests (status) VALUES ('completed')")
        if ids == "explicit":
            owner.execute("INSERT INTO chat_completion_requests (id, status) VALUES (1000, 'completed')")
        top = owner.execute("SELECT max(id) AS m FROM chat_completion_requests").fetchone()["m"]
        assert owner.execute("SELECT chat_rollup_safe_id(100) AS id").fetchone()["id"] == top
        [open_id] = rc.insert(writer, [{"status": "completed", "created_at": rc.BASE}])
        ending = threading.Event()  # set as the writer starts to commit
        ends = threading.Thread(target=lambda: (time.sleep(1.0), ending.set(), writer.commit()))
        ends.start()
        with owner.transaction():
            safe = owner.execute("SELECT chat_rollup_safe_id(10000) AS id").fetchone()["id"]
            held = owner.execute("SELECT EXISTS (SELECT FROM pg_locks WHERE pid = pg_backend_pid()"
                                 " AND relation = 'chat_completion_requests'::regclass"
                                 " AND mode = 'ShareRowExclusiveLock') AS e").fetchone()["e"]
        returned_before_the_writer_ended = not ending.is_set()
        ends.join()
    assert not held
    assert (safe, returned_before_the_writer_ended) == ((open_id, False) if waits else (None, True))


def test_two_refreshes_at_once_count_each_row_once(conn, database_url, catalog):
    sh, provider_ids, model_ids = catalog
    rng = random.Random(2)
    with connect(database_url) as a, connect(database_url) as b, ThreadPoolExecutor(2) as pool:
        total_inserted = total_rolled = 0
        for _ in range(8):
            rows = [rc.random_request(rng, model_ids, random_instant(rng, sh)) for _ in range(rng.randrange(1, 300))]
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
    rows = check_everything(conn, sh, model_ids, rng)
    assert len(rows) == total_inserted


def test_refreshes_overlapping_across_their_two_phases(conn, database_url, catalog):
    """Refresh A waits in phase 2 while refresh B runs phase 1 over more rows: no row twice."""
    sh, provider_ids, model_ids = catalog
    rng = random.Random(3)
    rc.insert(conn, [rc.random_request(rng, model_ids, random_instant(rng, sh)) for _ in range(40)])
    with connect(database_url, autocommit=False) as holder, connect(database_url) as a, \
            connect(database_url) as b, ThreadPoolExecutor(2) as pool:
        holder.execute("LOCK TABLE chat_rollup_state IN EXCLUSIVE MODE")  # stalls phase 2
        first = pool.submit(rollups.refresh, a)
        wait_until_blocked(conn, a)
        rc.insert(conn, [rc.random_request(rng, model_ids, random_instant(rng, sh)) for _ in range(25)])
        second = pool.submit(rollups.refresh, b)
        wait_until_blocked(conn, b)
        holder.commit()
        results = [first.result(timeout=60), second.result(timeout=60)]
    # The one that reaches phase 2 second finds the state changed, and does nothing.
    assert None in results
    rolled = sum(result[0] for result in results if result)
    assert rolled in (40, 65)
    assert rolled + rollups.catch_up(conn) == 65
    assert len(check_everything(conn, sh, model_ids, rng)) == 65


def test_truncate_restart_identity_between_refresh_phases(conn, database_url, catalog):
    """Regression: phase 2 once set the old watermark over the restarted ids."""
    sh, provider_ids, model_ids = catalog
    rng = random.Random(4)
    rc.insert(conn, [rc.random_request(rng, model_ids, random_instant(rng, sh)) for _ in range(10)])
    with connect(database_url, autocommit=False) as other, connect(database_url) as refresher, \
            ThreadPoolExecutor(1) as pool:
        other.execute("LOCK TABLE chat_rollup_state IN EXCLUSIVE MODE")  # stalls phase 2
        pending = pool.submit(rollups.refresh, refresher)
        wait_until_blocked(conn, refresher)
        other.execute("TRUNCATE chat_completion_requests RESTART IDENTITY")
        rc.insert(other, [rc.random_request(rng, model_ids, random_instant(rng, sh)) for _ in range(4)])
        other.commit()
        pending.result(timeout=60)
    rc.insert(conn, [rc.random_request(rng, model_ids, random_instant(rng, sh)) for _ in range(3)])  # ids 5..7 again
    assert len(check_everything(conn, sh, model_ids, rng)) == 7
    rollups.catch_up(conn)
    assert len(check_everything(conn, sh, model_ids, rng)) == 7


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
    sh, provider_ids, model_ids = catalog
    rng = random.Random(5)
    rc.insert(conn, [rc.random_request(rng, model_ids, random_instant(rng, sh)) for _ in range(20)])
    assert rollups.catch_up(conn) == 20
    with connect(database_url, autocommit=False) as updater, connect(database_url) as refresher, \
            ThreadPoolExecutor(1) as pool:
        _update_some(updater, rng, model_ids, "id <= 10")
        rc.insert(conn, [rc.random_request(rng, model_ids, random_instant(rng, sh)) for _ in range(10)])
        assert rollups.refresh(conn) is None and watermark(conn) == 20  # the updater holds the table
        check_everything(conn, sh, model_ids, rng)  # the old values, everywhere
        _update_some(updater, rng, model_ids, "id %% 3 = 0")  # rolled up or not
        pending = pool.submit(refresh_waiting, refresher)
        wait_until_blocked(conn, refresher)
        updater.commit()
        assert pending.result(timeout=60) == 10
    assert len(check_everything(conn, sh, model_ids, rng)) == 30


def test_update_racing_refresh_phase_two(conn, database_url, catalog):
    """An UPDATE of rows being rolled up right now, its transaction left open: exact either way."""
    sh, provider_ids, model_ids = catalog
    rng = random.Random(6)
    rc.insert(conn, [rc.random_request(rng, model_ids, random_instant(rng, sh)) for _ in range(20)])
    rollups.catch_up(conn)
    rc.insert(conn, [rc.random_request(rng, model_ids, random_instant(rng, sh)) for _ in range(20)])
    with connect(database_url, autocommit=False) as holder, connect(database_url, autocommit=False) as updater, \
            connect(database_url) as refresher, ThreadPoolExecutor(2) as pool:
        holder.execute("LOCK TABLE chat_rollup_state IN EXCLUSIVE MODE")
        refreshing = pool.submit(rollups.refresh, refresher)
        wait_until_blocked(conn, refresher)  # in phase 2, ids 21..40 chosen
        updating = pool.submit(_update_some, updater, rng, model_ids, "id %% 2 = 0")
        wait_until_blocked(conn, updater)  # its trigger waits for the state row
        holder.commit()
        updating.result(timeout=60)  # the update's trigger ran, before or after phase 2
        check_everything(conn, sh, model_ids, rng)
        updater.commit()
        assert refreshing.result(timeout=60) == (20, True)
    assert watermark(conn) == 40
    assert len(check_everything(conn, sh, model_ids, rng)) == 40


class Stress:
    """Writers, a refresher, a pruner and same-snapshot readers, all at once, for a bounded time."""

    def __init__(self, url, sh, model_ids, seconds):
        self.url, self.sh, self.model_ids = url, sh, model_ids
        self.until = time.monotonic() + seconds
        self.errors, self.mismatches = [], []
        self.compared = self.compared_mixed = self.refreshes_that_moved = self.pruned = 0

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
        rc.insert(session, [rc.random_request(rng, self.model_ids, random_instant(rng, self.sh))])

    def transactions(self, session, rng):
        with session.transaction():
            for _ in range(rng.randrange(1, 4)):
                rc.insert(session, [rc.random_request(rng, self.model_ids, random_instant(rng, self.sh))
                                    for _ in range(rng.randrange(1, 6))])
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

    def prunes(self, session, rng):
        """Quarters stop being kept, day by day through the data (answers stay exact)."""
        self.pruned += 1
        session.execute("SELECT chat_rollup_prune(%s)", (rc.SPAN_START + rc.DAY * (self.pruned // 20),))
        time.sleep(0.05)

    def reads(self, session, rng):
        bounds, model_id = random_range(rng, self.sh), rng.choice([None, *self.model_ids])
        session.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        try:
            lag = session.execute("SELECT * FROM chat_rollup_lag()").fetchone()
            rollup = rc.sql_stats(session, *bounds, model_id)
            raw = rc.sql_stats(session, *bounds, model_id, "raw")
        finally:
            session.execute("COMMIT")
        self.compared += 1
        self.compared_mixed += lag["lag_rows"] > 0 and lag["watermark_id"] > 0
        same = set(rollup) == set(raw) and all(
            rc.sql_sums(rollup[m]) == rc.sql_sums(raw[m]) and all(
                rc.within_error(a, b) for a, b in zip(rc.sql_percentiles(rollup[m]), rc.sql_percentiles(raw[m])))
            for m in raw)
        if not same:
            self.mismatches.append((bounds, model_id, rollup, raw))


def test_stress_concurrent_writers_refresher_pruner_and_readers(conn, database_url, catalog):
    sh, provider_ids, model_ids = catalog
    stress = Stress(database_url, sh, model_ids, seconds=6)
    threads = [stress.guarded(stress.single_inserts, 1), stress.guarded(stress.single_inserts, 2),
               stress.guarded(stress.transactions, 3), stress.guarded(stress.updates_and_deletes, 4),
               stress.guarded(stress.refreshes, 5), stress.guarded(stress.prunes, 6),
               stress.guarded(stress.reads, 7), stress.guarded(stress.reads, 8)]
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
    assert rc.state(conn).quarter_horizon is not None
    rows = check_everything(conn, sh, model_ids, random.Random(8), ranges=30)
    assert len(rows) > 100


def test_repeatable_read_writer_across_a_refresh(conn, database_url, catalog):
    """A REPEATABLE READ transaction older than the last refresh cannot see the current
    watermark, so its UPDATE must not adjust the rollups from a stale one: it fails with
    a serialization failure (the writer retries), and nothing is miscounted."""
    sh, provider_ids, model_ids = catalog
    rng = random.Random(9)
    rc.insert(conn, [rc.random_request(rng, model_ids, random_instant(rng, sh)) for _ in range(10)])
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
    assert len(check_everything(conn, sh, model_ids, rng)) == 10


def _old_rows(rng, model_ids, sh, count, day):
    """Rows on one day of the data span (day 0: its first)."""
    return [{**rc.random_request(rng, model_ids, random_instant(rng, sh)),
             "created_at": rc.SPAN_START + rc.DAY * day + timedelta(minutes=rng.randrange(24 * 60))}
            for _ in range(count)]


@pytest.mark.parametrize("maintenance", ["retain", "prune"])
@pytest.mark.parametrize("refresh_first", [True, False])
def test_retention_or_pruning_racing_refresh_phase_two(conn, database_url, catalog, maintenance, refresh_first):
    """Retention (or pruning) and a refresh's phase 2 queued on the state row, in either
    order: retention removes only rolled-up rows, a refresh finding the state changed does
    nothing, and every contribution is counted once."""
    sh, provider_ids, model_ids = catalog
    rng = random.Random(10)
    rc.insert(conn, _old_rows(rng, model_ids, sh, 15, 0) + _old_rows(rng, model_ids, sh, 15, 2))
    assert rollups.catch_up(conn) == 30
    rc.insert(conn, _old_rows(rng, model_ids, sh, 10, 0) + _old_rows(rng, model_ids, sh, 10, 2))  # ids 31..50
    before = {r["id"]: r for r in rc.fetch_rows(conn)}
    horizon = rc.SPAN_START + rc.DAY
    call = ("SELECT chat_rollup_retain(%s, 1000) AS n" if maintenance == "retain"
            else "SELECT chat_rollup_prune(%s) AS n")
    with connect(database_url, autocommit=False) as holder, connect(database_url) as refresher, \
            connect(database_url) as keeper, ThreadPoolExecutor(2) as pool:
        # A row lock stalls both, and its waiters queue in order (a table lock's would race).
        holder.execute("SELECT * FROM chat_rollup_state FOR UPDATE")
        order = [lambda: pool.submit(rollups.refresh, refresher),
                 lambda: pool.submit(lambda: keeper.execute(call, (horizon,)).fetchone()["n"])]
        sessions = [refresher, keeper]
        if not refresh_first:
            order.reverse()
            sessions.reverse()
        futures = []
        for submit, session in zip(order, sessions):
            futures.append(submit())
            wait_until_blocked(conn, session)
        holder.commit()
        results = [f.result(timeout=60) for f in futures]
    refreshed, removed = results if refresh_first else results[::-1]
    # First in line, the refresh finds the state unchanged; second, changed: it does nothing.
    assert refreshed == ((20, True) if refresh_first else None)
    if maintenance == "retain":
        # Retention removed the rolled-up rows of the first day: those of the first
        # refresh, and the newer ones only if the refresh got there first.
        expected_gone = [r for r in before.values() if r["created_at"] < horizon
                         and (r["id"] <= 30 or refresh_first)]
        assert removed == len(expected_gone) >= 15
    rollups.catch_up(conn)
    left = {r["id"] for r in rc.fetch_rows(conn)}
    retained = [r for i, r in before.items() if i not in left]
    assert check_everything(conn, sh, model_ids, rng, retained=retained)
    st_ = rc.state(conn)
    assert (st_.raw_horizon if maintenance == "retain" else st_.quarter_horizon) == horizon


def _move_to_after(session, row_id, at):
    session.execute("UPDATE chat_completion_requests SET created_at = %s WHERE id = %s", (at, row_id))


def test_retention_spares_a_row_moved_past_the_horizon_meanwhile(conn, database_url, catalog):
    """Regression: retention's DELETE re-checked only `id IN (...)` after waiting for a row
    lock, so a row a concurrent UPDATE had moved past the horizon was deleted anyway."""
    sh, provider_ids, model_ids = catalog
    rng = random.Random(11)
    rc.insert(conn, _old_rows(rng, model_ids, sh, 6, 0) + _old_rows(rng, model_ids, sh, 4, 2))
    assert rollups.catch_up(conn) == 10
    horizon = rc.SPAN_START + rc.DAY
    assert conn.execute("SELECT chat_rollup_retain(%s, 1) AS n", (horizon,)).fetchone()["n"] == 1
    victim = conn.execute("SELECT id FROM chat_completion_requests WHERE created_at < %s ORDER BY created_at "
                          "LIMIT 1", (horizon,)).fetchone()["id"]
    with connect(database_url, autocommit=False) as updater, connect(database_url) as keeper, \
            ThreadPoolExecutor(1) as pool:
        _move_to_after(updater, victim, horizon + timedelta(hours=30))
        pending = pool.submit(lambda: keeper.execute("SELECT chat_rollup_retain(%s, 1000) AS n",
                                                     (horizon,)).fetchone()["n"])
        wait_until_blocked(conn, keeper)  # waits for the victim's row lock
        updater.commit()
        assert pending.result(timeout=60) == 4  # the other rows of the first day
    assert conn.execute("SELECT count(*) AS n FROM chat_completion_requests WHERE id = %s",
                        (victim,)).fetchone()["n"] == 1


def test_retention_waits_for_an_open_update_of_an_old_row(conn, database_url, catalog):
    """An open UPDATE of a rolled-up row holds the state row (FOR SHARE): retention moving
    the horizon waits, then sees the committed row; nothing is miscounted."""
    sh, provider_ids, model_ids = catalog
    rng = random.Random(12)
    rc.insert(conn, _old_rows(rng, model_ids, sh, 6, 0) + _old_rows(rng, model_ids, sh, 4, 2))
    assert rollups.catch_up(conn) == 10
    rows = {r["id"]: r for r in rc.fetch_rows(conn)}
    horizon = rc.SPAN_START + rc.DAY
    moved = min(i for i, r in rows.items() if r["created_at"] < horizon)
    with connect(database_url, autocommit=False) as updater, connect(database_url) as keeper, \
            ThreadPoolExecutor(1) as pool:
        _move_to_after(updater, moved, horizon + timedelta(hours=30))
        pending = pool.submit(lambda: keeper.execute("SELECT chat_rollup_retain(%s, 1000) AS n",
                                                     (horizon,)).fetchone()["n"])
        wait_until_blocked(conn, keeper)
        updater.commit()
        assert pending.result(timeout=60) == 5
    left = {r["id"] for r in rc.fetch_rows(conn)}
    assert moved in left
    retained = [r for i, r in rows.items() if i not in left]
    check_everything(conn, sh, model_ids, rng, retained=retained)
