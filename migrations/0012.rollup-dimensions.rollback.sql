-- Back to 0011: models only. The rows of the other dimensions go; the models' rows are
-- as 0011 keeps them.
DROP FUNCTION chat_request_first_at();
DROP FUNCTION chat_request_breakdown(timestamptz, timestamptz, text, integer, text, integer[], bigint, bigint, text);
DROP FUNCTION chat_request_series(timestamptz[], integer[], bigint, bigint, text);
DROP FUNCTION chat_request_groups(timestamptz[], text, integer, text, integer[], bigint, bigint, text);
DROP FUNCTION chat_request_groups_rollup(timestamptz[], text, integer, text, integer[], bigint, bigint);
DROP FUNCTION chat_request_groups_dim(text, integer[], bigint, bigint);
DROP FUNCTION chat_request_groups_raw(timestamptz[], text, integer, text, integer[], bigint, bigint, text);
DROP TYPE chat_request_group;
DROP FUNCTION chat_rollup_series("char", timestamptz[], bigint[], boolean);
DROP FUNCTION chat_rollup_raw(timestamptz[], timestamptz[], timestamptz[], timestamptz[], "char", bigint[], boolean);
DROP FUNCTION chat_rollup_pieces("char", timestamptz, timestamptz);
DROP FUNCTION chat_rollup_prune(timestamptz, timestamptz);
DROP FUNCTION chat_rollup_deltas(chat_rollup_input[], integer, chat_rollup_state, "char"[], boolean);
DROP FUNCTION chat_rollup_base_bucket(chat_rollup_state, "char", timestamptz);
DROP FUNCTION chat_rollup_kept_from(chat_rollup_state, "char", integer);
DROP FUNCTION chat_rollup_input_of(chat_completion_requests, timestamptz);
DROP AGGREGATE chat_sum(bigint);

DELETE FROM chat_rollups WHERE dim <> 'm';
ALTER TABLE chat_rollups DROP CONSTRAINT chat_rollups_dim_check,
    ADD CONSTRAINT chat_rollups_dim_check CHECK (dim = 'm');
COMMENT ON COLUMN chat_rollups.dim IS NULL;
ALTER TABLE chat_rollup_state DROP COLUMN detail_horizon;
ALTER TYPE chat_rollup_delta DROP ATTRIBUTE dim;
ALTER TYPE chat_rollup_input DROP ATTRIBUTE api_key_id, DROP ATTRIBUTE user_id;

-- 0008-0010's definitions again.

-- The first kept bucket start of a level.
CREATE FUNCTION chat_rollup_horizon(p_state chat_rollup_state, p_level integer)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_level = 1 THEN p_state.quarter_horizon ELSE '-infinity'::timestamptz END
$$;

CREATE FUNCTION chat_rollup_input_of(r chat_completion_requests)
RETURNS chat_rollup_input
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ROW(r.created_at, r.model_id, r.status, r.input_tokens, r.output_tokens,
               r.processing_time_ms, r.cost_usd)::chat_rollup_input
$$;

