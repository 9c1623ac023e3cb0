-- Users by the hour, and for longer; breakdowns that rank before they read histograms.
--
-- Users keep hours beside their 6 hours from detail_horizon (CHATSTATS_DETAIL_ROLLUP_DAYS)
-- on, so that a range's raw edges by user are under an hour, not 6; and their days to
-- 16-day blocks from a horizon of their own, user_horizon (CHATSTATS_USER_ROLLUP_DAYS),
-- so that the dashboard's 90 days by user come from rollups. The hours are built here
-- from the request rows above the detail horizon (moved up to the raw horizon where
-- retention removed rows, for keys and users alike); the longer user horizon starts at
-- the detail horizon and grows as days pass (a fresh store keeps it at once). Users no
-- longer keep 64- to 1024-day blocks (each costs a row per active user at every
-- refresh; 32-day blocks and all time answer long ranges).
--
-- Also what 0012 was given after its release, for databases migrated before: the raw
-- breakdown joins its groups by hash, and the rollup job may run chat_sum.
--
-- Reads take fewer rows: a range's pieces are signed (a ragged end may be one bucket
-- more less the part outside the range, when that costs fewer rows), raw edges are
-- read by one statement planned with their literal bounds, and a breakdown ranks its
-- groups by one sum before it reads the sums and histograms of the first p_top only.
-- depends: 0012.rollup-dimensions

-- The ALTER locks the state, and with it every refresh and adjustment, until commit.
ALTER TABLE chat_rollup_state ADD COLUMN user_horizon timestamptz NOT NULL DEFAULT '-infinity';
UPDATE chat_rollup_state
   SET detail_horizon = greatest(detail_horizon, chat_rollup_ceil(4, raw_horizon)),
       user_horizon = greatest(detail_horizon, chat_rollup_ceil(4, raw_horizon));

-- The first bucket start of a level kept for a dimension ('infinity': never kept).
CREATE OR REPLACE FUNCTION chat_rollup_kept_from(p_state chat_rollup_state, p_dim "char", p_level integer)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_dim IN ('m', 'a') THEN
                    CASE WHEN p_level = 1 THEN p_state.quarter_horizon ELSE '-infinity'::timestamptz END
                WHEN p_level < 2 THEN 'infinity'::timestamptz
                WHEN p_level < 4 THEN p_state.detail_horizon
                WHEN p_dim = 'k' OR p_level = 9 OR p_level = chat_rollup_top() THEN '-infinity'::timestamptz
                WHEN p_level < 9 THEN p_state.user_horizon
                ELSE 'infinity'::timestamptz END
$$;

-- The bucket at p_at of the finest level a dimension keeps there (spelt out, so that it
-- is inlined).
CREATE OR REPLACE FUNCTION chat_rollup_base_bucket(p_state chat_rollup_state, p_dim "char", p_at timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT chat_rollup_bucket(
        CASE WHEN p_dim IN ('m', 'a') THEN CASE WHEN p_at >= p_state.quarter_horizon THEN 1 ELSE 2 END
             WHEN p_at >= p_state.detail_horizon THEN 2
             WHEN p_dim = 'k' OR p_at >= p_state.user_horizon THEN 4
             ELSE 9 END,
        p_at)
$$;

-- What the new rules no longer keep (the users' 64- to 1024-day blocks: each costs a row
-- per active user at every refresh; and what lies before a detail horizon moved up),
-- then the users' hours above the detail horizon, from the rows rolled up (the refresh
-- files the others), as chat_rollup_deltas sums them.
DELETE FROM chat_rollups r
 USING chat_rollup_state st
 WHERE r.bucket < chat_rollup_kept_from(st, r.dim, r.level);
INSERT INTO chat_rollups
SELECT 2, 'u', d.bucket, d.id, d.completed, d.failed, d.partial, d.input_tokens, d.output_tokens,
       d.processing_time_ms, d.cost_usd, d.latency, d.latency_over
  FROM chat_rollup_state st,
       LATERAL (SELECT array_agg(chat_rollup_input_of(r)) AS rows
                  FROM chat_completion_requests r
                 WHERE r.created_at >= st.detail_horizon AND r.id <= st.watermark_id
                 GROUP BY chat_rollup_bucket(4, r.created_at)) b,
       LATERAL chat_rollup_deltas(b.rows, 1, st, '{u}') d;

-- TRUNCATE starts over, every horizon too.
CREATE OR REPLACE FUNCTION chat_rollup_reset()
RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM chat_rollup_state FOR UPDATE;
    TRUNCATE chat_rollups;
    UPDATE chat_rollup_state
       SET watermark_id = 0, refreshed_at = now(), quarter_horizon = '-infinity',
           raw_horizon = '-infinity', detail_horizon = '-infinity', user_horizon = '-infinity';
    RETURN NULL;
