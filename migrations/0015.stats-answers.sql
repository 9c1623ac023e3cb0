-- Statistics answers in fewer steps: /providers in one pass, the range's rounding
-- worked out only where retention removed rows, and raw rows read only when there are
-- some.
--
-- chat_provider_request_stats answers /providers (the providers' counts and the
-- requests without a model) from one chat_request_stats pass; get_provider_request_stats
-- keeps its contract, now on top of it, and get_unattributed_request_count reads only
-- the requests without a model. chat_rollup_effective_range returns the range
-- as asked, without working out its pieces, when no part of it lies before the raw
-- horizon (only there can an edge be rounded). chat_rollup_raw skips its statement when
-- a range has no raw edges and no rows wait to be rolled up (all-time questions on a
-- store that is caught up), and sums its groups in a hash table rather than sorting rows
-- that carry a histogram each.
-- depends: 0013.user-rollups

-- One row per provider with requests in [p_start_date, p_end_date), busiest first,
-- each carrying the count of requests without a model; one row of NULLs but that
-- count when no provider has any.
CREATE FUNCTION chat_provider_request_stats(
    p_start_date timestamptz DEFAULT NULL,
    p_end_date timestamptz DEFAULT NULL)
RETURNS TABLE (
    unattributed_requests bigint,
    provider_id integer,
    name text,
    slug text,
    models_with_requests bigint,
    total_requests bigint)
LANGUAGE sql STABLE AS $$
    WITH t AS MATERIALIZED (SELECT * FROM chat_request_stats(p_start_date, p_end_date, NULL, false))
    SELECT u.n, s.*
      FROM (SELECT coalesce(sum(t.total_requests), 0)::bigint AS n FROM t WHERE t.model_id IS NULL) u
      LEFT JOIN (SELECT p.id, p.name, p.slug, count(*), sum(t.total_requests)::bigint AS total_requests
                   FROM t
                   JOIN models m ON m.id = t.model_id
                   JOIN providers p ON p.id = m.provider_id
                  GROUP BY p.id) s ON true
     ORDER BY s.total_requests DESC, s.id
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
    SELECT s.provider_id, s.name, s.slug, s.models_with_requests, s.total_requests
      FROM chat_provider_request_stats(p_start_date, p_end_date) s
     WHERE s.provider_id IS NOT NULL
     ORDER BY s.total_requests DESC, s.provider_id
$$;

-- Requests without a model counted alone: model id 0 stands for them in
-- chat_request_stats' p_model_ids, as it does in the rollups, so that
-- get_unattributed_request_count reads their rows only, not every model's.
CREATE OR REPLACE FUNCTION chat_rollup_sums(
    p_start timestamptz, p_end timestamptz, p_ids integer[], p_latency boolean)
RETURNS SETOF chat_rollup_delta
LANGUAGE sql STABLE AS $$
    SELECT NULL::timestamptz, s.id, s.completed, s.failed, s.partial, s.input_tokens,
           s.output_tokens, s.processing_time_ms, s.cost_usd, s.latency, s.latency_over, s.dim
      FROM chat_rollup_series('m', ARRAY[coalesce(p_start, '-infinity'), coalesce(p_end, 'infinity')],
                              p_ids::bigint[], p_latency) s
$$;

