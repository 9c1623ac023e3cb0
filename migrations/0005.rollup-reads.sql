-- Statistics from the rollups: chat_request_totals() keeps its signature and its
-- results, but reads rollups + the raw tail + raw rows at the range's edges, so its
-- cost depends on models and buckets, not on requests. The raw aggregation stays as
-- chat_request_totals_raw(), the benchmark baseline; `SET chatstats.stats_source = 'raw'`
-- makes every statistics function use it.
-- depends: 0004.rollup-refresh

ALTER FUNCTION chat_request_totals(timestamptz, timestamptz, integer)
    RENAME TO chat_request_totals_raw;

-- [p_start, p_end) cut into pieces: whole days in the middle, then whole hours,
-- then whole 10 minutes, whole minutes, and raw rows (grain NULL) for the ragged edges.
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
    FOREACH next_grain IN ARRAY chat_request_rollup_grains() LOOP
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

-- Request totals of one (model, status) pair (model_id 0: unattributed).
CREATE TYPE chat_request_sums AS (
    model_id integer,
    status text,
    requests bigint,
    input_tokens bigint,
    output_tokens bigint,
    processing_time_ms bigint,
    cost_usd numeric);

-- Totals per (model, status) of raw rows: p_lo <= created_at < p_hi and
-- p_after_id < id <= p_upto_id (NULL: no upper bound). Planned for each call with
-- its values: for the tail (ids above the watermark) only then can the planner see
-- that the primary key finds the few rows, where a generic plan would scan.
CREATE FUNCTION chat_request_raw_sums(
    p_lo timestamptz, p_hi timestamptz, p_after_id bigint, p_upto_id bigint, p_model_id integer)
RETURNS SETOF chat_request_sums
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_custom_plan
AS $$
BEGIN
    RETURN QUERY
    SELECT coalesce(c.model_id, 0), c.status, count(*), sum(c.input_tokens)::bigint,
           sum(c.output_tokens)::bigint, sum(c.processing_time_ms)::bigint,
           coalesce(sum(c.cost_usd), 0)
      FROM chat_completion_requests c
     WHERE c.created_at >= p_lo AND c.created_at < p_hi
       AND c.id > p_after_id AND (p_upto_id IS NULL OR c.id <= p_upto_id)
       AND (p_model_id IS NULL OR c.model_id = p_model_id)
     GROUP BY 1, 2;
END
$$;

-- Totals per (model, status) of each piece of [p_start, p_end): rollup rows for whole
-- buckets, raw rows at the ragged edges, and the tail (rows above the watermark). A
-- STABLE function reads everything from its caller's snapshot (nested ones too), so
-- the watermark, the rollups and the raw rows agree. The rollup query's generic plan
-- (the primary key's range) is right for every piece, so it is planned once per session.
CREATE FUNCTION chat_request_rollup_partials(
    p_start timestamptz,
    p_end timestamptz,
    p_model_id integer)
RETURNS SETOF chat_request_sums
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    done_upto bigint := (SELECT watermark_id FROM chat_request_rollup_state);
    piece record;
BEGIN
    IF p_model_id <= 0 THEN
        RETURN;  -- no such model (0 stands for "no model" in the rollups)
    END IF;
    FOR piece IN
        SELECT p.grain, p.lo, p.hi, 0::bigint AS after_id, done_upto AS upto_id
          FROM chat_request_range_parts(p_start, p_end) p
        UNION ALL
        SELECT NULL, coalesce(p_start, '-infinity'), coalesce(p_end, 'infinity'), done_upto, NULL
    LOOP
        IF piece.grain IS NULL THEN
            RETURN QUERY
            SELECT * FROM chat_request_raw_sums(piece.lo, piece.hi, piece.after_id, piece.upto_id,
                                                p_model_id);
        ELSE
            RETURN QUERY
            SELECT r.model_id, r.status, sum(r.requests)::bigint, sum(r.input_tokens)::bigint,
                   sum(r.output_tokens)::bigint, sum(r.processing_time_ms)::bigint,
                   sum(r.cost_usd)
              FROM chat_request_rollups r
             WHERE r.grain = piece.grain AND r.bucket >= piece.lo AND r.bucket < piece.hi
               AND (p_model_id IS NULL OR r.model_id = p_model_id)
             GROUP BY 1, 2;
        END IF;
    END LOOP;
END
$$;

CREATE FUNCTION chat_request_totals_rollup(
    p_start timestamptz DEFAULT NULL,
    p_end timestamptz DEFAULT NULL,
    p_model_id integer DEFAULT NULL)
RETURNS SETOF chat_request_total
LANGUAGE sql STABLE AS $$
    SELECT nullif(t.model_id, 0),
           sum(t.requests)::bigint,
           coalesce(sum(t.requests) FILTER (WHERE t.status = 'completed'), 0)::bigint,
           coalesce(sum(t.requests) FILTER (WHERE t.status = 'failed'), 0)::bigint,
           coalesce(sum(t.requests) FILTER (WHERE t.status = 'partial'), 0)::bigint,
           sum(t.input_tokens)::bigint,
           sum(t.output_tokens)::bigint,
           sum(t.processing_time_ms)::bigint,
           sum(t.cost_usd)
      FROM chat_request_rollup_partials(p_start, p_end, p_model_id) t
     GROUP BY t.model_id
    HAVING sum(t.requests) > 0
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
    chat_request_raw_sums(timestamptz, timestamptz, bigint, bigint, integer),
    chat_request_rollup_partials(timestamptz, timestamptz, integer),
    chat_request_totals_rollup(timestamptz, timestamptz, integer),
    chat_request_totals(timestamptz, timestamptz, integer)
    TO PUBLIC;
