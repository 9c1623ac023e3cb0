"""Provider and model statistics.

The SQL functions of the migrations answer (method `rpc`), in one statement with
the rollups' freshness and the range they covered, so all of it is one snapshot. If
they are missing (SQLSTATE 42883, e.g. migrations rolled back), plain SQL here
computes the same numbers from the raw rows (percentiles exact), only more slowly.
"""
from psycopg import errors

from .. import migrate
from .replication import REPLICA_LAG_SECONDS

RPC = "rpc"

# Per-model totals over [start, end), the same aggregation as chat_request_stats_raw() (its
# source's mapping included: NULL tokens 0, NULL latencies left out and counted, any other
# status under other), over the table itself: the source view may be missing as well.
_TOTALS = """
    SELECT r.model_id,
           count(*) AS total_requests,
           count(*) FILTER (WHERE r.status = 'completed') AS completed_requests,
           count(*) FILTER (WHERE r.status = 'failed') AS failed_requests,
           count(*) FILTER (WHERE r.status = 'partial') AS partial_requests,
           count(*) FILTER (WHERE r.status NOT IN ('completed', 'failed', 'partial')) AS other_requests,
           count(*) FILTER (WHERE r.processing_time_ms IS NULL) AS untimed_requests,
           coalesce(sum(r.input_tokens), 0)::bigint AS total_input_tokens,
           coalesce(sum(r.output_tokens), 0)::bigint AS total_output_tokens,
           coalesce(sum(r.processing_time_ms), 0)::numeric AS processing_time_ms_sum,
           round(coalesce(sum(r.cost_usd), 0), 6) AS total_cost_usd,
           percentile_disc(0.5) WITHIN GROUP (ORDER BY r.processing_time_ms)
               FILTER (WHERE %(latency)s) AS p50_processing_time_ms,
           percentile_disc(0.95) WITHIN GROUP (ORDER BY r.processing_time_ms)
               FILTER (WHERE %(latency)s) AS p95_processing_time_ms,
           percentile_disc(0.99) WITHIN GROUP (ORDER BY r.processing_time_ms)
               FILTER (WHERE %(latency)s) AS p99_processing_time_ms
      FROM chat_completion_requests r
     WHERE (%(start)s::timestamptz IS NULL OR r.created_at >= %(start)s)
       AND (%(end)s::timestamptz IS NULL OR r.created_at < %(end)s)
       AND (%(model_id)s::integer IS NULL OR r.model_id = %(model_id)s)
     GROUP BY r.model_id
"""

# As chat_provider_request_stats(): one row per provider with requests, each carrying the
# unattributed count (requests of no known provider: without a model, or of a model that
# left the catalog or has none); one row of NULLs (but the count) when no provider has any.
_PROVIDERS_FALLBACK = f"""
    WITH g AS (SELECT p.id AS provider_id, p.name, p.slug, count(*) AS models_with_requests,
                      sum(t.total_requests)::bigint AS total_requests
                 FROM ({_TOTALS}) t
                 LEFT JOIN models m ON m.id = t.model_id
                 LEFT JOIN providers p ON p.id = m.provider_id
                GROUP BY p.id)
    SELECT coalesce((SELECT g.total_requests FROM g WHERE g.provider_id IS NULL), 0) AS unattributed_requests, s.*
      FROM (SELECT 1) one
      LEFT JOIN (SELECT * FROM g WHERE g.provider_id IS NOT NULL) s ON true
     ORDER BY s.total_requests DESC, s.provider_id
"""

