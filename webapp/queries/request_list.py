"""Request rows, streamed from server-side cursors: the request list (filtered rows,
newest first), the plot feed (the newest rows, then every row's tokens, latency
and time, oldest first) and the export (every filtered row, flat, either order).
All three are one query: _FROM, the conditions of _filters(), ORDER BY _order()."""
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Callable, Iterator

from psycopg import errors
from psycopg.rows import scalar_row, tuple_row

from .replication import replica_lag

_FROM = """
      FROM chat_completion_requests r
      LEFT JOIN models m ON m.id = r.model_id
      LEFT JOIN providers p ON p.id = m.provider_id
"""

# A request's tokens in all: computed, since the gateway's table has no total_tokens
# column (the demo table's generated one holds the same), NULL counts taken as 0.
_TOTAL_TOKENS = "(coalesce(r.input_tokens, 0) + coalesce(r.output_tokens, 0))"
# Columns the gateway's tables may lack (its migrations create neither request_id nor
# error_message, which its code writes; models.model_id is gone): {name} in a select
# below is the column where its table has it, NULL where not, looked up in the catalog
# for each query (_optional_columns(); reading them from each row's JSON instead made a
# scan of a million rows 80 times slower). The identifier is chat_model_catalog()'s.
_OPTIONAL = {"request_id": ("chat_completion_requests", "r"), "error_message": ("chat_completion_requests", "r"),
             "model_id": ("models", "m")}
_MODEL_IDENTIFIER = "coalesce({model_id}, m.model_name)"

# Each row as the API's JSON (schemas.RequestRow), built by PostgreSQL: for
# 100,000-row pages that is about ten times faster than serializing in Python. The
# model nests its provider, as gatewayz's rows do (PostgREST's embedding); its model_id
# is the identifier (model_name where the catalog has no model_id column).
_ROW_JSON = f"""
    json_build_object(
        'id', r.id, 'request_id', {{request_id}}, 'model_id', r.model_id,
        'input_tokens', r.input_tokens, 'output_tokens', r.output_tokens,
        'total_tokens', {_TOTAL_TOKENS}, 'processing_time_ms', r.processing_time_ms,
        'status', r.status, 'error_message', {{error_message}}, 'user_id', r.user_id,
        'api_key_id', r.api_key_id, 'cost_usd', r.cost_usd::text, 'created_at', r.created_at,
        'models', CASE WHEN m.id IS NOT NULL THEN json_build_object(
            'id', m.id, 'model_id', {_MODEL_IDENTIFIER}, 'model_name', m.model_name,
            'provider_model_id', m.provider_model_id, 'provider_id', m.provider_id,
            'providers', json_build_object('id', p.id, 'name', p.name, 'slug', p.slug)) END
    )::text
"""

# The export's columns, in order: every column of the request row, flat, with its
# model's identifier and name and its provider's id, slug and name (NULL without a
# model). The cost is the exact numeric as text; the time ISO 8601 in UTC, whatever
# the session's TimeZone, always with microseconds.
EXPORT_COLUMNS = {
    "id": "r.id", "request_id": "{request_id}", "model_id": "r.model_id",
    "model_identifier": _MODEL_IDENTIFIER, "model_name": "m.model_name",
    "provider_id": "p.id", "provider_slug": "p.slug", "provider_name": "p.name",
    "input_tokens": "r.input_tokens", "output_tokens": "r.output_tokens",
    "total_tokens": _TOTAL_TOKENS, "processing_time_ms": "r.processing_time_ms",
    "status": "r.status", "error_message": "{error_message}", "user_id": "r.user_id",
    "api_key_id": "r.api_key_id", "cost_usd": "r.cost_usd::text",
    "created_at": """to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')""",
}
# Per format: the select list and what each fetched row is. JSON objects are built by
# PostgreSQL (one text per row, as the list's); CSV gets the values, for Python's csv
# module to quote.
_EXPORT_SELECT = {
    "csv": (", ".join(EXPORT_COLUMNS.values()), tuple_row),
    "ndjson": ("json_build_object(" + ", ".join(f"'{name}', {sql}" for name, sql in
                                                EXPORT_COLUMNS.items()) + ")::text", scalar_row),
}
EXPORT_FORMATS = tuple(_EXPORT_SELECT)

