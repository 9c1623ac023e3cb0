"""Rollups answer exactly what the raw aggregation answers, whatever happened before.

A hypothesis state machine interleaves inserts, updates, deletes, refreshes and
TRUNCATEs in one session, and checks after every step that the stored rollups
are exactly the rows below the watermark and that every reader (the SQL
totals, the public functions, the API) gives the raw answer.
"""
import time
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

import rollupcheck as rc
from rollupcheck import no_background_refreshers  # noqa: F401 (autouse fixture)
from webapp import create_app, db, rollups

UPDATABLE = {
    "input_tokens": st.integers(0, 100_000),
    "output_tokens": st.integers(0, 100_000),
    "processing_time_ms": st.integers(0, 1_000_000),
    "status": st.sampled_from(rc.STATUSES),
    "created_at": rc.instants(),
    "cost_usd": rc.requests([]).map(lambda r: r["cost_usd"]),
}
# Rows picked by position among the ids (modulo their number): one or a few per statement.
positions = st.tuples(st.integers(0, 10_000), st.integers(1, 4))


class RollupMachine(RuleBasedStateMachine):
    """One database session doing random writes, refreshes and reads."""

    def __init__(self, conn, provider_ids, model_ids, clients):
        super().__init__()
        self.conn, self.provider_ids, self.model_ids, self.clients = conn, provider_ids, model_ids, clients
        # Empties the rollups too; restarting the ids makes each example replayable.
        conn.execute("TRUNCATE chat_completion_requests RESTART IDENTITY")

    def _where_positions(self, position):
        start, count = position
        total = self.conn.execute("SELECT count(*) AS n FROM chat_completion_requests").fetchone()["n"]
        return ("id IN (SELECT id FROM chat_completion_requests ORDER BY id OFFSET %s LIMIT %s)",
                [start % max(total, 1), count])

    @rule(data=st.data())
    def insert_one(self, data):
        rc.insert(self.conn, [data.draw(rc.requests(self.model_ids))])

    @rule(data=st.data(), statements=st.integers(1, 3))
    def insert_transaction(self, data, statements):
        with self.conn.transaction():
            for _ in range(statements):
                rc.insert(self.conn, data.draw(st.lists(rc.requests(self.model_ids), min_size=1, max_size=6)))

    @rule(data=st.data(), position=positions)
    def update(self, data, position):
        changes = data.draw(st.fixed_dictionaries(
            {}, optional={**UPDATABLE, "model_id": st.sampled_from([*self.model_ids, None])}).filter(bool))
        where, params = self._where_positions(position)
        self.conn.execute(
            f"UPDATE chat_completion_requests SET {', '.join(f'{c} = %s' for c in changes)} WHERE {where}",
            [*changes.values(), *params])

    @rule(position=positions)
    def renumber(self, position):
        """A new id moves a (maybe rolled-up) row into the tail."""
        where, params = self._where_positions(position)
        self.conn.execute(f"UPDATE chat_completion_requests SET id = DEFAULT WHERE {where}", params)

    @rule(position=positions)
    def delete(self, position):
        where, params = self._where_positions(position)
        self.conn.execute(f"DELETE FROM chat_completion_requests WHERE {where}", params)

    @rule(batch=st.sampled_from([1, 2, 3, 7, rollups.BATCH_ROWS]))
    def refresh(self, batch):
        before = self.conn.execute("SELECT watermark_id FROM chat_request_rollup_state").fetchone()
        rolled, caught_up = rollups.refresh(self.conn, batch)  # nobody else in the way: never None
        after = self.conn.execute("SELECT watermark_id FROM chat_request_rollup_state").fetchone()
        newest = self.conn.execute("SELECT coalesce(max(id), 0) AS id FROM chat_completion_requests").fetchone()
        assert 0 <= rolled <= batch
        assert before["watermark_id"] <= after["watermark_id"] <= before["watermark_id"] + batch
        assert caught_up == (after["watermark_id"] >= newest["id"])

    @rule(batch=st.sampled_from([2, 5, rollups.BATCH_ROWS]))
    def catch_up(self, batch):
        rollups.catch_up(self.conn, batch)
        lag = rollups.lag(self.conn)
        assert lag["lag_rows"] == 0 and lag["lag_seconds"] == 0

    @rule(restart=st.booleans())
    def truncate(self, restart):
        self.conn.execute(f"TRUNCATE chat_completion_requests{' RESTART IDENTITY' if restart else ''}")

    @rule(bounds=rc.ranges(), model=st.integers(0, 4))
    def check_range(self, bounds, model):
        model_id = [None, *self.model_ids, self.model_ids[-1] + 1000][model % (len(self.model_ids) + 2)]
        rc.check_totals(self.conn, *bounds, model_id, rows=rc.fetch_rows(self.conn))

    @rule(bounds=rc.ranges())
    def check_public(self, bounds):
        rc.check_public(self.conn, *bounds, self.provider_ids, self.model_ids)

    @rule(bounds=rc.ranges())
    def check_api(self, bounds):
        if not self.clients:
            return
        rollup_client, raw_client = self.clients
        if None not in bounds:
            bounds = sorted(bounds)  # the API rejects start_date > end_date
        assert (rc.api_answers(rollup_client, *bounds, self.provider_ids, self.model_ids)
                == rc.api_answers(raw_client, *bounds, self.provider_ids, self.model_ids))

    @invariant()
    def stored_rollups_match_rows(self):
        rc.check_rollup_table(self.conn)

    @invariant()
    def all_time_exact(self):
        rows = rc.fetch_rows(self.conn)
        for model_id in (None, *self.model_ids):
            rc.check_totals(self.conn, None, None, model_id, rows=rows)


