-- Latency histograms exact at any count. A float4 cell holds every integer up to 2^24
-- (16,777,216) and no further: past it, '[16777216]'::vector + '[1]' is 16777216, so a
-- big row refreshed in small deltas stopped counting, and sums of big rows rounded.
--
-- A histogram is now lo + hi, two float4 vectors: a narrow one (hi NULL) is exact
-- because its cells stay at most 2^24; a wide one holds its exact value x as
-- hi = float4(x) and lo = x - hi (|lo| <= 2^23, exact), added in float8 (pgvector's
-- vector_accum) and split again. Which rows are wide:
-- - stored rows: a row holding more than chat_histogram_narrow_limit() (2^22) requests
--   turns wide at its next update; chat_rollup_apply adds at most 2^20 input rows at a
--   time, so every narrow addition stays below 2^24;
-- - sums: a read or a coarser level adds rows of at most chat_histogram_sum_limit()
--   (2^19) requests in float4 as before (a read's group is a piece per level and side
--   and its raw rows: fewer than 2^24 / 2^19 = 32 rows), bigger or wide ones in float8.
--   Where the float4 rows of one group could pass 2^24 anyway, chat_histogram_wide
--   raises rather than round, as do a raw group or a backfill block's group of more
--   than 2^24 requests.
-- Narrow rows, reads and writes cost what they did; wide ones are the few rows of
-- millions of requests.
-- depends: 0015.stats-answers

ALTER TABLE chat_rollups ADD COLUMN latency_hi vector(494), ADD COLUMN latency_over_hi vector(418);
ALTER TABLE chat_rollup_backfill_sums ADD COLUMN latency_hi vector(494), ADD COLUMN latency_over_hi vector(418);
ALTER TYPE chat_rollup_delta ADD ATTRIBUTE latency_hi vector, ADD ATTRIBUTE latency_over_hi vector;

-- A stored row stays narrow up to this many requests.
CREATE FUNCTION chat_histogram_narrow_limit()
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 4194304::bigint
$$;

-- Sums add rows of up to this many requests in float4, bigger ones in float8.
CREATE FUNCTION chat_histogram_sum_limit()
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 524288::bigint
$$;