# The exact count comes from the statistics (the rollup store, without histograms)
# from the raw-retention horizon on, where they count exactly the rows that exist,
# plus the rows still present before it, counted raw (none, once retention is done).
# The filters on models become a filter on the statistics' model rows.
_COUNT_FROM_STATS = """
    WITH h AS (SELECT CASE WHEN raw_horizon > '-infinity' THEN raw_horizon END AS at
                 FROM chat_rollup_state)
    SELECT (SELECT coalesce(sum(CASE %(status)s::text
                                    WHEN 'completed' THEN t.completed_requests
                                    WHEN 'failed' THEN t.failed_requests
                                    WHEN 'partial' THEN t.partial_requests
                                    ELSE t.total_requests END), 0)::bigint
              FROM h, chat_request_stats(greatest(%(start_date)s, h.at), %(end_date)s,
                                         CASE WHEN %(model_id)s::integer IS NOT NULL
                                              THEN ARRAY[%(model_id)s::integer] END, false) t
              LEFT JOIN models m ON m.id = t.model_id
             WHERE {model_filters})
         + (SELECT count(*) {from_rows}, h WHERE {model_filters} AND {request_filters}
                                             AND r.created_at < h.at) AS n
"""


def _like_pattern(text):
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# Filters on request columns that the statistics (and so the list's count) cannot apply.
_UNCOUNTED_FILTERS = ("user_id", "api_key_id")


def _filters(filters):
    """(model conditions, request conditions, params) for the given filters."""
    model_conds, request_conds = ["true"], ["true"]
    params = {key: filters.get(key) for key in
              ("model_id", "provider_id", "status", "start_date", "end_date", *_UNCOUNTED_FILTERS)}
    if filters.get("model_id") is not None:
        model_conds.append("m.id = %(model_id)s")
    if filters.get("provider_id") is not None:
        model_conds.append("m.provider_id = %(provider_id)s")
    if filters.get("model_name") is not None:
        model_conds.append("m.model_name ILIKE %(model_name)s")
        params["model_name"] = _like_pattern(filters["model_name"])
    if filters.get("status") is not None:
        request_conds.append("r.status = %(status)s")
    if filters.get("start_date") is not None:
        request_conds.append("r.created_at >= %(start_date)s")
    if filters.get("end_date") is not None:
        request_conds.append("r.created_at < %(end_date)s")
    for column in _UNCOUNTED_FILTERS:
        if filters.get(column) is not None:
            request_conds.append(f"r.{column} = %({column})s")
    return " AND ".join(model_conds), " AND ".join(request_conds), params


def _count(conn, model_where, request_where, params):
    try:
        with conn.transaction():  # a savepoint: the fallback runs if the function is missing
            return conn.execute(_COUNT_FROM_STATS.format(
                model_filters=model_where, request_filters=request_where, from_rows=_FROM),
                params).fetchone()["n"]
    except (errors.UndefinedFunction, errors.UndefinedTable):
        return conn.execute(f"SELECT count(*) AS n {_FROM} WHERE {model_where} AND {request_where}",
                            params).fetchone()["n"]


def _order(newest_first):
    """Creation time, then id (unique): a total order, the same in every query."""
    direction = "DESC" if newest_first else "ASC"
    return f"r.created_at {direction}, r.id {direction}"


_NEWEST_FIRST = f"{_order(True)} LIMIT %(limit)s"


@dataclass
class Page:
    total: int  # every row matching the filters
    chunks: Iterator[list[str]]  # the page's rows as JSON texts, at most chunk_rows per list
    replica_lag_seconds: float | None  # of the snapshot read (None: read on a primary)
    complete_from: datetime | None  # rows before it were removed (None: none were)


def complete_from(conn):
    """The raw horizon: request rows older than it were removed (chatstats' retention or
    the table's own TTL, migration 0019), their statistics kept. None when none were, or
    without rollups."""
    if conn.execute("SELECT to_regclass('chat_rollup_state') AS t").fetchone()["t"] is None:
        return None
    return conn.execute("SELECT CASE WHEN isfinite(raw_horizon) THEN raw_horizon END AS t"
                        " FROM chat_rollup_state").fetchone()["t"]


