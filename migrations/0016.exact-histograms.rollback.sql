-- Back to 0015: float4 histograms, summed in float4. Wide rows keep their value as
-- 0015 can hold it (lo + hi rounded to float4).
UPDATE chat_rollups
   SET latency = CASE WHEN latency_hi IS NULL THEN latency ELSE latency + latency_hi END,
       latency_over = CASE WHEN latency_over_hi IS NULL THEN latency_over ELSE latency_over + latency_over_hi END
 WHERE latency_hi IS NOT NULL OR latency_over_hi IS NOT NULL;
ALTER TYPE chat_rollup_delta DROP ATTRIBUTE latency_hi, DROP ATTRIBUTE latency_over_hi;
ALTER TABLE chat_rollups DROP COLUMN latency_hi, DROP COLUMN latency_over_hi;
ALTER TABLE chat_rollup_backfill_sums DROP COLUMN latency_hi, DROP COLUMN latency_over_hi;
DROP FUNCTION chat_latency_percentile(float8[], float8[], float8);

CREATE FUNCTION chat_latency_percentile(p_latency real[], p_over real[], p_fraction float8)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN p_latency[494] + coalesce(p_over[418], 0) = 0 THEN NULL
        WHEN ceil(p_fraction * (p_latency[494] + coalesce(p_over[418], 0))) > p_latency[494] THEN
            round((100 * 1.019794::float8 ^ (444 + width_bucket(
                (ceil(p_fraction * (p_latency[494] + p_over[418])) - 1 - p_latency[494])::real, p_over))
                * 2 * 1.019794 / (1 + 1.019794))::numeric, 2)
        WHEN width_bucket((ceil(p_fraction * (p_latency[494] + coalesce(p_over[418], 0))) - 1)::real,
                          p_latency) < 50 THEN
            2 * width_bucket((ceil(p_fraction * (p_latency[494] + coalesce(p_over[418], 0))) - 1)::real,
                             p_latency) + 0.5
        ELSE
            round((100 * 1.019794::float8 ^ (width_bucket(
                (ceil(p_fraction * (p_latency[494] + coalesce(p_over[418], 0))) - 1)::real, p_latency) - 50)
                * 2 * 1.019794 / (1 + 1.019794))::numeric, 2)
    END
$$;

CREATE OR REPLACE FUNCTION chat_rollup_deltas(
    p_rows chat_rollup_input[], p_sign integer, p_state chat_rollup_state, p_dims "char"[],
    p_latency boolean DEFAULT true)
RETURNS SETOF chat_rollup_delta
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_state IS NULL THEN r.created_at
                ELSE chat_rollup_base_bucket(p_state, d.dim, r.created_at) END,
           d.id,
           p_sign * count(*) FILTER (WHERE r.status = 'completed'),
           p_sign * count(*) FILTER (WHERE r.status = 'failed'),
           p_sign * count(*) FILTER (WHERE r.status = 'partial'),
           p_sign * sum(r.input_tokens)::bigint,
           p_sign * sum(r.output_tokens)::bigint,
           p_sign * sum(r.processing_time_ms)::bigint,
           p_sign * coalesce(sum(r.cost_usd), 0),
           chat_latency_scale(sum(s.latency), p_sign),
           chat_latency_scale(sum(s.latency_over), p_sign),
           d.dim
      FROM unnest(p_rows) r
      LEFT JOIN chat_latency_steps s ON p_latency AND s.bucket = chat_latency_bucket(r.processing_time_ms)
     CROSS JOIN LATERAL (VALUES ('m'::"char", coalesce(r.model_id, 0)::bigint),
                                ('k', coalesce(r.api_key_id, 0)), ('u', coalesce(r.user_id, 0)),
                                ('a', 0)) d (dim, id)
     WHERE d.dim = ANY (p_dims)
     GROUP BY 1, d.dim, d.id
$$;

CREATE OR REPLACE FUNCTION chat_rollup_apply(
    p_added chat_rollup_input[], p_removed chat_rollup_input[], p_state chat_rollup_state)
RETURNS void
LANGUAGE plpgsql
SET work_mem = '256MB'  -- a hash aggregate of histograms, not a sort of them
AS $$
DECLARE
    sums chat_rollup_delta[] := ARRAY(
        SELECT d FROM (SELECT * FROM chat_rollup_deltas(p_added, 1, p_state, '{m,k,u,a}')
                       UNION ALL
                       SELECT * FROM chat_rollup_deltas(p_removed, -1, p_state, '{m,k,u,a}')) d);