END
$$;

-- Stops keeping quarters before p_from, the keys' and users' hours and 6 hours before
-- p_detail_from and the users' days to 16 days before p_user_from (NULL: where they
-- are), each rounded down to a UTC midnight and never moved back, and deletes those
-- rows; returns how many.
DROP FUNCTION chat_rollup_prune(timestamptz, timestamptz);
CREATE FUNCTION chat_rollup_prune(
    p_from timestamptz, p_detail_from timestamptz DEFAULT NULL, p_user_from timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    st chat_rollup_state;
    removed bigint;
BEGIN
    UPDATE chat_rollup_state
       SET quarter_horizon = greatest(quarter_horizon, chat_rollup_bucket(4, p_from)),
           detail_horizon = greatest(detail_horizon, coalesce(chat_rollup_bucket(4, p_detail_from), detail_horizon)),
           user_horizon = greatest(user_horizon, coalesce(chat_rollup_bucket(4, p_user_from), user_horizon))
     WHERE quarter_horizon < chat_rollup_bucket(4, p_from)
        OR detail_horizon < chat_rollup_bucket(4, p_detail_from)
        OR user_horizon < chat_rollup_bucket(4, p_user_from)
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

-- What covering the neighbourhood of an edge p_at costs, per level l, with the levels
-- finer than l that a dimension keeps there and raw rows below them: from p_at up to
-- l's next boundary (to_ceil[l]) and from l's boundary below p_at up to p_at
-- (from_floor[l]), counting a bucket as 1 and raw rows as 2 per finest bucket's time.
-- chat_rollup_pieces compares them to choose, at each level, between the buckets inside
-- a range's ragged end and one bucket more less the part outside: whichever costs less.
CREATE FUNCTION chat_rollup_edge_costs(
    p_state chat_rollup_state, p_dim "char", p_at timestamptz, OUT to_ceil float8[], OUT from_floor float8[])
LANGUAGE plpgsql STABLE AS $$
DECLARE
    -- in microseconds since the buckets' origin, in integers: plain arithmetic, exact
    t bigint := (extract(epoch FROM p_at - timestamptz '2000-01-01 00:00:00+00') * 1000000)::bigint;
    widths bigint[] := ARRAY(SELECT (extract(epoch FROM w) * 1000000)::bigint FROM unnest(chat_rollup_widths()) w);
    floors bigint[];
    ceils bigint[];
    finer integer;  -- the finest level kept around p_at below the current one
    w bigint;
    kept timestamptz;
BEGIN
    to_ceil := '{}';
    from_floor := '{}';
    FOR l IN 1 .. cardinality(widths) LOOP
        w := widths[l];
        floors[l] := t - ((t % w) + w) % w;
        ceils[l] := CASE WHEN floors[l] = t THEN t ELSE floors[l] + w END;
        IF finer IS NULL THEN
            to_ceil[l] := 2.0 * (ceils[l] - t) / w;
            from_floor[l] := 2.0 * (t - floors[l]) / w;
        ELSE
            w := widths[finer];
            to_ceil[l] := least((ceils[l] - ceils[finer])::float8 / w + to_ceil[finer],
                                (ceils[l] - floors[finer])::float8 / w + from_floor[finer]);
            from_floor[l] := least((floors[finer] - floors[l])::float8 / w + from_floor[finer],
                                   (ceils[finer] - floors[l])::float8 / w + to_ceil[finer]);
        END IF;
        kept := chat_rollup_kept_from(p_state, p_dim, l);
        IF kept = '-infinity' OR kept <= p_at - (t - floors[l]) * interval '1 microsecond' THEN
            finer := l;
        END IF;
    END LOOP;
END
$$;

-- [p_start, p_end) (NULL or infinite: unbounded) as signed pieces of a dimension's kept
-- levels: the range is the sum of the pieces of sign 1 less those of sign -1. From the
-- coarsest level down, each level takes the whole buckets inside what is left; at a
-- ragged end it may instead take one bucket more and leave the part outside the range
-- to be taken out (where raw rows are kept, so that the answer stays exact), when
-- chat_rollup_edge_costs says that costs fewer rows: a range of 14 days and 15 hours
-- is then a 16-day block less 1 day and 9 hours, not 8 + 4 + 2 days and 15 hours.
-- An end may round outwards only where no other range's raw rows lie beyond it: a
-- time series' slots share their inner ends (p_start_outwards, p_end_outwards false).
-- What is left below the finest level is raw rows where retention kept them, else
-- whole buckets of the finest level kept there (exact false), split at every level's
-- horizon and the raw horizon into parts of one kind each.
DROP FUNCTION chat_rollup_pieces(timestamptz, timestamptz);
DROP FUNCTION chat_rollup_pieces("char", timestamptz, timestamptz);
CREATE FUNCTION chat_rollup_pieces(
    p_dim "char", p_start timestamptz, p_end timestamptz,
    p_start_outwards boolean DEFAULT true, p_end_outwards boolean DEFAULT true)
RETURNS TABLE (level smallint, lo timestamptz, hi timestamptz, exact boolean, sign integer)
LANGUAGE plpgsql STABLE ROWS 20 AS $$
DECLARE
    st chat_rollup_state;
    los timestamptz[];
    his timestamptz[];
    signs integer[];
    next_los timestamptz[];
    next_his timestamptz[];
    next_signs integer[];
    a timestamptz;
    b timestamptz;
    s integer;
    kept timestamptz;
    start_up float8[];    -- chat_rollup_edge_costs of p_start, when first needed
    start_down float8[];
    end_up float8[];      -- and of p_end
    end_down float8[];
BEGIN
    exact := true;
    los := ARRAY[coalesce(p_start, '-infinity')];
    his := ARRAY[coalesce(p_end, 'infinity')];
    signs := ARRAY[1];
    IF los[1] = '-infinity' AND his[1] = 'infinity' THEN
        level := chat_rollup_top(); lo := '-infinity'; hi := 'infinity'; sign := 1;
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
        next_signs := '{}';
        kept := chat_rollup_kept_from(st, p_dim, lvl);
        FOR i IN 1 .. cardinality(los) LOOP
            a := los[i];
            b := his[i];
            s := signs[i];
            lo := chat_rollup_ceil(lvl, greatest(a, kept));
            hi := chat_rollup_bucket(lvl, b);
            IF lo <= hi THEN  -- an end of the range may round outwards, the part outside taken out
                IF a < lo AND (a = p_start AND p_start_outwards OR a = p_end AND p_end_outwards)
                   AND chat_rollup_bucket(lvl, a) >= greatest(kept, st.raw_horizon) THEN
                    IF a = p_start AND start_up IS NULL THEN
                        SELECT c.to_ceil, c.from_floor INTO start_up, start_down FROM chat_rollup_edge_costs(st, p_dim, a) c;
                    ELSIF a = p_end AND end_up IS NULL THEN
                        SELECT c.to_ceil, c.from_floor INTO end_up, end_down FROM chat_rollup_edge_costs(st, p_dim, a) c;
                    END IF;
                    IF (CASE WHEN a = p_start THEN start_down[lvl] + 1 < start_up[lvl]
                             ELSE end_down[lvl] + 1 < end_up[lvl] END) THEN
                        lo := chat_rollup_bucket(lvl, a);
                    END IF;
                END IF;
                IF hi < b AND (b = p_end AND p_end_outwards OR b = p_start AND p_start_outwards)
                   AND lo >= st.raw_horizon THEN
                    IF b = p_end AND end_up IS NULL THEN
                        SELECT c.to_ceil, c.from_floor INTO end_up, end_down FROM chat_rollup_edge_costs(st, p_dim, b) c;
                    ELSIF b = p_start AND start_up IS NULL THEN
                        SELECT c.to_ceil, c.from_floor INTO start_up, start_down FROM chat_rollup_edge_costs(st, p_dim, b) c;
                    END IF;
                    IF (CASE WHEN b = p_end THEN end_up[lvl] + 1 < end_down[lvl]
                             ELSE start_up[lvl] + 1 < start_down[lvl] END) THEN
                        hi := chat_rollup_ceil(lvl, b);
                    END IF;
                END IF;
            END IF;
            IF lo < hi THEN
                level := lvl; sign := s;
                RETURN NEXT;
                IF lo <> a THEN
                    next_los := next_los || least(a, lo); next_his := next_his || greatest(a, lo);
                    next_signs := next_signs || CASE WHEN lo > a THEN s ELSE -s END;
                END IF;
                IF hi <> b THEN
                    next_los := next_los || least(b, hi); next_his := next_his || greatest(b, hi);
                    next_signs := next_signs || CASE WHEN hi < b THEN s ELSE -s END;
                END IF;
            ELSE
                next_los := next_los || a; next_his := next_his || b; next_signs := next_signs || s;
            END IF;
        END LOOP;
        los := next_los;
        his := next_his;
        signs := next_signs;
    END LOOP;
    FOR i IN 1 .. cardinality(los) LOOP
        a := los[i];
        sign := signs[i];
        FOREACH b IN ARRAY ARRAY(
                SELECT DISTINCT h
                  FROM (SELECT chat_rollup_kept_from(st, p_dim, l) FROM generate_series(1, chat_rollup_top()) l
                        UNION ALL
                        SELECT unnest(ARRAY[st.raw_horizon, his[i]])) x (h)
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

-- 0010's pieces of the models, for 0010's chat_rollup_effective_range: those of sign -1
-- lie inside those of sign 1, and are exact.
CREATE FUNCTION chat_rollup_pieces(p_start timestamptz, p_end timestamptz)
RETURNS TABLE (level smallint, lo timestamptz, hi timestamptz, exact boolean)
LANGUAGE sql STABLE ROWS 20 AS $$
    SELECT p.level, p.lo, p.hi, p.exact FROM chat_rollup_pieces('m', p_start, p_end) p
$$;

-- Totals per slot and id of dimension p_dim of raw rows, as 0012's: those rolled up in
-- the edges [p_los[i], p_his[i]) (disjoint), filed under slot p_slots[i] with sign
-- p_signs[i], and those not rolled up yet (the tail) in p_tail[1] <= created_at <
-- p_tail[n], filed under their slot [p_tail[i], p_tail[i + 1]); of the ids p_ids only
-- (NULL: all; 0 is the requests without one), histograms with p_latency. Now one statement planned with
-- the edges' literal bounds (the planner sees how few rows they hold, and sums them in
-- a hash table where a scan of unknown length made it sort them), reading only the
-- columns it sums; each row finds its latency step through the index.
DROP FUNCTION chat_rollup_raw(timestamptz[], timestamptz[], timestamptz[], timestamptz[], "char", bigint[], boolean);
CREATE FUNCTION chat_rollup_raw(
    p_slots timestamptz[], p_los timestamptz[], p_his timestamptz[], p_signs integer[],
    p_tail timestamptz[], p_dim "char", p_ids bigint[], p_latency boolean)
RETURNS SETOF chat_rollup_delta
LANGUAGE plpgsql STABLE
SET work_mem = '64MB'  -- histograms summed in memory
SET max_parallel_workers_per_gather = 0
SET enable_hashjoin = off
SET enable_mergejoin = off
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

-- As 0012's, from signed pieces: rows of pieces of sign -1 are taken out (their
-- histograms summed apart and subtracted once: negating each costs more than reading it).
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

