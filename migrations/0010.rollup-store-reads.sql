-- Statistics from the rollup store: a range is cut into whole buckets of the coarsest
-- kept levels (at most a few per level), raw rows at its ragged edges, and the raw
-- tail above the watermark; all read in the caller's snapshot. Every model's stats
-- gain p50/p95/p99 of processing_time_ms (exact percentile_disc on the raw source).
-- depends: 0009.rollup-maintenance

-- The start of the first bucket of a level at or after p_at.
CREATE FUNCTION chat_rollup_ceil(p_level integer, p_at timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN chat_rollup_bucket(p_level, p_at) = p_at THEN p_at
                ELSE chat_rollup_bucket(p_level, p_at) + (chat_rollup_widths())[p_level] END
$$;

-- [p_start, p_end) (NULL: unbounded) cut into pieces, coarsest first: whole buckets of
-- a level (the top level, all time, for the unbounded range), and raw rows (level NULL) for
-- what is finer than every kept level. Where raw rows are gone (before raw_horizon) an
-- edge finer than the kept levels is rounded outwards to whole buckets: exact = false.
CREATE FUNCTION chat_rollup_pieces(p_start timestamptz, p_end timestamptz)
RETURNS TABLE (level smallint, lo timestamptz, hi timestamptz, exact boolean)
LANGUAGE plpgsql STABLE ROWS 20 AS $$
DECLARE
    st chat_rollup_state;
    los timestamptz[];
    his timestamptz[];
    next_los timestamptz[];
    next_his timestamptz[];
    a timestamptz;
    b timestamptz;
    inner_lo timestamptz;
    inner_hi timestamptz;
    finest integer;
BEGIN
    exact := true;
    IF p_start IS NULL AND p_end IS NULL THEN
        level := chat_rollup_top(); lo := '-infinity'; hi := 'infinity';
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT * INTO st FROM chat_rollup_state;
    los := ARRAY[coalesce(p_start, '-infinity')];
    his := ARRAY[coalesce(p_end, 'infinity')];
    IF los[1] >= his[1] THEN
        RETURN;
    END IF;
    FOR lvl IN REVERSE chat_rollup_top() - 1 .. 1 LOOP
        next_los := '{}';
        next_his := '{}';
        FOR i IN 1 .. cardinality(los) LOOP
            a := los[i];
            b := his[i];
            inner_lo := chat_rollup_ceil(lvl, greatest(a, chat_rollup_horizon(st, lvl)));
            inner_hi := chat_rollup_bucket(lvl, b);
            IF inner_lo < inner_hi THEN
                level := lvl; lo := inner_lo; hi := inner_hi;
                RETURN NEXT;
                IF a < inner_lo THEN
                    next_los := next_los || a; next_his := next_his || inner_lo;
                END IF;
                IF inner_hi < b THEN
                    next_los := next_los || inner_hi; next_his := next_his || b;
                END IF;
            ELSE
                next_los := next_los || a; next_his := next_his || b;
            END IF;
        END LOOP;
        los := next_los;
        his := next_his;
    END LOOP;
    -- What is left is finer than the kept levels: raw rows, where retention kept them;
    -- else whole buckets of the finest level kept there. Horizons (UTC midnights) split
    -- a region into parts of one kind each.
    FOR i IN 1 .. cardinality(los) LOOP
        a := los[i];
        FOREACH b IN ARRAY ARRAY(SELECT DISTINCT h FROM unnest(ARRAY[st.quarter_horizon, st.raw_horizon, his[i]]) h
                                  WHERE h > los[i] AND h <= his[i] ORDER BY h) LOOP
            IF a >= st.raw_horizon THEN
                level := NULL; lo := a; hi := b;
            ELSE
                finest := CASE WHEN a >= st.quarter_horizon THEN 1 ELSE 2 END;
                level := finest;
                lo := chat_rollup_bucket(finest, a);
                hi := chat_rollup_ceil(finest, b);
            END IF;
            exact := lo = a AND hi = b;
            RETURN NEXT;
            a := b;
        END LOOP;
    END LOOP;
END
$$;

-- The range the pieces actually cover: [p_start, p_end) unless an edge was rounded.
CREATE FUNCTION chat_rollup_effective_range(
    p_start timestamptz, p_end timestamptz, OUT effective_start timestamptz, OUT effective_end timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_start IS NOT NULL THEN least(p_start, min(p.lo) FILTER (WHERE NOT p.exact)) END,
           CASE WHEN p_end IS NOT NULL THEN greatest(p_end, max(p.hi) FILTER (WHERE NOT p.exact)) END
      FROM chat_rollup_pieces(p_start, p_end) p
$$;

-- Totals per model of the raw rows p_lo <= created_at < p_hi that are rolled up (or,
-- with p_tail, that are not: found through the primary key), of the models p_ids
-- (NULL: all, requests without a model included). Planned for each call
-- with its values: only then can the planner see which index finds the few rows. Each
-- row finds its latency step through the index: hashing all 912 steps (3.4 MB) would
-- cost more than the few hundred rows of a range's edges.
CREATE FUNCTION chat_rollup_raw(
    p_lo timestamptz, p_hi timestamptz, p_tail boolean, p_ids integer[])
RETURNS SETOF chat_rollup_delta
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_custom_plan
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
DECLARE
    done_upto bigint := (SELECT watermark_id FROM chat_rollup_state);
BEGIN
    RETURN QUERY
    SELECT * FROM chat_rollup_deltas(ARRAY(
        SELECT chat_rollup_input_of(c) FROM chat_completion_requests c
         WHERE c.created_at >= p_lo AND c.created_at < p_hi
           AND CASE WHEN p_tail THEN c.id > done_upto ELSE c.id <= done_upto END
           AND (p_ids IS NULL OR c.model_id = ANY (p_ids))), 1);
END
$$;

-- Totals per model (id 0: no model) of [p_start, p_end), of the models p_ids (NULL: all),
-- histograms with p_latency.
CREATE FUNCTION chat_rollup_sums(
    p_start timestamptz, p_end timestamptz, p_ids integer[], p_latency boolean)
RETURNS SETOF chat_rollup_delta
LANGUAGE sql STABLE AS $$
    WITH pieces AS MATERIALIZED (SELECT * FROM chat_rollup_pieces(p_start, p_end)),
    parts AS (
        -- A primary key range scan per piece (OFFSET 0 keeps each a subquery); some
        -- models' rows are picked in the index (a condition on its last column), so that
        -- a generic plan serves some models and all alike.
        SELECT r.id, r.completed, r.failed, r.partial, r.input_tokens, r.output_tokens,
               r.processing_time_ms, r.cost_usd,
               CASE WHEN p_latency THEN r.latency END AS latency,
               CASE WHEN p_latency THEN r.latency_over END AS latency_over
          FROM pieces p,
               LATERAL (SELECT * FROM chat_rollups r
                         WHERE p_ids IS NULL AND r.level = p.level AND r.dim = 'm'
                           AND r.bucket >= p.lo AND r.bucket < p.hi
                        UNION ALL
                        SELECT * FROM chat_rollups r
                         WHERE r.level = p.level AND r.dim = 'm'
                           AND r.bucket >= p.lo AND r.bucket < p.hi
                           AND r.id = ANY (p_ids) AND r.id <> 0  -- 0 files requests without a model
                        OFFSET 0) r
         WHERE p.level IS NOT NULL
        UNION ALL
        SELECT d.id, d.completed, d.failed, d.partial, d.input_tokens, d.output_tokens,
               d.processing_time_ms, d.cost_usd, d.latency, d.latency_over
          FROM pieces p, chat_rollup_raw(p.lo, p.hi, false, p_ids) d
         WHERE p.level IS NULL
        UNION ALL  -- the tail, over the range the pieces cover
        SELECT d.id, d.completed, d.failed, d.partial, d.input_tokens, d.output_tokens,
               d.processing_time_ms, d.cost_usd, d.latency, d.latency_over
          FROM chat_rollup_effective_range(p_start, p_end) e,
               chat_rollup_raw(coalesce(e.effective_start, '-infinity'),
                               coalesce(e.effective_end, 'infinity'), true, p_ids) d)
    SELECT NULL::timestamptz, t.id, sum(t.completed)::bigint, sum(t.failed)::bigint,
           sum(t.partial)::bigint, sum(t.input_tokens)::bigint, sum(t.output_tokens)::bigint,
           sum(t.processing_time_ms)::bigint, sum(t.cost_usd), sum(t.latency), sum(t.latency_over)
      FROM parts t
     GROUP BY t.id
$$;

-- One model's statistics over a range (model_id NULL: requests without a model).
CREATE TYPE chat_request_stat AS (
    model_id integer,
    total_requests bigint,
    completed_requests bigint,
    failed_requests bigint,
    partial_requests bigint,
    total_input_tokens bigint,
    total_output_tokens bigint,
    processing_time_ms_sum bigint,
    total_cost_usd numeric,
    p50_processing_time_ms numeric,
    p95_processing_time_ms numeric,
    p99_processing_time_ms numeric);

-- The baseline: everything aggregated from the raw rows, percentiles exact. Planned
-- for its values (an index on created_at serves a short range).
CREATE FUNCTION chat_request_stats_raw(
    p_start timestamptz, p_end timestamptz, p_model_ids integer[], p_latency boolean)
RETURNS SETOF chat_request_stat
LANGUAGE plpgsql STABLE ROWS 500
SET plan_cache_mode = force_custom_plan
AS $$
BEGIN
    RETURN QUERY
    SELECT r.model_id, count(*),
           count(*) FILTER (WHERE r.status = 'completed'),
           count(*) FILTER (WHERE r.status = 'failed'),
           count(*) FILTER (WHERE r.status = 'partial'),
           sum(r.input_tokens)::bigint,
           sum(r.output_tokens)::bigint,
           sum(r.processing_time_ms)::bigint,
           coalesce(sum(r.cost_usd), 0),
           percentile_disc(0.5) WITHIN GROUP (ORDER BY r.processing_time_ms)
               FILTER (WHERE p_latency)::numeric,
           percentile_disc(0.95) WITHIN GROUP (ORDER BY r.processing_time_ms)
               FILTER (WHERE p_latency)::numeric,
           percentile_disc(0.99) WITHIN GROUP (ORDER BY r.processing_time_ms)
               FILTER (WHERE p_latency)::numeric
      FROM chat_completion_requests r
     WHERE (p_start IS NULL OR r.created_at >= p_start)
       AND (p_end IS NULL OR r.created_at < p_end)
       AND (p_model_ids IS NULL OR r.model_id = ANY (p_model_ids))
     GROUP BY r.model_id;
END
$$;

-- Both are PL/pgSQL so that their plans are cached per session and their callers plan
-- only a function scan (with its row estimate, so models and providers join by hash).
CREATE FUNCTION chat_request_stats_rollup(
    p_start timestamptz, p_end timestamptz, p_model_ids integer[], p_latency boolean)
RETURNS SETOF chat_request_stat
LANGUAGE plpgsql STABLE ROWS 500 AS $$
BEGIN
    RETURN QUERY
    SELECT nullif(s.id, 0)::integer, s.completed + s.failed + s.partial, s.completed, s.failed,
           s.partial, s.input_tokens, s.output_tokens, s.processing_time_ms, s.cost_usd,
           chat_latency_percentile(s.main, s.over, 0.5),
           chat_latency_percentile(s.main, s.over, 0.95),
           chat_latency_percentile(s.main, s.over, 0.99)
      FROM (SELECT t.*, t.latency::real[] AS main, t.latency_over::real[] AS over
              FROM chat_rollup_sums(p_start, p_end, p_model_ids, p_latency) t
            OFFSET 0) s  -- each histogram converted once, then searched three times
     WHERE s.completed + s.failed + s.partial > 0;
END
$$;

-- The name every statistics function calls: the rollups, or the raw baseline on request
-- (`SET chatstats.stats_source = 'raw'`). p_model_ids: only these models (NULL: all, and
-- the requests without a model); p_latency: whether percentiles are wanted.
CREATE FUNCTION chat_request_stats(
    p_start timestamptz DEFAULT NULL,
    p_end timestamptz DEFAULT NULL,
    p_model_ids integer[] DEFAULT NULL,
    p_latency boolean DEFAULT true)
RETURNS SETOF chat_request_stat
LANGUAGE sql STABLE AS $$
    SELECT * FROM chat_request_stats_raw(p_start, p_end, p_model_ids, p_latency)
     WHERE current_setting('chatstats.stats_source', true) = 'raw'
    UNION ALL
    SELECT * FROM chat_request_stats_rollup(p_start, p_end, p_model_ids, p_latency)
     WHERE current_setting('chatstats.stats_source', true) IS DISTINCT FROM 'raw'
$$;

-- The public functions of 0002 answer from here; model rows gain percentiles.
ALTER TYPE model_stats
    ADD ATTRIBUTE p50_processing_time_ms numeric,
    ADD ATTRIBUTE p95_processing_time_ms numeric,
    ADD ATTRIBUTE p99_processing_time_ms numeric;

CREATE OR REPLACE FUNCTION chat_model_stats(
    p_provider_id integer,
    p_model_id integer,
    p_start timestamptz,
    p_end timestamptz)
RETURNS SETOF model_stats
LANGUAGE sql STABLE AS $$
    SELECT m.id, m.model_id, m.model_name, m.provider_model_id,
           p.id, p.name, p.slug,
           coalesce(t.total_requests, 0),
           coalesce(t.completed_requests, 0),
           coalesce(t.failed_requests, 0),
           coalesce(t.partial_requests, 0),
           coalesce(t.total_input_tokens, 0),
           coalesce(t.total_output_tokens, 0),
           coalesce(t.total_input_tokens + t.total_output_tokens, 0),
           round(t.processing_time_ms_sum::numeric / nullif(t.total_requests, 0), 2),
           coalesce(t.total_cost_usd, 0),
           t.p50_processing_time_ms, t.p95_processing_time_ms, t.p99_processing_time_ms
      FROM models m
      JOIN providers p ON p.id = m.provider_id
      LEFT JOIN chat_request_stats(
                    p_start, p_end,
                    CASE WHEN p_model_id IS NOT NULL THEN ARRAY[p_model_id]
                         WHEN p_provider_id IS NOT NULL THEN
                             ARRAY(SELECT id FROM models WHERE provider_id = p_provider_id) END
                ) t ON t.model_id = m.id
     WHERE (p_provider_id IS NULL OR m.provider_id = p_provider_id)
       AND (p_model_id IS NULL OR m.id = p_model_id)
       AND (p_model_id IS NOT NULL OR t.total_requests > 0)
     ORDER BY 8 DESC, m.id
$$;

CREATE OR REPLACE FUNCTION get_provider_request_stats(
    p_start_date timestamptz DEFAULT NULL,
    p_end_date timestamptz DEFAULT NULL)
RETURNS TABLE (
    provider_id integer,
    name text,
    slug text,
    models_with_requests bigint,
    total_requests bigint)
LANGUAGE sql STABLE AS $$
    SELECT p.id, p.name, p.slug,
           count(t.model_id),
           coalesce(sum(t.total_requests), 0)::bigint
      FROM providers p
      LEFT JOIN models m ON m.provider_id = p.id
      LEFT JOIN chat_request_stats(p_start_date, p_end_date, NULL, false) t ON t.model_id = m.id
     GROUP BY p.id
     ORDER BY 5 DESC, p.id
$$;

CREATE OR REPLACE FUNCTION get_unattributed_request_count(
    p_start_date timestamptz DEFAULT NULL,
    p_end_date timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(t.total_requests), 0)::bigint
      FROM chat_request_stats(p_start_date, p_end_date, NULL, false) t
     WHERE t.model_id IS NULL
$$;