BEGIN
    FOR lvl IN 1 .. chat_rollup_top() LOOP
        sums := ARRAY(
            SELECT ROW(chat_rollup_bucket(lvl, d.bucket), d.id, chat_sum(d.completed), chat_sum(d.failed),
                       chat_sum(d.partial), chat_sum(d.input_tokens), chat_sum(d.output_tokens),
                       chat_sum(d.processing_time_ms), sum(d.cost_usd), sum(d.latency),
                       sum(d.latency_over), d.dim)::chat_rollup_delta
              FROM unnest(sums) d
             GROUP BY d.dim, chat_rollup_bucket(lvl, d.bucket), d.id);
        -- in key order, so that two transactions adding overlapping deltas lock rows in
        -- the same order
        INSERT INTO chat_rollups AS r
        SELECT lvl, d.dim, d.bucket, d.id, d.completed, d.failed, d.partial, d.input_tokens,
               d.output_tokens, d.processing_time_ms, d.cost_usd, d.latency, d.latency_over
          FROM unnest(sums) d
         WHERE d.bucket >= chat_rollup_kept_from(p_state, d.dim, lvl)
         ORDER BY d.dim, d.bucket, d.id
        ON CONFLICT (level, dim, bucket, id) DO UPDATE
           SET completed = r.completed + excluded.completed,
               failed = r.failed + excluded.failed,
               partial = r.partial + excluded.partial,
               input_tokens = r.input_tokens + excluded.input_tokens,
               output_tokens = r.output_tokens + excluded.output_tokens,
               processing_time_ms = r.processing_time_ms + excluded.processing_time_ms,
               cost_usd = r.cost_usd + excluded.cost_usd,
               latency = r.latency + excluded.latency,
               latency_over = CASE WHEN r.latency_over IS NULL THEN excluded.latency_over
                                   WHEN excluded.latency_over IS NULL THEN r.latency_over
                                   ELSE r.latency_over + excluded.latency_over END;
    END LOOP;
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

CREATE OR REPLACE FUNCTION chat_rollup_series(
    p_dim "char", p_bounds timestamptz[], p_ids bigint[], p_latency boolean)
RETURNS SETOF chat_rollup_delta
LANGUAGE sql STABLE AS $$
    WITH pieces AS MATERIALIZED (
        SELECT s.lo AS slot, p.*
          FROM unnest(p_bounds[:cardinality(p_bounds) - 1], p_bounds[2:]) s (lo, hi),
               chat_rollup_pieces(p_dim, s.lo, s.hi, s.lo = p_bounds[1], s.hi = p_bounds[cardinality(p_bounds)]) p),
    parts AS (
        -- A primary key range scan per piece (OFFSET 0 keeps each a subquery); some
        -- ids' rows are picked in the index (a condition on its last column), so that
        -- a generic plan serves some ids and all alike.
        SELECT p.slot, r.id, p.sign * r.completed AS completed, p.sign * r.failed AS failed,
               p.sign * r.partial AS partial, p.sign * r.input_tokens AS input_tokens,
               p.sign * r.output_tokens AS output_tokens, p.sign * r.processing_time_ms AS processing_time_ms,
               p.sign * r.cost_usd AS cost_usd, p.sign,
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
               d.cost_usd, 1, d.latency, d.latency_over  -- signed already
          FROM (SELECT coalesce(array_agg(p.slot) FILTER (WHERE p.level IS NULL), '{}') AS slots,
                       coalesce(array_agg(p.lo) FILTER (WHERE p.level IS NULL), '{}') AS los,
                       coalesce(array_agg(p.hi) FILTER (WHERE p.level IS NULL), '{}') AS his,
                       coalesce(array_agg(p.sign) FILTER (WHERE p.level IS NULL), '{}') AS signs,
                       -- an outer edge rounded outwards takes the tail with it
                       least(p_bounds[1], min(p.lo) FILTER (WHERE NOT p.exact AND p.slot = p_bounds[1]))
                           AS tail_lo,
                       greatest(p_bounds[cardinality(p_bounds)], max(p.hi) FILTER (
                           WHERE NOT p.exact AND p.slot = p_bounds[cardinality(p_bounds) - 1])) AS tail_hi
                  FROM pieces p) x,
               chat_rollup_raw(x.slots, x.los, x.his, x.signs,
                               x.tail_lo || p_bounds[2:cardinality(p_bounds) - 1] || x.tail_hi,
                               p_dim, p_ids, p_latency) d)
    SELECT t.slot, t.id, chat_sum(t.completed), chat_sum(t.failed),
           chat_sum(t.partial), chat_sum(t.input_tokens), chat_sum(t.output_tokens),
           chat_sum(t.processing_time_ms), sum(t.cost_usd),
           CASE WHEN sum(t.latency) FILTER (WHERE t.sign < 0) IS NULL THEN sum(t.latency) FILTER (WHERE t.sign > 0)
                ELSE sum(t.latency) FILTER (WHERE t.sign > 0) - sum(t.latency) FILTER (WHERE t.sign < 0) END,
           CASE WHEN sum(t.latency_over) FILTER (WHERE t.sign < 0) IS NULL
                THEN sum(t.latency_over) FILTER (WHERE t.sign > 0)
                WHEN sum(t.latency_over) FILTER (WHERE t.sign > 0) IS NULL
                THEN chat_latency_scale(sum(t.latency_over) FILTER (WHERE t.sign < 0), -1)
                ELSE sum(t.latency_over) FILTER (WHERE t.sign > 0) - sum(t.latency_over) FILTER (WHERE t.sign < 0) END,
           p_dim
      FROM parts t
     GROUP BY t.slot, t.id
