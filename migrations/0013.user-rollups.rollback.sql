-- Back to 0012: users by 6 hours to 16 days from the detail horizon, 32 days and
-- coarser for ever; the rows 0012 does not keep go, and the users' 64- to 1024-day
-- blocks are summed again from their 32-day blocks.
DROP FUNCTION chat_request_groups_ranked("char", timestamptz[], bigint[], text, text, integer);
DROP FUNCTION chat_rollup_raw(timestamptz[], timestamptz[], timestamptz[], integer[], timestamptz[], "char", bigint[], boolean);
DROP FUNCTION chat_rollup_pieces(timestamptz, timestamptz);
DROP FUNCTION chat_rollup_pieces("char", timestamptz, timestamptz, boolean, boolean);
DROP FUNCTION chat_rollup_edge_costs(chat_rollup_state, "char", timestamptz);

-- 0012's definitions again.
CREATE OR REPLACE FUNCTION chat_rollup_kept_from(p_state chat_rollup_state, p_dim "char", p_level integer)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_dim IN ('m', 'a') THEN
                    CASE WHEN p_level = 1 THEN p_state.quarter_horizon ELSE '-infinity'::timestamptz END
                WHEN p_level < CASE p_dim WHEN 'k' THEN 2 ELSE 3 END THEN 'infinity'::timestamptz
                WHEN p_level < CASE p_dim WHEN 'k' THEN 4 ELSE 9 END THEN p_state.detail_horizon
                ELSE '-infinity'::timestamptz END
$$;