-- p_state (pgvector's float8 accumulator: {rows added, cells...}; NULL: none yet) plus
-- p_sign times the histogram p_lo + p_hi; NULLs add nothing.
CREATE FUNCTION chat_histogram_accum(p_state float8[], p_lo vector, p_hi vector, p_sign integer)
RETURNS float8[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF p_lo IS NULL AND p_hi IS NULL THEN
        RETURN p_state;
    END IF;
    p_state := coalesce(p_state, '{0}');
    IF p_lo IS NOT NULL THEN
        p_state := vector_accum(p_state, chat_latency_scale(p_lo, p_sign));
    END IF;
    IF p_hi IS NOT NULL THEN
        p_state := vector_accum(p_state, chat_latency_scale(p_hi, p_sign));
    END IF;
    RETURN p_state;
END
$$;

-- The exact sum of signed histograms (lo, hi, sign), as a float8 accumulator; NULL when
-- no row was added (no final function: called per group, it would cost more than the sum).
CREATE AGGREGATE chat_histogram_sum(vector, vector, integer) (SFUNC = chat_histogram_accum, STYPE = float8[]);

-- The hi (p_hi) or lo part of an accumulator's exact value.
CREATE FUNCTION chat_histogram_split(p_state float8[], p_hi boolean)
RETURNS vector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN cardinality(p_state) <= 1 THEN NULL
                WHEN p_hi THEN p_state[2:]::vector
                ELSE (vector_accum(p_state, chat_latency_scale(p_state[2:]::vector, -1)))[2:]::vector END
$$;

-- A histogram's cells as float8 after a leading 0 (pgvector's accumulator as it is,
-- counting 0 rows: slicing the count off would cost as much as the conversion), for the
-- percentile searches; inlined, C calls only.
CREATE FUNCTION chat_histogram_values(p_lo vector, p_hi vector)
RETURNS float8[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_hi IS NULL THEN vector_accum('{-1}', p_lo)
                ELSE vector_accum(vector_accum('{-2}', p_lo), p_hi) END
$$;

-- chat_histogram's (below) other case: a sum with wide rows, or float4 sums that might
-- have rounded (an error).
CREATE FUNCTION chat_histogram_wide(p_pos vector, p_neg vector, p_narrow_rows bigint, p_wide float8[], p_hi boolean)
RETURNS vector
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF p_narrow_rows > 16777216 THEN  -- float4 sums of so many requests may have rounded
        RAISE EXCEPTION 'a histogram sum of up to % requests in float4 might not be exact', p_narrow_rows
            USING ERRCODE = 'program_limit_exceeded';
    END IF;
    p_wide := coalesce(p_wide, '{0}');
    IF p_pos IS NOT NULL THEN
        p_wide := vector_accum(p_wide, p_pos);
    END IF;
    IF p_neg IS NOT NULL THEN
        p_wide := vector_accum(p_wide, chat_latency_scale(p_neg, -1));
    END IF;
    RETURN chat_histogram_split(p_wide, p_hi);
END
$$;

-- A group's histogram part (p_hi: hi, else lo) from its float4 sums of narrow rows
-- (p_pos less p_neg, which together count at most p_narrow_rows requests) and its float8
-- sum of the others (p_wide). The narrow case is one expression, inlined into its
-- callers.
CREATE FUNCTION chat_histogram(p_pos vector, p_neg vector, p_narrow_rows bigint, p_wide float8[], p_hi boolean)
RETURNS vector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_wide IS NOT NULL OR p_narrow_rows > 16777216
                THEN chat_histogram_wide(p_pos, p_neg, p_narrow_rows, p_wide, p_hi)
                WHEN p_hi THEN NULL
                WHEN p_neg IS NULL THEN p_pos
                WHEN p_pos IS NULL THEN chat_latency_scale(p_neg, -1)
                ELSE p_pos - p_neg END
$$;

-- As 0008's, searching chat_histogram_values' float8 cells (exact at any count; the
-- leading 0 shifts every index by one).
DROP FUNCTION chat_latency_percentile(real[], real[], float8);
CREATE FUNCTION chat_latency_percentile(p_latency float8[], p_over float8[], p_fraction float8)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN p_latency[495] + coalesce(p_over[419], 0) = 0 THEN NULL
        WHEN ceil(p_fraction * (p_latency[495] + coalesce(p_over[419], 0))) > p_latency[495] THEN
            round((100 * 1.019794::float8 ^ (443 + width_bucket(
                ceil(p_fraction * (p_latency[495] + p_over[419])) - 1 - p_latency[495], p_over))
                * 2 * 1.019794 / (1 + 1.019794))::numeric, 2)
        WHEN width_bucket(ceil(p_fraction * (p_latency[495] + coalesce(p_over[419], 0))) - 1,
                          p_latency) < 51 THEN
            2 * width_bucket(ceil(p_fraction * (p_latency[495] + coalesce(p_over[419], 0))) - 1,
                             p_latency) - 1.5
        ELSE
            round((100 * 1.019794::float8 ^ (width_bucket(
                ceil(p_fraction * (p_latency[495] + coalesce(p_over[419], 0))) - 1, p_latency) - 51)
                * 2 * 1.019794 / (1 + 1.019794))::numeric, 2)
    END
$$;

-- As 0012's, with the (always narrow) deltas' empty hi parts.
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
           d.dim, NULL::vector, NULL::vector
      FROM unnest(p_rows) r
      LEFT JOIN chat_latency_steps s ON p_latency AND s.bucket = chat_latency_bucket(r.processing_time_ms)
     CROSS JOIN LATERAL (VALUES ('m'::"char", coalesce(r.model_id, 0)::bigint),
                                ('k', coalesce(r.api_key_id, 0)), ('u', coalesce(r.user_id, 0)),
                                ('a', 0)) d (dim, id)
     WHERE d.dim = ANY (p_dims)
     GROUP BY 1, d.dim, d.id
$$;

-- Whether a stored row of p_requests requests (its hi parts NULL) takes a delta narrowly:
-- its cells stay below 2^22 + 2^20.
CREATE FUNCTION chat_histogram_narrow(p_hi vector, p_over_hi vector, p_requests bigint)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_hi IS NULL AND p_over_hi IS NULL AND p_requests <= chat_histogram_narrow_limit()
$$;

-- The hi (p_hi) or lo part of the exact sum of a stored histogram and a narrow delta.
CREATE FUNCTION chat_histogram_plus(p_lo vector, p_hi vector, p_delta vector, p_hi_part boolean)
RETURNS vector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT chat_histogram_split(chat_histogram_accum(chat_histogram_accum('{0}', p_lo, p_hi, 1), p_delta, NULL, 1),
                                p_hi_part)
$$;

-- As 0012's, at most 2^20 input rows at a time (so that every delta's cells stay within
-- 2^20), a stored row turning wide once it holds more than chat_histogram_narrow_limit()
-- requests.
CREATE OR REPLACE FUNCTION chat_rollup_apply(
    p_added chat_rollup_input[], p_removed chat_rollup_input[], p_state chat_rollup_state)
RETURNS void
LANGUAGE plpgsql
SET work_mem = '256MB'  -- a hash aggregate of histograms, not a sort of them
AS $$
DECLARE
    slice constant integer := 524288;
    sums chat_rollup_delta[];
BEGIN
    IF cardinality(p_added) > slice OR cardinality(p_removed) > slice THEN
        FOR i IN 0 .. (greatest(cardinality(p_added), cardinality(p_removed)) - 1) / slice LOOP
            PERFORM chat_rollup_apply(coalesce(p_added[i * slice + 1:(i + 1) * slice], '{}'),
                                      coalesce(p_removed[i * slice + 1:(i + 1) * slice], '{}'), p_state);
        END LOOP;
        RETURN;
    END IF;
    sums := ARRAY(
        SELECT d FROM (SELECT * FROM chat_rollup_deltas(p_added, 1, p_state, '{m,k,u,a}')
                       UNION ALL
                       SELECT * FROM chat_rollup_deltas(p_removed, -1, p_state, '{m,k,u,a}')) d);
    FOR lvl IN 1 .. chat_rollup_top() LOOP
        sums := ARRAY(
            SELECT ROW(chat_rollup_bucket(lvl, d.bucket), d.id, chat_sum(d.completed), chat_sum(d.failed),
                       chat_sum(d.partial), chat_sum(d.input_tokens), chat_sum(d.output_tokens),
                       chat_sum(d.processing_time_ms), sum(d.cost_usd), sum(d.latency),
                       sum(d.latency_over), d.dim, NULL, NULL)::chat_rollup_delta
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
               latency = CASE WHEN chat_histogram_narrow(r.latency_hi, r.latency_over_hi,
                                                         r.completed + r.failed + r.partial)
                              THEN r.latency + excluded.latency
                              ELSE chat_histogram_plus(r.latency, r.latency_hi, excluded.latency, false) END,
               latency_hi = CASE WHEN NOT chat_histogram_narrow(r.latency_hi, r.latency_over_hi,
                                                                r.completed + r.failed + r.partial)
                                 THEN chat_histogram_plus(r.latency, r.latency_hi, excluded.latency, true) END,
               latency_over = CASE WHEN NOT chat_histogram_narrow(r.latency_hi, r.latency_over_hi,
                                                                  r.completed + r.failed + r.partial)
                                   THEN chat_histogram_plus(r.latency_over, r.latency_over_hi,
                                                            excluded.latency_over, false)
                                   WHEN r.latency_over IS NULL THEN excluded.latency_over
                                   WHEN excluded.latency_over IS NULL THEN r.latency_over
                                   ELSE r.latency_over + excluded.latency_over END,
               latency_over_hi = CASE WHEN NOT chat_histogram_narrow(r.latency_hi, r.latency_over_hi,
                                                                     r.completed + r.failed + r.partial)
                                      THEN chat_histogram_plus(r.latency_over, r.latency_over_hi,
                                                               excluded.latency_over, true) END;
    END LOOP;
END
$$;

-- As 0015's, with the raw groups' empty hi parts; a group of more than 2^24 requests (its
-- float4 sum might have rounded) raises.
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
               c.sign * chat_sum(c.processing_time_ms), c.sign * coalesce(sum(c.cost_usd), 0), %2$s, $7,
               NULL::vector, NULL::vector
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
         GROUP BY c.slot, c.g, c.sign
        HAVING NOT $8 OR count(*) <= 16777216 OR chat_histogram_wide(NULL, NULL, count(*), NULL, false) IS NULL$q$,
        CASE p_dim WHEN 'm' THEN 'r.model_id::bigint' WHEN 'k' THEN 'r.api_key_id' WHEN 'u' THEN 'r.user_id'
                   ELSE 'NULL::bigint' END,
        CASE WHEN p_latency THEN 'chat_latency_scale(sum(s.latency), c.sign), chat_latency_scale(sum(s.latency_over), c.sign)'
             ELSE 'NULL::vector, NULL::vector' END,
        edges,
        CASE WHEN p_latency THEN 'JOIN chat_latency_steps s ON s.bucket = chat_latency_bucket(c.processing_time_ms)' END)
    USING slots, los, signs, p_tail, (SELECT watermark_id FROM chat_rollup_state), p_ids, p_dim, p_latency;
END
$$;

-- As 0013's, each group's histogram summed exactly: rows of at most
-- chat_histogram_sum_limit() requests in float4 (those of pieces of sign -1 apart, and
-- subtracted once: negating each costs more than reading it), the others in float8.
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
               CASE WHEN p_latency THEN r.latency_over END AS latency_over,
               CASE WHEN p_latency THEN r.latency_hi END AS latency_hi,
               CASE WHEN p_latency THEN r.latency_over_hi END AS latency_over_hi,
               NOT p_latency OR r.latency_hi IS NULL AND r.latency_over_hi IS NULL
                   AND r.completed + r.failed + r.partial <= chat_histogram_sum_limit() AS narrow
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
               d.cost_usd, 1, d.latency, d.latency_over, NULL, NULL,  -- signed already
               NOT p_latency OR abs(d.completed + d.failed + d.partial) <= chat_histogram_sum_limit()
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
                               p_dim, p_ids, p_latency) d),
    sums AS (
        SELECT t.slot, t.id, chat_sum(t.completed) AS completed, chat_sum(t.failed) AS failed,
               chat_sum(t.partial) AS partial, chat_sum(t.input_tokens) AS input_tokens,
               chat_sum(t.output_tokens) AS output_tokens, chat_sum(t.processing_time_ms) AS processing_time_ms,
               sum(t.cost_usd) AS cost_usd,
               sum(t.latency) FILTER (WHERE t.narrow AND t.sign > 0) AS pos,
               sum(t.latency) FILTER (WHERE t.narrow AND t.sign < 0) AS neg,
               sum(t.latency_over) FILTER (WHERE t.narrow AND t.sign > 0) AS over_pos,
               sum(t.latency_over) FILTER (WHERE t.narrow AND t.sign < 0) AS over_neg,
               count(t.latency) * chat_histogram_sum_limit() AS narrow_rows,  -- at most (a piece per level and side)
               chat_histogram_sum(t.latency, t.latency_hi, t.sign) FILTER (WHERE NOT t.narrow) AS wide,
               chat_histogram_sum(t.latency_over, t.latency_over_hi, t.sign) FILTER (WHERE NOT t.narrow) AS over_wide
          FROM parts t
         GROUP BY t.slot, t.id)
    SELECT s.slot, s.id, s.completed, s.failed, s.partial, s.input_tokens, s.output_tokens,
           s.processing_time_ms, s.cost_usd,
           chat_histogram(s.pos, s.neg, s.narrow_rows, s.wide, false),
           chat_histogram(s.over_pos, s.over_neg, s.narrow_rows, s.over_wide, false), p_dim,
           chat_histogram(s.pos, s.neg, s.narrow_rows, s.wide, true),
           chat_histogram(s.over_pos, s.over_neg, s.narrow_rows, s.over_wide, true)
      FROM sums s
    OFFSET 0  -- callers see columns, not expressions (which would keep theirs from being inlined)
