"""Shared by the rollup tests: writing requests, a Python model of the rollup store, checks.

The store (migrations 0008-0010) is checked against aggregations done here in Python
over the rows themselves, never against another SQL path alone:

- the stored rows of chat_rollups, level by level and dimension by dimension, against the
  rows below the watermark plus the rows retention removed (the caller keeps those),
  honouring the quarter and detail horizons;
- chat_request_stats() over a range against the rows of the range it covered (the
  effective range: wider than asked only where an edge falls before the raw horizon at a
  finer precision than kept there), sums exactly, percentiles within the stated error of
  the exact percentile_disc computed here.

The levels come from chat_rollup_widths() / chat_rollup_top() (Shape), never from here.
"""
import bisect
import itertools
import math
import os
import random
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest
from hypothesis import strategies as st

from webapp import refresher

STATUSES = ("completed", "failed", "partial")  # counted by name; any other status as other


def status_index(status):
    """Where a request of this status counts: completed, failed, partial, other."""
    return STATUSES.index(status) if status in STATUSES else 3

# Buckets of every level are aligned to this origin (see chat_rollup_bucket()).
ORIGIN = datetime(2000, 1, 1, tzinfo=timezone.utc)
# Generated data lives in [SPAN_START, SPAN_END): a few days around BASE, a bucket boundary
# of every level (shape() checks it), so that the data holds boundaries of every level.
BASE = ORIGIN + timedelta(days=9 * 1024)
SPAN_START, SPAN_END = BASE - timedelta(days=2), BASE + timedelta(days=3)
DAY = timedelta(days=1)
US = timedelta(microseconds=1)
QUANTILES = (0.5, 0.95, 0.99)

# Instants for the tests whose answers depend on where "now" falls (their history ends
# there, not today): just before and after a 1024-day block boundary (BASE), a year's end,
# a leap day, two DST changes (America/New_York 2027-03-14, Europe/Berlin 2027-10-31),
# and a midnight inside a 32-day block (2026-12-04, when the 0013 test failed).
ANCHORS = {
    "before-1024-day-boundary": BASE - timedelta(hours=5),
    "after-1024-day-boundary": BASE + timedelta(hours=5),
    "year-end": datetime(2026, 12, 31, 23, 30, tzinfo=timezone.utc),
    "leap-day": datetime(2028, 2, 29, 12, 0, tzinfo=timezone.utc),
    "dst-new-york": datetime(2027, 3, 14, 7, 0, tzinfo=timezone.utc),
    "dst-berlin": datetime(2027, 10, 31, 1, 0, tzinfo=timezone.utc),
    "mid-block": datetime(2026, 12, 4, 0, 0, tzinfo=timezone.utc),
}

_request_ids = itertools.count()

COLUMNS = ("model_id", "input_tokens", "output_tokens", "processing_time_ms", "status",
           "cost_usd", "created_at", "api_key_id", "user_id")
# The store's dimensions: what a request is filed under in each (0: none).
DIMENSIONS = {"m": lambda r: r["model_id"] or 0, "k": lambda r: r["api_key_id"] or 0,
              "u": lambda r: r["user_id"] or 0, "a": lambda r: 0}


@pytest.fixture(autouse=True)
def no_background_refreshers():
    """Apps of earlier tests may leave refresher threads behind; these tests refresh by hand."""
    for thread in threading.enumerate():
        if isinstance(thread, refresher.Refresher):
            thread.stop()


def request_id():
    return f"t-{os.getpid()}-{next(_request_ids)}"


def insert(conn, rows, request_ids=True):
    """Insert rows (dicts with COLUMNS) in one statement, each with a new request_id unless
    not request_ids (the gateway's table has no such column); return their ids."""
    if not rows:
        return []
    columns = ("request_id",) * request_ids + COLUMNS
    values = ", ".join([f"({', '.join(['%s'] * len(columns))})"] * len(rows))
    params = [v for row in rows for v in ((request_id(),) * request_ids + tuple(row.get(c) for c in COLUMNS))]
    cur = conn.execute(
        f"INSERT INTO chat_completion_requests ({', '.join(columns)}) VALUES {values} RETURNING id", params)
    return [r["id"] if isinstance(r, dict) else r[0] for r in cur.fetchall()]