CREATE OR REPLACE FUNCTION chat_rollup_base_bucket(p_state chat_rollup_state, p_dim "char", p_at timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT chat_rollup_bucket(
        CASE WHEN p_dim IN ('m', 'a') THEN CASE WHEN p_at >= p_state.quarter_horizon THEN 1 ELSE 2 END
             WHEN p_dim = 'k' THEN CASE WHEN p_at >= p_state.detail_horizon THEN 2 ELSE 4 END
             ELSE CASE WHEN p_at >= p_state.detail_horizon THEN 3 ELSE 9 END END,
        p_at)
$$;

CREATE OR REPLACE FUNCTION chat_rollup_reset()
RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM chat_rollup_state FOR UPDATE;
    TRUNCATE chat_rollups;
    UPDATE chat_rollup_state
       SET watermark_id = 0, refreshed_at = now(), quarter_horizon = '-infinity',
           raw_horizon = '-infinity', detail_horizon = '-infinity';
    RETURN NULL;
END
$$;

CREATE FUNCTION chat_rollup_pieces(p_dim "char", p_start timestamptz, p_end timestamptz)
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
BEGIN
    exact := true;
    los := ARRAY[coalesce(p_start, '-infinity')];
    his := ARRAY[coalesce(p_end, 'infinity')];
    IF los[1] = '-infinity' AND his[1] = 'infinity' THEN
        level := chat_rollup_top(); lo := '-infinity'; hi := 'infinity';
        RETURN NEXT;
        RETURN;
    END IF;
    IF los[1] >= his[1] THEN
        RETURN;
    END IF;
    SELECT * INTO st FROM chat_rollup_state;
    FOR lvl IN REVERSE chat_rollup_top() - 1 .. 1 LOOP
        next_los := '{}';
        next_his := '{}';
        FOR i IN 1 .. cardinality(los) LOOP
            a := los[i];
            b := his[i];
            inner_lo := chat_rollup_ceil(lvl, greatest(a, chat_rollup_kept_from(st, p_dim, lvl)));
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
        FOREACH b IN ARRAY ARRAY(
                SELECT DISTINCT h FROM unnest(ARRAY[st.quarter_horizon, st.detail_horizon, st.raw_horizon, his[i]]) h
                 WHERE h > los[i] AND h <= his[i] ORDER BY h) LOOP
            IF a >= st.raw_horizon THEN
                level := NULL; lo := a; hi := b;
            ELSE
                level := (SELECT min(l) FROM generate_series(1, chat_rollup_top()) l
                           WHERE chat_rollup_kept_from(st, p_dim, l) <= a);
                lo := chat_rollup_bucket(level, a);
                hi := chat_rollup_ceil(level, b);
            END IF;
            exact := lo = a AND hi = b;
            RETURN NEXT;
            a := b;
        END LOOP;
    END LOOP;
END
$$;

CREATE FUNCTION chat_rollup_pieces(p_start timestamptz, p_end timestamptz)
RETURNS TABLE (level smallint, lo timestamptz, hi timestamptz, exact boolean)
LANGUAGE sql STABLE ROWS 20 AS $$
    SELECT * FROM chat_rollup_pieces('m', p_start, p_end)
$$;

CREATE FUNCTION chat_rollup_raw(
    p_slots timestamptz[], p_los timestamptz[], p_his timestamptz[], p_tail timestamptz[],
    p_dim "char", p_ids bigint[], p_latency boolean)
RETURNS SETOF chat_rollup_delta
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_custom_plan
SET enable_hashjoin = off
SET enable_mergejoin = off
SET work_mem = '64MB'  -- histograms summed in memory
SET max_parallel_workers_per_gather = 0  -- the edges' unknown length looks large; they are not
AS $$
DECLARE
    done_upto bigint := (SELECT watermark_id FROM chat_rollup_state);
BEGIN
    RETURN QUERY
    SELECT c.slot,
           coalesce(CASE p_dim WHEN 'm' THEN c.model_id WHEN 'k' THEN c.api_key_id
                               WHEN 'u' THEN c.user_id END, 0),
           count(*) FILTER (WHERE c.status = 'completed'),
           count(*) FILTER (WHERE c.status = 'failed'),
           count(*) FILTER (WHERE c.status = 'partial'),
           sum(c.input_tokens)::bigint,
           sum(c.output_tokens)::bigint,
           sum(c.processing_time_ms)::bigint,
           coalesce(sum(c.cost_usd), 0),
           sum(s.latency),
           sum(s.latency_over),
           p_dim
      FROM (SELECT e.slot, r.*
              FROM unnest(p_slots, p_los, p_his) e (slot, lo, hi),
                   LATERAL (SELECT * FROM chat_completion_requests r
                             WHERE r.created_at >= e.lo AND r.created_at < e.hi AND r.id <= done_upto) r
            UNION ALL
            SELECT p_tail[width_bucket(r.created_at, p_tail)], r.*
              FROM chat_completion_requests r
             WHERE r.id > done_upto
               AND r.created_at >= p_tail[1] AND r.created_at < p_tail[cardinality(p_tail)]) c
      LEFT JOIN chat_latency_steps s ON p_latency AND s.bucket = chat_latency_bucket(c.processing_time_ms)
     WHERE p_ids IS NULL
        OR CASE p_dim WHEN 'm' THEN c.model_id WHEN 'k' THEN c.api_key_id WHEN 'u' THEN c.user_id END
           = ANY (p_ids)
        OR 0 = ANY (p_ids) AND CASE p_dim WHEN 'm' THEN c.model_id WHEN 'k' THEN c.api_key_id
                                          WHEN 'u' THEN c.user_id END IS NULL
     GROUP BY 1, 2;
END
$$;

CREATE OR REPLACE FUNCTION chat_rollup_series(
    p_dim "char", p_bounds timestamptz[], p_ids bigint[], p_latency boolean)
RETURNS SETOF chat_rollup_delta
LANGUAGE sql STABLE AS $$
    WITH pieces AS MATERIALIZED (
        SELECT s.lo AS slot, p.*
          FROM unnest(p_bounds[:cardinality(p_bounds) - 1], p_bounds[2:]) s (lo, hi),
               chat_rollup_pieces(p_dim, s.lo, s.hi) p),
    parts AS (
        -- A primary key range scan per piece (OFFSET 0 keeps each a subquery); some
        -- ids' rows are picked in the index (a condition on its last column), so that
        -- a generic plan serves some ids and all alike.
        SELECT p.slot, r.id, r.completed, r.failed, r.partial, r.input_tokens, r.output_tokens,
               r.processing_time_ms, r.cost_usd,
               CASE WHEN p_latency THEN r.latency END AS latency,
               CASE WHEN p_latency THEN r.latency_over END AS latency_over
          FROM pieces p,
               LATERAL (SELECT * FROM chat_rollups r
                         WHERE p_ids IS NULL AND r.level = p.level AND r.dim = p_dim
                           AND r.bucket >= p.lo AND r.bucket < p.hi
                        UNION ALL
                        SELECT * FROM chat_rollups r
                         WHERE r.level = p.level AND r.dim = p_dim
                           AND r.bucket >= p.lo AND r.bucket < p.hi AND r.id = ANY (p_ids)
                        OFFSET 0) r
         WHERE p.level IS NOT NULL
        UNION ALL  -- raw rows: the ragged edges, and the tail over the range the pieces cover
        SELECT CASE WHEN d.bucket = x.tail_lo THEN p_bounds[1] ELSE d.bucket END, d.id, d.completed,
               d.failed, d.partial, d.input_tokens, d.output_tokens, d.processing_time_ms,
               d.cost_usd, d.latency, d.latency_over
          FROM (SELECT coalesce(array_agg(p.slot) FILTER (WHERE p.level IS NULL), '{}') AS slots,
                       coalesce(array_agg(p.lo) FILTER (WHERE p.level IS NULL), '{}') AS los,
                       coalesce(array_agg(p.hi) FILTER (WHERE p.level IS NULL), '{}') AS his,
                       -- an outer edge rounded outwards takes the tail with it
                       least(p_bounds[1], min(p.lo) FILTER (WHERE NOT p.exact AND p.slot = p_bounds[1]))
                           AS tail_lo,
                       greatest(p_bounds[cardinality(p_bounds)], max(p.hi) FILTER (
                           WHERE NOT p.exact AND p.slot = p_bounds[cardinality(p_bounds) - 1])) AS tail_hi
                  FROM pieces p) x,
               chat_rollup_raw(x.slots, x.los, x.his,
                               x.tail_lo || p_bounds[2:cardinality(p_bounds) - 1] || x.tail_hi,
                               p_dim, p_ids, p_latency) d)
    SELECT t.slot, t.id, chat_sum(t.completed), chat_sum(t.failed),
           chat_sum(t.partial), chat_sum(t.input_tokens), chat_sum(t.output_tokens),
           chat_sum(t.processing_time_ms), sum(t.cost_usd), sum(t.latency), sum(t.latency_over),
           p_dim
      FROM parts t
     GROUP BY t.slot, t.id
$$;

CREATE OR REPLACE FUNCTION chat_request_groups_raw(
    p_bounds timestamptz[], p_by text, p_top integer, p_order text,
    p_model_ids integer[], p_api_key_id bigint, p_user_id bigint, p_status text)
RETURNS SETOF chat_request_group
LANGUAGE plpgsql STABLE ROWS 100
SET plan_cache_mode = force_custom_plan
AS $$
BEGIN
    RETURN QUERY
    WITH matching AS MATERIALIZED (
        SELECT p_bounds[width_bucket(c.created_at, p_bounds)] AS slot,
               CASE p_by WHEN 'model' THEN c.model_id
                         WHEN 'provider' THEN (SELECT m.provider_id FROM models m WHERE m.id = c.model_id)
                         WHEN 'api_key' THEN c.api_key_id
                         WHEN 'user' THEN c.user_id END AS g,
               c.status, c.input_tokens, c.output_tokens, c.processing_time_ms, c.cost_usd
          FROM chat_completion_requests c
         WHERE c.created_at >= p_bounds[1] AND c.created_at < p_bounds[cardinality(p_bounds)]
           AND (p_model_ids IS NULL OR c.model_id = ANY (p_model_ids))
           AND (p_api_key_id IS NULL OR c.api_key_id = p_api_key_id)
           AND (p_user_id IS NULL OR c.user_id = p_user_id)
           AND (p_status IS NULL OR c.status = p_status)),
    ranked AS (
        SELECT m.slot, m.g,
               row_number() OVER (PARTITION BY m.slot ORDER BY CASE p_order
                   WHEN 'tokens' THEN sum(m.input_tokens::numeric + m.output_tokens)
                   WHEN 'cost' THEN coalesce(sum(m.cost_usd), 0)
                   ELSE count(*) END DESC, m.g NULLS LAST) <= p_top AS top
          FROM matching m
         GROUP BY m.slot, m.g)
    SELECT m.slot,
           CASE WHEN GROUPING(r.top) = 1 THEN 'total' WHEN r.top THEN 'group' ELSE 'others' END,
           CASE WHEN r.top THEN m.g END,
           count(*) FILTER (WHERE m.status = 'completed'),
           count(*) FILTER (WHERE m.status = 'failed'),
           count(*) FILTER (WHERE m.status = 'partial'),
           sum(m.input_tokens)::bigint,
           sum(m.output_tokens)::bigint,
           sum(m.processing_time_ms)::bigint,
           coalesce(sum(m.cost_usd), 0),
           percentile_disc(0.5) WITHIN GROUP (ORDER BY m.processing_time_ms)::numeric,
           percentile_disc(0.95) WITHIN GROUP (ORDER BY m.processing_time_ms)::numeric,
           percentile_disc(0.99) WITHIN GROUP (ORDER BY m.processing_time_ms)::numeric
      FROM matching m
      JOIN ranked r ON r.slot = m.slot AND r.g IS NOT DISTINCT FROM m.g
     GROUP BY GROUPING SETS ((m.slot, r.top, CASE WHEN r.top THEN m.g END), (m.slot))
    HAVING p_by IS NOT NULL OR GROUPING(r.top) = 1;
END
$$;

CREATE OR REPLACE FUNCTION chat_request_groups_rollup(
    p_bounds timestamptz[], p_by text, p_top integer, p_order text,
    p_model_ids integer[], p_api_key_id bigint, p_user_id bigint)
RETURNS SETOF chat_request_group
LANGUAGE plpgsql STABLE ROWS 100 AS $$
DECLARE
    dim "char" := chat_request_groups_dim(p_by, p_model_ids, p_api_key_id, p_user_id);
    ids bigint[] := CASE WHEN p_model_ids IS NOT NULL THEN p_model_ids::bigint[]
                         WHEN p_api_key_id IS NOT NULL THEN ARRAY[p_api_key_id]
                         WHEN p_user_id IS NOT NULL THEN ARRAY[p_user_id] END;
BEGIN
    RETURN QUERY
    WITH total AS MATERIALIZED (
        SELECT s.bucket AS slot, chat_sum(s.completed) AS completed, chat_sum(s.failed) AS failed,
               chat_sum(s.partial) AS partial, chat_sum(s.input_tokens) AS input_tokens,
               chat_sum(s.output_tokens) AS output_tokens,
               chat_sum(s.processing_time_ms) AS processing_time_ms, sum(s.cost_usd) AS cost_usd,
               sum(s.latency) AS latency, sum(s.latency_over) AS latency_over
          FROM chat_rollup_series(CASE WHEN ids IS NULL THEN 'a' ELSE dim END, p_bounds, ids, true) s
         GROUP BY s.bucket),
    sums AS MATERIALIZED (  -- per id, with its group
        SELECT s.*, CASE WHEN p_by = 'provider' THEN (SELECT m.provider_id FROM models m WHERE m.id = s.id)
                         ELSE nullif(s.id, 0) END AS g
          FROM chat_rollup_series(dim, p_bounds, ids, false) s
         WHERE p_by IS NOT NULL),
    grouped AS (  -- a provider sums its models; any other group is one id
        SELECT s.bucket AS slot, s.g,
               chat_sum(s.completed) AS completed, chat_sum(s.failed) AS failed,
               chat_sum(s.partial) AS partial, chat_sum(s.input_tokens) AS input_tokens,
               chat_sum(s.output_tokens) AS output_tokens,
               chat_sum(s.processing_time_ms) AS processing_time_ms, sum(s.cost_usd) AS cost_usd
          FROM sums s
         WHERE p_by = 'provider'
         GROUP BY 1, 2
        UNION ALL
        SELECT s.bucket, s.g, s.completed, s.failed, s.partial, s.input_tokens, s.output_tokens,
               s.processing_time_ms, s.cost_usd
          FROM sums s
         WHERE p_by <> 'provider'),
    top AS MATERIALIZED (  -- a breakdown has one slot: the first p_top by a top-N sort
        SELECT f.*, row_number() OVER () AS rank
          FROM (SELECT g.* FROM grouped g
                 ORDER BY CASE p_order WHEN 'tokens' THEN g.input_tokens::numeric + g.output_tokens
                                       WHEN 'cost' THEN g.cost_usd
                                       ELSE (g.completed + g.failed + g.partial)::numeric END DESC,
                          g.g NULLS LAST
                 LIMIT p_top) f),
    histograms AS (
        SELECT s.bucket AS slot, m.g, sum(s.latency) AS latency, sum(s.latency_over) AS latency_over
          FROM chat_rollup_series(dim, p_bounds, ARRAY(
                   SELECT DISTINCT m.id FROM sums m JOIN top t ON t.slot = m.bucket AND t.g IS NOT DISTINCT FROM m.g),
                   true) s
          JOIN sums m ON m.bucket = s.bucket AND m.id = s.id
         WHERE p_by IS NOT NULL
         GROUP BY 1, 2),
    answer AS (
        SELECT t.slot, 'group' AS kind, t.g, t.rank, t.completed, t.failed, t.partial, t.input_tokens,
               t.output_tokens, t.processing_time_ms, t.cost_usd, h.latency, h.latency_over
          FROM top t
          LEFT JOIN histograms h ON h.slot = t.slot AND h.g IS NOT DISTINCT FROM t.g
        UNION ALL
        SELECT a.slot, 'others', NULL, NULL, a.completed - coalesce(t.completed, 0),
               a.failed - coalesce(t.failed, 0), a.partial - coalesce(t.partial, 0),
               a.input_tokens - coalesce(t.input_tokens, 0), a.output_tokens - coalesce(t.output_tokens, 0),
               a.processing_time_ms - coalesce(t.processing_time_ms, 0), a.cost_usd - coalesce(t.cost_usd, 0),
               CASE WHEN t.latency IS NULL THEN a.latency ELSE a.latency - t.latency END,
               CASE WHEN t.latency_over IS NULL THEN a.latency_over ELSE a.latency_over - t.latency_over END
          FROM total a
          LEFT JOIN (SELECT t.slot, chat_sum(t.completed) AS completed, chat_sum(t.failed) AS failed,
                            chat_sum(t.partial) AS partial, chat_sum(t.input_tokens) AS input_tokens,
                            chat_sum(t.output_tokens) AS output_tokens,
                            chat_sum(t.processing_time_ms) AS processing_time_ms, sum(t.cost_usd) AS cost_usd,
                            sum(h.latency) AS latency, sum(h.latency_over) AS latency_over
                       FROM top t
                       LEFT JOIN histograms h ON h.slot = t.slot AND h.g IS NOT DISTINCT FROM t.g
                      GROUP BY t.slot) t ON t.slot = a.slot
         WHERE p_by IS NOT NULL
        UNION ALL
        SELECT a.slot, 'total', NULL, NULL, a.completed, a.failed, a.partial, a.input_tokens,
               a.output_tokens, a.processing_time_ms, a.cost_usd, a.latency, a.latency_over
          FROM total a)
    SELECT x.slot, x.kind, x.g::bigint, x.completed::bigint, x.failed::bigint, x.partial::bigint,
           x.input_tokens::bigint, x.output_tokens::bigint, x.processing_time_ms::bigint, x.cost_usd,
           chat_latency_percentile(x.main, x.over, 0.5),
           chat_latency_percentile(x.main, x.over, 0.95),
           chat_latency_percentile(x.main, x.over, 0.99)
      FROM (SELECT a.*, a.latency::real[] AS main, a.latency_over::real[] AS over
              FROM answer a OFFSET 0) x  -- each histogram converted once, searched three times
     ORDER BY x.slot, x.kind = 'total', x.kind = 'others', x.rank;
END
$$;

DELETE FROM chat_rollups r
 USING chat_rollup_state st
 WHERE r.level < 9 AND r.bucket < chat_rollup_kept_from(st, r.dim, r.level);
DO $$
BEGIN
    FOR lvl IN 10 .. chat_rollup_top() - 1 LOOP
        INSERT INTO chat_rollups
        SELECT lvl, 'u', chat_rollup_bucket(lvl, r.bucket), r.id, chat_sum(r.completed), chat_sum(r.failed),
               chat_sum(r.partial), chat_sum(r.input_tokens), chat_sum(r.output_tokens),
               chat_sum(r.processing_time_ms), sum(r.cost_usd), sum(r.latency), sum(r.latency_over)
          FROM chat_rollups r
         WHERE r.level = lvl - 1 AND r.dim = 'u'
         GROUP BY 3, 4;
    END LOOP;
END
$$;

DROP FUNCTION chat_rollup_prune(timestamptz, timestamptz, timestamptz);
CREATE FUNCTION chat_rollup_prune(p_from timestamptz, p_detail_from timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    st chat_rollup_state;
    removed bigint;
BEGIN
    UPDATE chat_rollup_state
       SET quarter_horizon = greatest(quarter_horizon, date_bin('1 day', p_from, timestamptz '2000-01-01 00:00:00+00')),
           detail_horizon = greatest(detail_horizon, coalesce(
               date_bin('1 day', p_detail_from, timestamptz '2000-01-01 00:00:00+00'), detail_horizon))
     WHERE quarter_horizon < date_bin('1 day', p_from, timestamptz '2000-01-01 00:00:00+00')
        OR detail_horizon < date_bin('1 day', p_detail_from, timestamptz '2000-01-01 00:00:00+00')
    RETURNING * INTO st;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    DELETE FROM chat_rollups r
     WHERE r.level < 9 AND r.bucket < chat_rollup_kept_from(st, r.dim, r.level);
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END
$$;
REVOKE EXECUTE ON ROUTINE chat_rollup_prune(timestamptz, timestamptz) FROM chatstats_api;
GRANT EXECUTE ON ROUTINE chat_rollup_prune(timestamptz, timestamptz) TO chatstats_rollup;
REVOKE EXECUTE ON ROUTINE chat_sum(bigint) FROM chatstats_rollup;

ALTER TABLE chat_rollup_state DROP COLUMN user_horizon;
