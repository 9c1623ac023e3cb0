"""The rollup store answers what an independent Python aggregation of the rows answers,
whatever happened before.

A hypothesis state machine interleaves inserts, updates (of every column the rollups
read, and of the id), deletes, refreshes in small batches, pruning of quarters,
raw-data retention and TRUNCATEs in one session. After every step: the stored rollups
level by level against the rows below the watermark plus the rows retention removed
(kept by the machine), honouring the quarter horizon; the statistics of all time, of a
random range and model, and of ranges reaching back before the raw horizon, against the
rows of the range they covered (rounded only where it must be); percentiles within the
stated error of the exact percentile_disc. Reading rules add the public functions and
the API.
"""
import dataclasses
import functools
import time
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, rule,
                                 run_state_machine_as_test)

import rollupcheck as rc
from rollupcheck import no_background_refreshers  # noqa: F401 (autouse fixture)
from webapp import refresher, rollups

# Rows picked by position among the ids (modulo their number): one or a few per statement.
positions = st.tuples(st.integers(0, 10_000), st.integers(1, 4))
API = "/api/monitoring/chat-requests"


def horizon_instants():
    """Where pruning and retention are asked to start: mostly inside the data (hypothesis
    would favour its first values otherwise: nothing before them), sometimes around it."""
    days = (rc.SPAN_END - rc.SPAN_START).days
    inside = st.builds(lambda d, h: rc.SPAN_START + timedelta(days=d, hours=h),
                       st.sampled_from(list(range(1, days))), st.sampled_from([0, 5, 23]))
    around = st.sampled_from([rc.SPAN_START - timedelta(hours=1), rc.SPAN_START, rc.SPAN_END])
    return st.one_of(inside, inside, around)