# As chat_model_stats(): models that left the catalog too, under their id; the identifier
# as chat_model_catalog() has it (model_name where the catalog has no model_id column).
_MODELS_FALLBACK = f"""
    SELECT coalesce(m.id, t.model_id) AS model_id,
           coalesce(to_jsonb(m) ->> 'model_id', m.model_name) AS model_identifier, m.model_name,
           m.provider_model_id, p.id AS provider_id, p.name AS provider_name, p.slug AS provider_slug,
           coalesce(t.total_requests, 0) AS total_requests,
           coalesce(t.completed_requests, 0) AS completed_requests,
           coalesce(t.failed_requests, 0) AS failed_requests,
           coalesce(t.partial_requests, 0) AS partial_requests,
           coalesce(t.other_requests, 0) AS other_requests,
           coalesce(t.total_input_tokens, 0) AS total_input_tokens,
           coalesce(t.total_output_tokens, 0) AS total_output_tokens,
           coalesce(t.total_input_tokens + t.total_output_tokens, 0) AS total_tokens,
           round(t.processing_time_ms_sum / nullif(t.total_requests - t.untimed_requests, 0), 2)
               AS avg_processing_time_ms,
           coalesce(t.total_cost_usd, 0) AS total_cost_usd,
           t.p50_processing_time_ms, t.p95_processing_time_ms, t.p99_processing_time_ms
      FROM (models m LEFT JOIN providers p ON p.id = m.provider_id)
      FULL JOIN ({_TOTALS}) t ON t.model_id = m.id
     WHERE coalesce(m.id, t.model_id) IS NOT NULL
       AND (%(provider_id)s::integer IS NULL OR m.provider_id = %(provider_id)s)
       AND (%(model_id)s::integer IS NULL OR coalesce(m.id, t.model_id) = %(model_id)s)
       AND (%(model_id)s::integer IS NOT NULL OR t.total_requests > 0)
     ORDER BY 8 DESC, 1
"""

# gatewayz's light counts: the model rows above (percentiles not asked), fewer columns.
_COUNTS_FALLBACK = f"""
    SELECT model_id, model_name, model_identifier, provider_name, provider_slug,
           total_requests AS request_count
      FROM ({_MODELS_FALLBACK}) f
"""


# The rollups' lag, the standby's (NULL on a primary), and the range the pieces covered (wider than asked only where an
# edge falls before the raw-data retention horizon), joined to every answer.
# An edge is loaded only when it was rounded (NULL otherwise), and then clamped to what
# Python can hold: an edge asked for may lie before year 1 in UTC (0001-01-01T00:00+14:00).
_CONTEXT = f"""
    SELECT l.lag_rows AS rollup_lag_rows, l.lag_seconds AS rollup_lag_seconds,
           {REPLICA_LAG_SECONDS} AS replica_lag_seconds,
           e.effective_start IS DISTINCT FROM %(start)s::timestamptz AS start_rounded,
           e.effective_end IS DISTINCT FROM %(end)s::timestamptz AS end_rounded,
           CASE WHEN e.effective_start IS DISTINCT FROM %(start)s::timestamptz
                THEN greatest(e.effective_start, '0001-01-01 00:00:00+00') END AS effective_start,
           CASE WHEN e.effective_end IS DISTINCT FROM %(end)s::timestamptz
                THEN least(e.effective_end, '9999-12-31 23:59:59.999999+00') END AS effective_end
      FROM chat_rollup_lag() l, chat_rollup_effective_range(%(start)s, %(end)s) e
"""
_CONTEXT_COLUMNS = ("rollup_lag_rows", "rollup_lag_seconds", "replica_lag_seconds", "start_rounded", "end_rounded",
                    "effective_start", "effective_end")


def _migrations_pending(conn):
    try:
        return bool(migrate.pending_ids(conn))
    except errors.InsufficientPrivilege:  # the API's grant on yoyo's table comes with 0007
        return True


def _rpc_or_fallback(conn, rpc_query, order_by, fallback_query, params, fallback_method):
    """(rows, context, method): rpc_query's rows, each joined to the context row (all NULL
    when it has none), or if the functions are missing (migrations pending),
    fallback_query's without context. With every migration applied, a function that
    does not match (42883) is a fault, never a reason to answer otherwise."""
    try:
        rows = conn.execute(f"SELECT c.*, s.* FROM ({_CONTEXT}) c LEFT JOIN LATERAL ({rpc_query}) s "
                            f"ON true ORDER BY {order_by}", params).fetchall()
    except errors.UndefinedFunction as error:
        if not _migrations_pending(conn):
            raise RuntimeError(f"a statistics function failed with every migration applied: {error}") from error
        return conn.execute(fallback_query, params).fetchall(), None, fallback_method
    context = {key: rows[0].pop(key) for key in _CONTEXT_COLUMNS}
    for row in rows[1:]:
        for key in _CONTEXT_COLUMNS:
            del row[key]
    return rows, context, RPC