CREATE OR REPLACE FUNCTION chat_request_stats_raw(
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
       AND (p_model_ids IS NULL OR r.model_id = ANY (p_model_ids)
            OR r.model_id IS NULL AND 0 = ANY (p_model_ids))
     GROUP BY r.model_id;
END
$$;

CREATE OR REPLACE FUNCTION get_unattributed_request_count(
    p_start_date timestamptz DEFAULT NULL,
    p_end_date timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(t.total_requests), 0)::bigint
      FROM chat_request_stats(p_start_date, p_end_date, '{0}', false) t
$$;

CREATE OR REPLACE FUNCTION chat_rollup_effective_range(
    p_start timestamptz, p_end timestamptz, OUT effective_start timestamptz, OUT effective_end timestamptz)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    effective_start := p_start;
    effective_end := p_end;
    IF coalesce(p_start, '-infinity') < (SELECT raw_horizon FROM chat_rollup_state) THEN
        SELECT CASE WHEN p_start IS NOT NULL THEN least(p_start, min(p.lo) FILTER (WHERE NOT p.exact)) END,
               CASE WHEN p_end IS NOT NULL THEN greatest(p_end, max(p.hi) FILTER (WHERE NOT p.exact)) END
          INTO effective_start, effective_end
          FROM chat_rollup_pieces(p_start, p_end) p;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION chat_rollup_raw(
    p_slots timestamptz[], p_los timestamptz[], p_his timestamptz[], p_signs integer[],
    p_tail timestamptz[], p_dim "char", p_ids bigint[], p_latency boolean)
RETURNS SETOF chat_rollup_delta
LANGUAGE plpgsql STABLE
SET work_mem = '64MB'  -- histograms summed in memory
SET max_parallel_workers_per_gather = 0
SET enable_hashjoin = off
SET enable_mergejoin = off
SET enable_sort = off  -- groups summed in a hash table, not sorted with their histograms
AS $$
DECLARE
    edges text;
    slots timestamptz[];
    los timestamptz[];
    signs integer[];
BEGIN
    SELECT coalesce(string_agg(format('r.created_at >= %L AND r.created_at < %L', e.lo, e.hi), ' OR '), 'false'),
           coalesce(array_agg(e.slot ORDER BY e.lo), '{}'), coalesce(array_agg(e.lo ORDER BY e.lo), '{}'),
           coalesce(array_agg(e.sign ORDER BY e.lo), '{}')
      INTO edges, slots, los, signs
      FROM unnest(p_slots, p_los, p_his, p_signs) e (slot, lo, hi, sign);
    IF cardinality(p_slots) = 0 AND (SELECT coalesce(max(id), 0) FROM chat_completion_requests)
                                     <= (SELECT watermark_id FROM chat_rollup_state) THEN
        RETURN;  -- no raw rows to read (none waits): the statement below is not even planned
    END IF;
    RETURN QUERY EXECUTE format($q$
        SELECT c.slot, coalesce(c.g, 0),
               c.sign * count(*) FILTER (WHERE c.status = 'completed'),
               c.sign * count(*) FILTER (WHERE c.status = 'failed'),
               c.sign * count(*) FILTER (WHERE c.status = 'partial'),
               c.sign * chat_sum(c.input_tokens), c.sign * chat_sum(c.output_tokens),
               c.sign * chat_sum(c.processing_time_ms), c.sign * coalesce(sum(c.cost_usd), 0), %2$s, $7
          FROM (SELECT $1[width_bucket(r.created_at, $2)] AS slot, $3[width_bucket(r.created_at, $2)] AS sign,
                       %1$s AS g, r.status, r.input_tokens, r.output_tokens, r.processing_time_ms, r.cost_usd
                  FROM chat_completion_requests r
                 WHERE (%3$s) AND r.id <= $5
                UNION ALL
                SELECT $4[width_bucket(r.created_at, $4)], 1, %1$s, r.status, r.input_tokens,
                       r.output_tokens, r.processing_time_ms, r.cost_usd
                  FROM chat_completion_requests r
                 WHERE r.id > $5 AND r.created_at >= $4[1] AND r.created_at < $4[cardinality($4)]) c
          %4$s
         WHERE $6 IS NULL OR c.g = ANY ($6) OR 0 = ANY ($6) AND c.g IS NULL
         GROUP BY c.slot, c.g, c.sign$q$,
        CASE p_dim WHEN 'm' THEN 'r.model_id::bigint' WHEN 'k' THEN 'r.api_key_id' WHEN 'u' THEN 'r.user_id'
                   ELSE 'NULL::bigint' END,
        CASE WHEN p_latency THEN 'chat_latency_scale(sum(s.latency), c.sign), chat_latency_scale(sum(s.latency_over), c.sign)'
             ELSE 'NULL::vector, NULL::vector' END,
        edges,
        CASE WHEN p_latency THEN 'JOIN chat_latency_steps s ON s.bucket = chat_latency_bucket(c.processing_time_ms)' END)
    USING slots, los, signs, p_tail, (SELECT watermark_id FROM chat_rollup_state), p_ids, p_dim;
END
$$;