@contextmanager
def _snapshot(conn):
    """A REPEATABLE READ READ ONLY transaction: every statement in it sees the same rows."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


@contextmanager
def open_page(conn, filters, limit, offset, chunk_rows):
    """The Page, read while the context lasts: count and rows come from one
    snapshot, so they agree. Leaving ends it, also mid-page."""
    if any(filters.get(key) is not None for key in _UNCOUNTED_FILTERS):
        raise ValueError(f"the request list cannot count rows filtered by {_UNCOUNTED_FILTERS}")
    model_where, request_where, params = _filters(filters)
    params.update(limit=limit, offset=offset)
    with _snapshot(conn):
        total = _count(conn, model_where, request_where, params)
        lag = replica_lag(conn)
        horizon = complete_from(conn)
        # offset >= total, e.g. filters no row matches: the newest-first scan would read them all
        chunks = _stream(conn, "request_page", _ROW_JSON, f"{model_where} AND {request_where}",
                         f"{_NEWEST_FIRST} OFFSET %(offset)s",
                         params, chunk_rows, skip=offset >= total)
        with closing(chunks):
            yield Page(total, chunks, lag, horizon)


# The plot feed's arrays: each request's value as a JSON text, in the same order (a
# latency the gateway left NULL as null).
PLOT_SERIES = {"tokens": f"{_TOTAL_TOKENS}::text", "latency": "coalesce(r.processing_time_ms::text, 'null')",
               "timestamps": "to_json(r.created_at)::text"}
RECENT_ROWS = 10


@dataclass
class Plot:
    recent: list[str]  # the newest RECENT_ROWS rows as JSON texts, newest first
    series: Callable[[str], Iterator[list[str]]]  # a PLOT_SERIES name: its values, oldest first
    replica_lag_seconds: float | None  # of the snapshot read (None: read on a primary)


@contextmanager
def open_plot(conn, filters, chunk_rows):
    """The Plot, read while the context lasts, all from one snapshot: the newest rows
    now, then each series on demand, one after the other (one server-side cursor
    each, chunk_rows values per round trip), so that memory stays flat however
    many requests match; every series has the same rows in the same order."""
    model_where, request_where, params = _filters(filters)
    where = f"{model_where} AND {request_where}"
    params.update(limit=RECENT_ROWS)
    with _snapshot(conn):
        recent = [row for chunk in _stream(conn, "plot_recent", _ROW_JSON, where, _NEWEST_FIRST,
                                           params, RECENT_ROWS) for row in chunk]
        opened = []

        def series(name):
            chunks = _stream(conn, f"plot_{name}", PLOT_SERIES[name], where, _order(False),
                             params, chunk_rows)
            opened.append(chunks)
            return chunks

        try:
            yield Plot(recent, series, replica_lag(conn))
        finally:
            for chunks in opened:
                chunks.close()


@contextmanager
def open_export(conn, filters, newest_first, fmt, chunk_rows, statement_timeout_ms):
    """Every row matching the filters (the list's, plus user_id and api_key_id), read
    while the context lasts from one server-side cursor, chunk_rows rows per round trip:
    lists of JSON texts (fmt "ndjson") or of tuples in EXPORT_COLUMNS' order ("csv").

    The planner keeps a cursor's fast-start plans (the time index walked in order, no
    sort of all the rows), so a filter that few rows match may scan far for one chunk:
    each round trip may take statement_timeout_ms. The first chunk is read before this
    returns, so that a fault or timeout there is still an HTTP error."""
    model_where, request_where, params = _filters(filters)
    select, row_factory = _EXPORT_SELECT[fmt]
    with _snapshot(conn):
        conn.execute("SELECT set_config('statement_timeout', %s, true)", (str(int(statement_timeout_ms)),))
        chunks = _stream(conn, "request_export", select, f"{model_where} AND {request_where}",
                         _order(newest_first), params, chunk_rows, row_factory=row_factory)
        with closing(chunks):
            first = next(chunks, None)
            yield chain([first] if first else [], chunks)


def _optional_columns(conn):
    """{name: SQL} of the _OPTIONAL columns: the column where its table has it, else NULL."""
    present = set(conn.cursor(row_factory=tuple_row).execute(
        "SELECT attrelid::regclass::text, attname::text FROM pg_attribute"
        " WHERE attrelid IN ('chat_completion_requests'::regclass, 'models'::regclass)"
        " AND attnum > 0 AND NOT attisdropped").fetchall())
    return {name: f"{alias}.{name}" if (table, name) in present else "NULL::text"
            for name, (table, alias) in _OPTIONAL.items()}


def _stream(conn, name, select, where, order, params, chunk_rows, skip=False, row_factory=scalar_row):
    """Lists of at most chunk_rows rows (by default the one value `select` gives, its
    optional columns filled in) of the matching rows in `order`, read through the
    server-side cursor `name` (in the caller's transaction) while they are consumed."""
    if skip:
        return
    select = select.format_map(_optional_columns(conn))
    with conn.cursor(name=name, row_factory=row_factory) as cursor:
        cursor.itersize = chunk_rows
        cursor.execute(f"SELECT {select} {_FROM} WHERE {where} ORDER BY {order}", params)
        while rows := cursor.fetchmany(chunk_rows):
            yield rows