def provider_stats(conn, start=None, end=None):
    """(providers busiest first, unattributed request count, context, method)."""
    rows, context, method = _rpc_or_fallback(
        conn,
        "SELECT * FROM chat_provider_request_stats(%(start)s, %(end)s)",
        "s.total_requests DESC, s.provider_id",
        _PROVIDERS_FALLBACK, {"start": start, "end": end, "model_id": None, "latency": False},
        "fallback_with_counts")
    providers = [row for row in rows if row["provider_id"] is not None]
    return providers, rows[0]["unattributed_requests"], context, method


# Each model row as the API's JSON (schemas.Model, and schemas.ModelCount for the counts),
# built by PostgreSQL as the request list's rows are: marshmallow took ~20 ms to
# serialize 500 models, more than the statistics cost.
_MODEL_JSON = """
    json_build_object(
        'model_id', q.model_id, 'model_identifier', q.model_identifier, 'model_name', q.model_name,
        'provider_model_id', q.provider_model_id,
        'provider', json_build_object('id', q.provider_id, 'name', q.provider_name, 'slug', q.provider_slug),
        'stats', json_build_object(
            'total_requests', q.total_requests, 'completed_requests', q.completed_requests,
            'failed_requests', q.failed_requests, 'partial_requests', q.partial_requests,
            'other_requests', q.other_requests,
            'total_input_tokens', q.total_input_tokens, 'total_output_tokens', q.total_output_tokens,
            'total_tokens', q.total_tokens, 'avg_processing_time_ms', q.avg_processing_time_ms,
            'total_cost_usd', round(q.total_cost_usd, 6)::text,
            'p50_processing_time_ms', q.p50_processing_time_ms,
            'p95_processing_time_ms', q.p95_processing_time_ms,
            'p99_processing_time_ms', q.p99_processing_time_ms))::text
"""
_COUNT_JSON = """
    json_build_object(
        'model_id', q.model_id, 'model_name', q.model_name, 'model_identifier', q.model_identifier,
        'provider_name', q.provider_name, 'provider_slug', q.provider_slug,
        'request_count', q.request_count)::text
"""


def model_stats(conn, start=None, end=None, provider_id=None, model_id=None, limit=None):
    """(the first `limit` models busiest first (None: all) as JSON texts, totals of the
    whole answer, context, method); with model_id, that model even without requests."""
    params = {"start": start, "end": end, "provider_id": provider_id, "model_id": model_id,
              "latency": True, "limit": limit}
    if model_id is not None:
        rpc = "SELECT * FROM get_model_request_stats(%(model_id)s, %(start)s, %(end)s)"
    elif provider_id is not None:
        rpc = "SELECT * FROM get_models_with_requests_by_provider(%(provider_id)s, %(start)s, %(end)s)"
    else:
        rpc = "SELECT * FROM get_models_with_requests(%(start)s, %(end)s)"
    return _top_models(conn, rpc, _MODELS_FALLBACK, _MODEL_JSON, "total_requests", params)


def model_counts(conn, start=None, end=None, limit=None):
    """Requests per model, gatewayz's /counts: (the first `limit` models busiest first (None:
    all) as JSON texts, totals of the whole answer, context, method)."""
    params = {"start": start, "end": end, "provider_id": None, "model_id": None,
              "latency": False, "limit": limit}
    return _top_models(conn, "SELECT * FROM get_model_request_counts(%(start)s, %(end)s)",
                       _COUNTS_FALLBACK, _COUNT_JSON, "request_count", params)


def _top_models(conn, rpc, fallback, item_json, requests_column, params):
    """A model query's first %(limit)s rows, busiest first, each as the JSON text
    item_json, and {models, requests}: the whole answer's totals, counted by window
    functions in the same statement (before LIMIT applies), so that a top N still
    reports every model."""
    def top(query):
        return (f"SELECT {item_json} AS item, q.model_id, q.{requests_column},"
                f" count(*) OVER () AS answer_models, sum(q.{requests_column}) OVER ()::bigint AS answer_requests"
                f" FROM ({query}) q ORDER BY q.{requests_column} DESC, q.model_id LIMIT %(limit)s")

    rows, context, method = _rpc_or_fallback(conn, top(rpc), f"s.{requests_column} DESC, s.model_id",
                                             top(fallback), params, "fallback_optimized")
    first = rows[0] if rows else {}
    totals = {"models": first.get("answer_models") or 0, "requests": first.get("answer_requests") or 0}
    return [row["item"] for row in rows if row["model_id"] is not None], totals, context, method
