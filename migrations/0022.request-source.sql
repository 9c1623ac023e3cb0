-- The gateway's columns, read in one place. chatstats read chat_completion_requests in a
-- dozen functions, each taking its columns as the demo table has them (integer
-- milliseconds, tokens never NULL, three statuses). The gateway's table has them otherwise:
-- processing_time_ms numeric and nullable, tokens nullable, status open (its default is
-- 'pending'). There a NULL token count made every refresh and backfill fail, a fractional
-- latency met no function, a NULL latency dropped its request from the raw counts, and a
-- request of another status counted in raw totals but in no rollup.
--
-- Now chat_request_source() is the one place that names the table's columns, and
-- every function that reads requests reads it (the triggers read their transition
-- tables, of the table's row type: chat_rollup_input_of maps such a row alike):
-- - tokens: NULL counts as 0;
-- - processing_time_ms: numeric, summed exactly (the store keeps a numeric sum); NULL
--   is left out of the sums, the average and the percentiles, and counted (untimed);
-- - status: completed, failed and partial by name, any other under other, and all of
--   them in the totals.
-- The rollups gain the columns other and untimed (0 for what they hold: the demo table
-- had neither), and the answers other_requests and untimed_requests.
-- depends: 0021.vanished-models

-- A function, not a view: a view would depend on the table's columns and stop the
-- gateway's own migrations from altering them. Being a plain SQL select, it is inlined
-- into each query that reads it, so that conditions on its columns reach the table's
-- indexes; it reads as its caller, whose row level security applies.
CREATE FUNCTION chat_request_source()
RETURNS TABLE (id bigint, created_at timestamptz, model_id integer, user_id bigint, api_key_id bigint,
               status text, input_tokens bigint, output_tokens bigint, processing_time_ms numeric,
               cost_usd numeric)
LANGUAGE sql STABLE AS $$
    SELECT r.id, r.created_at, r.model_id, r.user_id, r.api_key_id, r.status,
           coalesce(r.input_tokens, 0), coalesce(r.output_tokens, 0), r.processing_time_ms, r.cost_usd
      FROM chat_completion_requests r
$$;
REVOKE EXECUTE ON FUNCTION chat_request_source() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION chat_request_source() TO chatstats_api, chatstats_rollup;

ALTER TABLE chat_rollups
    ADD COLUMN other bigint NOT NULL DEFAULT 0,
    ADD COLUMN untimed bigint NOT NULL DEFAULT 0,
    ALTER processing_time_ms TYPE numeric;
ALTER TABLE chat_rollup_backfill_sums
    ADD COLUMN other bigint NOT NULL DEFAULT 0,
    ADD COLUMN untimed bigint NOT NULL DEFAULT 0,
    ALTER processing_time_ms TYPE numeric;
-- A type a table column uses cannot change: a backfill's log (empty but during one) goes
-- through text.
ALTER TABLE chat_rollup_backfill_log ALTER input TYPE text USING input::text;
ALTER TYPE chat_rollup_input
    ALTER ATTRIBUTE input_tokens TYPE bigint,
    ALTER ATTRIBUTE output_tokens TYPE bigint,
    ALTER ATTRIBUTE processing_time_ms TYPE numeric;
ALTER TABLE chat_rollup_backfill_log ALTER input TYPE chat_rollup_input USING input::chat_rollup_input;
ALTER TYPE chat_rollup_delta
    ALTER ATTRIBUTE processing_time_ms TYPE numeric,
    ADD ATTRIBUTE other bigint,
    ADD ATTRIBUTE untimed bigint;
ALTER TYPE chat_request_stat
    ALTER ATTRIBUTE processing_time_ms_sum TYPE numeric,
    ADD ATTRIBUTE other_requests bigint,
    ADD ATTRIBUTE untimed_requests bigint;
ALTER TYPE chat_request_group
    ALTER ATTRIBUTE processing_time_ms_sum TYPE numeric,
    ADD ATTRIBUTE other_requests bigint,
    ADD ATTRIBUTE untimed_requests bigint;
ALTER TYPE model_stats ADD ATTRIBUTE other_requests bigint;

-- A latency's histogram bucket: 2 ms wide below 100 ms, then 1.98% wider each; fractions
-- fall into the bucket of their whole milliseconds, a negative latency into the first,
-- one beyond the last bucket into the last; NULL into none.
DROP FUNCTION chat_latency_bucket(integer);
CREATE FUNCTION chat_latency_bucket(p_ms numeric)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_ms < 100 THEN greatest(floor(p_ms / 2), 0)::integer + 1
                WHEN p_ms >= 100  -- (not ELSE: least() would file NULL in the last bucket)
                THEN least(51 + floor(ln(p_ms / 100.0::float8) / ln(1.019794::float8))::integer, 912) END
$$;
REVOKE EXECUTE ON FUNCTION chat_latency_bucket(numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION chat_latency_bucket(numeric) TO chatstats_api, chatstats_rollup;

-- A row of the table as the rollups take it (the triggers read the table's rows, the
-- refresh the source's), mapped as chat_request_source() maps it. p_at: its time, if not its own.
CREATE OR REPLACE FUNCTION chat_rollup_input_of(r chat_completion_requests, p_at timestamptz DEFAULT NULL)
RETURNS chat_rollup_input
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ROW(coalesce(p_at, r.created_at), r.model_id, r.status, coalesce(r.input_tokens, 0),
               coalesce(r.output_tokens, 0), r.processing_time_ms, r.cost_usd, r.api_key_id,
               r.user_id)::chat_rollup_input
$$;

-- The store's functions, each as it was but for other and untimed, the numeric latency
-- sum and the source.

CREATE OR REPLACE FUNCTION chat_rollup_deltas(p_rows chat_rollup_input[], p_sign integer, p_state chat_rollup_state, p_dims "char"[], p_latency boolean DEFAULT true)
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
           p_sign * coalesce(sum(r.processing_time_ms), 0),
           p_sign * coalesce(sum(r.cost_usd), 0),
           CASE WHEN p_latency  -- none timed: an empty histogram
                THEN chat_latency_scale(coalesce(sum(s.latency), array_fill(0, ARRAY[494])::vector), p_sign) END,
           chat_latency_scale(sum(s.latency_over), p_sign),
           d.dim, NULL::vector, NULL::vector,
           p_sign * count(*) FILTER (WHERE r.status NOT IN ('completed', 'failed', 'partial')),
           p_sign * count(*) FILTER (WHERE r.processing_time_ms IS NULL)
      FROM unnest(p_rows) r
      LEFT JOIN chat_latency_steps s ON p_latency AND s.bucket = chat_latency_bucket(r.processing_time_ms)
     CROSS JOIN LATERAL (VALUES ('m'::"char", coalesce(r.model_id, 0)::bigint),
                                ('k', coalesce(r.api_key_id, 0)), ('u', coalesce(r.user_id, 0)),
                                ('a', 0)) d (dim, id)
     WHERE d.dim = ANY (p_dims)
     GROUP BY 1, d.dim, d.id
$$;

CREATE OR REPLACE FUNCTION chat_rollup_apply(p_added chat_rollup_input[], p_removed chat_rollup_input[], p_state chat_rollup_state)
RETURNS void
LANGUAGE plpgsql
SET work_mem TO '256MB' AS $$
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
                       sum(d.processing_time_ms), sum(d.cost_usd), sum(d.latency),
                       sum(d.latency_over), d.dim, NULL, NULL, chat_sum(d.other),
                       chat_sum(d.untimed))::chat_rollup_delta
              FROM unnest(sums) d
             GROUP BY d.dim, chat_rollup_bucket(lvl, d.bucket), d.id);
        -- in key order, so that two transactions adding overlapping deltas lock rows in
        -- the same order
        INSERT INTO chat_rollups AS r (level, dim, bucket, id, completed, failed, partial, other, untimed,
                                       input_tokens, output_tokens, processing_time_ms, cost_usd, latency,
                                       latency_over)
        SELECT lvl, d.dim, d.bucket, d.id, d.completed, d.failed, d.partial, d.other, d.untimed,
               d.input_tokens, d.output_tokens, d.processing_time_ms, d.cost_usd, d.latency, d.latency_over
          FROM unnest(sums) d
         WHERE d.bucket >= chat_rollup_kept_from(p_state, d.dim, lvl)
         ORDER BY d.dim, d.bucket, d.id
        ON CONFLICT (level, dim, bucket, id) DO UPDATE
           SET completed = r.completed + excluded.completed,
               failed = r.failed + excluded.failed,
               partial = r.partial + excluded.partial,
               other = r.other + excluded.other,
               untimed = r.untimed + excluded.untimed,
               input_tokens = r.input_tokens + excluded.input_tokens,
               output_tokens = r.output_tokens + excluded.output_tokens,
               processing_time_ms = r.processing_time_ms + excluded.processing_time_ms,
               cost_usd = r.cost_usd + excluded.cost_usd,
               latency = CASE WHEN chat_histogram_narrow(r.latency_hi, r.latency_over_hi,
                                                         r.completed + r.failed + r.partial + r.other)
                              THEN r.latency + excluded.latency
                              ELSE chat_histogram_plus(r.latency, r.latency_hi, excluded.latency, false) END,
               latency_hi = CASE WHEN NOT chat_histogram_narrow(r.latency_hi, r.latency_over_hi,
                                                                r.completed + r.failed + r.partial + r.other)
                                 THEN chat_histogram_plus(r.latency, r.latency_hi, excluded.latency, true) END,
               latency_over = CASE WHEN NOT chat_histogram_narrow(r.latency_hi, r.latency_over_hi,
                                                                  r.completed + r.failed + r.partial + r.other)
                                   THEN chat_histogram_plus(r.latency_over, r.latency_over_hi,
                                                            excluded.latency_over, false)
                                   WHEN r.latency_over IS NULL THEN excluded.latency_over
                                   WHEN excluded.latency_over IS NULL THEN r.latency_over
                                   ELSE r.latency_over + excluded.latency_over END,
               latency_over_hi = CASE WHEN NOT chat_histogram_narrow(r.latency_hi, r.latency_over_hi,
                                                                     r.completed + r.failed + r.partial + r.other)
                                      THEN chat_histogram_plus(r.latency_over, r.latency_over_hi,
                                                               excluded.latency_over, true) END;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION chat_rollup_fold(p_after bigint, p_upto bigint, p_state chat_rollup_state)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    added chat_rollup_input[] := ARRAY(
        SELECT ROW(c.created_at, c.model_id, c.status, c.input_tokens, c.output_tokens, c.processing_time_ms,
                   c.cost_usd, c.api_key_id, c.user_id)::chat_rollup_input
          FROM chat_request_source() c
         WHERE c.id > p_after AND c.id <= p_upto);
BEGIN
    PERFORM chat_rollup_check_seen(p_after, p_upto, cardinality(added));
    PERFORM chat_rollup_apply(added, '{}', p_state);
    RETURN cardinality(added);
END
$$;

CREATE OR REPLACE FUNCTION chat_rollup_raw(p_slots timestamptz[], p_los timestamptz[], p_his timestamptz[], p_signs integer[], p_tail timestamptz[], p_dim "char", p_ids bigint[], p_latency boolean)
RETURNS SETOF chat_rollup_delta
LANGUAGE plpgsql STABLE
SET work_mem TO '64MB'
SET max_parallel_workers_per_gather TO '0'
SET enable_hashjoin TO 'off'
SET enable_mergejoin TO 'off'
SET enable_sort TO 'off' AS $$
DECLARE
    edges text;
BEGIN
    SELECT coalesce(string_agg(format('r.created_at >= %L AND r.created_at < %L', e.lo, e.hi), ' OR '), 'false')
      INTO edges
      FROM unnest(p_los, p_his) e (lo, hi);
    IF cardinality(p_slots) = 0 AND (SELECT coalesce(max(id), 0) FROM chat_request_source())
                                     <= (SELECT watermark_id FROM chat_rollup_state) THEN
        RETURN;  -- no raw rows to read (none waits): the statement below is not even planned
    END IF;
    RETURN QUERY EXECUTE format($q$
        SELECT c.slot, coalesce(c.g, 0),
               c.sign * count(*) FILTER (WHERE c.status = 'completed'),
               c.sign * count(*) FILTER (WHERE c.status = 'failed'),
               c.sign * count(*) FILTER (WHERE c.status = 'partial'),
               c.sign * chat_sum(c.input_tokens), c.sign * chat_sum(c.output_tokens),
               c.sign * coalesce(sum(c.processing_time_ms), 0), c.sign * coalesce(sum(c.cost_usd), 0), %2$s, $7,
               NULL::vector, NULL::vector,
               c.sign * count(*) FILTER (WHERE c.status NOT IN ('completed', 'failed', 'partial')),
               c.sign * count(*) FILTER (WHERE c.processing_time_ms IS NULL)
          FROM (SELECT e.slot, e.sign, %1$s AS g, r.status, r.input_tokens, r.output_tokens,
                       r.processing_time_ms, r.cost_usd
                  FROM chat_request_source() r
                  JOIN unnest($1, $2, $9, $3) e (slot, lo, hi, sign) ON r.created_at >= e.lo AND r.created_at < e.hi
                 WHERE (%3$s) AND r.id <= $5
                UNION ALL
                SELECT $4[width_bucket(r.created_at, $4)], 1, %1$s, r.status, r.input_tokens,
                       r.output_tokens, r.processing_time_ms, r.cost_usd
                  FROM chat_request_source() r
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
        CASE WHEN p_latency THEN 'LEFT JOIN chat_latency_steps s ON s.bucket = chat_latency_bucket(c.processing_time_ms)' END)
    USING p_slots, p_los, p_signs, p_tail, (SELECT watermark_id FROM chat_rollup_state), p_ids, p_dim, p_latency,
          p_his;
END
$$;

CREATE OR REPLACE FUNCTION chat_rollup_series(p_dim "char", p_bounds timestamptz[], p_ids bigint[], p_latency boolean)
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
               p.sign * r.partial AS partial, p.sign * r.other AS other, p.sign * r.untimed AS untimed,
               p.sign * r.input_tokens AS input_tokens,
               p.sign * r.output_tokens AS output_tokens, p.sign * r.processing_time_ms AS processing_time_ms,
               p.sign * r.cost_usd AS cost_usd, p.sign,
               CASE WHEN p_latency THEN r.latency END AS latency,
               CASE WHEN p_latency THEN r.latency_over END AS latency_over,
               CASE WHEN p_latency THEN r.latency_hi END AS latency_hi,
               CASE WHEN p_latency THEN r.latency_over_hi END AS latency_over_hi,
               NOT p_latency OR r.latency_hi IS NULL AND r.latency_over_hi IS NULL
                   AND r.completed + r.failed + r.partial + r.other <= chat_histogram_sum_limit() AS narrow
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
               d.failed, d.partial, d.other, d.untimed, d.input_tokens, d.output_tokens, d.processing_time_ms,
               d.cost_usd, 1, d.latency, d.latency_over, NULL, NULL,  -- signed already
               NOT p_latency OR abs(d.completed + d.failed + d.partial + d.other) <= chat_histogram_sum_limit()
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
               chat_sum(t.partial) AS partial, chat_sum(t.other) AS other, chat_sum(t.untimed) AS untimed,
               chat_sum(t.input_tokens) AS input_tokens,
               chat_sum(t.output_tokens) AS output_tokens, sum(t.processing_time_ms) AS processing_time_ms,
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
           chat_histogram(s.over_pos, s.over_neg, s.narrow_rows, s.over_wide, true),
           s.other, s.untimed
      FROM sums s
    OFFSET 0  -- callers see columns, not expressions (which would keep theirs from being inlined)
$$;

CREATE OR REPLACE FUNCTION chat_rollup_sums(p_start timestamptz, p_end timestamptz, p_ids integer[], p_latency boolean)
RETURNS SETOF chat_rollup_delta
LANGUAGE sql STABLE AS $$
    SELECT NULL::timestamptz, s.id, s.completed, s.failed, s.partial, s.input_tokens,
           s.output_tokens, s.processing_time_ms, s.cost_usd, s.latency, s.latency_over, s.dim,
           s.latency_hi, s.latency_over_hi, s.other, s.untimed
      FROM chat_rollup_series('m', ARRAY[coalesce(p_start, '-infinity'), coalesce(p_end, 'infinity')],
                              p_ids::bigint[], p_latency) s
$$;

CREATE OR REPLACE FUNCTION chat_rollup_backfill_block(p_lo timestamptz, p_hi timestamptz)
RETURNS bigint
LANGUAGE plpgsql
SET enable_hashagg TO 'off'
SET enable_hashjoin TO 'off'
SET enable_mergejoin TO 'off'
SET work_mem TO '256MB' AS $$
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
        INSERT INTO chat_rollup_backfill_sums (level, dim, bucket, id, completed, failed, partial, other, untimed,
                                               input_tokens, output_tokens, processing_time_ms, cost_usd, latency,
                                               latency_over)
        SELECT 1, r.dim, r.bucket, r.id,
               count(*) FILTER (WHERE r.status = 'completed'),
               count(*) FILTER (WHERE r.status = 'failed'),
               count(*) FILTER (WHERE r.status = 'partial'),
               count(*) FILTER (WHERE r.status NOT IN ('completed', 'failed', 'partial')),
               count(*) FILTER (WHERE r.processing_time_ms IS NULL),
               sum(r.input_tokens)::bigint, sum(r.output_tokens)::bigint,
               coalesce(sum(r.processing_time_ms), 0), coalesce(sum(r.cost_usd), 0),
               coalesce(sum(s.latency), array_fill(0, ARRAY[494])::vector),  -- none timed: an empty histogram
               sum(s.latency_over)
          FROM (SELECT d.dim, chat_rollup_base_bucket(st, d.dim, c.created_at) AS bucket, d.id, c.status,
                       c.input_tokens, c.output_tokens, c.processing_time_ms, c.cost_usd
                  FROM chat_request_source() c
                 CROSS JOIN LATERAL (VALUES ('m'::"char", coalesce(c.model_id, 0)::bigint),
                                            ('k', coalesce(c.api_key_id, 0)), ('u', coalesce(c.user_id, 0)),
                                            ('a', 0)) d (dim, id)
                 WHERE c.created_at >= lo AND c.created_at < hi AND c.id <= st.backfill_upto
                 ORDER BY 1, 2, 3) r
          LEFT JOIN chat_latency_steps s ON s.bucket = chat_latency_bucket(r.processing_time_ms)
         GROUP BY r.dim, r.bucket, r.id
        RETURNING dim, completed + failed + partial + other AS n)
    SELECT coalesce(sum(n) FILTER (WHERE dim = 'a'), 0), max(n) INTO summed, biggest FROM stored;
    IF biggest > 16777216 THEN  -- its float4 histogram sum may have rounded: the refresh, then
        RAISE EXCEPTION 'a group of % requests in one backfill block', biggest
            USING ERRCODE = 'program_limit_exceeded';
    END IF;
    RETURN summed;
END
$$;

CREATE OR REPLACE FUNCTION chat_rollup_backfill_levels(p_dims "char"[])
RETURNS void
LANGUAGE plpgsql
SET enable_hashagg TO 'off'
SET work_mem TO '256MB' AS $$
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
        INSERT INTO chat_rollup_backfill_sums (level, dim, bucket, id, completed, failed, partial, other, untimed,
                                               input_tokens, output_tokens, processing_time_ms, cost_usd, latency,
                                               latency_over, latency_hi, latency_over_hi)
        SELECT lvl, f.dim, f.up, f.id, f.completed, f.failed, f.partial, f.other, f.untimed, f.input_tokens,
               f.output_tokens, f.processing_time_ms, f.cost_usd, f.latency, f.latency_over, f.latency_hi,
               f.latency_over_hi
          FROM finer f
         WHERE f.members = 1
        UNION ALL
        SELECT lvl, f.dim, f.up, f.id, chat_sum(f.completed), chat_sum(f.failed), chat_sum(f.partial),
               chat_sum(f.other), chat_sum(f.untimed),
               chat_sum(f.input_tokens), chat_sum(f.output_tokens), sum(f.processing_time_ms),
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
          FROM (SELECT f.*, f.completed + f.failed + f.partial + f.other AS n,
                       f.latency_hi IS NULL AND f.latency_over_hi IS NULL
                       AND f.completed + f.failed + f.partial + f.other <= chat_histogram_sum_limit() AS narrow
                  FROM finer f
                 WHERE f.members > 1 OFFSET 0) f  -- narrow worked out once a row, not in every filter
         GROUP BY f.dim, f.up, f.id;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION chat_rollup_backfill_finish(p_state_version xid)
 RETURNS bigint
 LANGUAGE plpgsql
 SET enable_hashagg TO 'off'
 SET work_mem TO '256MB'
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
    INSERT INTO chat_rollups (level, dim, bucket, id, completed, failed, partial, other, untimed, input_tokens,
                              output_tokens, processing_time_ms, cost_usd, latency, latency_over, latency_hi,
                              latency_over_hi)
    SELECT s.level, s.dim, s.bucket, s.id, s.completed, s.failed, s.partial, s.other, s.untimed, s.input_tokens,
           s.output_tokens, s.processing_time_ms, s.cost_usd, s.latency, s.latency_over, s.latency_hi,
           s.latency_over_hi
      FROM chat_rollup_backfill_sums s
     WHERE s.bucket >= chat_rollup_kept_from(st, s.dim, s.level)
     ORDER BY s.level, s.dim, s.bucket, s.id;
    rolled_up := (SELECT completed + failed + partial + other FROM chat_rollups
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

CREATE OR REPLACE FUNCTION chat_rollup_backfill_start(p_min_rows bigint, p_lock_timeout_ms integer, OUT started boolean, OUT state_version xid, OUT bounds timestamp with time zone[])
 RETURNS record
 LANGUAGE plpgsql
AS $$
DECLARE
    upto bigint;
    first_at timestamptz;
    last_at timestamptz;
BEGIN
    IF NOT pg_try_advisory_lock(hashtext('chatstats.chat_rollup_refresh')) THEN
        RETURN;  -- another process is refreshing or backfilling
    END IF;
    started := (SELECT watermark_id = 0 FROM chat_rollup_state)
               AND NOT EXISTS (SELECT FROM chat_rollups)
               AND (SELECT count(*) FROM (SELECT FROM chat_request_source() LIMIT p_min_rows) r) >= p_min_rows;
    IF started THEN
        upto := chat_request_rollup_safe_id(p_lock_timeout_ms);  -- no writer runs now, until commit
        started := CASE WHEN upto IS NOT NULL THEN true END;
    END IF;
    IF NOT coalesce(started, false) THEN
        PERFORM pg_advisory_unlock(hashtext('chatstats.chat_rollup_refresh'));
        RETURN;
    END IF;
    PERFORM chat_rollup_backfill_clear();  -- what a backfill cut short left
    UPDATE chat_rollup_state SET backfill_upto = upto RETURNING xmin INTO state_version;
    SELECT min(created_at), max(created_at) INTO first_at, last_at FROM chat_request_source();
    bounds := ARRAY(SELECT generate_series(chat_rollup_ceil(9, first_at), last_at, '768 hours'));
END
$$;

CREATE OR REPLACE FUNCTION chat_request_first_at()
 RETURNS timestamp with time zone
 LANGUAGE sql
 STABLE
AS $$
    SELECT least((SELECT min(created_at) FROM chat_request_source()),
                 (SELECT min(bucket) FROM chat_rollups
                   WHERE level = 2 AND dim = 'a' AND bucket < (SELECT raw_horizon FROM chat_rollup_state)))
$$;

-- The answers: other_requests and untimed_requests last; the totals count every status.

CREATE OR REPLACE FUNCTION chat_request_stats_raw(p_start timestamptz, p_end timestamptz, p_model_ids integer[], p_latency boolean)
RETURNS SETOF chat_request_stat
LANGUAGE plpgsql STABLE ROWS 500
SET plan_cache_mode TO 'force_custom_plan' AS $$
BEGIN
    RETURN QUERY
    SELECT r.model_id, count(*),
           count(*) FILTER (WHERE r.status = 'completed'),
           count(*) FILTER (WHERE r.status = 'failed'),
           count(*) FILTER (WHERE r.status = 'partial'),
           sum(r.input_tokens)::bigint,
           sum(r.output_tokens)::bigint,
           coalesce(sum(r.processing_time_ms), 0),
           coalesce(sum(r.cost_usd), 0),
           percentile_disc(0.5) WITHIN GROUP (ORDER BY r.processing_time_ms)
               FILTER (WHERE p_latency)::numeric,
           percentile_disc(0.95) WITHIN GROUP (ORDER BY r.processing_time_ms)
               FILTER (WHERE p_latency)::numeric,
           percentile_disc(0.99) WITHIN GROUP (ORDER BY r.processing_time_ms)
               FILTER (WHERE p_latency)::numeric,
           count(*) FILTER (WHERE r.status NOT IN ('completed', 'failed', 'partial')),
           count(*) FILTER (WHERE r.processing_time_ms IS NULL)
      FROM chat_request_source() r
     WHERE (p_start IS NULL OR r.created_at >= p_start)
       AND (p_end IS NULL OR r.created_at < p_end)
       AND (p_model_ids IS NULL OR r.model_id = ANY (p_model_ids)
            OR r.model_id IS NULL AND 0 = ANY (p_model_ids))
     GROUP BY r.model_id;
END
$$;

CREATE OR REPLACE FUNCTION chat_request_stats_rollup(p_start timestamptz, p_end timestamptz, p_model_ids integer[], p_latency boolean)
RETURNS SETOF chat_request_stat
LANGUAGE plpgsql STABLE ROWS 500
SET plan_cache_mode TO 'force_generic_plan' AS $$
DECLARE
    waiting integer[];  -- all time: the models whose requests not rolled up yet count too
BEGIN
    IF p_latency AND p_start IS NULL AND p_end IS NULL THEN
        waiting := ARRAY(
            SELECT DISTINCT coalesce(r.model_id, 0) FROM chat_request_source() r
             WHERE r.id > (SELECT watermark_id FROM chat_rollup_state)
               AND (p_model_ids IS NULL OR coalesce(r.model_id, 0) = ANY (p_model_ids)));
        RETURN QUERY
        SELECT nullif(s.id, 0)::integer, s.completed + s.failed + s.partial + s.other, s.completed, s.failed,
               s.partial, s.input_tokens, s.output_tokens, s.processing_time_ms, s.cost_usd,
               coalesce(h.p[1], k.latency_percentiles[1]), coalesce(h.p[2], k.latency_percentiles[2]),
               coalesce(h.p[3], k.latency_percentiles[3]), s.other, s.untimed
          FROM chat_rollup_sums(NULL, NULL, p_model_ids, false) s
          LEFT JOIN (SELECT t.id, ARRAY[chat_latency_percentile(t.main, t.over, 0.5),
                                        chat_latency_percentile(t.main, t.over, 0.95),
                                        chat_latency_percentile(t.main, t.over, 0.99)] AS p
                       FROM (SELECT t.id, chat_histogram_values(t.latency, t.latency_hi) AS main,
                                    chat_histogram_values(t.latency_over, t.latency_over_hi) AS over
                               FROM chat_rollup_sums(NULL, NULL, waiting, true) t
                              WHERE cardinality(waiting) > 0
                             OFFSET 0) t) h ON h.id = s.id
          LEFT JOIN chat_rollups k
            ON h.id IS NULL AND k.level = chat_rollup_top() AND k.dim = 'm' AND k.bucket = '-infinity'
           AND k.id = s.id
         WHERE s.completed + s.failed + s.partial + s.other > 0;
        RETURN;
    END IF;
    RETURN QUERY
    SELECT nullif(s.id, 0)::integer, s.completed + s.failed + s.partial + s.other, s.completed, s.failed,
           s.partial, s.input_tokens, s.output_tokens, s.processing_time_ms, s.cost_usd,
           chat_latency_percentile(s.main, s.over, 0.5),
           chat_latency_percentile(s.main, s.over, 0.95),
           chat_latency_percentile(s.main, s.over, 0.99), s.other, s.untimed
      FROM (SELECT t.*, chat_histogram_values(t.latency, t.latency_hi) AS main,
                   chat_histogram_values(t.latency_over, t.latency_over_hi) AS over
              FROM chat_rollup_sums(p_start, p_end, p_model_ids, p_latency) t
            OFFSET 0) s  -- each histogram converted once, then searched three times
     WHERE s.completed + s.failed + s.partial + s.other > 0;
END
$$;

CREATE OR REPLACE FUNCTION chat_request_groups_ranked(p_dim "char", p_bounds timestamptz[], p_ids bigint[], p_by text, p_order text, p_top integer)
RETURNS TABLE(g bigint, rank bigint)
LANGUAGE plpgsql STABLE
SET plan_cache_mode TO 'force_custom_plan' AS $$
BEGIN
    RETURN QUERY
    SELECT r.g, row_number() OVER (ORDER BY r.measure DESC, r.g NULLS LAST)
      FROM (SELECT CASE WHEN p_by = 'provider' THEN (SELECT m.provider_id FROM models m WHERE m.id = s.id)
                        ELSE nullif(s.id, 0) END AS g,
                   CASE p_order WHEN 'tokens' THEN sum(s.input_tokens::numeric + s.output_tokens)
                                WHEN 'cost' THEN sum(s.cost_usd)
                                ELSE sum(s.completed + s.failed + s.partial + s.other) END AS measure
              FROM chat_rollup_series(p_dim, p_bounds, p_ids, false) s
             GROUP BY 1
             ORDER BY 2 DESC, 1 NULLS LAST
             LIMIT p_top) r;
END
$$;

CREATE OR REPLACE FUNCTION chat_request_groups_raw(p_bounds timestamptz[], p_by text, p_top integer, p_order text, p_model_ids integer[], p_api_key_id bigint, p_user_id bigint, p_status text)
RETURNS SETOF chat_request_group
LANGUAGE plpgsql STABLE ROWS 100
SET plan_cache_mode TO 'force_custom_plan' AS $$
BEGIN
    RETURN QUERY
    WITH matching AS MATERIALIZED (
        SELECT p_bounds[width_bucket(c.created_at, p_bounds)] AS slot,
               CASE p_by WHEN 'model' THEN c.model_id
                         WHEN 'provider' THEN (SELECT m.provider_id FROM models m WHERE m.id = c.model_id)
                         WHEN 'api_key' THEN c.api_key_id
                         WHEN 'user' THEN c.user_id END AS g,
               c.status, c.input_tokens, c.output_tokens, c.processing_time_ms, c.cost_usd
          FROM chat_request_source() c
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
           coalesce(sum(m.processing_time_ms), 0),
           coalesce(sum(m.cost_usd), 0),
           percentile_disc(0.5) WITHIN GROUP (ORDER BY m.processing_time_ms)::numeric,
           percentile_disc(0.95) WITHIN GROUP (ORDER BY m.processing_time_ms)::numeric,
           percentile_disc(0.99) WITHIN GROUP (ORDER BY m.processing_time_ms)::numeric,
           count(*) FILTER (WHERE m.status NOT IN ('completed', 'failed', 'partial')),
           count(*) FILTER (WHERE m.processing_time_ms IS NULL)
      FROM matching m
      -- joined by hash: -0.5 stands for the NULL group (IS NOT DISTINCT FROM would not hash)
      JOIN ranked r ON r.slot = m.slot AND coalesce(r.g::numeric, -0.5) = coalesce(m.g::numeric, -0.5)
     GROUP BY GROUPING SETS ((m.slot, r.top, CASE WHEN r.top THEN m.g END), (m.slot))
    HAVING p_by IS NOT NULL OR GROUPING(r.top) = 1;
END
$$;

CREATE OR REPLACE FUNCTION chat_request_groups_rollup(p_bounds timestamp with time zone[], p_by text, p_top integer, p_order text, p_model_ids integer[], p_api_key_id bigint, p_user_id bigint)
 RETURNS SETOF chat_request_group
 LANGUAGE plpgsql
 STABLE ROWS 100
 SET plan_cache_mode TO 'force_generic_plan'
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
               g.other, g.untimed, g.input_tokens, g.output_tokens, g.processing_time_ms, g.cost_usd, g.latency,
               g.latency_over, g.latency_hi, g.latency_over_hi
          FROM groups g
        UNION ALL
        SELECT 'others', NULL, NULL, -1, g.bucket, g.completed, g.failed, g.partial, g.other, g.untimed,
               g.input_tokens,
               g.output_tokens, g.processing_time_ms, g.cost_usd, g.latency, g.latency_over,
               g.latency_hi, g.latency_over_hi
          FROM groups g
        UNION ALL
        SELECT k.kind, NULL, NULL, 1, a.bucket, a.completed, a.failed, a.partial, a.other, a.untimed,
               a.input_tokens,
               a.output_tokens, a.processing_time_ms, a.cost_usd, a.latency, a.latency_over,
               a.latency_hi, a.latency_over_hi
          FROM total a, unnest(CASE WHEN p_by IS NULL THEN '{total}'::text[] ELSE '{total,others}' END) k (kind)),
    sums AS (
        SELECT t.bucket AS slot, t.kind, t.g, t.rank,
               chat_sum(t.sign * t.completed) AS completed, chat_sum(t.sign * t.failed) AS failed,
               chat_sum(t.sign * t.partial) AS partial, chat_sum(t.sign * t.other) AS other,
               chat_sum(t.sign * t.untimed) AS untimed, chat_sum(t.sign * t.input_tokens) AS input_tokens,
               chat_sum(t.sign * t.output_tokens) AS output_tokens,
               sum(t.sign * t.processing_time_ms) AS processing_time_ms, sum(t.sign * t.cost_usd) AS cost_usd,
               sum(t.latency) FILTER (WHERE t.narrow AND t.sign > 0) AS pos,
               sum(t.latency) FILTER (WHERE t.narrow AND t.sign < 0) AS neg,
               sum(t.latency_over) FILTER (WHERE t.narrow AND t.sign > 0) AS over_pos,
               sum(t.latency_over) FILTER (WHERE t.narrow AND t.sign < 0) AS over_neg,
               chat_sum(abs(t.completed + t.failed + t.partial + t.other)) FILTER (WHERE t.narrow) AS narrow_rows,
               chat_histogram_sum(t.latency, t.latency_hi, t.sign) FILTER (WHERE NOT t.narrow) AS wide,
               chat_histogram_sum(t.latency_over, t.latency_over_hi, t.sign) FILTER (WHERE NOT t.narrow) AS over_wide
          FROM (SELECT t.*, t.latency_hi IS NULL AND t.latency_over_hi IS NULL
                            AND abs(t.completed + t.failed + t.partial + t.other) <= chat_histogram_sum_limit() AS narrow
                  FROM terms t OFFSET 0) t  -- narrow worked out once a row, not in every filter
         GROUP BY t.bucket, t.kind, t.g, t.rank)
    SELECT x.slot, x.kind, x.g::bigint, x.completed::bigint, x.failed::bigint, x.partial::bigint,
           x.input_tokens::bigint, x.output_tokens::bigint, x.processing_time_ms, x.cost_usd,
           chat_latency_percentile(x.main, x.over, 0.5),
           chat_latency_percentile(x.main, x.over, 0.95),
           chat_latency_percentile(x.main, x.over, 0.99), x.other::bigint, x.untimed::bigint
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

CREATE OR REPLACE FUNCTION chat_request_series(p_bounds timestamp with time zone[], p_model_ids integer[] DEFAULT NULL::integer[], p_api_key_id bigint DEFAULT NULL::bigint, p_user_id bigint DEFAULT NULL::bigint, p_status text DEFAULT NULL::text)
 RETURNS SETOF chat_request_group
 LANGUAGE sql
 STABLE
AS $$
    SELECT s.lo, 'total', NULL::bigint, coalesce(g.completed_requests, 0), coalesce(g.failed_requests, 0),
           coalesce(g.partial_requests, 0), coalesce(g.total_input_tokens, 0),
           coalesce(g.total_output_tokens, 0), coalesce(g.processing_time_ms_sum, 0),
           coalesce(g.total_cost_usd, 0), g.p50_processing_time_ms, g.p95_processing_time_ms,
           g.p99_processing_time_ms, coalesce(g.other_requests, 0), coalesce(g.untimed_requests, 0)
      FROM unnest(p_bounds[:cardinality(p_bounds) - 1]) s (lo)
      LEFT JOIN chat_request_groups(p_bounds, NULL, NULL, NULL, p_model_ids, p_api_key_id, p_user_id,
                                    p_status) g ON g.slot = s.lo AND g.kind = 'total'
     ORDER BY s.lo
$$;

CREATE OR REPLACE FUNCTION chat_request_breakdown(p_start timestamp with time zone, p_end timestamp with time zone, p_by text, p_top integer DEFAULT 20, p_order text DEFAULT 'requests'::text, p_model_ids integer[] DEFAULT NULL::integer[], p_api_key_id bigint DEFAULT NULL::bigint, p_user_id bigint DEFAULT NULL::bigint, p_status text DEFAULT NULL::text)
 RETURNS SETOF chat_request_group
 LANGUAGE sql
 STABLE
AS $$
    WITH g AS MATERIALIZED (
        SELECT * FROM chat_request_groups(
            ARRAY[coalesce(p_start, '-infinity'), coalesce(p_end, 'infinity')], p_by, p_top, p_order,
            p_model_ids, p_api_key_id, p_user_id, p_status))
    SELECT x.slot, x.kind, x.group_id, x.completed_requests, x.failed_requests, x.partial_requests,
           x.total_input_tokens, x.total_output_tokens, x.processing_time_ms_sum, x.total_cost_usd,
           x.p50_processing_time_ms, x.p95_processing_time_ms, x.p99_processing_time_ms, x.other_requests,
           x.untimed_requests
      FROM (SELECT g.*, 1 AS part FROM g WHERE g.kind = 'group'
            UNION ALL
            SELECT p_start, k.kind, NULL, coalesce(g.completed_requests, 0), coalesce(g.failed_requests, 0),
                   coalesce(g.partial_requests, 0), coalesce(g.total_input_tokens, 0),
                   coalesce(g.total_output_tokens, 0), coalesce(g.processing_time_ms_sum, 0),
                   coalesce(g.total_cost_usd, 0), g.p50_processing_time_ms, g.p95_processing_time_ms,
                   g.p99_processing_time_ms, coalesce(g.other_requests, 0), coalesce(g.untimed_requests, 0),
                   k.part
              FROM (VALUES ('others', 2), ('total', 3)) k (kind, part)
              LEFT JOIN g ON g.kind = k.kind) x
     ORDER BY x.part,
              CASE p_order WHEN 'tokens' THEN x.total_input_tokens::numeric + x.total_output_tokens
                           WHEN 'cost' THEN x.total_cost_usd
                           ELSE (x.completed_requests + x.failed_requests + x.partial_requests + x.other_requests)::numeric
              END DESC, x.group_id NULLS LAST
$$;

CREATE OR REPLACE FUNCTION chat_model_stats(p_provider_id integer, p_model_id integer, p_start timestamp with time zone, p_end timestamp with time zone)
 RETURNS SETOF model_stats
 LANGUAGE sql
 STABLE
AS $$
    SELECT coalesce(m.id, t.model_id), m.model_id, m.model_name, m.provider_model_id,
           m.provider_id, m.provider_name, m.provider_slug,
           coalesce(t.total_requests, 0),
           coalesce(t.completed_requests, 0),
           coalesce(t.failed_requests, 0),
           coalesce(t.partial_requests, 0),
           coalesce(t.total_input_tokens, 0),
           coalesce(t.total_output_tokens, 0),
           coalesce(t.total_input_tokens + t.total_output_tokens, 0),
           round(t.processing_time_ms_sum / nullif(t.total_requests - t.untimed_requests, 0), 2),
           coalesce(t.total_cost_usd, 0),
           t.p50_processing_time_ms, t.p95_processing_time_ms, t.p99_processing_time_ms,
           coalesce(t.other_requests, 0)
      FROM (SELECT m.id, m.model_id, m.model_name, m.provider_model_id, p.id AS provider_id,
                   p.name AS provider_name, p.slug AS provider_slug
              FROM models m
              LEFT JOIN providers p ON p.id = m.provider_id
             WHERE (p_provider_id IS NULL OR m.provider_id = p_provider_id)
               AND (p_model_id IS NULL OR m.id = p_model_id)) m  -- the catalog rows asked for
      FULL JOIN chat_request_stats(
                    p_start, p_end,
                    CASE WHEN p_model_id IS NOT NULL THEN ARRAY[p_model_id]
                         WHEN p_provider_id IS NOT NULL THEN
                             ARRAY(SELECT id FROM models WHERE provider_id = p_provider_id) END
                ) t ON t.model_id = m.id
     WHERE coalesce(m.id, t.model_id) IS NOT NULL  -- requests without a model: not a model's
       AND (p_model_id IS NOT NULL OR t.total_requests > 0)
     ORDER BY 8 DESC, 1
$$;