@pytest.fixture
def raw_client(database_url, conn, api_key):
    """A second app on the same database whose statistics aggregate raw rows."""
    raw_app = create_app({"TESTING": True, "DATABASE_URL": database_url,
                          "STATS_SOURCE": "raw", "ROLLUP_INTERVAL_S": 0, "RATELIMIT_APPLICATION": ""})
    client = raw_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_key}"
    yield client
    db.shutdown(raw_app)


@pytest.mark.parametrize("app_config", [{"ROLLUP_INTERVAL_S": 0, "RATELIMIT_APPLICATION": ""}])
def test_random_histories_keep_rollups_exact(conn, client, raw_client):
    provider_ids, model_ids = rc.make_catalog(conn)
    run_state_machine_as_test(
        lambda: RollupMachine(conn, provider_ids, model_ids, (client, raw_client)),
        settings=settings(max_examples=40, stateful_step_count=30, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow]))


def _filled(conn, rows=60):
    """Rows on and around bucket boundaries, all rolled up; return (provider ids, model ids)."""
    provider_ids, model_ids = rc.make_catalog(conn)
    at = [rc.BASE + grain * k + timedelta(microseconds=j)
          for grain in rc.GRAINS for k in (-1, 0, 1, 2) for j in (-1, 0, 1)]
    rows_ = [{"model_id": [*model_ids, None][i % 4], "input_tokens": i, "output_tokens": 2 * i,
              "processing_time_ms": 10 + i, "status": rc.STATUSES[i % 3],
              "cost_usd": None if i % 5 == 0 else Decimal(i) / 1000,
              "created_at": at[i % len(at)]} for i in range(rows)]
    rc.insert(conn, rows_)
    return provider_ids, model_ids


def test_comparisons_catch_a_wrong_rollup(conn):
    """The checks are not vacuous: one request too many in one stored bucket is caught."""
    _filled(conn)
    assert rollups.catch_up(conn) == 60
    rc.check_totals(conn, rows=rc.fetch_rows(conn))
    conn.execute("""UPDATE chat_request_rollups SET requests = requests + 1
                     WHERE (grain, bucket, model_id, status) =
                           (SELECT grain, bucket, model_id, status FROM chat_request_rollups
                             WHERE grain = '24 hours' ORDER BY bucket LIMIT 1)""")
    with pytest.raises(AssertionError):
        rc.check_totals(conn)
    with pytest.raises(AssertionError):
        rc.check_rollup_table(conn)


@pytest.mark.parametrize("grain", rc.GRAINS)
def test_ranges_with_edges_on_and_next_to_boundaries(conn, grain):
    provider_ids, model_ids = _filled(conn)
    rows = rc.fetch_rows(conn)
    assert rollups.catch_up(conn) == len(rows)
    edges = [None] + [rc.BASE + grain * k + timedelta(microseconds=j) for k in (-1, 0, 1) for j in (-1, 0, 1)]
    for start in edges:
        for end in edges:
            for model_id in (None, model_ids[0]):
                rc.check_totals(conn, start, end, model_id, rows=rows)
    rc.check_public(conn, rc.BASE, rc.BASE + grain, provider_ids, model_ids)