def then_check_a_range(step):
    """After the step, the statistics over a random range (and model) are checked against
    the Python aggregation, percentiles within the error: (b) and (c) after every step."""
    @functools.wraps(step)
    def checked(self, probe, **kwargs):
        step(self, **kwargs)
        start, end = probe.draw(rc.ranges(self.sh), label="checked range")
        model_id = self._model(probe.draw(st.integers(0, 5), label="checked model"))
        effective = rc.check_range_stats(self.conn, self.sh, self.retained, start, end, model_id)
        self.seen["inexact range"] += effective != (start, end)
        self.seen["range with retained rows"] += bool(rc.in_range(self.retained, *effective))
    return checked


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
        self.seen = Counter()  # what the checks met, to show that they are not vacuous

    def _where_positions(self, position):
        start, count = position
        total = self.conn.execute("SELECT count(*) AS n FROM chat_completion_requests").fetchone()["n"]
        return ("id IN (SELECT id FROM chat_completion_requests ORDER BY id OFFSET %s LIMIT %s)",
                [start % max(total, 1), count])

    @initialize(data=st.data(), refresh=st.booleans())
    def some_history(self, data, refresh):
        rc.insert(self.conn, data.draw(st.lists(rc.requests(self.sh, self.model_ids), max_size=25)))
        if refresh:
            rollups.catch_up(self.conn)

    # -- writes ------------------------------------------------------------------

    @rule(probe=st.data(), data=st.data())
    @then_check_a_range
    def insert_one(self, data):
        rc.insert(self.conn, [data.draw(rc.requests(self.sh, self.model_ids))])

    @rule(probe=st.data(), data=st.data(), statements=st.integers(1, 3))
    @then_check_a_range
    def insert_transaction(self, data, statements):
        with self.conn.transaction():
            for _ in range(statements):
                rc.insert(self.conn, data.draw(
                    st.lists(rc.requests(self.sh, self.model_ids), min_size=1, max_size=6)))

    @rule(probe=st.data(), data=st.data(), position=positions)
    @then_check_a_range
    def update(self, data, position):
        values = data.draw(rc.requests(self.sh, self.model_ids))
        changed = data.draw(st.lists(st.sampled_from(rc.COLUMNS), min_size=1, max_size=4, unique=True))
        where, params = self._where_positions(position)
        self.conn.execute(
            f"UPDATE chat_completion_requests SET {', '.join(f'{c} = %s' for c in changed)} WHERE {where}",
            [*(values[c] for c in changed), *params])

    @rule(probe=st.data(), data=st.data(), position=positions)
    @then_check_a_range
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

    @rule(probe=st.data(), position=positions)
    @then_check_a_range
    def renumber(self, position):
        """A new id moves a (maybe rolled-up) row into the tail."""
        where, params = self._where_positions(position)
        self.conn.execute(f"UPDATE chat_completion_requests SET id = DEFAULT WHERE {where}", params)

    @rule(probe=st.data(), position=positions)
    @then_check_a_range
    def delete(self, position):
        where, params = self._where_positions(position)
        self.conn.execute(f"DELETE FROM chat_completion_requests WHERE {where}", params)

    @rule(probe=st.data(), restart=st.booleans())
    @then_check_a_range
    def truncate(self, restart):
        self.conn.execute(f"TRUNCATE chat_completion_requests{' RESTART IDENTITY' if restart else ''}")
        self.retained = []
        assert rc.state(self.conn) == rc.State(0, None, None, None, None)

    # -- maintenance ----------------------------------------------------------------

    @rule(probe=st.data(), batch=st.sampled_from([1, 2, 3, 7, rollups.BATCH_ROWS]))
    @then_check_a_range
    def refresh(self, batch):
        before = rc.state(self.conn).watermark
        rolled, caught_up = rollups.refresh(self.conn, batch)  # nobody else in the way: never None
        after = rc.state(self.conn).watermark
        ids = [r["id"] for r in rc.fetch_rows(self.conn)]
        assert rolled == sum(before < i <= after for i in ids)
        assert before <= after <= before + batch
        assert caught_up == (after >= max(ids, default=0))

    @rule(probe=st.data(), batch=st.sampled_from([2, 5, rollups.BATCH_ROWS]))
    @then_check_a_range
    def catch_up(self, batch):
        rollups.catch_up(self.conn, batch)
        lag = rollups.lag(self.conn)
        assert lag["lag_rows"] == 0 and lag["lag_seconds"] == 0

    @rule(probe=st.data(), at=horizon_instants(), detail_at=st.none() | horizon_instants(),
          user_at=st.none() | horizon_instants())
    @then_check_a_range
    def prune(self, at, detail_at, user_at):
        old = rc.state(self.conn)

        def moved(horizon, to):
            return horizon if to is None else max(horizon or rc.midnight(to), rc.midnight(to))

        expected = rc.State(old.watermark, moved(old.quarter_horizon, at), old.raw_horizon,
                            moved(old.detail_horizon, detail_at), moved(old.user_horizon, user_at))
        doomed = sum(not rc.kept(self.sh, expected, r["dim"], r["level"], r["bucket"]) for r in self.conn.execute(
            "SELECT level, dim, bucket FROM chat_rollups WHERE isfinite(bucket)"))
        removed = self.conn.execute("SELECT chat_rollup_prune(%s, %s, %s) AS n",
                                    (at, detail_at, user_at)).fetchone()["n"]
        assert rc.state(self.conn) == expected
        assert removed == doomed

    @rule(probe=st.data(), at=horizon_instants(), batch=st.sampled_from([2, 10_000]))
    @then_check_a_range
    def catch_up_and_retain(self, at, batch):
        rollups.catch_up(self.conn)
        self._retain(at, batch, True)

    @rule(probe=st.data(), at=horizon_instants(), batch=st.sampled_from([1, 2, 5, 10_000]), repeat=st.booleans())
    @then_check_a_range
    def retain(self, at, batch, repeat):
        self._retain(at, batch, repeat)

    def _retain(self, at, batch, repeat):
        old = rc.state(self.conn)
        horizon = max(old.raw_horizon or rc.midnight(at), rc.midnight(at))
        while True:
            rows = {r["id"]: r for r in rc.fetch_rows(self.conn)}
            removed = self.conn.execute("SELECT chat_rollup_retain(%s, %s) AS n", (at, batch)).fetchone()["n"]
            new = rc.state(self.conn)
            assert new == dataclasses.replace(old, raw_horizon=horizon)
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

    @rule(probe=st.data(), at=horizon_instants())
    @then_check_a_range
    def gateway_ttl_cleanup(self, at):
        """The gateway's own TTL job deletes the rows older than its TTL (here: a whole
        number of days that ends at or before `at`): rolled up or not, their statistics
        stay (migration 0019), and the raw horizon moves past them."""
        now = self.conn.execute("SELECT now() AS t").fetchone()["t"]
        days = -(-(now - at) // timedelta(days=1))  # ceil: the cutoff lies at or before `at`
        rollups.set_source_ttl(self.conn, days)
        try:
            gone = self.conn.execute(
                f"DELETE FROM chat_completion_requests WHERE created_at < now() - make_interval(days => %s)"
                f" RETURNING id, {', '.join(rc.COLUMNS)}", (days,)).fetchall()
        finally:
            rollups.set_source_ttl(self.conn, 0)
        self.retained += gone
        self.seen["ttl deletes"] += bool(gone)

    # -- reads ----------------------------------------------------------------------

    def _model(self, choice):
        """None (all), a model, a model id no model has, or 0 (the requests without a model)."""
        choices = [None, *self.model_ids, self.model_ids[-1] + 1000, 0]
        return choices[choice % len(choices)]

    @rule(data=st.data(), model=st.integers(0, 5))
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
        effective = rc.check_range_stats(self.conn, self.sh, self.retained, start, end, self._model(model))
        self.seen["inexact range"] += effective != (start, end)

    @rule(data=st.data(), model=st.integers(0, 5))
    def check_raw(self, data, model):
        rc.check_raw_stats(self.conn, *data.draw(rc.ranges(self.sh)), self._model(model))

    @rule(data=st.data(), by=st.sampled_from(list(rc.BREAKDOWNS)))
    def check_breakdown(self, data, by):
        """A breakdown by user, key or model: every group's requests once, over the range
        its pieces cover (widened only at an end before the raw horizon)."""
        start, end = data.draw(rc.ranges(self.sh))
        covered = rc.check_breakdown(self.conn, self.sh, rc.fetch_rows(self.conn) + self.retained, by, start, end)
        self.seen["breakdown checked"] += 1
        self.seen["breakdown widened"] += covered != (start, end)

    @rule(data=st.data())
    def check_public(self, data):
        start, end = data.draw(rc.ranges(self.sh))
        effective = rc.check_range_stats(self.conn, self.sh, self.retained, start, end, None)
        expected = rc.python_stats(rc.fetch_rows(self.conn) + self.retained, *effective)
        if start is not None and end is not None and start >= end:
            expected = {}
        rc.check_public_functions(self.conn, start, end, expected, self.providers_of)

    @rule(data=st.data())
    def check_api(self, data):
        start, end = data.draw(rc.ranges(self.sh))
        if None not in (start, end):
            start, end = sorted((start, end))  # the API rejects start_date > end_date
        effective = rc.check_range_stats(self.conn, self.sh, self.retained, start, end, None)
        self.seen["api checked"] += 1
        query = {k: v.isoformat() for k, v in (("start_date", start), ("end_date", end)) if v is not None}
        body = self.client.get(f"{API}/models", query_string=query).get_json()
        expected = rc.python_stats(rc.fetch_rows(self.conn) + self.retained, *effective)
        busy = sorted((m for m in expected if m is not None), key=lambda m: (-expected[m].requests, m))
        assert [item["model_id"] for item in body["data"]] == busy
        for item in body["data"]:
            totals, stats = expected[item["model_id"]], item["stats"]
            assert (stats["total_requests"], stats["completed_requests"], stats["failed_requests"],
                    stats["partial_requests"], stats["other_requests"], stats["total_input_tokens"],
                    stats["total_output_tokens"], Decimal(stats["total_cost_usd"])) \
                == (totals.requests, *totals.counts, totals.input_tokens, totals.output_tokens, totals.cost_usd)
            for q, exact in zip(rc.QUANTILES, totals.percentiles()):
                assert rc.within_error(stats[f"p{int(q * 100)}_processing_time_ms"], exact)
        meta = body["metadata"]
        assert meta["range_exact"] == (effective == (start, end))
        for key, answered in (("effective_start_date", effective[0]), ("effective_end_date", effective[1])):
            assert (meta[key] and datetime.fromisoformat(meta[key])) == answered, (key, meta[key], answered)

    @invariant()
    def rollups_match_rows(self):
        """The stored rollups, all time, and two ragged ranges reaching back before the raw
        horizon if there is one: one closed, one open (rounded edges and retained rows)."""
        now = rc.check_store(self.conn, self.sh, self.retained)
        st_, rows = now
        self.seen["step"] += 1
        self.seen["with retained rows"] += bool(self.retained)
        self.seen["with pruned quarters"] += st_.quarter_horizon is not None and any(
            r["created_at"] < st_.quarter_horizon for r in rows + self.retained)
        self.seen["with latency_over"] += any(r["processing_time_ms"] >= 600_000 for r in rows)
        self.seen["with wide rows"] += self.conn.execute(
            "SELECT EXISTS (SELECT FROM chat_rollups WHERE latency_hi IS NOT NULL) AS e").fetchone()["e"]
        self.seen["with tail and rolled-up rows"] += 0 < st_.watermark < max((r["id"] for r in rows), default=0)
        rc.check_range_stats(self.conn, self.sh, self.retained, None, None, now=now)
        horizon = st_.raw_horizon
        if horizon is None:
            return
        for start, end in ((horizon - timedelta(hours=30, minutes=7), horizon + timedelta(hours=2, seconds=1)),
                           (horizon - timedelta(hours=5, minutes=3, microseconds=1), None)):
            effective = rc.check_range_stats(self.conn, self.sh, self.retained, start, end, None, now=now)
            self.seen["inexact range"] += effective != (start, end)
            self.seen["range with retained rows"] += bool(rc.in_range(self.retained, *effective))


@pytest.fixture
def wide_histograms(conn):
    """Every stored row of more than 2 requests wide and every summed row of more than 1
    summed in float8 (migration 0016's limits lowered), so that small histories take the
    paths of rows of millions of requests; the limits are restored afterwards."""
    limits = {"chat_histogram_narrow_limit": 2, "chat_histogram_sum_limit": 1}
    saved = {name: conn.execute(f"SELECT {name}() AS v").fetchone()["v"] for name in limits}

    def set_limits(values):
        for name, value in values.items():
            conn.execute(f"CREATE OR REPLACE FUNCTION {name}() RETURNS bigint "
                         f"LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT {int(value)}::bigint $$")
    set_limits(limits)
    yield
    set_limits(saved)


@pytest.mark.parametrize("app_config", [{"ROLLUP_INTERVAL_S": 0, "RATELIMIT_APPLICATION": ""}])
@pytest.mark.parametrize("histograms", ["narrow", "wide"])
def test_random_histories_keep_rollups_exact(conn, client, histograms, request):
    if histograms == "wide":
        request.getfixturevalue("wide_histograms")
        assert conn.execute("SELECT count(*) AS n FROM chat_rollups").fetchone()["n"] == 0
    provider_ids, model_ids = rc.make_catalog(conn)
    sh = rc.shape(conn)
    machines = []

    def machine():
        machines.append(RollupMachine(conn, sh, provider_ids, model_ids, client))
        return machines[-1]
    run_state_machine_as_test(
        # derandomize: the same 40 histories on every run, so that the coverage asserted
        # below cannot fail by chance (a random run once met no pruned quarter in 1,696 steps)
        machine, settings=settings(max_examples=40, stateful_step_count=50,
                                   deadline=None, derandomize=True, database=None,
                                   suppress_health_check=[HealthCheck.too_slow]))
    seen = sum((m.seen for m in machines), Counter())
    print("seen:", seen)
    # Not vacuous: retention, pruning, long latencies, rounded ranges (and wide rows) were met often.
    assert min(seen[k] for k in ("with retained rows", "with pruned quarters", "with latency_over",
                                 "with tail and rolled-up rows", "inexact range",
                                 "range with retained rows", "api checked")) >= 10, seen
    assert seen["breakdown checked"] >= 3, seen  # (drawn less often: 17 to 121 in two runs)
    assert bool(seen["with wide rows"]) == (histograms == "wide"), seen


# -- fixed cases ------------------------------------------------------------------------

def test_histograms_count_past_the_float4_integers(conn):
    """A float4 cell holds every integer up to 2^24 and no further (2^24 + 1 rounds back
    to 2^24). A model with 2^24 requests at 1 ms (day D1) and 2^24 at 5 s (D2, written
    into the store as if rolled up) has its median at 1 ms; one more request at 5 s moves
    it to 5 s, over all time, the two days, a ragged range and in a breakdown, and every
    stored histogram still counts its requests exactly."""
    _, model_ids = rc.make_catalog(conn)
    model, big = model_ids[0], 2**24 - 1
    d1, d2 = rc.BASE, rc.BASE + rc.DAY
    rc.insert(conn, [{"model_id": model, "input_tokens": 1, "output_tokens": 1, "processing_time_ms": ms,
                      "status": "completed", "created_at": at}
                     for ms, at in ((1, d1 + timedelta(hours=1)), (5000, d2 + timedelta(hours=1)))])
    assert rollups.catch_up(conn) == 2
    conn.execute(
        """UPDATE chat_rollups r
              SET completed = r.completed + %(big)s * ((r.bucket = chat_rollup_bucket(r.level, %(d1)s))::integer
                                                   + (r.bucket = chat_rollup_bucket(r.level, %(d2)s))::integer),
                  latency = r.latency
                      + chat_latency_scale((SELECT latency FROM chat_latency_steps WHERE bucket = chat_latency_bucket(1)),
                                           %(big)s * (r.bucket = chat_rollup_bucket(r.level, %(d1)s))::integer)
                      + chat_latency_scale((SELECT latency FROM chat_latency_steps WHERE bucket = chat_latency_bucket(5000)),
                                           %(big)s * (r.bucket = chat_rollup_bucket(r.level, %(d2)s))::integer)
            WHERE r.dim = 'm' AND r.id = %(model)s""", {"big": big, "d1": d1, "d2": d2, "model": model})

    def medians():
        ranges = [(None, None), (d1, d2 + rc.DAY), (d1 + timedelta(minutes=7, seconds=3), d2 + timedelta(hours=5))]
        found = [conn.execute("SELECT total_requests, p50_processing_time_ms AS p50 FROM get_models_with_requests(%s, %s)",
                              r).fetchone() for r in ranges]
        found += [conn.execute("""SELECT completed_requests AS total_requests, p50_processing_time_ms AS p50
                                    FROM chat_request_breakdown(%s, %s, 'model') WHERE kind = 'group'""",
                               ranges[1]).fetchone()]
        assert len({f["total_requests"] for f in found}) == 1, found
        return found[0]["total_requests"], {f["p50"] for f in found}

    total, p50s = medians()
    assert total == 2**25 and len(p50s) == 1 and rc.within_error(p50s.pop(), 1)
    rc.insert(conn, [{"model_id": model, "input_tokens": 1, "output_tokens": 1, "processing_time_ms": 5000,
                      "status": "completed", "created_at": d2 + timedelta(hours=2)}])
    assert rollups.catch_up(conn) == 1
    total, p50s = medians()
    assert total == 2**25 + 1 and len(p50s) == 1 and rc.within_error(p50s.pop(), 5000)
    counted = conn.execute(
        """SELECT count(*) FILTER (WHERE latency_hi IS NOT NULL) AS wide,
                  count(*) FILTER (WHERE (chat_histogram_values(latency, latency_hi))[495]
                                         <> completed + failed + partial) AS wrong
             FROM chat_rollups WHERE dim = 'm' AND id = %s""", (model,)).fetchone()
    assert counted["wrong"] == 0 and counted["wide"] > 0, counted


def test_all_time_percentiles_are_kept_unless_requests_wait(conn):
    """Over all time a model's percentiles are the ones its all-time row keeps (migration
    0017), unless some of its requests wait for the refresh: then its histograms are
    summed, as for any range. A sentinel written past the trigger shows which answered;
    the refresh and an update of a rolled-up request write the row, and the trigger keeps
    its percentiles again."""
    _, model_ids = rc.make_catalog(conn)
    a, b = model_ids[:2]
    rc.insert(conn, [{"model_id": (a, b)[i % 2], "input_tokens": 1, "output_tokens": 1,
                      "processing_time_ms": 10 * i + 5, "status": "completed",
                      "created_at": rc.BASE + timedelta(minutes=i)} for i in range(40)])
    assert rollups.catch_up(conn) == 40
    sentinel = Decimal("1234.50")

    def p50s():
        return {r["model_id"]: r["p50_processing_time_ms"] for r in conn.execute(
            "SELECT model_id, p50_processing_time_ms FROM get_models_with_requests()")}

    def exact_p50(model):
        return rc.python_stats(rc.fetch_rows(conn), model_id=model)[model].percentiles()[0]

    conn.execute("SET session_replication_role = replica")  # no trigger fires
    conn.execute("UPDATE chat_rollups SET latency_percentiles = %s"
                 " WHERE level = chat_rollup_top() AND dim = 'm'", ([sentinel] * 3,))
    conn.execute("RESET session_replication_role")
    assert p50s() == {a: sentinel, b: sentinel}

    rc.insert(conn, [{"model_id": a, "input_tokens": 1, "output_tokens": 1, "processing_time_ms": 9000,
                      "status": "completed", "created_at": rc.BASE + timedelta(hours=2)}])
    found = p50s()
    assert found[b] == sentinel and rc.within_error(found[a], exact_p50(a)), found

    assert rollups.catch_up(conn) == 1
    found = p50s()
    assert found[b] == sentinel and rc.within_error(found[a], exact_p50(a)), found
    conn.execute("UPDATE chat_completion_requests SET processing_time_ms = 70000 WHERE model_id = %s", (b,))
    found = p50s()
    assert found[b] != sentinel and rc.within_error(found[b], exact_p50(b)), found
    rc.check_store(conn, rc.shape(conn))


def _filled(conn, sh, rows=60):
    """Rows on and around bucket boundaries of every level, with short, long (latency_over)
    and equal processing times; return (provider ids, model ids)."""
    provider_ids, model_ids = rc.make_catalog(conn)
    at = [sh.floor(level, rc.BASE) + sh.widths[level - 1] * k + j
          for level in range(1, sh.top) for k in (-1, 0, 1) for j in (-rc.US, timedelta(0), rc.US)]
    times = [0, 1, 99, 100, 2500, 2500, 599_999, 601_907, 3_600_000, 2**31 - 1]
    rows_ = [{"model_id": [*model_ids, None][i % 4], "input_tokens": i, "output_tokens": 2 * i,
              "processing_time_ms": times[i % len(times)], "status": rc.STATUSES[i % 3],
              "cost_usd": None if i % 5 == 0 else Decimal(i) / 1000,
              "created_at": at[(7 * i) % len(at)]} for i in range(rows)]
    rc.insert(conn, rows_)
    return provider_ids, model_ids


def test_comparisons_catch_a_wrong_rollup(conn):
    """The checks are not vacuous: one request too many, or one moved to another latency
    bucket, in one stored row is caught."""
    sh = rc.shape(conn)
    _filled(conn, sh)
    assert rollups.catch_up(conn) == 60
    rc.check_store(conn, sh)
    rc.check_range_stats(conn, sh, [], None, None)
    day = sh.widths.index(timedelta(days=1)) + 1 if timedelta(days=1) in sh.widths else 2
    key = conn.execute("SELECT bucket, id FROM chat_rollups WHERE level = %s AND dim = 'm' AND completed > 0 "
                       "AND (latency::real[])[%s] > 0 ORDER BY bucket, id LIMIT 1", (day, sh.main_dims)).fetchone()
    bucket_range = (key["bucket"], key["bucket"] + sh.widths[day - 1])
    with conn.transaction(force_rollback=True):  # a request moved from one latency bucket to the next
        moved = conn.execute("""UPDATE chat_rollups r
                           SET latency = r.latency - a.latency + b.latency
                          FROM chat_latency_steps a, chat_latency_steps b
                         WHERE r.level = %s AND r.dim = 'm' AND r.bucket = %s AND r.id = %s
                           AND a.bucket = (SELECT min(i) FROM unnest(r.latency::real[]) WITH ORDINALITY u(c, i)
                                            WHERE c > 0)
                           AND b.bucket = a.bucket + 1""", (day, key["bucket"], key["id"]))
        assert moved.rowcount == 1
        with pytest.raises(AssertionError, match="stored rollups differ"):
            rc.check_store(conn, sh)
    with conn.transaction(force_rollback=True):
        conn.execute("UPDATE chat_rollups SET completed = completed + 1, latency = latency + "
                     "(SELECT latency FROM chat_latency_steps WHERE bucket = 1) "
                     "WHERE level = %s AND dim = 'm' AND bucket = %s AND id = %s", (day, key["bucket"], key["id"]))
        with pytest.raises(AssertionError, match="stored rollups differ"):
            rc.check_store(conn, sh)
        with pytest.raises(AssertionError):
            rc.check_range_stats(conn, sh, [], *bucket_range)


def test_latency_buckets_and_values(conn):
    """Every processing time's bucket reports a value within max(1 ms, 1%) of it (the
    percentile of a histogram holding that one request); buckets grow with the time and
    fill the vectors exactly, and 10 minutes and more go to latency_over."""
    sh = rc.shape(conn)
    times = sorted({*range(0, 3000), *(int(1.01 ** k) + d for k in range(0, 2160) for d in (-1, 0, 1)),
                    2**31 - 1} - {-1})
    times = [t for t in times if 0 <= t < 2**31]
    rows = conn.execute(
        """SELECT ms, s.bucket AS b,
                  chat_latency_percentile(chat_histogram_values(s.latency, NULL),
                                          chat_histogram_values(s.latency_over, NULL), 0.5) AS v
             FROM unnest(%s::integer[]) ms
             JOIN chat_latency_steps s ON s.bucket = chat_latency_bucket(ms)
            ORDER BY ms""", (times,)).fetchall()
    assert len(rows) == len(times)  # every time has a bucket with a step
    buckets = [r["b"] for r in rows]
    assert buckets == sorted(buckets) and buckets[0] == 1
    assert buckets[-1] == sh.main_dims + sh.over_dims  # the integer limit fills the last bucket
    for r in rows:
        assert rc.within_error(r["v"], r["ms"]), r
        assert (r["b"] > sh.main_dims) == (r["ms"] >= 600_000) or 590_000 < r["ms"] < 610_000, r
    steps = conn.execute("SELECT count(*) AS n FROM chat_latency_steps").fetchone()["n"]
    assert steps == sh.main_dims + sh.over_dims


def test_ranges_with_edges_on_and_next_to_boundaries_of_every_level(conn):
    sh = rc.shape(conn)
    provider_ids, model_ids = _filled(conn, sh)
    assert rollups.catch_up(conn) == 60
    rows = rc.fetch_rows(conn)
    for level in range(1, sh.top):
        width = sh.widths[level - 1]
        edges = [None] + [sh.floor(level, rc.BASE) + width * k + j
                          for k in (0, 1) for j in (-rc.US, timedelta(0), rc.US)]
        for i, start in enumerate(edges):
            for k, end in enumerate(edges):
                model_id = (None, model_ids[0])[(i + k) % 2]
                assert rc.check_range_stats(conn, sh, [], start, end, model_id) == (start, end)
                rc.check_raw_stats(conn, start, end, model_id, rows=rows)
        expected = rc.python_stats(rows, sh.floor(level, rc.BASE), sh.floor(level, rc.BASE) + width)
        rc.check_public_functions(conn, sh.floor(level, rc.BASE), sh.floor(level, rc.BASE) + width,
                                  expected, rc.model_providers(conn))


def test_a_range_just_inside_a_coarse_bucket_is_that_bucket_less_the_rest(conn):
    """Signed pieces: a range one quarter short of a 16-day block reads the block less a
    quarter, not 8 + 4 + 2 + 1 days and 23 hours 45 minutes of finer pieces; the answer
    stays exact, by model and over every public function."""
    sh = rc.shape(conn)
    _history(conn, sh, days=19)
    rows = rc.fetch_rows(conn)
    block = sh.widths.index(timedelta(days=16)) + 1
    start, end = rc.BASE + timedelta(minutes=15), rc.BASE + timedelta(days=16)
    pieces = conn.execute("SELECT level, lo, hi, sign FROM chat_rollup_pieces('m', %s, %s) ORDER BY level DESC",
                          (start, end)).fetchall()
    assert [tuple(p.values()) for p in pieces] == [(block, rc.BASE, end, 1), (1, rc.BASE, start, -1)]
    for model_id in (None, *rc.model_providers(conn)):
        assert rc.check_range_stats(conn, sh, [], start, end, model_id) == (start, end)
    rc.check_public_functions(conn, start, end, rc.python_stats(rows, start, end), rc.model_providers(conn))


def test_refresh_of_an_empty_table_leaves_the_watermark(conn):
    """Regression: the watermark once jumped a whole batch ahead of an empty table."""
    sh = rc.shape(conn)
    assert rollups.refresh(conn) == (0, True)
    assert rc.state(conn).watermark == 0
    _filled(conn, sh, rows=5)
    rc.check_range_stats(conn, sh, [], None, None)
    assert rollups.lag(conn)["lag_rows"] == 5


def test_refresh_in_batches(conn):
    sh = rc.shape(conn)
    _filled(conn, sh, rows=10)
    assert [rollups.refresh(conn, 4) for _ in range(4)] == [(4, False), (4, False), (2, True), (0, True)]
    assert rollups.lag(conn)["lag_rows"] == 0
    rc.check_store(conn, sh)


def test_catch_up_across_id_gaps(conn):
    """Regression: catch_up once stopped at the first batch holding fewer rows than its id span."""
    sh = rc.shape(conn)
    _filled(conn, sh, rows=12)
    rows = rc.fetch_rows(conn)
    conn.execute("DELETE FROM chat_completion_requests WHERE id IN (2, 3, 7)")
    with conn.transaction(force_rollback=True):  # burns ids 13 and 14
        rc.insert(conn, rows[:2])
    rc.insert(conn, rows[:3])
    assert rollups.catch_up(conn, batch_rows=4) == 12
    assert rollups.lag(conn)["lag_rows"] == 0
    rc.check_store(conn, sh)


@pytest.mark.parametrize("app_config", [{"ROLLUP_INTERVAL_S": 0}])
def test_lag_and_range_in_ready_and_metadata(conn, client):
    sh = rc.shape(conn)
    _filled(conn, sh, rows=7)
    ready = client.get("/ready").get_json()
    assert ready["rollup"]["lag_rows"] == 7 and ready["rollup"]["watermark_id"] == 0
    meta = client.get(f"{API}/providers").get_json()["metadata"]
    assert meta["source"] == "rollup" and meta["rollup_lag_rows"] == 7
    assert meta["rollup_lag_seconds"] is None or meta["rollup_lag_seconds"] >= 0
    assert meta["range_exact"] is True
    assert meta["effective_start_date"] is None and meta["effective_end_date"] is None

    rollups.catch_up(conn)
    ready = client.get("/ready").get_json()
    assert ready["rollup"]["lag_rows"] == 0 and ready["rollup"]["watermark_id"] == 7
    start, end = rc.BASE + rc.US, rc.BASE + timedelta(hours=1, seconds=1)
    for path in ("/providers", "/models", "/models/1"):
        meta = client.get(f"{API}{path}", query_string={"start_date": start.isoformat(),
                                                         "end_date": end.isoformat()}).get_json()["metadata"]
        assert (meta["rollup_lag_rows"], meta["rollup_lag_seconds"]) == (0, 0), path
        assert meta["range_exact"] is True
        assert (datetime.fromisoformat(meta["effective_start_date"]),
                datetime.fromisoformat(meta["effective_end_date"])) == (start, end)

    rc.insert(conn, [{**rc.fetch_rows(conn)[0], "created_at": rc.BASE}])
    meta = client.get(f"{API}/models").get_json()["metadata"]
    assert meta["rollup_lag_rows"] == 1 and meta["rollup_lag_seconds"] > 0


@pytest.mark.parametrize("app_config", [{"ROLLUP_INTERVAL_S": 0.2, "START_REFRESHER": True}])
def test_refresher_thread_rolls_up_by_itself(conn, app):
    """Regression: the rollup role could not execute the vector extension's routines."""
    assert isinstance(app.extensions["chatstats_refresher"], refresher.Refresher)  # create_app started it
    sh = rc.shape(conn)
    _filled(conn, sh, rows=20)
    top = conn.execute("SELECT max(id) AS m FROM chat_completion_requests").fetchone()["m"]
    deadline = time.monotonic() + 10
    while (lag := rollups.lag(conn))["watermark_id"] != top and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lag["watermark_id"] == top and lag["lag_rows"] == 0
    rc.check_store(conn, sh)
    rc.check_range_stats(conn, sh, [], None, None)


def test_stats_for_model_zero_are_the_requests_without_a_model(conn):
    """Model id 0 in p_model_ids asks for the requests without a model (as the rollups
    file them), alone: from the rollups, the raw tail and the raw baseline alike."""
    sh = rc.shape(conn)
    _, model_ids = _filled(conn, sh, rows=8)
    rollups.catch_up(conn)
    rc.insert(conn, [{"model_id": model_id, "input_tokens": 3, "output_tokens": 4, "processing_time_ms": 250,
                      "status": "failed", "cost_usd": Decimal("0.5"), "created_at": rc.BASE}
                     for model_id in (None, model_ids[0], None)])  # the tail
    rows = rc.fetch_rows(conn)
    assert any(r["model_id"] is None for r in rows) and any(r["model_id"] for r in rows)
    expected = rc.python_stats(rows, model_id=0)
    assert list(expected) == [None]
    rc.compare_stats(rc.sql_stats(conn, None, None, 0), expected, "model 0")
    rc.compare_stats(rc.sql_stats(conn, None, None, 0, "raw"), expected, "model 0, raw",
                     exact_percentiles=True)
    assert conn.execute("SELECT get_unattributed_request_count() AS n").fetchone()["n"] \
        == sum(expected[None].counts)


# -- retention and pruning ------------------------------------------------------------

def _history(conn, sh, days=4, per_hour=3):
    """Rows every 20 minutes (and a few seconds) over `days` days from SPAN_START, all
    rolled up; return (provider ids, model ids)."""
    provider_ids, model_ids = rc.make_catalog(conn)
    rows = [{"model_id": [*model_ids, None][i % 4], "input_tokens": i, "output_tokens": i % 7,
             "processing_time_ms": [5, 150, 2400, 700_000][i % 4] + i, "status": rc.STATUSES[i % 3],
             "cost_usd": None if i % 6 == 0 else Decimal(i) / 10**6,
             "created_at": rc.SPAN_START + timedelta(minutes=60 // per_hour * i, seconds=i % 50)}
            for i in range(days * 24 * per_hour)]
    rc.insert(conn, rows)
    rollups.catch_up(conn)
    return provider_ids, model_ids


def test_retention_keeps_every_statistic(conn, app_factory, database_url, api_key):
    sh = rc.shape(conn)
    provider_ids, model_ids = _history(conn, sh)
    horizon = rc.SPAN_START + timedelta(days=2)
    all_rows = rc.fetch_rows(conn)
    aligned = [(None, None), (None, horizon), (rc.SPAN_START + timedelta(hours=5), horizon + timedelta(hours=7)),
               (horizon - timedelta(minutes=45), None), (horizon, horizon + rc.US)]
    before = {r: rc.sql_stats(conn, *r) for r in aligned}

    removed = 0
    while n := conn.execute("SELECT chat_rollup_retain(%s, 7) AS n", (horizon + timedelta(hours=5),)).fetchone()["n"]:
        assert n <= 7
        removed += n
    left = rc.fetch_rows(conn)
    assert removed == sum(r["created_at"] < horizon for r in all_rows) == len(all_rows) - len(left) > 0
    assert min(r["created_at"] for r in left) >= horizon
    assert rc.state(conn).raw_horizon == horizon  # rounded down to midnight
    retained = [r for r in all_rows if r["created_at"] < horizon]
    rc.check_store(conn, sh, retained)
    for bounds, answer in before.items():
        assert rc.sql_stats(conn, *bounds) == answer, bounds  # percentiles included: same histograms
        rc.check_range_stats(conn, sh, retained, *bounds)

    # A ragged edge before the horizon is rounded outwards, and said so.
    ragged = (rc.SPAN_START + timedelta(hours=5, minutes=7), horizon + timedelta(hours=3, minutes=1))
    effective = rc.check_range_stats(conn, sh, retained, *ragged)
    assert effective == (rc.SPAN_START + timedelta(hours=5), ragged[1])
    app = app_factory(DATABASE_URL=database_url, ROLLUP_INTERVAL_S=0)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_key}"
    query = {"start_date": ragged[0].isoformat(), "end_date": ragged[1].isoformat()}
    body = client.get(f"{API}/models", query_string=query).get_json()
    assert body["metadata"]["range_exact"] is False
    assert datetime.fromisoformat(body["metadata"]["effective_start_date"]) == effective[0]
    assert datetime.fromisoformat(body["metadata"]["effective_end_date"]) == ragged[1]
    expected = rc.python_stats(left + retained, *effective)
    assert {item["model_id"]: item["stats"]["total_requests"] for item in body["data"]} == {
        m: t.requests for m, t in expected.items() if m is not None}

    # Updates and deletes of the rows left keep working; TRUNCATE starts over.
    conn.execute("UPDATE chat_completion_requests SET processing_time_ms = 1, created_at = created_at - "
                 "interval '1 day' WHERE id % 5 = 0")
    conn.execute("DELETE FROM chat_completion_requests WHERE id %% 7 = 0 AND created_at >= %s", (horizon,))
    rc.check_store(conn, sh, retained)
    rc.check_range_stats(conn, sh, retained, None, None)
    conn.execute("TRUNCATE chat_completion_requests")
    assert rc.state(conn) == rc.State(0, None, None, None, None)
    assert conn.execute("SELECT count(*) AS n FROM chat_rollups").fetchone()["n"] == 0


@pytest.mark.parametrize("app_config", [{"ROLLUP_INTERVAL_S": 0, "RATELIMIT_APPLICATION": ""}])
def test_request_list_counts_only_rows_that_can_be_listed(conn, client):
    """Issue 8: the request list's total_count counts only rows that can still be listed."""
    horizon = _retained_history(conn)
    left = rc.fetch_rows(conn)
    for query, rows in (({}, left), ({"start_date": (horizon - timedelta(hours=5, minutes=7)).isoformat()}, left),
                        ({"end_date": (horizon + timedelta(hours=3)).isoformat()},
                         rc.in_range(left, None, horizon + timedelta(hours=3)))):
        meta = client.get(API, query_string={**query, "limit": 1}).get_json()["metadata"]
        assert meta["total_count"] == len(rows), query


def test_pruned_quarters_are_answered_from_hours_and_raw_rows(conn):
    sh = rc.shape(conn)
    _history(conn, sh, per_hour=6)
    rows = rc.fetch_rows(conn)
    horizon = rc.SPAN_START + timedelta(days=2)
    doomed = conn.execute("SELECT count(*) AS n FROM chat_rollups WHERE level = 1 AND bucket < %s",
                          (horizon,)).fetchone()["n"]
    assert conn.execute("SELECT chat_rollup_prune(%s) AS n", (horizon + timedelta(hours=23),)).fetchone()["n"] \
        == doomed > 0
    assert conn.execute("SELECT chat_rollup_prune(%s) AS n", (horizon - timedelta(days=1),)).fetchone()["n"] == 0
    assert rc.state(conn).quarter_horizon == horizon  # never moves back
    rc.check_store(conn, sh)
    for start, end in [(rc.SPAN_START + timedelta(minutes=15), horizon + timedelta(minutes=45)),
                       (rc.SPAN_START + timedelta(hours=1, minutes=30), rc.SPAN_START + timedelta(hours=1, minutes=45)),
                       (None, horizon - timedelta(minutes=15)), (horizon - timedelta(minutes=15), None)]:
        assert rc.check_range_stats(conn, sh, [], start, end) == (start, end)  # raw rows answer exactly
        rc.check_raw_stats(conn, start, end, rows=rows)
    # New rows before the horizon fold into hours only; updates move them across it.
    rc.insert(conn, [{**rows[0], "created_at": horizon - timedelta(minutes=50)},
                     {**rows[1], "created_at": horizon + timedelta(minutes=50)}])
    rollups.catch_up(conn)
    conn.execute("UPDATE chat_completion_requests SET created_at = created_at + interval '1 day' WHERE id % 3 = 0")
    conn.execute("UPDATE chat_completion_requests SET created_at = created_at - interval '1 day' WHERE id % 3 = 1")
    rc.check_store(conn, sh)
    rc.check_range_stats(conn, sh, [], rc.SPAN_START + timedelta(minutes=15), horizon + timedelta(minutes=45))


def test_retention_and_pruning_wrappers_count_days_from_now(conn):
    rc.make_catalog(conn)
    now = conn.execute("SELECT now() AS t").fetchone()["t"]
    ages = [timedelta(days=9), timedelta(days=6, hours=1), timedelta(days=2), timedelta(hours=1)]
    rc.insert(conn, [{"model_id": None, "input_tokens": 1, "output_tokens": 1, "processing_time_ms": 10,
                      "status": "completed", "cost_usd": None, "created_at": now - age} for age in ages])
    assert rollups.retain(conn, 5) == 0  # nothing is rolled up yet
    rollups.catch_up(conn)
    assert rollups.prune(conn, 5, 35, 95) > 0
    batches = []
    assert rollups.retain(conn, 5, batch_rows=1, progress=batches.append) == 2
    assert batches == [1, 1]
    st_ = rc.state(conn)
    assert st_.quarter_horizon == st_.raw_horizon == rc.midnight(now - timedelta(days=5))
    assert len(rc.fetch_rows(conn)) == 2
    assert rc.sql_stats(conn)[None]["total_requests"] == 4


def _retained_history(conn, batch_rows=10_000):
    """_history() with retention at its third midnight (one batch); return that horizon."""
    _history(conn, rc.shape(conn))
    horizon = rc.SPAN_START + timedelta(days=2)
    assert conn.execute("SELECT chat_rollup_retain(%s, %s) AS n", (horizon, batch_rows)).fetchone()["n"] > 0
    return horizon


def test_effective_range_keeps_an_open_edge_open(conn):
    """Regression: a rounded start closed an open end at its bucket's end (and vice versa)."""
    _retained_history(conn)
    ragged = rc.SPAN_START + timedelta(hours=10, minutes=5)
    assert rc.effective_range(conn, ragged, None) == (rc.SPAN_START + timedelta(hours=10), None)
    assert rc.effective_range(conn, None, ragged) == (None, rc.SPAN_START + timedelta(hours=10, minutes=15))


def test_an_edge_after_the_raw_horizon_is_never_rounded(conn):
    """Regression: a range with no whole quarter inside, straddling the raw horizon, was
    rounded as one piece: its end too, where raw rows answer."""
    horizon = _retained_history(conn)
    start, end = horizon - timedelta(minutes=5), horizon + timedelta(minutes=5)
    # Expected: [23:45, 00:05) (the start rounded to its quarter); answered as [23:45, 00:15).
    assert rc.effective_range(conn, start, end) == (horizon - timedelta(minutes=15), end)


def test_rows_not_rolled_up_yet_count_in_the_rounded_part(conn):
    """Regression: the tail was read over the range asked, the rollups over the wider one
    covered, so a refresh changed the answer for the same range."""
    _retained_history(conn)
    late = {**rc.fetch_rows(conn)[0], "created_at": rc.SPAN_START + timedelta(hours=10, minutes=2)}
    rc.insert(conn, [late])
    start, end = rc.SPAN_START + timedelta(hours=10, minutes=5), rc.SPAN_START + timedelta(hours=12)
    assert rc.effective_range(conn, start, end) == (rc.SPAN_START + timedelta(hours=10), end)
    before = rc.sql_stats(conn, start, end)
    rollups.catch_up(conn)
    assert rc.sql_stats(conn, start, end) == before  # the late row lies in [10:00, 12:00) either way


def test_delete_of_a_rolled_up_row_before_the_raw_horizon(conn):
    """Regression: every deleted rolled-up row older than the raw horizon was taken for
    retention's, so a user's DELETE of one (not reached by a retention batch yet) stayed counted."""
    horizon = _retained_history(conn, batch_rows=1)  # removes one row, more are older
    left_before_horizon = conn.execute(
        "SELECT id FROM chat_completion_requests WHERE created_at < %s ORDER BY id LIMIT 1", (horizon,)).fetchone()
    total = rc.sql_stats(conn)
    conn.execute("DELETE FROM chat_completion_requests WHERE id = %s", (left_before_horizon["id"],))
    assert sum(r["total_requests"] for r in rc.sql_stats(conn).values()) == \
        sum(r["total_requests"] for r in total.values()) - 1


def test_refresher_prunes_and_retains_after_catching_up(conn, database_url):
    """The Refresher thread (as the owner here: see test_refresher_thread_rolls_up_by_itself
    for the rollup role) rolls up, then applies quarter_days and raw_days."""
    rc.make_catalog(conn)
    now = conn.execute("SELECT now() AS t").fetchone()["t"]
    ages = [timedelta(days=12), timedelta(days=8), timedelta(days=3), timedelta(minutes=5)]
    rc.insert(conn, [{"model_id": None, "input_tokens": 1, "output_tokens": 1, "processing_time_ms": 10 * i,
                      "status": "completed", "cost_usd": None, "created_at": now - age}
                     for i, age in enumerate(ages)])
    thread = refresher.Refresher(database_url, 0.05, horizons=(5, 35, 95), raw_days=7)
    thread.start()
    try:
        for _ in range(100):
            if len(rc.fetch_rows(conn)) == 2 and rc.state(conn).quarter_horizon is not None:
                break
            time.sleep(0.05)
    finally:
        thread.stop()
    st_ = rc.state(conn)
    assert st_.watermark == 4
    assert st_.quarter_horizon == rc.midnight(now - timedelta(days=5))
    assert st_.raw_horizon == rc.midnight(now - timedelta(days=7))
    assert sorted(r["created_at"] for r in rc.fetch_rows(conn)) == [now - ages[2], now - ages[3]]
    assert rc.sql_stats(conn)[None]["total_requests"] == 4