$$;

-- As 0015's, with the hi parts.
CREATE OR REPLACE FUNCTION chat_rollup_sums(
    p_start timestamptz, p_end timestamptz, p_ids integer[], p_latency boolean)
RETURNS SETOF chat_rollup_delta
LANGUAGE sql STABLE AS $$
    SELECT NULL::timestamptz, s.id, s.completed, s.failed, s.partial, s.input_tokens,
           s.output_tokens, s.processing_time_ms, s.cost_usd, s.latency, s.latency_over, s.dim,
           s.latency_hi, s.latency_over_hi
      FROM chat_rollup_series('m', ARRAY[coalesce(p_start, '-infinity'), coalesce(p_end, 'infinity')],
                              p_ids::bigint[], p_latency) s
$$;

-- As 0010's, the percentiles searched in float8.
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
      FROM (SELECT t.*, chat_histogram_values(t.latency, t.latency_hi) AS main,
                   chat_histogram_values(t.latency_over, t.latency_over_hi) AS over
              FROM chat_rollup_sums(p_start, p_end, p_model_ids, p_latency) t
            OFFSET 0) s  -- each histogram converted once, then searched three times
     WHERE s.completed + s.failed + s.partial > 0;
END
$$;

-- As 0013's: the groups, 'others' (the total's rows less the groups') and the total summed
-- in one pass, their histograms exactly as chat_rollup_series sums them.
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
        SELECT * FROM chat_rollup_series(CASE WHEN ids IS NULL THEN 'a' ELSE dim END, p_bounds, ids, true)),
    top AS MATERIALIZED (  -- a breakdown (one slot): its first p_top groups
        SELECT * FROM chat_request_groups_ranked(dim, p_bounds, ids, p_by, p_order, p_top) WHERE p_by IS NOT NULL),
    groups AS MATERIALIZED (  -- their sums and histograms, read again for their ids only
        SELECT t.g, t.rank, s.*
          FROM chat_rollup_series(dim, p_bounds, ARRAY(
                   SELECT x.id FROM top t,
                          LATERAL (SELECT coalesce(t.g, 0) AS id WHERE p_by <> 'provider' OR t.g IS NULL
                                   UNION ALL
                                   SELECT m.id FROM models m WHERE p_by = 'provider' AND m.provider_id = t.g) x
                    WHERE ids IS NULL OR x.id = ANY (ids)), true) s
          JOIN top t ON coalesce(t.g, -1) = coalesce(CASE WHEN p_by = 'provider' THEN (SELECT m.provider_id FROM models m WHERE m.id = s.id) ELSE nullif(s.id, 0) END, -1)
         WHERE p_by IS NOT NULL),
    terms AS (
        SELECT 'group' AS kind, g.g, g.rank, 1 AS sign, g.bucket, g.completed, g.failed, g.partial,
               g.input_tokens, g.output_tokens, g.processing_time_ms, g.cost_usd, g.latency,
               g.latency_over, g.latency_hi, g.latency_over_hi
          FROM groups g
        UNION ALL
        SELECT 'others', NULL, NULL, -1, g.bucket, g.completed, g.failed, g.partial, g.input_tokens,
               g.output_tokens, g.processing_time_ms, g.cost_usd, g.latency, g.latency_over,
               g.latency_hi, g.latency_over_hi
          FROM groups g
        UNION ALL
        SELECT k.kind, NULL, NULL, 1, a.bucket, a.completed, a.failed, a.partial, a.input_tokens,
               a.output_tokens, a.processing_time_ms, a.cost_usd, a.latency, a.latency_over,
               a.latency_hi, a.latency_over_hi
          FROM total a, unnest(CASE WHEN p_by IS NULL THEN '{total}'::text[] ELSE '{total,others}' END) k (kind)),
    sums AS (
        SELECT t.bucket AS slot, t.kind, t.g, t.rank,
               chat_sum(t.sign * t.completed) AS completed, chat_sum(t.sign * t.failed) AS failed,
               chat_sum(t.sign * t.partial) AS partial, chat_sum(t.sign * t.input_tokens) AS input_tokens,
               chat_sum(t.sign * t.output_tokens) AS output_tokens,
               chat_sum(t.sign * t.processing_time_ms) AS processing_time_ms, sum(t.sign * t.cost_usd) AS cost_usd,
               sum(t.latency) FILTER (WHERE t.narrow AND t.sign > 0) AS pos,
               sum(t.latency) FILTER (WHERE t.narrow AND t.sign < 0) AS neg,
               sum(t.latency_over) FILTER (WHERE t.narrow AND t.sign > 0) AS over_pos,
               sum(t.latency_over) FILTER (WHERE t.narrow AND t.sign < 0) AS over_neg,
               chat_sum(abs(t.completed + t.failed + t.partial)) FILTER (WHERE t.narrow) AS narrow_rows,
               chat_histogram_sum(t.latency, t.latency_hi, t.sign) FILTER (WHERE NOT t.narrow) AS wide,
               chat_histogram_sum(t.latency_over, t.latency_over_hi, t.sign) FILTER (WHERE NOT t.narrow) AS over_wide
          FROM (SELECT t.*, t.latency_hi IS NULL AND t.latency_over_hi IS NULL
                            AND abs(t.completed + t.failed + t.partial) <= chat_histogram_sum_limit() AS narrow
                  FROM terms t OFFSET 0) t  -- narrow worked out once a row, not in every filter
         GROUP BY t.bucket, t.kind, t.g, t.rank)
    SELECT x.slot, x.kind, x.g::bigint, x.completed::bigint, x.failed::bigint, x.partial::bigint,
           x.input_tokens::bigint, x.output_tokens::bigint, x.processing_time_ms::bigint, x.cost_usd,
           chat_latency_percentile(x.main, x.over, 0.5),
           chat_latency_percentile(x.main, x.over, 0.95),
           chat_latency_percentile(x.main, x.over, 0.99)
      FROM (SELECT h.*, chat_histogram_values(h.latency, h.latency_hi) AS main,
                   chat_histogram_values(h.latency_over, h.latency_over_hi) AS over
              FROM (SELECT s.*, chat_histogram(s.pos, s.neg, s.narrow_rows, s.wide, false) AS latency,
                           chat_histogram(s.pos, s.neg, s.narrow_rows, s.wide, true) AS latency_hi,
                           chat_histogram(s.over_pos, s.over_neg, s.narrow_rows, s.over_wide, false) AS latency_over,
                           chat_histogram(s.over_pos, s.over_neg, s.narrow_rows, s.over_wide, true) AS latency_over_hi
                      FROM sums s OFFSET 0) h
            OFFSET 0) x  -- each histogram converted once, searched three times
     ORDER BY x.slot, x.kind = 'total', x.kind = 'others', x.rank;