def test_refresh_of_an_empty_table_leaves_the_watermark(conn):
    """Regression: the watermark once jumped a whole batch ahead of an empty table."""
    assert rollups.refresh(conn) == (0, True)
    assert conn.execute("SELECT watermark_id FROM chat_request_rollup_state").fetchone()["watermark_id"] == 0
    _filled(conn, rows=5)
    rc.check_totals(conn, rows=rc.fetch_rows(conn))
    assert rollups.lag(conn)["lag_rows"] == 5


def test_refresh_in_batches(conn):
    _filled(conn, rows=10)
    assert [rollups.refresh(conn, 4) for _ in range(4)] == [(4, False), (4, False), (2, True), (0, True)]
    assert rollups.lag(conn)["lag_rows"] == 0
    rc.check_rollup_table(conn)


def test_catch_up_across_id_gaps(conn):
    """Regression: catch_up once stopped at the first batch holding fewer rows than its id span."""
    _filled(conn, rows=12)
    rows = rc.fetch_rows(conn)
    conn.execute("DELETE FROM chat_completion_requests WHERE id IN (2, 3, 7)")
    with pytest.raises(psycopg.errors.CheckViolation):  # burns ids 13 and 14
        rc.insert(conn, [{**rows[0], "input_tokens": 1}, {**rows[0], "input_tokens": -1}])
    rc.insert(conn, rows[:3])
    assert rollups.catch_up(conn, batch_rows=4) == 12
    assert rollups.lag(conn)["lag_rows"] == 0
    rc.check_rollup_table(conn)


@pytest.mark.parametrize("app_config", [{"ROLLUP_INTERVAL_S": 0}])
def test_lag_in_ready_and_metadata(conn, client):
    _filled(conn, rows=7)
    ready = client.get("/ready").get_json()
    assert ready["rollup"]["lag_rows"] == 7 and ready["rollup"]["watermark_id"] == 0
    meta = client.get("/api/monitoring/chat-requests/providers").get_json()["metadata"]
    assert meta["source"] == "rollup" and meta["rollup_lag_rows"] == 7
    assert meta["rollup_lag_seconds"] >= 0

    rollups.catch_up(conn)
    ready = client.get("/ready").get_json()
    assert ready["rollup"]["lag_rows"] == 0 and ready["rollup"]["watermark_id"] == 7
    for path in ("/providers", "/models", "/models/1"):
        meta = client.get(f"/api/monitoring/chat-requests{path}").get_json()["metadata"]
        assert (meta["rollup_lag_rows"], meta["rollup_lag_seconds"]) == (0, 0), path

    rc.insert(conn, [{**rc.fetch_rows(conn)[0], "created_at": rc.BASE}])
    meta = client.get("/api/monitoring/chat-requests/models").get_json()["metadata"]
    assert meta["rollup_lag_rows"] == 1 and meta["rollup_lag_seconds"] > 0


@pytest.mark.parametrize("app_config", [{"ROLLUP_INTERVAL_S": 0.2, "START_REFRESHER": True}])
def test_refresher_thread_rolls_up_by_itself(conn, app):
    assert isinstance(app.extensions["chatstats_refresher"], rollups.Refresher)  # create_app started it
    _filled(conn, rows=20)
    top = conn.execute("SELECT max(id) AS m FROM chat_completion_requests").fetchone()["m"]
    deadline = time.monotonic() + 60
    while (lag := rollups.lag(conn))["watermark_id"] != top and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lag["watermark_id"] == top and lag["lag_rows"] == 0
    rc.check_rollup_table(conn)
    rc.check_totals(conn, rows=rc.fetch_rows(conn))


def test_no_model_can_take_the_unattributed_sentinel(conn):
    """Rollups file NULL models under 0: a model 0 would merge with them (0003 forbids it)."""
    provider_ids, _ = rc.make_catalog(conn)
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("""INSERT INTO models (id, provider_id, model_id, model_name, provider_model_id)
                        VALUES (0, %s, 'zero', 'Zero', 'zero')""", (provider_ids[0],))


def test_totals_for_model_zero(conn):
    """Asking for model 0 must not return the unattributed requests filed under 0."""
    _filled(conn, rows=8)
    rollups.catch_up(conn)
    rc.check_totals(conn, None, None, 0, rows=rc.fetch_rows(conn))