-- The finest kept bucket at p_at: a quarter or an hour.
CREATE FUNCTION chat_rollup_base_bucket(p_state chat_rollup_state, p_at timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT chat_rollup_bucket(CASE WHEN p_at >= p_state.quarter_horizon THEN 1 ELSE 2 END, p_at)
$$;

-- p_sign times the totals of p_rows: per model and finest kept bucket, or per model
-- only when p_state is NULL. Every path that counts raw rows goes through here.
CREATE FUNCTION chat_rollup_deltas(
    p_rows chat_rollup_input[], p_sign integer, p_state chat_rollup_state DEFAULT NULL)
RETURNS SETOF chat_rollup_delta
LANGUAGE sql STABLE AS $$
    -- (NOT (p_state IS NULL): a row IS NOT NULL only when all its fields are)
    SELECT CASE WHEN NOT (p_state IS NULL) THEN chat_rollup_base_bucket(p_state, r.created_at) END,
           coalesce(r.model_id, 0)::bigint,
           p_sign * count(*) FILTER (WHERE r.status = 'completed'),
           p_sign * count(*) FILTER (WHERE r.status = 'failed'),
           p_sign * count(*) FILTER (WHERE r.status = 'partial'),
           p_sign * sum(r.input_tokens)::bigint,
           p_sign * sum(r.output_tokens)::bigint,
           p_sign * sum(r.processing_time_ms)::bigint,
           p_sign * coalesce(sum(r.cost_usd), 0),
           chat_latency_scale(sum(s.latency), p_sign),
           chat_latency_scale(sum(s.latency_over), p_sign)
      FROM unnest(p_rows) r
      JOIN chat_latency_steps s ON s.bucket = chat_latency_bucket(r.processing_time_ms)
     GROUP BY 1, 2
$$;

-- Adds the rows p_added and takes out p_removed at every level whose bucket is kept, in
-- one statement: every level's sums hashed at once. Rows are upserted in key order, so
-- that two transactions adding overlapping deltas lock rows in the same order.
CREATE OR REPLACE FUNCTION chat_rollup_apply(
    p_added chat_rollup_input[], p_removed chat_rollup_input[], p_state chat_rollup_state)
RETURNS void
LANGUAGE sql
SET work_mem = '256MB'  -- a hash aggregate of histograms, not a sort of them
AS $$
    INSERT INTO chat_rollups AS r
    SELECT l.level, 'm', chat_rollup_bucket(l.level, d.bucket), d.id,
           sum(d.completed), sum(d.failed), sum(d.partial), sum(d.input_tokens),
           sum(d.output_tokens), sum(d.processing_time_ms), sum(d.cost_usd),
           sum(d.latency), sum(d.latency_over)
      FROM (SELECT * FROM chat_rollup_deltas(p_added, 1, p_state)
            UNION ALL
            SELECT * FROM chat_rollup_deltas(p_removed, -1, p_state)) d
     CROSS JOIN generate_series(1, chat_rollup_top()) l (level)
     WHERE chat_rollup_bucket(l.level, d.bucket) >= chat_rollup_horizon(p_state, l.level)
     GROUP BY 1, 2, 3, 4
     ORDER BY 1, 2, 3, 4
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
                               ELSE r.latency_over + excluded.latency_over END
$$;

-- Stops keeping quarters before p_from (rounded down to a UTC midnight; the horizon
-- never moves back) and deletes them; returns how many. Reads answer from hours and
-- raw rows there instead.
CREATE FUNCTION chat_rollup_prune(p_from timestamptz)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    st chat_rollup_state;
    removed bigint;
BEGIN
    UPDATE chat_rollup_state SET quarter_horizon = date_bin('1 day', p_from, timestamptz '2000-01-01 00:00:00+00')
     WHERE quarter_horizon < date_bin('1 day', p_from, timestamptz '2000-01-01 00:00:00+00')
    RETURNING * INTO st;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    DELETE FROM chat_rollups WHERE level = 1 AND bucket < st.quarter_horizon;
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END
$$;

-- [p_start, p_end) (NULL: unbounded) cut into pieces, coarsest first: whole buckets of
-- a level (the top level, all time, for the unbounded range), and raw rows (level NULL) for
-- what is finer than every kept level. Where raw rows are gone (before raw_horizon) an
-- edge finer than the kept levels is rounded outwards to whole buckets: exact = false.
CREATE OR REPLACE FUNCTION chat_rollup_pieces(p_start timestamptz, p_end timestamptz)
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
CREATE OR REPLACE FUNCTION chat_rollup_sums(
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

-- TRUNCATE empties the rollups too; ids may restart, so the watermark does as well.
CREATE OR REPLACE FUNCTION chat_rollup_reset()
RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM chat_rollup_state FOR UPDATE;
    TRUNCATE chat_rollups;
    UPDATE chat_rollup_state
       SET watermark_id = 0, refreshed_at = now(), quarter_horizon = '-infinity',
           raw_horizon = '-infinity';
    RETURN NULL;
END
$$;

REVOKE EXECUTE ON ROUTINE chat_rollup_prune(timestamptz) FROM chatstats_api;
GRANT EXECUTE ON ROUTINE
    chat_rollup_horizon(chat_rollup_state, integer),
    chat_rollup_base_bucket(chat_rollup_state, timestamptz),
    chat_rollup_input_of(chat_completion_requests),
    chat_rollup_deltas(chat_rollup_input[], integer, chat_rollup_state),
    chat_rollup_prune(timestamptz)
    TO chatstats_rollup;
