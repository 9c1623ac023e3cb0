"""Shared by the rollup tests: writing requests, and checking rollup answers three ways.

Every rollup answer is compared with the raw SQL aggregation and with an
aggregation done here in Python over the rows themselves, so that a bug shared
by both SQL paths (or a vacuous comparison) still shows.
"""
import itertools
import os
import threading
from collections import defaultdict
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import strategies as st

from webapp import rollups

STATUSES = ("completed", "failed", "partial")
# Buckets are aligned to this origin (see chat_request_bucket()).
ORIGIN = datetime(2000, 1, 1, tzinfo=timezone.utc)
GRAINS = (timedelta(minutes=1), timedelta(minutes=10), timedelta(hours=1), timedelta(hours=24))
# Boundaries generated timestamps and range edges like to sit on (a 5-minute one is no grain).
BOUNDARIES = (*GRAINS, timedelta(minutes=5))
# Generated data lives in [BASE - 1 day, BASE + 3 days): a few days, with boundaries of every grain.
BASE = datetime(2026, 3, 1, tzinfo=timezone.utc)
SPAN = timedelta(days=4)
DAY = timedelta(days=1)

_request_ids = itertools.count()

COLUMNS = ("model_id", "input_tokens", "output_tokens", "processing_time_ms", "status",
           "cost_usd", "created_at")


@pytest.fixture(autouse=True)
def no_background_refreshers():
    """Apps of earlier tests may leave refresher threads behind; these tests refresh by hand."""
    for thread in threading.enumerate():
        if isinstance(thread, rollups.Refresher):
            thread.stop()


def request_id():
    return f"t-{os.getpid()}-{next(_request_ids)}"


def insert(conn, rows):
    """Insert rows (dicts with COLUMNS) in one statement; return their ids."""
    if not rows:
        return []
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    params = [v for row in rows for v in (request_id(), *(row[c] for c in COLUMNS))]
    cur = conn.execute(
        f"INSERT INTO chat_completion_requests (request_id, {', '.join(COLUMNS)}) "
        f"VALUES {values} RETURNING id", params)
    return [r["id"] if isinstance(r, dict) else r[0] for r in cur.fetchall()]


def make_catalog(conn, providers=2, models=3):
    """Providers and models for generated requests; return (provider ids, model ids)."""
    provider_ids = [conn.execute("INSERT INTO providers (name, slug) VALUES (%s, %s) RETURNING id",
                                 (f"P{p}", f"p{p}")).fetchone()["id"] for p in range(providers)]
    model_ids = [conn.execute(
        """INSERT INTO models (provider_id, model_id, model_name, provider_model_id)
           VALUES (%s, %s, %s, %s) RETURNING id""",
        (provider_ids[m % providers], f"m{m}", f"Model {m}", f"m{m}-v1")).fetchone()["id"]
        for m in range(models)]
    return provider_ids, model_ids


# -- strategies ---------------------------------------------------------------