def gateway_requests(rng, model_ids, count, end=None):
    """Requests as the gateway writes them, over the four days before end (BASE): a tenth
    of their tokens and latencies NULL, a third of the latencies fractional, some of other
    statuses (its column defaults to 'pending')."""
    end = end or BASE

    def latency():
        kind = rng.random()
        if kind < 0.1:
            return None
        if kind < 0.45:
            return Decimal(rng.randrange(1, 3_000_000)) / 1000
        return Decimal(rng.randrange(0, 30_000))
    return [{"model_id": rng.choice([*model_ids, None]),
             "input_tokens": None if rng.random() < 0.1 else rng.randrange(1, 5000),
             "output_tokens": None if rng.random() < 0.1 else rng.randrange(0, 2000),
             "processing_time_ms": latency(), "status": rng.choice((*STATUSES, "pending", "cancelled")),
             "cost_usd": None if rng.random() < 0.3 else Decimal(rng.randrange(0, 10**6)) / 10**6,
             "created_at": end - timedelta(days=rng.uniform(0, 4)),
             "api_key_id": rng.choice([None, 1, 2, 3]), "user_id": rng.choice([None, *range(1, 13)])}
            for _ in range(count)]


def random_request(rng, model_ids, created_at):
    """A request at created_at of a few models (and none), keys and users; latencies of a
    few ms to over an hour (past the histograms' last bucket), a fifth without a cost."""
    return {"model_id": rng.choice([*model_ids, None]), "input_tokens": rng.randrange(5000),
            "output_tokens": rng.randrange(5000),
            "processing_time_ms": rng.choice([rng.randrange(100), rng.randrange(100_000),
                                              rng.randrange(600_000, 4_000_000)]),
            "status": rng.choice(STATUSES),
            "cost_usd": None if rng.random() < 0.2 else Decimal(rng.randrange(10**7)) / 10**6,
            "created_at": created_at,
            "api_key_id": rng.choice([None, *range(1, 6)]), "user_id": rng.choice([None, *range(1, 12)])}


def random_requests(rng, model_ids, end, oldest_days, newest_days, count):
    """count requests at random instants between oldest_days and newest_days before end,
    of a few models (and none), keys and users."""
    return [{"model_id": rng.choice([*model_ids, None]), "input_tokens": rng.randrange(1, 5000),
             "output_tokens": rng.randrange(0, 2000), "processing_time_ms": rng.randrange(1, 30_000),
             "status": rng.choice(STATUSES), "cost_usd": None,
             "created_at": end - timedelta(days=rng.uniform(newest_days, oldest_days)),
             "api_key_id": rng.choice([None, 1, 2, 3]), "user_id": rng.choice([None, *range(1, 13)])}
            for _ in range(count)]


def make_catalog(conn, providers=2, models=3):
    """Providers and models for generated requests; return (provider ids, model ids)."""
    provider_ids = [conn.execute("INSERT INTO providers (name, slug) VALUES (%s, %s) RETURNING id",
                                 (f"P{p}", f"p{p}")).fetchone()["id"] for p in range(providers)]
    # model_name is the gateway's identifier; a catalog of chatstats' first migrations
    # also has models.model_id: the same
    identifier = conn.execute("SELECT EXISTS (SELECT FROM information_schema.columns WHERE table_schema = 'public'"
                              " AND table_name = 'models' AND column_name = 'model_id') AS e").fetchone()["e"]
    model_ids = [conn.execute(
        f"""INSERT INTO models (provider_id, model_name, provider_model_id{', model_id' * identifier})
            VALUES (%s, %s, %s{', %s' * identifier}) RETURNING id""",
        (provider_ids[m % providers], f"m{m}", f"m{m}-v1", f"m{m}")[:3 + identifier]).fetchone()["id"]
        for m in range(models)]
    return provider_ids, model_ids


def model_providers(conn):
    """{model id: provider id}."""
    return {r["id"]: r["provider_id"] for r in conn.execute("SELECT id, provider_id FROM models")}


# -- the store's shape -----------------------------------------------------------

@dataclass(frozen=True)
class Shape:
    widths: tuple   # bucket width of levels 1, 2, ... (timedelta), finest first
    top: int        # the all-time level
    main_dims: int  # buckets in the latency vector; the rest are in latency_over
    over_dims: int

    def floor(self, level, at):
        """The start of the level's bucket holding `at` (None: the all-time bucket)."""
        if level == self.top:
            return None
        width = self.widths[level - 1]
        return ORIGIN + (at - ORIGIN) // width * width

    def ceil(self, level, at):
        start = self.floor(level, at)
        return start if start == at else start + self.widths[level - 1]

    def boundaries(self, lo=SPAN_START, hi=SPAN_END):
        """Every bucket start of every level (but all time) in [lo, hi)."""
        found = set()
        for level in range(1, self.top):
            at = self.ceil(level, lo)
            while at < hi:
                found.add(at)
                at += self.widths[level - 1]
        return sorted(found)


