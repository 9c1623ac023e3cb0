"""The rollup store answers what an independent Python aggregation of the rows answers,
whatever happened before.

A hypothesis state machine interleaves inserts, updates (of every column the rollups
read, and of the id), deletes, refreshes in small batches, pruning of quarters,
raw-data retention and TRUNCATEs in one session. After every step the stored rollups
are checked level by level against the rows below the watermark plus the rows
retention removed (kept by the machine), and the statistics over random ranges (also
with edges before the retention horizon) against the rows of the range they covered;
percentiles within the stated error of the exact percentile_disc.
"""
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, rule,
                                 run_state_machine_as_test)

import rollupcheck as rc
from rollupcheck import no_background_refreshers  # noqa: F401 (autouse fixture)
from webapp import rollups

# Rows picked by position among the ids (modulo their number): one or a few per statement.
positions = st.tuples(st.integers(0, 10_000), st.integers(1, 4))
API = "/api/monitoring/chat-requests"


def horizon_instants():
    """Where pruning and retention are asked to start: around and inside the data."""
    hours = int((rc.SPAN_END - rc.SPAN_START) / timedelta(hours=1))
    return st.builds(lambda h: rc.SPAN_START + timedelta(hours=h),
                     st.integers(0, hours // 2) | st.integers(-24, hours + 24))


class RollupMachine(RuleBasedStateMachine):
    """One database session doing random writes, refreshes, pruning, retention and reads."""

    def __init__(self, conn, sh, provider_ids, model_ids, client):
        super().__init__()
        self.conn, self.sh, self.client = conn, sh, client
        self.provider_ids, self.model_ids = provider_ids, model_ids
        self.providers_of = rc.model_providers(conn)
        # Empties the rollups and resets the horizons; restarting the ids makes each
        # example replayable.
        conn.execute("TRUNCATE chat_completion_requests RESTART IDENTITY")
        self.retained = []  # rows retention removed: their contribution stays
        self.known = Counter()  # known bugs met (rc.KNOWN_BUGS)
        self.seen = Counter()  # what the checks met, to show that they are not vacuous

    def _where_positions(self, position, extra="true"):
        start, count = position
        total = self.conn.execute("SELECT count(*) AS n FROM chat_completion_requests").fetchone()["n"]
        return (f"id IN (SELECT id FROM chat_completion_requests WHERE {extra} "
                f"ORDER BY id OFFSET %s LIMIT %s)", [start % max(total, 1), count])

    @initialize(data=st.data(), refresh=st.booleans())
    def some_history(self, data, refresh):
        rc.insert(self.conn, data.draw(st.lists(rc.requests(self.sh, self.model_ids), max_size=25)))
        if refresh:
            rollups.catch_up(self.conn)

    # -- writes ------------------------------------------------------------------

    @rule(data=st.data())
    def insert_one(self, data):
        rc.insert(self.conn, [data.draw(rc.requests(self.sh, self.model_ids))])

    @rule(data=st.data(), statements=st.integers(1, 3))
    def insert_transaction(self, data, statements):
        with self.conn.transaction():
            for _ in range(statements):
                rc.insert(self.conn, data.draw(
                    st.lists(rc.requests(self.sh, self.model_ids), min_size=1, max_size=6)))

    @rule(data=st.data(), position=positions)
    def update(self, data, position):
        values = data.draw(rc.requests(self.sh, self.model_ids))
        changed = data.draw(st.lists(st.sampled_from(rc.COLUMNS), min_size=1, max_size=4, unique=True))
        where, params = self._where_positions(position)
        self.conn.execute(
            f"UPDATE chat_completion_requests SET {', '.join(f'{c} = %s' for c in changed)} WHERE {where}",
            [*(values[c] for c in changed), *params])

    @rule(data=st.data(), position=positions)
    def update_relative(self, data, position):
        """Shifts created_at (across bucket boundaries and horizons), scales processing times."""
        shift = data.draw(st.sampled_from([rc.US, -rc.US, timedelta(minutes=15), -timedelta(hours=1),
                                           timedelta(days=1), -timedelta(days=2)]))
        factor = data.draw(st.sampled_from([0, 2, 700]))
        where, params = self._where_positions(position)
        self.conn.execute(
            f"""UPDATE chat_completion_requests
                   SET created_at = created_at + %s, processing_time_ms = processing_time_ms * %s
                 WHERE {where} AND created_at + %s >= %s AND created_at + %s < %s
                   AND processing_time_ms < 1000000""",
            [shift, factor, *params, shift, rc.SPAN_START, shift, rc.SPAN_END])

    @rule(position=positions)
    def renumber(self, position):
        """A new id moves a (maybe rolled-up) row into the tail."""
        where, params = self._where_positions(position)
        self.conn.execute(f"UPDATE chat_completion_requests SET id = DEFAULT WHERE {where}", params)

    @rule(position=positions)
    def delete(self, position):
        # Not rows that are rolled up and older than the raw horizon: their deletion is
        # taken for retention's (test_delete_of_a_rolled_up_row_before_the_raw_horizon).
        where, params = self._where_positions(
            position, "NOT (id <= (SELECT watermark_id FROM chat_rollup_state)"
                      " AND created_at < (SELECT raw_horizon FROM chat_rollup_state))")
        self.conn.execute(f"DELETE FROM chat_completion_requests WHERE {where}", params)

    @rule(restart=st.booleans())
    def truncate(self, restart):
        self.conn.execute(f"TRUNCATE chat_completion_requests{' RESTART IDENTITY' if restart else ''}")
        self.retained = []
        assert rc.state(self.conn) == rc.State(0, None, None)

    # -- maintenance ----------------------------------------------------------------

    @rule(batch=st.sampled_from([1, 2, 3, 7, rollups.BATCH_ROWS]))
    def refresh(self, batch):
        before = rc.state(self.conn).watermark
        rolled, caught_up = rollups.refresh(self.conn, batch)  # nobody else in the way: never None
        after = rc.state(self.conn).watermark
        ids = [r["id"] for r in rc.fetch_rows(self.conn)]
        assert rolled == sum(before < i <= after for i in ids)
        assert before <= after <= before + batch
        assert caught_up == (after >= max(ids, default=0))

    @rule(batch=st.sampled_from([2, 5, rollups.BATCH_ROWS]))
    def catch_up(self, batch):
        rollups.catch_up(self.conn, batch)
        lag = rollups.lag(self.conn)
        assert lag["lag_rows"] == 0 and lag["lag_seconds"] == 0

    @rule(at=horizon_instants())
    def prune(self, at):
        old = rc.state(self.conn)
        horizon = max(old.quarter_horizon or rc.midnight(at), rc.midnight(at))
        doomed = self.conn.execute("SELECT count(*) AS n FROM chat_rollups WHERE level = 1 AND bucket < %s",
                                   (horizon,)).fetchone()["n"]
        removed = self.conn.execute("SELECT chat_rollup_prune(%s) AS n", (at,)).fetchone()["n"]
        new = rc.state(self.conn)
        assert new == rc.State(old.watermark, horizon, old.raw_horizon)
        assert removed == doomed

    @rule(at=horizon_instants(), batch=st.sampled_from([2, 10_000]))
    def catch_up_and_retain(self, at, batch):
        rollups.catch_up(self.conn)
        self.retain(at, batch, True)

    @rule(at=horizon_instants(), batch=st.sampled_from([1, 2, 5, 10_000]), repeat=st.booleans())
    def retain(self, at, batch, repeat):
        old = rc.state(self.conn)
        horizon = max(old.raw_horizon or rc.midnight(at), rc.midnight(at))
        while True:
            rows = {r["id"]: r for r in rc.fetch_rows(self.conn)}
            removed = self.conn.execute("SELECT chat_rollup_retain(%s, %s) AS n", (at, batch)).fetchone()["n"]
            new = rc.state(self.conn)
            assert new == rc.State(old.watermark, old.quarter_horizon, horizon)
            left = {r["id"] for r in rc.fetch_rows(self.conn)}
            gone = [r for i, r in rows.items() if i not in left]
            assert len(gone) == removed <= batch
            assert all(r["created_at"] < horizon and r["id"] <= new.watermark for r in gone)
            self.retained += gone
            if removed < batch:  # nothing more to remove
                assert not [r for i, r in rows.items() if i in left and r["created_at"] < horizon
                            and i <= new.watermark]
            if not (repeat and removed):
                break

    # -- reads ----------------------------------------------------------------------

    def _model(self, choice):
        return [None, *self.model_ids, self.model_ids[-1] + 1000][choice % (len(self.model_ids) + 2)]

    @rule(data=st.data(), model=st.integers(0, 4))
    def check_range(self, data, model):
        start, end = data.draw(rc.ranges(self.sh))
        effective = rc.check_range_stats(self.conn, self.sh, self.retained, start, end, self._model(model),
                                         self.known)
        self.seen["inexact range"] += effective != (start, end)
        self.seen["range with retained rows"] += bool(rc.in_range(self.retained, *effective))

    @rule(data=st.data(), model=st.integers(0, 4))
    def check_range_at_a_horizon(self, data, model):
        """Edges right around the raw or quarter horizon, often both within a bucket of it."""
        now = rc.state(self.conn)
        horizon = data.draw(st.sampled_from([now.raw_horizon, now.quarter_horizon]))
        if horizon is None:
            return
        offsets = st.sampled_from([timedelta(0), rc.US, -rc.US, timedelta(minutes=5), -timedelta(minutes=5),
                                   timedelta(minutes=20), -timedelta(minutes=50), timedelta(hours=2)])
        start, end = horizon + data.draw(offsets), horizon + data.draw(offsets)
        if data.draw(st.booleans()):
            start = data.draw(st.none() | st.just(start))
            end = data.draw(st.none() | st.just(end))
        effective = rc.check_range_stats(self.conn, self.sh, self.retained, start, end, self._model(model),
                                         self.known)
        self.seen["inexact range"] += effective != (start, end)

    @rule(data=st.data(), model=st.integers(0, 4))
    def check_raw(self, data, model):
        rc.check_raw_stats(self.conn, *data.draw(rc.ranges(self.sh)), self._model(model))

    @rule(data=st.data())
    def check_public(self, data):
        start, end = data.draw(rc.ranges(self.sh))
        effective = rc.check_range_stats(self.conn, self.sh, self.retained, start, end, None, self.known)
        expected = rc.python_stats(rc.fetch_rows(self.conn) + self.retained, *effective)
        if start is not None and end is not None and start >= end:
            expected = {}
        if effective != (start, end) and self._tail_in_rounded_part(start, end, effective):
            return  # known bug "tail": check_range_stats has checked the numbers
        rc.check_public_functions(self.conn, start, end, expected, self.providers_of)

    def _tail_in_rounded_part(self, start, end, effective):
        wm = rc.state(self.conn).watermark
        tail = [r for r in rc.fetch_rows(self.conn) if r["id"] > wm]
        return len(rc.in_range(tail, *effective)) != len(rc.in_range(tail, start, end))

    @rule(data=st.data())
    def check_api(self, data):
        start, end = data.draw(rc.ranges(self.sh))
        if None not in (start, end):
            start, end = sorted((start, end))  # the API rejects start_date > end_date
        effective = rc.check_range_stats(self.conn, self.sh, self.retained, start, end, None, self.known)
        if self._tail_in_rounded_part(start, end, effective):
            return
        self.seen["api checked"] += 1
        query = {k: v.isoformat() for k, v in (("start_date", start), ("end_date", end)) if v is not None}
        body = self.client.get(f"{API}/models", query_string=query).get_json()
        expected = rc.python_stats(rc.fetch_rows(self.conn) + self.retained, *effective)
        busy = sorted((m for m in expected if m is not None), key=lambda m: (-expected[m].requests, m))
        assert [item["model_id"] for item in body["data"]] == busy
        for item in body["data"]:
            totals, stats = expected[item["model_id"]], item["stats"]
            assert (stats["total_requests"], stats["completed_requests"], stats["failed_requests"],
                    stats["partial_requests"], stats["total_input_tokens"], stats["total_output_tokens"],
                    Decimal(stats["total_cost_usd"])) == totals.sums()[:6] + (totals.cost_usd,)
            for q, exact in zip(rc.QUANTILES, totals.percentiles()):
                assert rc.within_error(stats[f"p{int(q * 100)}_processing_time_ms"], exact)
        meta = body["metadata"]
        assert meta["range_exact"] == (effective == (start, end))
        for key, asked, answered in (("effective_start_date", start, effective[0]),
                                     ("effective_end_date", end, effective[1])):
            if asked is not None:  # an open edge: test_effective_range_keeps_an_open_edge_open
                assert datetime.fromisoformat(meta[key]) == answered, (key, meta[key], answered)

    @invariant()
    def stored_rollups_match_rows(self):
        now, rows = rc.check_store(self.conn, self.sh, self.retained)
        self.seen["step"] += 1
        self.seen["with retained rows"] += bool(self.retained)
        self.seen["with pruned quarters"] += now.quarter_horizon is not None and any(
            r["created_at"] < now.quarter_horizon for r in rows + self.retained)
        self.seen["with latency_over"] += any(r["processing_time_ms"] >= 600_000 for r in rows)
        self.seen["with tail and rolled-up rows"] += 0 < now.watermark < max((r["id"] for r in rows), default=0)

    @invariant()
    def all_time_exact(self):
        rc.check_range_stats(self.conn, self.sh, self.retained, None, None)


@pytest.mark.parametrize("app_config", [{"ROLLUP_INTERVAL_S": 0, "RATELIMIT_APPLICATION": ""}])
def test_random_histories_keep_rollups_exact(conn, client):
    provider_ids, model_ids = rc.make_catalog(conn)
    sh = rc.shape(conn)
    machines = []

    def machine():
        machines.append(RollupMachine(conn, sh, provider_ids, model_ids, client))
        return machines[-1]
    run_state_machine_as_test(
        machine, settings=settings(max_examples=60, stateful_step_count=50, deadline=None,
                                   suppress_health_check=[HealthCheck.too_slow]))
    seen = sum((m.seen for m in machines), Counter())
    print("known bugs met:", sum((m.known for m in machines), Counter()), "seen:", seen)
    # Not vacuous: retention, pruning, long latencies and rounded ranges were met often.
    assert min(seen[k] for k in ("with retained rows", "with pruned quarters", "with latency_over",
                                 "with tail and rolled-up rows", "inexact range",
                                 "range with retained rows", "api checked")) >= 5, seen