-- The first p_top groups of a breakdown by p_by of the one slot p_bounds, ranked by
-- p_order's sum alone, from dimension p_dim's rollups (ids p_ids, NULL: all). Planned
-- for its values each time, so that only that sum is taken.
CREATE FUNCTION chat_request_groups_ranked(
    p_dim "char", p_bounds timestamptz[], p_ids bigint[], p_by text, p_order text, p_top integer)
RETURNS TABLE (g bigint, rank bigint)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_custom_plan
AS $$
BEGIN
    RETURN QUERY
    SELECT r.g, row_number() OVER (ORDER BY r.measure DESC, r.g NULLS LAST)
      FROM (SELECT CASE WHEN p_by = 'provider' THEN (SELECT m.provider_id FROM models m WHERE m.id = s.id)
                        ELSE nullif(s.id, 0) END AS g,
                   CASE p_order WHEN 'tokens' THEN sum(s.input_tokens::numeric + s.output_tokens)
                                WHEN 'cost' THEN sum(s.cost_usd)
                                ELSE sum(s.completed + s.failed + s.partial) END AS measure
              FROM chat_rollup_series(p_dim, p_bounds, p_ids, false) s
             GROUP BY 1
             ORDER BY 2 DESC, 1 NULLS LAST
             LIMIT p_top) r;
END
$$;

-- As in 0012. A breakdown ranks its groups by the one sum it orders by, then reads the
-- sums and histograms of the first p_top (by their ids) and of the total; 'others' is
-- the total less the first p_top.
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

-- As 0012's, its groups joined by hash: -0.5 stands for the NULL group (IS NOT DISTINCT
-- FROM would not hash).
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
      -- joined by hash: -0.5 stands for the NULL group (IS NOT DISTINCT FROM would not hash)
      JOIN ranked r ON r.slot = m.slot AND coalesce(r.g::numeric, -0.5) = coalesce(m.g::numeric, -0.5)
     GROUP BY GROUPING SETS ((m.slot, r.top, CASE WHEN r.top THEN m.g END), (m.slot))
    HAVING p_by IS NOT NULL OR GROUPING(r.top) = 1;
END
$$;

REVOKE EXECUTE ON ROUTINE chat_rollup_prune(timestamptz, timestamptz, timestamptz) FROM chatstats_api;
GRANT EXECUTE ON ROUTINE chat_rollup_prune(timestamptz, timestamptz, timestamptz), chat_sum(bigint)
    TO chatstats_rollup;