def shape(conn):
    widths = conn.execute("SELECT chat_rollup_widths() AS w").fetchone()["w"]
    top = conn.execute("SELECT chat_rollup_top() AS t").fetchone()["t"]
    dims = {r["attname"]: r["atttypmod"] for r in conn.execute(
        """SELECT attname, atttypmod FROM pg_attribute
            WHERE attrelid = 'chat_rollups'::regclass AND attname IN ('latency', 'latency_over')""")}
    assert top == len(widths) + 1
    assert all(b % a == timedelta(0) for a, b in zip(widths, widths[1:])), "levels must nest"
    found = Shape(tuple(widths), top, dims["latency"], dims["latency_over"])
    assert all(found.floor(level, BASE) == BASE for level in range(1, top)), "move BASE to a boundary of every level"
    return found


@dataclass(frozen=True)
class State:
    watermark: int
    quarter_horizon: datetime  # None: -infinity
    raw_horizon: datetime      # None: -infinity
    detail_horizon: datetime   # None: -infinity
    user_horizon: datetime     # None: -infinity


def state(conn):
    row = conn.execute(
        """SELECT watermark_id,
                  CASE WHEN isfinite(quarter_horizon) THEN quarter_horizon END AS qh,
                  CASE WHEN isfinite(raw_horizon) THEN raw_horizon END AS rh,
                  CASE WHEN isfinite(detail_horizon) THEN detail_horizon END AS dh,
                  CASE WHEN isfinite(user_horizon) THEN user_horizon END AS uh,
                  quarter_horizon = '-infinity' OR isfinite(quarter_horizon) AS qh_ok,
                  raw_horizon = '-infinity' OR isfinite(raw_horizon) AS rh_ok
             FROM chat_rollup_state""").fetchone()
    assert row["qh_ok"] and row["rh_ok"], row
    return State(row["watermark_id"], row["qh"], row["rh"], row["dh"], row["uh"])


def before(at, horizon):
    """at < horizon, horizon None meaning -infinity."""
    return horizon is not None and at < horizon


def midnight(at):
    return ORIGIN + (at - ORIGIN) // DAY * DAY


# -- strategies ---------------------------------------------------------------

def instants(sh):
    """Timestamps in the data span: arbitrary, exactly on a bucket boundary of some level
    (every level with a boundary in the span), or next to one."""
    span_us = int((SPAN_END - SPAN_START) / US)
    arbitrary = st.integers(0, span_us - 1).map(lambda us: SPAN_START + us * US)
    aligned = st.builds(lambda at, jitter: at + jitter,
                        st.sampled_from(sh.boundaries()),
                        st.sampled_from([timedelta(0)] * 3 + [-US, US, -timedelta(seconds=1)]))
    return st.one_of(arbitrary, aligned).filter(lambda at: SPAN_START <= at < SPAN_END)


# Processing times: short ones (2 ms buckets), log buckets, ties, 10 minutes and more (the
# latency_over vector) up to the integer limit.
processing_times = st.one_of(
    st.integers(0, 99), st.integers(100, 5000), st.sampled_from([0, 1, 99, 100, 101, 1000]),
    st.integers(5000, 600_000), st.integers(600_000, 5_000_000),
    st.sampled_from([599_999, 601_906, 601_907, 3_600_000, 2**31 - 1]))

costs = st.none() | st.decimals(min_value=Decimal("-1"), max_value=Decimal("999999"), places=6,
                                allow_nan=False, allow_infinity=False)


def requests(sh, model_ids):
    return st.fixed_dictionaries({
        "model_id": st.sampled_from([*model_ids, None]),
        "input_tokens": st.integers(0, 100_000),
        "output_tokens": st.integers(0, 100_000),
        "processing_time_ms": processing_times,
        "status": st.sampled_from(STATUSES),
        "cost_usd": costs,
        "created_at": instants(sh),
        "api_key_id": st.sampled_from([None, 1, 2, 2**40]),
        "user_id": st.sampled_from([None, 7, 8, 9, 2**62]),
    })


def ranges(sh):
    """(start, end), either may be None (open): anywhere in or around the data, on or next
    to boundaries, far outside it, or both inside one quarter."""
    far = st.sampled_from([SPAN_START - timedelta(days=40), SPAN_END + timedelta(days=40),
                           BASE - sh.widths[-1], BASE + sh.widths[-2]])
    bound = st.none() | instants(sh) | far
    quarter = sh.widths[0]
    in_one_bucket = st.builds(
        lambda at, a, b: (sh.floor(1, at) + min(a, b) * US, sh.floor(1, at) + max(a, b) * US),
        instants(sh), st.integers(0, int(quarter / US) - 1), st.integers(0, int(quarter / US) - 1))
    return st.one_of(st.tuples(bound, bound), in_one_bucket)


# -- the Python aggregation -----------------------------------------------------

