"""How far the rollups trail the raw rows, for /metrics."""
from psycopg import errors


def lag(conn):
    """{"seconds", "rows"} since the last refresh, or None without rollups (or access to them).

    rows = newest request id - watermark: an upper bound on the rows not yet rolled up.
    """
    try:
        with conn.transaction():
            return conn.execute("""
                SELECT extract(epoch FROM now() - s.refreshed_at)::float8 AS seconds,
                       greatest((SELECT coalesce(max(id), 0) FROM chat_completion_requests)
                                - s.watermark_id, 0) AS rows
                  FROM chat_request_rollup_state s LIMIT 1""").fetchone()
    except (errors.UndefinedTable, errors.UndefinedColumn, errors.InsufficientPrivilege):
        return None