END
$$;

-- As 0014's; a group of more than 2^24 requests in a block raises (the backfill is then
-- abandoned, and the refresh rolls the history up).
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
    biggest bigint;
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
    SELECT coalesce(sum(n) FILTER (WHERE dim = 'a'), 0), max(n) INTO summed, biggest FROM stored;
    IF biggest > 16777216 THEN  -- its float4 histogram sum may have rounded: the refresh, then
        RAISE EXCEPTION 'a group of % requests in one backfill block', biggest
            USING ERRCODE = 'program_limit_exceeded';
    END IF;
    RETURN summed;
END
$$;

-- Sums every coarser level from the finer one for the dimensions p_dims (as 0014's
-- chat_rollup_backfill_finish did for all), the histograms exactly as chat_rollup_series
-- sums them: the dimensions are independent, so that two sessions can share the work.
CREATE FUNCTION chat_rollup_backfill_levels(p_dims "char"[])
RETURNS void
LANGUAGE plpgsql
SET enable_hashagg = off  -- as in chat_rollup_backfill_block
SET work_mem = '256MB'
AS $$
BEGIN
    FOR lvl IN 2 .. chat_rollup_top() LOOP
        -- A group of one row is copied, its histograms as they are (still compressed); the
        -- others are summed. (An aggregate's vector has no dimensions in its type: stored
        -- into a vector(494) it would be cast, detoasted and compressed again.)
        WITH finer AS MATERIALIZED (
            SELECT s.*, chat_rollup_bucket(lvl, s.bucket) AS up,
                   count(*) OVER (PARTITION BY s.dim, chat_rollup_bucket(lvl, s.bucket), s.id) AS members
              FROM chat_rollup_backfill_sums s
             WHERE s.level = lvl - 1 AND s.dim = ANY (p_dims))
        INSERT INTO chat_rollup_backfill_sums
        SELECT lvl, f.dim, f.up, f.id, f.completed, f.failed, f.partial, f.input_tokens, f.output_tokens,
               f.processing_time_ms, f.cost_usd, f.latency, f.latency_over, f.latency_hi, f.latency_over_hi
          FROM finer f
         WHERE f.members = 1
        UNION ALL
        SELECT lvl, f.dim, f.up, f.id, chat_sum(f.completed), chat_sum(f.failed), chat_sum(f.partial),
               chat_sum(f.input_tokens), chat_sum(f.output_tokens), chat_sum(f.processing_time_ms),
               sum(f.cost_usd),
               chat_histogram(sum(f.latency) FILTER (WHERE f.narrow), NULL, chat_sum(f.n) FILTER (WHERE f.narrow),
                              chat_histogram_sum(f.latency, f.latency_hi, 1) FILTER (WHERE NOT f.narrow),
                              false)::vector(494),
               chat_histogram(sum(f.latency_over) FILTER (WHERE f.narrow), NULL, chat_sum(f.n) FILTER (WHERE f.narrow),
                              chat_histogram_sum(f.latency_over, f.latency_over_hi, 1) FILTER (WHERE NOT f.narrow),
                              false)::vector(418),
               chat_histogram(sum(f.latency) FILTER (WHERE f.narrow), NULL, chat_sum(f.n) FILTER (WHERE f.narrow),
                              chat_histogram_sum(f.latency, f.latency_hi, 1) FILTER (WHERE NOT f.narrow),
                              true)::vector(494),
               chat_histogram(sum(f.latency_over) FILTER (WHERE f.narrow), NULL, chat_sum(f.n) FILTER (WHERE f.narrow),
                              chat_histogram_sum(f.latency_over, f.latency_over_hi, 1) FILTER (WHERE NOT f.narrow),
                              true)::vector(418)
          FROM (SELECT f.*, f.completed + f.failed + f.partial AS n,
                       f.latency_hi IS NULL AND f.latency_over_hi IS NULL
                       AND f.completed + f.failed + f.partial <= chat_histogram_sum_limit() AS narrow
                  FROM finer f
                 WHERE f.members > 1 OFFSET 0) f  -- narrow worked out once a row, not in every filter
         GROUP BY f.dim, f.up, f.id;
    END LOOP;