def fetch_rows(conn):
    return conn.execute(
        f"SELECT id, {', '.join(COLUMNS)} FROM chat_completion_requests ORDER BY id").fetchall()


def in_range(rows, start=None, end=None, model_id=None):
    """The rows in [start, end) of model_id (None: all; 0: those without a model, as
    chat_request_stats' p_model_ids has it)."""
    return [r for r in rows
            if (start is None or r["created_at"] >= start) and (end is None or r["created_at"] < end)
            and (model_id is None or r["model_id"] == (model_id or None))]


def exact_percentile(values, fraction):
    """percentile_disc: the ceil(fraction * n)-th smallest value (in float8, as PostgreSQL)."""
    ordered = sorted(values)
    rank = math.ceil(fraction * len(ordered))
    return ordered[max(rank, 1) - 1]


def within_error(reported, exact):
    """The stated error: within max(1 ms, 1%) of the exact value."""
    exact = float(exact)
    return abs(float(reported) - exact) <= max(1.0, 0.01 * exact)


@dataclass
class Totals:
    """A group's statistics as the gateway's rows define them: NULL tokens count as 0, a
    NULL latency is left out of the latency statistics and counted (untimed)."""
    counts: list = field(default_factory=lambda: [0, 0, 0, 0])  # completed, failed, partial, other
    untimed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    processing_time_ms: Decimal = Decimal(0)
    cost_usd: Decimal = Decimal(0)
    times: list = field(default_factory=list)

    def add(self, r):
        self.counts[status_index(r["status"])] += 1
        self.input_tokens += r["input_tokens"] or 0
        self.output_tokens += r["output_tokens"] or 0
        self.cost_usd += r["cost_usd"] or 0
        if r["processing_time_ms"] is None:
            self.untimed += 1
        else:
            self.processing_time_ms += r["processing_time_ms"]
            self.times.append(r["processing_time_ms"])
        return self

    @property
    def requests(self):
        return sum(self.counts)

    def sums(self):
        return (self.requests, *self.counts, self.untimed, self.input_tokens, self.output_tokens,
                self.processing_time_ms, self.cost_usd)

    def percentiles(self):
        return tuple(exact_percentile(self.times, q) if self.times else None for q in QUANTILES)


def python_stats(rows, start=None, end=None, model_id=None):
    """{model id or None: Totals} of the rows in [start, end)."""
    acc = defaultdict(Totals)
    for r in in_range(rows, start, end, model_id):
        acc[r["model_id"]].add(r)
    return dict(acc)


# -- the stored rollups --------------------------------------------------------

def latency_buckets(conn, times):
    """{processing time: its histogram bucket} as chat_latency_bucket() files it (its
    error is checked on its own by test_rollups.test_latency_buckets_and_values)."""
    return {r["ms"]: r["b"] for r in conn.execute(
        "SELECT ms, chat_latency_bucket(ms) AS b FROM unnest(%s::numeric[]) ms",
        (sorted({t for t in times if t is not None}),))}


def decode_histogram(sh, main, over):
    """Per-bucket counts {bucket: n} of a stored cumulative histogram (vectors as lists)."""
    assert len(main) == sh.main_dims and (over is None or len(over) == sh.over_dims)
    cumulative = main + [main[-1] + v for v in over] if over else main
    assert cumulative[0] >= 0 and cumulative == sorted(cumulative), "a negative histogram count"
    counts, previous = {}, 0.0
    for c in sorted(set(cumulative) - {0.0}):
        assert c == int(c), f"a histogram count is not an integer: {c}"
        counts[bisect.bisect_left(cumulative, c) + 1] = int(c - previous)
        previous = c
    return counts


def exact(lo, hi):
    """A stored histogram's cells: lo, plus hi in a wide row (migration 0016)."""
    return lo if hi is None else [a + b for a, b in zip(lo, hi)]