def instants():
    """Timestamps in the data span: arbitrary, exactly on a boundary of some grain, or 1 µs off one."""
    arbitrary = st.integers(0, int(SPAN.total_seconds() * 1e6) - 1).map(
        lambda us: BASE - timedelta(days=1) + timedelta(microseconds=us))
    aligned = st.sampled_from(BOUNDARIES).flatmap(lambda grain: st.builds(
        lambda k, jitter_us: BASE + grain * k + timedelta(microseconds=jitter_us),
        st.integers(-(DAY // grain), 3 * DAY // grain - 1), st.sampled_from([0, 0, 0, -1, 1])))
    return st.one_of(arbitrary, aligned)


def requests(model_ids):
    return st.fixed_dictionaries({
        "model_id": st.sampled_from([*model_ids, None]),
        "input_tokens": st.integers(0, 100_000),
        "output_tokens": st.integers(0, 100_000),
        "processing_time_ms": st.integers(0, 1_000_000),
        "status": st.sampled_from(STATUSES),
        "cost_usd": st.none() | st.decimals(min_value=Decimal("-1"), max_value=Decimal("999999"),
                                            places=6, allow_nan=False, allow_infinity=False),
        "created_at": instants(),
    })


def ranges():
    """(start, end), either may be None: anywhere, or both inside one bucket of the finest grain."""
    bound = st.none() | instants()
    in_one_bucket = st.builds(
        lambda k, a, b: (BASE + GRAINS[0] * k + timedelta(microseconds=min(a, b)),
                         BASE + GRAINS[0] * k + timedelta(microseconds=max(a, b))),
        st.integers(-(DAY // GRAINS[0]), 3 * DAY // GRAINS[0]),
        st.integers(0, int(GRAINS[0].total_seconds() * 1e6) - 1),
        st.integers(0, int(GRAINS[0].total_seconds() * 1e6) - 1))
    return st.one_of(st.tuples(bound, bound), in_one_bucket)


# -- answers ------------------------------------------------------------------

def _sorted_rows(rows):
    return sorted((tuple(r.values()) for r in rows), key=lambda t: (t[0] is not None, t[0] or 0))


def totals(conn, source, start=None, end=None, model_id=None):
    """chat_request_totals_<source>(...) as sorted tuples (order carries no meaning)."""
    assert source in ("rollup", "raw")
    return _sorted_rows(conn.execute(
        f"SELECT * FROM chat_request_totals_{source}(%s, %s, %s)", (start, end, model_id)).fetchall())


def fetch_rows(conn):
    return conn.execute(
        f"SELECT id, {', '.join(COLUMNS)} FROM chat_completion_requests").fetchall()


def python_totals(rows, start=None, end=None, model_id=None):
    """The same totals as chat_request_totals(), computed here from the rows."""
    acc = defaultdict(lambda: [0, 0, 0, 0, 0, 0, 0, Decimal(0)])
    for r in rows:
        if ((start is None or r["created_at"] >= start) and (end is None or r["created_at"] < end)
                and (model_id is None or r["model_id"] == model_id)):
            a = acc[r["model_id"]]
            a[0] += 1
            a[1 + STATUSES.index(r["status"])] += 1
            a[4] += r["input_tokens"]
            a[5] += r["output_tokens"]
            a[6] += r["processing_time_ms"]
            a[7] += r["cost_usd"] or 0
    return sorted(((m, *a) for m, a in acc.items()), key=lambda t: (t[0] is not None, t[0] or 0))


def check_totals(conn, start=None, end=None, model_id=None, rows=None):
    """Rollup == raw (== Python, given the rows); return the answer."""
    rollup = totals(conn, "rollup", start, end, model_id)
    raw = totals(conn, "raw", start, end, model_id)
    assert rollup == raw, f"rollup != raw for [{start}, {end}) model {model_id}:\n{rollup}\n{raw}"
    if rows is not None:
        expected = python_totals(rows, start, end, model_id)
        assert raw == expected, f"raw != Python for [{start}, {end}) model {model_id}"
    return rollup


def bucket_of(grain, at):
    return ORIGIN + (at - ORIGIN) // grain * grain


def check_rollup_table(conn):
    """The stored rollups are exactly the rows with id <= watermark, at every grain."""
    grains = conn.execute("SELECT chat_request_rollup_grains() AS g").fetchone()["g"]
    assert tuple(grains) == GRAINS, f"the rollups' grains changed to {grains}: update GRAINS"
    watermark = conn.execute("SELECT watermark_id FROM chat_request_rollup_state").fetchone()["watermark_id"]
    expected = defaultdict(lambda: [0, 0, 0, 0, Decimal(0)])
    for r in fetch_rows(conn):
        if r["id"] <= watermark:
            for grain in GRAINS:
                a = expected[(grain, bucket_of(grain, r["created_at"]), r["model_id"] or 0, r["status"])]
                a[0] += 1
                a[1] += r["input_tokens"]
                a[2] += r["output_tokens"]
                a[3] += r["processing_time_ms"]
                a[4] += r["cost_usd"] or 0
    actual = {(r["grain"], r["bucket"], r["model_id"], r["status"]):
              [r["requests"], r["input_tokens"], r["output_tokens"], r["processing_time_ms"], r["cost_usd"]]
              for r in conn.execute("SELECT * FROM chat_request_rollups").fetchall()
              if any(r[k] for k in ("requests", "input_tokens", "output_tokens",
                                    "processing_time_ms", "cost_usd"))}
    assert actual == dict(expected), "stored rollups differ from the rows below the watermark"
    return watermark


@contextmanager
def stats_source(conn, source):
    """Statistics functions of this session read `source` ('raw' or 'rollup') meanwhile."""
    conn.execute("SELECT set_config('chatstats.stats_source', %s, false)", (source,))
    try:
        yield
    finally:
        conn.execute("SELECT set_config('chatstats.stats_source', 'rollup', false)")


def public_answers(conn, start, end, provider_ids, model_ids):
    """Every public statistics function's answer for the range."""
    args = {"start": start, "end": end}
    answers = {
        "providers": conn.execute(
            "SELECT * FROM get_provider_request_stats(%(start)s, %(end)s)", args).fetchall(),
        "unattributed": conn.execute(
            "SELECT get_unattributed_request_count(%(start)s, %(end)s) AS n", args).fetchone(),
        "models": conn.execute("SELECT * FROM get_models_with_requests(%(start)s, %(end)s)", args).fetchall(),
    }
    for p in provider_ids:
        answers[f"provider {p}"] = conn.execute(
            "SELECT * FROM get_models_with_requests_by_provider(%(p)s, %(start)s, %(end)s)",
            {**args, "p": p}).fetchall()
    for m in model_ids:
        answers[f"model {m}"] = conn.execute(
            "SELECT * FROM get_model_request_stats(%(m)s, %(start)s, %(end)s)", {**args, "m": m}).fetchall()
    return answers


def check_public(conn, start, end, provider_ids, model_ids):
    """Every public function answers the same from the rollups as from the raw rows."""
    with stats_source(conn, "raw"):
        raw = public_answers(conn, start, end, provider_ids, model_ids)
    rollup = public_answers(conn, start, end, provider_ids, model_ids)
    assert rollup == raw, f"public functions differ for [{start}, {end})"
    return rollup


def _api_answer(client, path, query):
    response = client.get(path, query_string=query)
    assert response.status_code in (200, 404), response.get_json()
    body = response.get_json()
    for key in ("timestamp", "source", "rollup_lag_rows", "rollup_lag_seconds"):
        body.get("metadata", {}).pop(key, None)
    return response.status_code, body


def api_answers(client, start, end, provider_ids, model_ids):
    """Every statistics endpoint's answer for the range (minus timestamps and lag)."""
    query = {k: v.isoformat() for k, v in (("start_date", start), ("end_date", end)) if v is not None}
    prefix = "/api/monitoring/chat-requests"
    answers = {"providers": _api_answer(client, f"{prefix}/providers", query),
               "models": _api_answer(client, f"{prefix}/models", query)}
    for p in provider_ids:
        answers[f"provider {p}"] = _api_answer(client, f"{prefix}/models", {**query, "provider_id": p})
    for m in model_ids:
        answers[f"model {m}"] = _api_answer(client, f"{prefix}/models/{m}", query)
    return answers