$$;

CREATE OR REPLACE FUNCTION chat_rollup_sums(
    p_start timestamptz, p_end timestamptz, p_ids integer[], p_latency boolean)
RETURNS SETOF chat_rollup_delta
LANGUAGE sql STABLE AS $$
    SELECT NULL::timestamptz, s.id, s.completed, s.failed, s.partial, s.input_tokens,
           s.output_tokens, s.processing_time_ms, s.cost_usd, s.latency, s.latency_over, s.dim
      FROM chat_rollup_series('m', ARRAY[coalesce(p_start, '-infinity'), coalesce(p_end, 'infinity')],
                              p_ids::bigint[], p_latency) s
$$;

CREATE OR REPLACE FUNCTION chat_request_stats_rollup(
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

CREATE OR REPLACE FUNCTION chat_request_groups_rollup(
    p_bounds timestamptz[], p_by text, p_top integer, p_order text,
    p_model_ids integer[], p_api_key_id bigint, p_user_id bigint)
RETURNS SETOF chat_request_group
LANGUAGE plpgsql STABLE ROWS 100
SET plan_cache_mode = force_generic_plan  -- planning it costs more than any plan saves
AS $$
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
    top AS MATERIALIZED (  -- a breakdown (one slot): its first p_top groups
        SELECT * FROM chat_request_groups_ranked(dim, p_bounds, ids, p_by, p_order, p_top) WHERE p_by IS NOT NULL),
    groups AS (  -- their sums and histograms, read again for their ids only
        SELECT s.bucket AS slot, t.g, t.rank,
               chat_sum(s.completed) AS completed, chat_sum(s.failed) AS failed,
               chat_sum(s.partial) AS partial, chat_sum(s.input_tokens) AS input_tokens,
               chat_sum(s.output_tokens) AS output_tokens,
               chat_sum(s.processing_time_ms) AS processing_time_ms, sum(s.cost_usd) AS cost_usd,
               sum(s.latency) AS latency, sum(s.latency_over) AS latency_over
          FROM chat_rollup_series(dim, p_bounds, ARRAY(
                   SELECT x.id FROM top t,
                          LATERAL (SELECT coalesce(t.g, 0) AS id WHERE p_by <> 'provider' OR t.g IS NULL
                                   UNION ALL
                                   SELECT m.id FROM models m WHERE p_by = 'provider' AND m.provider_id = t.g) x
                    WHERE ids IS NULL OR x.id = ANY (ids)), true) s
          JOIN top t ON coalesce(t.g, -1) = coalesce(CASE WHEN p_by = 'provider' THEN (SELECT m.provider_id FROM models m WHERE m.id = s.id) ELSE nullif(s.id, 0) END, -1)
         WHERE p_by IS NOT NULL
         GROUP BY s.bucket, t.g, t.rank),
    answer AS (
        SELECT g.slot, 'group' AS kind, g.g, g.rank, g.completed, g.failed, g.partial, g.input_tokens,
               g.output_tokens, g.processing_time_ms, g.cost_usd, g.latency, g.latency_over
          FROM groups g
        UNION ALL
        SELECT a.slot, 'others', NULL, NULL, a.completed - coalesce(g.completed, 0),
               a.failed - coalesce(g.failed, 0), a.partial - coalesce(g.partial, 0),
               a.input_tokens - coalesce(g.input_tokens, 0), a.output_tokens - coalesce(g.output_tokens, 0),
               a.processing_time_ms - coalesce(g.processing_time_ms, 0), a.cost_usd - coalesce(g.cost_usd, 0),
               CASE WHEN g.latency IS NULL THEN a.latency ELSE a.latency - g.latency END,
               CASE WHEN g.latency_over IS NULL THEN a.latency_over ELSE a.latency_over - g.latency_over END
          FROM total a
          LEFT JOIN (SELECT g.slot, chat_sum(g.completed) AS completed, chat_sum(g.failed) AS failed,
                            chat_sum(g.partial) AS partial, chat_sum(g.input_tokens) AS input_tokens,
                            chat_sum(g.output_tokens) AS output_tokens,
                            chat_sum(g.processing_time_ms) AS processing_time_ms, sum(g.cost_usd) AS cost_usd,
                            sum(g.latency) AS latency, sum(g.latency_over) AS latency_over
                       FROM groups g
                      GROUP BY g.slot) g ON g.slot = a.slot
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

CREATE OR REPLACE FUNCTION chat_rollup_backfill_block(p_lo timestamptz, p_hi timestamptz)
RETURNS bigint
LANGUAGE plpgsql
-- Sorted groups: the requests sorted (narrow rows), then each one's latency step found
-- in that order (a nested loop keeps it) and summed as the groups stream by. A hash
-- table of a block's histograms, or a sort of rows carrying them, would not fit in memory.
SET enable_hashagg = off
SET enable_hashjoin = off
SET enable_mergejoin = off
SET work_mem = '256MB'
AS $$
DECLARE
    st chat_rollup_state := (SELECT s FROM chat_rollup_state s);
    lo timestamptz := coalesce(p_lo, '-infinity');
    hi timestamptz := coalesce(p_hi, 'infinity');
    summed bigint;
BEGIN
    WITH block AS (
        INSERT INTO chat_rollup_backfill_blocks VALUES (lo, hi, pg_current_snapshot())),
    stored AS (
        INSERT INTO chat_rollup_backfill_sums
        SELECT 1, r.dim, r.bucket, r.id,
               count(*) FILTER (WHERE r.status = 'completed'),
               count(*) FILTER (WHERE r.status = 'failed'),
               count(*) FILTER (WHERE r.status = 'partial'),
               sum(r.input_tokens)::bigint, sum(r.output_tokens)::bigint,
               sum(r.processing_time_ms)::bigint, coalesce(sum(r.cost_usd), 0),
               sum(s.latency), sum(s.latency_over)
          FROM (SELECT d.dim, chat_rollup_base_bucket(st, d.dim, c.created_at) AS bucket, d.id, c.status,
                       c.input_tokens, c.output_tokens, c.processing_time_ms, c.cost_usd
                  FROM chat_completion_requests c
                 CROSS JOIN LATERAL (VALUES ('m'::"char", coalesce(c.model_id, 0)::bigint),
                                            ('k', coalesce(c.api_key_id, 0)), ('u', coalesce(c.user_id, 0)),
                                            ('a', 0)) d (dim, id)
                 WHERE c.created_at >= lo AND c.created_at < hi AND c.id <= st.backfill_upto
                 ORDER BY 1, 2, 3) r
          JOIN chat_latency_steps s ON s.bucket = chat_latency_bucket(r.processing_time_ms)
         GROUP BY r.dim, r.bucket, r.id
        RETURNING dim, completed + failed + partial AS n)
    SELECT coalesce(sum(n), 0) INTO summed FROM stored WHERE dim = 'a';
    RETURN summed;
END
$$;

CREATE OR REPLACE FUNCTION chat_rollup_backfill_finish(p_state_version xid)
RETURNS bigint
LANGUAGE plpgsql
SET enable_hashagg = off  -- as in chat_rollup_backfill_block
SET work_mem = '256MB'
AS $$
DECLARE
    st chat_rollup_state := (SELECT s FROM chat_rollup_state s WHERE xmin = p_state_version);
    rolled_up bigint;
BEGIN
    IF st IS NULL THEN
        RAISE EXCEPTION 'the rollup state changed during the backfill' USING ERRCODE = 'serialization_failure';
    END IF;
    FOR lvl IN 2 .. chat_rollup_top() LOOP
        -- A group of one row is copied, its histograms as they are (still compressed); the
        -- others are summed. (An aggregate's vector has no dimensions in its type: stored
        -- into a vector(494) it would be cast, detoasted and compressed again.)
        WITH finer AS MATERIALIZED (
            SELECT s.*, chat_rollup_bucket(lvl, s.bucket) AS up,
                   count(*) OVER (PARTITION BY s.dim, chat_rollup_bucket(lvl, s.bucket), s.id) AS members
              FROM chat_rollup_backfill_sums s
             WHERE s.level = lvl - 1)
        INSERT INTO chat_rollup_backfill_sums
        SELECT lvl, f.dim, f.up, f.id, f.completed, f.failed, f.partial, f.input_tokens, f.output_tokens,
               f.processing_time_ms, f.cost_usd, f.latency, f.latency_over
          FROM finer f
         WHERE f.members = 1
        UNION ALL
        SELECT lvl, f.dim, f.up, f.id, chat_sum(f.completed), chat_sum(f.failed), chat_sum(f.partial),
               chat_sum(f.input_tokens), chat_sum(f.output_tokens), chat_sum(f.processing_time_ms),
               sum(f.cost_usd), sum(f.latency)::vector(494), sum(f.latency_over)::vector(418)
          FROM finer f
         WHERE f.members > 1
         GROUP BY f.dim, f.up, f.id;
    END LOOP;
    -- in key order: the primary key is built as by an index build, packed
    INSERT INTO chat_rollups
    SELECT * FROM chat_rollup_backfill_sums s
     WHERE s.bucket >= chat_rollup_kept_from(st, s.dim, s.level)
     ORDER BY s.level, s.dim, s.bucket, s.id;
    rolled_up := (SELECT completed + failed + partial FROM chat_rollups
                   WHERE level = chat_rollup_top() AND dim = 'a' AND id = 0);

    -- The hand-over. The row lock waits out the writers that logged, and holds off the
    -- others until the watermark is in place (they adjust the store themselves then).
    PERFORM FROM chat_rollup_state WHERE xmin = p_state_version FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the rollup state changed during the backfill' USING ERRCODE = 'serialization_failure';
    END IF;
    PERFORM chat_rollup_apply(
        ARRAY(SELECT l.input FROM chat_rollup_backfill_log l
                JOIN chat_rollup_backfill_blocks b ON (l.input).created_at >= b.lo AND (l.input).created_at < b.hi
               WHERE l.sign = 1 AND NOT pg_visible_in_snapshot(l.xid, b.snapshot)),
        ARRAY(SELECT l.input FROM chat_rollup_backfill_log l
                JOIN chat_rollup_backfill_blocks b ON (l.input).created_at >= b.lo AND (l.input).created_at < b.hi
               WHERE l.sign = -1 AND NOT pg_visible_in_snapshot(l.xid, b.snapshot)),
        st);
    UPDATE chat_rollup_state SET watermark_id = backfill_upto, backfill_upto = NULL, refreshed_at = now();
    PERFORM chat_rollup_backfill_clear();
    PERFORM pg_advisory_unlock(hashtext('chatstats.chat_rollup_refresh'));
    RETURN coalesce(rolled_up, 0);
END
$$;

DROP FUNCTION chat_rollup_backfill_levels("char"[]);
DROP FUNCTION chat_histogram_plus(vector, vector, vector, boolean);
DROP FUNCTION chat_histogram_narrow(vector, vector, bigint);
DROP FUNCTION chat_histogram(vector, vector, bigint, float8[], boolean);
DROP FUNCTION chat_histogram_wide(vector, vector, bigint, float8[], boolean);
DROP FUNCTION chat_histogram_values(vector, vector);
DROP FUNCTION chat_histogram_split(float8[], boolean);
DROP AGGREGATE chat_histogram_sum(vector, vector, integer);
DROP FUNCTION chat_histogram_accum(float8[], vector, vector, integer);
DROP FUNCTION chat_histogram_sum_limit();
DROP FUNCTION chat_histogram_narrow_limit();