def stored_rollups(conn, sh):
    """{(level, bucket (None: all time), id): (sums..., histogram)} of the non-empty rows;
    asserts that empty rows (everything moved out again) are all zero."""
    stored = {}
    for r in conn.cursor(binary=True).execute(  # binary: the vectors load much faster
            """SELECT level, dim, isfinite(bucket) AS finite, bucket = '-infinity' AS all_time,
                      CASE WHEN isfinite(bucket) THEN bucket END AS bucket, id, completed, failed,
                      partial, other, untimed, input_tokens, output_tokens, processing_time_ms, cost_usd,
                      latency::real[] AS main, latency_over::real[] AS over,
                      latency_hi::real[] AS main_hi, latency_over_hi::real[] AS over_hi,
                      -- the models' all-time rows keep the percentiles of their histogram
                      -- (migration 0017), NULL elsewhere
                      latency_percentiles IS NOT DISTINCT FROM CASE
                          WHEN level = chat_rollup_top() AND dim = 'm' THEN ARRAY[
                              chat_latency_percentile(h.main, h.over, 0.5),
                              chat_latency_percentile(h.main, h.over, 0.95),
                              chat_latency_percentile(h.main, h.over, 0.99)] END AS percentiles_kept
                 FROM chat_rollups,
                      LATERAL (SELECT chat_histogram_values(latency, latency_hi) AS main,
                                      chat_histogram_values(latency_over, latency_over_hi) AS over) h"""):
        assert r["dim"] in DIMENSIONS, r
        assert r["percentiles_kept"], f"kept percentiles are not the histogram's: {r}"
        assert (r["level"] == sh.top) == r["all_time"] and (r["level"] == sh.top) != r["finite"], r
        if r["level"] < sh.top:
            assert sh.floor(r["level"], r["bucket"]) == r["bucket"], f"unaligned bucket {r}"
        histogram = decode_histogram(sh, exact(r["main"], r["main_hi"]), exact(r["over"], r["over_hi"]))
        assert all(n > 0 for n in histogram.values()), f"a negative histogram count: {r}"
        key = (r["level"], r["dim"], r["bucket"], r["id"])
        sums = (r["completed"], r["failed"], r["partial"], r["other"], r["untimed"], r["input_tokens"],
                r["output_tokens"], r["processing_time_ms"], r["cost_usd"])
        if sum(sums[:4]) == 0:
            assert sums[4:] == (0, 0, 0, 0, 0) and not histogram, f"an empty row with sums: {r}"
            continue
        assert sum(histogram.values()) == sum(sums[:4]) - r["untimed"], f"histogram total != timed requests: {r}"
        stored[key] = (*sums, histogram)
    return stored


def kept(sh, st_, dim, level, bucket):
    """Whether the store keeps this bucket (migration 0013's rule, restated): models and
    all requests every level, quarters from the quarter horizon on; keys and users no
    quarters, hours and 6 hours from the detail horizon on; keys everything coarser for
    ever; users days to 16 days from the user horizon on, 32 days and all time for ever,
    nothing else."""
    width = sh.widths[level - 1] if level < sh.top else None
    if dim in "ma":
        return level > 1 or not before(bucket, st_.quarter_horizon)
    if width is None or width == timedelta(days=32) or dim == "k" and width >= timedelta(days=1):
        return True
    if width < timedelta(hours=1) or width > timedelta(days=32):
        return False
    return not before(bucket, st_.detail_horizon if width <= timedelta(hours=6) else st_.user_horizon)


def expected_rollups(conn, sh, rows, st_):
    """What the store must hold for these rows (those below the watermark and those
    retention removed): in every dimension, the buckets kept()."""
    buckets = latency_buckets(conn, [r["processing_time_ms"] for r in rows])
    acc = defaultdict(lambda: [0, 0, 0, 0, 0, 0, 0, 0, Decimal(0), Counter()])
    for r, level, (dim, id_of) in itertools.product(rows, range(1, sh.top + 1), DIMENSIONS.items()):
        bucket = sh.floor(level, r["created_at"])
        if kept(sh, st_, dim, level, bucket):
            a = acc[(level, dim, bucket, id_of(r))]
            a[status_index(r["status"])] += 1
            a[5] += r["input_tokens"] or 0
            a[6] += r["output_tokens"] or 0
            a[8] += r["cost_usd"] or 0
            if r["processing_time_ms"] is None:
                a[4] += 1
            else:
                a[7] += r["processing_time_ms"]
                a[9][buckets[r["processing_time_ms"]]] += 1
    return {key: (*a[:9], dict(a[9])) for key, a in acc.items()}


def check_store(conn, sh, retained=()):
    """The stored rollups are exactly the rows with id <= watermark plus `retained` (rows
    retention removed), level by level; return (state, live rows)."""
    st_ = state(conn)
    rows = fetch_rows(conn)
    folded = [r for r in rows if r["id"] <= st_.watermark] + list(retained)
    expected = expected_rollups(conn, sh, folded, st_)
    actual = stored_rollups(conn, sh)
    if actual != expected:
        wrong = sorted({*actual, *expected} - {k for k in actual if actual.get(k) == expected.get(k)},
                       key=lambda k: (k[0], k[1], k[2] or ORIGIN, k[3]))
        detail = [(k, actual.get(k), expected.get(k)) for k in wrong[:3]]
        raise AssertionError(f"stored rollups differ in {len(wrong)} rows, e.g. (key, stored, "
                             f"expected): {detail}")
    return st_, rows