END
$$;

-- As 0014's, once chat_rollup_backfill_levels has summed the coarser levels of every
-- dimension: the copy into the store and the hand-over, which reads the log of changes
-- once for both signs.
CREATE OR REPLACE FUNCTION chat_rollup_backfill_finish(p_state_version xid)
RETURNS bigint
LANGUAGE plpgsql
SET enable_hashagg = off  -- as in chat_rollup_backfill_block
SET work_mem = '256MB'
AS $$
DECLARE
    st chat_rollup_state := (SELECT s FROM chat_rollup_state s WHERE xmin = p_state_version);
    rolled_up bigint;
    written chat_rollup_input[];   -- logged versions the blocks did not see: to add
    replaced chat_rollup_input[];  -- and to take out
BEGIN
    IF st IS NULL THEN
        RAISE EXCEPTION 'the rollup state changed during the backfill' USING ERRCODE = 'serialization_failure';
    END IF;
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
    SELECT coalesce(array_agg(l.input) FILTER (WHERE l.sign = 1), '{}'),
           coalesce(array_agg(l.input) FILTER (WHERE l.sign = -1), '{}')
      INTO written, replaced
      FROM chat_rollup_backfill_log l
      JOIN chat_rollup_backfill_blocks b ON (l.input).created_at >= b.lo AND (l.input).created_at < b.hi
     WHERE NOT pg_visible_in_snapshot(l.xid, b.snapshot);
    PERFORM chat_rollup_apply(written, replaced, st);
    UPDATE chat_rollup_state SET watermark_id = backfill_upto, backfill_upto = NULL, refreshed_at = now();
    PERFORM chat_rollup_backfill_clear();
    PERFORM pg_advisory_unlock(hashtext('chatstats.chat_rollup_refresh'));
    RETURN coalesce(rolled_up, 0);
END
$$;


-- The rollup job adds and sums histograms too.
GRANT EXECUTE ON ROUTINE
    chat_histogram_narrow_limit(), chat_histogram_sum_limit(),
    chat_histogram_accum(float8[], vector, vector, integer),
    chat_histogram_sum(vector, vector, integer), chat_histogram_split(float8[], boolean),
    chat_histogram_wide(vector, vector, bigint, float8[], boolean),
    chat_histogram(vector, vector, bigint, float8[], boolean),
    chat_histogram_narrow(vector, vector, bigint), chat_histogram_plus(vector, vector, vector, boolean),
    chat_rollup_backfill_levels("char"[])
    TO chatstats_rollup;
REVOKE EXECUTE ON ROUTINE chat_rollup_backfill_levels("char"[]) FROM chatstats_api;
