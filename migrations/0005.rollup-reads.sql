-- Statistics from the rollups: chat_request_totals() keeps its signature and its
-- results, but reads rollups + the raw tail + raw rows at the range's edges, so its
-- cost depends on models and buckets, not on requests. The raw aggregation stays as
-- chat_request_totals_raw(), the benchmark baseline; `SET chatstats.stats_source = 'raw'`
-- makes every statistics function use it.
-- depends: 0004.rollup-refresh

ALTER FUNCTION chat_request_totals(timestamptz, timestamptz, integer)
    RENAME TO chat_request_totals_raw;

-- [p_start, p_end) cut into pieces: whole days in the middle, then whole hours,
-- then whole 5 minutes, and raw rows (grain NULL) for the ragged edges.
CREATE FUNCTION chat_request_range_parts(p_start timestamptz, p_end timestamptz)
RETURNS TABLE (grain interval, lo timestamptz, hi timestamptz)
LANGUAGE plpgsql STABLE ROWS 8 AS $$
DECLARE
    next_grain interval;
    outer_lo timestamptz := coalesce(p_start, '-infinity');
    outer_hi timestamptz := coalesce(p_end, 'infinity');
    inner_lo timestamptz;
    inner_hi timestamptz;
BEGIN
    grain := NULL;
    FOREACH next_grain IN ARRAY ARRAY[interval '5 minutes', interval '1 hour', interval '24 hours'] LOOP
        inner_lo := chat_request_bucket(next_grain, outer_lo);
        IF inner_lo < outer_lo THEN
            inner_lo := inner_lo + next_grain;
        END IF;
        inner_hi := chat_request_bucket(next_grain, outer_hi);
        IF inner_lo >= inner_hi THEN  -- no whole bucket inside: this grain covers it all
            inner_lo := outer_hi;
            inner_hi := outer_hi;
        END IF;
        lo := outer_lo; hi := inner_lo;
        IF lo < hi THEN RETURN NEXT; END IF;
        lo := inner_hi; hi := outer_hi;
        IF lo < hi THEN RETURN NEXT; END IF;
        grain := next_grain;
        outer_lo := inner_lo;
        outer_hi := inner_hi;
    END LOOP;
    lo := outer_lo; hi := outer_hi;
    IF lo < hi THEN RETURN NEXT; END IF;
END
$$;

-- One model's totals, as chat_request_totals() returns them (model_id NULL: unattributed).
CREATE TYPE chat_request_total AS (
    model_id integer,
    total_requests bigint,
    completed_requests bigint,
    failed_requests bigint,
    partial_requests bigint,
    total_input_tokens bigint,
    total_output_tokens bigint,
    processing_time_ms_sum bigint,
    total_cost_usd numeric);

-- A STABLE function reads everything from its caller's snapshot, so the watermark,
-- the rollups and the raw rows agree. Reading the watermark first lets the planner
-- see how few rows the tail holds and walk the primary key for it, so each call is
-- planned with its own values (a generic plan would scan). The pieces are few and
-- narrow, so nested loops over the indexes always win; the planner cannot know that
-- from the pieces' bounds, hence the join settings.
CREATE FUNCTION chat_request_totals_rollup(
    p_start timestamptz DEFAULT NULL,
    p_end timestamptz DEFAULT NULL,
    p_model_id integer DEFAULT NULL)
RETURNS SETOF chat_request_total
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_custom_plan
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
DECLARE
    done_upto bigint := (SELECT watermark_id FROM chat_request_rollup_state);
BEGIN
    RETURN QUERY
    WITH parts AS MATERIALIZED (SELECT * FROM chat_request_range_parts(p_start, p_end)),
    raw_rows AS (
        -- rolled-up rows in the edge pieces
        SELECT c.*
          FROM parts p
          JOIN chat_completion_requests c ON c.created_at >= p.lo AND c.created_at < p.hi
         WHERE p.grain IS NULL
           AND c.id <= done_upto
           AND (p_model_id IS NULL OR c.model_id = p_model_id)
        UNION ALL
        -- the tail: rows not rolled up yet, anywhere in the range
        SELECT c.*
          FROM chat_completion_requests c
         WHERE c.id > done_upto
           AND c.created_at >= coalesce(p_start, '-infinity')
           AND c.created_at < coalesce(p_end, 'infinity')
           AND (p_model_id IS NULL OR c.model_id = p_model_id)
    ),
    pieces AS (
        SELECT r.model_id, r.status, r.requests, r.input_tokens, r.output_tokens,
               r.processing_time_ms, r.cost_usd
          FROM parts p
          JOIN chat_request_rollups r ON r.grain = p.grain AND r.bucket >= p.lo AND r.bucket < p.hi
         WHERE p_model_id IS NULL OR r.model_id = p_model_id
        UNION ALL
        SELECT coalesce(c.model_id, 0), c.status, 1, c.input_tokens, c.output_tokens,
               c.processing_time_ms, coalesce(c.cost_usd, 0)
          FROM raw_rows c
    )
    SELECT nullif(pieces.model_id, 0),
           sum(requests)::bigint,
           coalesce(sum(requests) FILTER (WHERE pieces.status = 'completed'), 0)::bigint,
           coalesce(sum(requests) FILTER (WHERE pieces.status = 'failed'), 0)::bigint,
           coalesce(sum(requests) FILTER (WHERE pieces.status = 'partial'), 0)::bigint,
           sum(pieces.input_tokens)::bigint,
           sum(pieces.output_tokens)::bigint,
           sum(pieces.processing_time_ms)::bigint,
           sum(pieces.cost_usd)
      FROM pieces
     GROUP BY pieces.model_id
    HAVING sum(requests) > 0;
END
$$;

-- The name every statistics function calls: rollups, or the raw baseline on request.
CREATE FUNCTION chat_request_totals(
    p_start timestamptz DEFAULT NULL,
    p_end timestamptz DEFAULT NULL,
    p_model_id integer DEFAULT NULL)
RETURNS SETOF chat_request_total
LANGUAGE sql STABLE AS $$
    SELECT * FROM chat_request_totals_raw(p_start, p_end, p_model_id)
     WHERE current_setting('chatstats.stats_source', true) = 'raw'
    UNION ALL
    SELECT * FROM chat_request_totals_rollup(p_start, p_end, p_model_id)
     WHERE current_setting('chatstats.stats_source', true) IS DISTINCT FROM 'raw'
$$;

GRANT EXECUTE ON FUNCTION
    chat_request_range_parts(timestamptz, timestamptz),
    chat_request_totals_rollup(timestamptz, timestamptz, integer),
    chat_request_totals(timestamptz, timestamptz, integer)
    TO PUBLIC;