# -- pieces and breakdowns ----------------------------------------------------------

def covered(conn, sh, dim, start, end, start_outwards=True, end_outwards=True):
    """The pieces of [start, end) for dim, checked: each is kept by the store (a level's
    buckets) or lies after the raw horizon (raw rows); every instant counts at most once,
    those of the range exactly once, and the instants counted form one range, wider than
    asked only at an end before the raw horizon. Returns that range (None: unbounded)."""
    st_ = state(conn)
    pieces = conn.execute(
        """SELECT level, CASE WHEN isfinite(lo) THEN lo END AS lo, CASE WHEN isfinite(hi) THEN hi END AS hi, sign
             FROM chat_rollup_pieces(%s, %s, %s, %s, %s)""",
        (dim, start, end, start_outwards, end_outwards)).fetchall()
    for p in pieces:
        if p["level"] is None:
            assert not before(p["lo"], st_.raw_horizon), (p, st_)
        elif p["level"] < sh.top:
            assert kept(sh, st_, dim, p["level"], p["lo"]), (p, st_)
    edges = sorted({t for p in pieces for t in (p["lo"], p["hi"]) if t is not None}
                   | {t for t in (start, end) if t is not None})
    probes = sorted({t + d for t in edges for d in (timedelta(0), -US)})

    def times(at):  # how many times the pieces count an instant (None: before every edge)
        return sum(p["sign"] for p in pieces
                   if (p["lo"] is None or at is not None and p["lo"] <= at)
                   and (p["hi"] is None or at is None or at < p["hi"]))
    counts = [(at, times(at)) for at in [None, *probes]]
    assert all(n in (0, 1) for _, n in counts), (dim, start, end, counts, pieces)
    inside = [at for at, n in counts if n == 1]
    if not inside:
        return start, end  # an empty range
    first = inside[0]
    last = next((at for at, n in counts if at is not None and n == 0 and (first is None or at > first)), None)
    assert [at for at, n in counts if n == 1 and last is not None and at is not None and at >= last] == [], \
        (dim, start, end, counts)
    assert (first is None) == (start is None) and (last is None) == (end is None), (dim, start, end, first, last)
    if start is not None:
        assert first <= start and (first == start or before(start, st_.raw_horizon)), (dim, start, first, st_)
    if end is not None:
        assert last >= end and (last == end or before(end - US, st_.raw_horizon)), (dim, end, last, st_)
    return first, last


# A breakdown's `by`: (the store's dimension, the request's column).
BREAKDOWNS = {"user": ("u", "user_id"), "api_key": ("k", "api_key_id"), "model": ("m", "model_id")}


def check_breakdown(conn, sh, rows, by, start, end):
    """chat_request_breakdown by `by` over [start, end) against the Python aggregation of
    `rows` (live and retained) over the range its pieces cover; return that range."""
    dim, column = BREAKDOWNS[by]
    lo, hi = covered(conn, sh, dim, start, end)
    assert sql_groups(conn, by, start, end) == python_groups(rows, column, lo, hi), (by, start, end, lo, hi)
    return lo, hi


def python_groups(rows, column, start, end):
    """{group id (0: none): (completed, failed, partial, other, input tokens)} of the rows in [start, end)."""
    found = defaultdict(lambda: [0, 0, 0, 0, 0])
    for r in in_range(rows, start, end):
        g = found[r[column] or 0]
        g[status_index(r["status"])] += 1
        g[4] += r["input_tokens"] or 0
    return {k: tuple(v) for k, v in found.items()}


def sql_groups(conn, by, start, end):
    """The breakdown's groups (those of no request left out: pieces that cancel out list
    them, with zeros)."""
    return {(r["group_id"] or 0): (r["completed_requests"], r["failed_requests"], r["partial_requests"],
                                   r["other_requests"], r["total_input_tokens"])
            for r in conn.execute("SELECT kind, group_id, completed_requests, failed_requests, partial_requests,"
                                  " other_requests, total_input_tokens"
                                  " FROM chat_request_breakdown(%s, %s, %s, 1000)", (start, end, by))
            if r["kind"] == "group"
            and r["completed_requests"] + r["failed_requests"] + r["partial_requests"] + r["other_requests"]}


# -- statistics -----------------------------------------------------------------

def sql_stats(conn, start=None, end=None, model_id=None, source="rollup"):
    """chat_request_stats_<source>(...) as {model id: row}."""
    assert source in ("rollup", "raw")
    rows = conn.execute(f"SELECT * FROM chat_request_stats_{source}(%s, %s, %s::integer[], true)",
                        (start, end, None if model_id is None else [model_id])).fetchall()
    found = {r["model_id"]: r for r in rows}
    assert len(found) == len(rows), "a model twice"
    return found


def sql_sums(row):
    return (row["total_requests"], row["completed_requests"], row["failed_requests"],
            row["partial_requests"], row["other_requests"], row["untimed_requests"], row["total_input_tokens"],
            row["total_output_tokens"], row["processing_time_ms_sum"], row["total_cost_usd"])


def sql_percentiles(row):
    return tuple(row[f"p{int(q * 100)}_processing_time_ms"] for q in QUANTILES)


def compare_stats(actual, expected, what, exact_percentiles=False):
    """SQL rows {model: row} against Python {model: Totals}: sums exactly, percentiles
    within the error (or exactly)."""
    assert set(actual) == set(expected), f"{what}: models {sorted(actual, key=str)} != " \
                                         f"{sorted(expected, key=str)}"
    for model, totals in expected.items():
        row = actual[model]
        assert sql_sums(row) == totals.sums(), f"{what}, model {model}: {sql_sums(row)} != {totals.sums()}"
        for q, reported, exact in zip(QUANTILES, sql_percentiles(row), totals.percentiles()):
            ok = reported == exact if exact_percentiles or exact is None else within_error(reported, exact)
            assert ok, f"{what}, model {model}: p{q} {reported} vs exact {exact}"


def ideal_edge(sh, st_, at, up):
    """Where an edge must be answered from: itself unless raw rows are gone there (before
    the raw horizon) and it is finer than the finest level kept there (quarters from the
    quarter horizon on, hours before), then the bucket edge outwards."""
    if at is None or not before(at, st_.raw_horizon):
        return at
    level = 2 if before(at, st_.quarter_horizon) else 1
    return sh.ceil(level, at) if up else sh.floor(level, at)


def effective_range(conn, start, end):
    row = conn.execute(
        """SELECT CASE WHEN isfinite(effective_start) THEN effective_start END AS s,
                  CASE WHEN isfinite(effective_end) THEN effective_end END AS e
             FROM chat_rollup_effective_range(%s, %s)""", (start, end)).fetchone()
    return row["s"], row["e"]


def pieces(conn, start, end):
    return conn.execute(
        """SELECT level, CASE WHEN isfinite(lo) THEN lo END AS lo,
                  CASE WHEN isfinite(hi) THEN hi END AS hi, exact
             FROM chat_rollup_pieces(%s, %s)""", (start, end)).fetchall()


def check_range_stats(conn, sh, retained, start, end, model_id=None, now=None):
    """chat_request_stats (rollup) over [start, end) against the Python aggregation of the
    live and retained rows over the range it covered; the rounding only where it must be.
    `now`: (state, live rows) when the caller has just read them. Returns (effective start,
    effective end)."""
    st_, rows = now or (state(conn), fetch_rows(conn))
    ideal = (ideal_edge(sh, st_, start, False), ideal_edge(sh, st_, end, True))
    if start is not None and end is not None and start >= end:
        ideal = (start, end)
    effective = effective_range(conn, start, end)
    inexact = [p for p in pieces(conn, start, end) if not p["exact"]]
    assert bool(inexact) == (effective != (start, end)), (start, end, effective, inexact)
    assert effective == ideal, \
        f"[{start}, {end}) answered as [{effective[0]}, {effective[1]}), must be {ideal} ({st_})"
    actual = sql_stats(conn, start, end, model_id)
    expected = python_stats(rows + list(retained), *effective, model_id)
    if start is not None and end is not None and start >= end:
        expected = {}
    compare_stats(actual, expected, f"[{start}, {end}) as [{effective[0]}, {effective[1]}) "
                                    f"model {model_id}")
    return effective


def check_gateway_statistics(conn, sh, source, retained=()):
    """Over all time and ranges with raw edges: chat_request_stats_<source> against the
    Python aggregation of the live rows and `retained` (deleted, their statistics kept),
    and (rollups) the breakdowns by model, user and key; the rows must hold NULLs,
    fractions and other statuses. Returns the rows."""
    rows = fetch_rows(conn) + list(retained)
    assert any(r["processing_time_ms"] is None for r in rows) and any(r["input_tokens"] is None for r in rows)
    assert any(r["status"] not in STATUSES for r in rows)
    assert any(r["processing_time_ms"] is not None and r["processing_time_ms"] % 1 for r in rows)
    rng = random.Random(9)
    times = sorted(r["created_at"] for r in rows)
    ranges = [(None, None), (midnight(times[-1]) - 2 * DAY, midnight(times[-1]))]
    for _ in range(6):
        a, b = sorted(rng.sample(times, 2))
        ranges.append((a + US, b))
    for start, end in ranges:
        if source == "raw":
            compare_stats(sql_stats(conn, start, end, None, source), python_stats(rows, start, end),
                          f"raw [{start}, {end})", exact_percentiles=True)
            continue
        check_range_stats(conn, sh, retained, start, end)  # over the range answered (widened where
        for by in BREAKDOWNS:                              # raw rows expired)
            check_breakdown(conn, sh, rows, by, start, end)
    return rows


def check_raw_stats(conn, start=None, end=None, model_id=None, rows=None):
    """The raw baseline equals the Python aggregation of the live rows, percentiles exact."""
    rows = fetch_rows(conn) if rows is None else rows
    expected = {} if start is not None and end is not None and start >= end \
        else python_stats(rows, start, end, model_id)
    compare_stats(sql_stats(conn, start, end, model_id, "raw"), expected,
                  f"raw [{start}, {end}) model {model_id}", exact_percentiles=True)


# -- the public functions and the API ----------------------------------------------

def half_up_mean(total, n):
    """PostgreSQL's round(numeric, 2) of total / n: half away from zero."""
    if not n:
        return None
    with localcontext() as ctx:
        ctx.prec = 60
        return (Decimal(total) / Decimal(n)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def public_model_row(model_id, totals):
    """The statistics part of a model row of the public functions."""
    totals = totals or Totals()
    return {"model_id": model_id, "total_requests": totals.requests,
            "completed_requests": totals.counts[0], "failed_requests": totals.counts[1],
            "partial_requests": totals.counts[2], "other_requests": totals.counts[3],
            "total_input_tokens": totals.input_tokens, "total_output_tokens": totals.output_tokens,
            "total_tokens": totals.input_tokens + totals.output_tokens,
            "avg_processing_time_ms": half_up_mean(totals.processing_time_ms, totals.requests - totals.untimed),
            "total_cost_usd": totals.cost_usd}


def check_public_functions(conn, start, end, expected, providers_of):
    """get_models_with_requests, ..._by_provider, get_model_request_stats,
    get_provider_request_stats and get_unattributed_request_count against the expected
    totals {model or None: Totals} of the range (its effective range)."""
    args = {"start": start, "end": end}

    def stats_part(row):
        keys = ("model_id", *public_model_row(0, None).keys() - {"model_id"})
        return {k: row[k] for k in keys}

    def check_models(rows, model_ids, what):
        assert [r["model_id"] for r in rows] == sorted(
            model_ids, key=lambda m: (-expected[m].requests, m)), what
        for r in rows:
            assert stats_part(r) == public_model_row(r["model_id"], expected.get(r["model_id"])), what
            totals = expected[r["model_id"]]
            for q, exact in zip(QUANTILES, totals.percentiles()):
                reported = r[f"p{int(q * 100)}_processing_time_ms"]
                assert reported == exact if exact is None else within_error(reported, exact), \
                    (what, r["model_id"], q, reported, exact)

    busy = [m for m in expected if m is not None and expected[m].requests]
    check_models(conn.execute("SELECT * FROM get_models_with_requests(%(start)s, %(end)s)", args).fetchall(),
                 busy, "get_models_with_requests")
    for p in sorted(set(providers_of.values())):
        check_models(conn.execute(
            "SELECT * FROM get_models_with_requests_by_provider(%(p)s, %(start)s, %(end)s)",
            {**args, "p": p}).fetchall(),
            [m for m in busy if providers_of[m] == p], f"get_models_with_requests_by_provider {p}")
    for m in providers_of:
        row, = conn.execute("SELECT * FROM get_model_request_stats(%(m)s, %(start)s, %(end)s)",
                            {**args, "m": m}).fetchall()
        if m in busy:
            check_models([row], [m], f"get_model_request_stats {m}")
        else:
            assert stats_part(row) == public_model_row(m, None)
            assert row["p50_processing_time_ms"] is None and row["p99_processing_time_ms"] is None
    providers = conn.execute("SELECT * FROM get_provider_request_stats(%(start)s, %(end)s)", args).fetchall()
    per_provider = {p: (sum(1 for m in busy if providers_of[m] == p),
                        sum(expected[m].requests for m in busy if providers_of[m] == p))
                    for p in {providers_of[m] for m in busy}}  # providers with requests only (0011)
    assert {r["provider_id"]: (r["models_with_requests"], r["total_requests"]) for r in providers} == per_provider
    assert [r["provider_id"] for r in providers] == sorted(per_provider, key=lambda p: (-per_provider[p][1], p))
    unattributed = conn.execute("SELECT get_unattributed_request_count(%(start)s, %(end)s) AS n",
                                args).fetchone()["n"]
    assert unattributed == (expected[None].requests if None in expected else 0)
