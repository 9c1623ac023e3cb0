-- Keeping the rollup store current (the same protocol as 0004, on the new store):
-- inserts carry no trigger, a refresh procedure folds new rows in below a safe
-- watermark; updates and deletes of rolled-up rows move their contribution in the
-- same transaction; TRUNCATE starts over. Fine levels are pruned past their horizon,
-- and retention removes old request rows while their contribution stays.
-- depends: 0008.rollup-store

-- What the rollups read of a request.
CREATE TYPE chat_rollup_input AS (
    created_at          timestamptz,
    model_id            integer,
    status              text,
    input_tokens        integer,
    output_tokens       integer,
    processing_time_ms  integer,
    cost_usd            numeric);

CREATE FUNCTION chat_rollup_input_of(r chat_completion_requests)
RETURNS chat_rollup_input
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ROW(r.created_at, r.model_id, r.status, r.input_tokens, r.output_tokens,
               r.processing_time_ms, r.cost_usd)::chat_rollup_input
$$;

-- Totals of some requests: per (bucket, model) when folded in, per model when read.
CREATE TYPE chat_rollup_delta AS (
    bucket              timestamptz,
    id                  bigint,
    completed           bigint,
    failed              bigint,
    partial             bigint,
    input_tokens        bigint,
    output_tokens       bigint,
    processing_time_ms  bigint,
    cost_usd            numeric,
    latency             vector,
    latency_over        vector);

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
CREATE FUNCTION chat_rollup_apply(
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

-- Folds the requests with p_after < id <= p_upto into the rollups; returns how many.
CREATE FUNCTION chat_rollup_fold(p_after bigint, p_upto bigint, p_state chat_rollup_state)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    added chat_rollup_input[] := ARRAY(
        SELECT chat_rollup_input_of(c) FROM chat_completion_requests c
         WHERE c.id > p_after AND c.id <= p_upto);
BEGIN
    PERFORM chat_rollup_apply(added, '{}', p_state);
    RETURN cardinality(added);
END
$$;

-- Rolls up the requests of the next p_batch_rows ids; call it in autocommit mode (it
-- commits). rolled_up: how many; caught_up: whether no committed row waits now. Both
-- are NULL when another refresh, a lock holder (a long COPY, a VACUUM) or a change of
-- the state (TRUNCATE, pruning, retention) was in the way: call again later.
--
-- A request id is only safe to roll up once no transaction can still commit a smaller
-- one. Phase 1 finds that id (chat_request_rollup_safe_id of 0004 waits out in-flight
-- writers, briefly) and commits at once, releasing the lock. Phase 2 aggregates up to
-- that id unless the state row changed since phase 1; its row lock orders refreshes
-- with the update/delete triggers, pruning and retention below.
CREATE PROCEDURE chat_rollup_refresh(
    p_batch_rows bigint DEFAULT 250000,
    p_lock_timeout_ms integer DEFAULT 200,
    INOUT rolled_up bigint DEFAULT NULL,
    INOUT caught_up boolean DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    last_id bigint;
    upto bigint;
    state_version xid;
    st chat_rollup_state;
BEGIN
    rolled_up := NULL;
    caught_up := NULL;
    IF NOT pg_try_advisory_xact_lock(hashtext('chatstats.chat_rollup_refresh')) THEN
        RETURN;  -- another process is refreshing
    END IF;
    last_id := chat_request_rollup_safe_id(p_lock_timeout_ms);
    IF last_id IS NULL THEN
        RETURN;  -- writers are busy; answers stay exact through the tail meanwhile
    END IF;
    SELECT least(last_id, s.watermark_id + p_batch_rows), s.xmin INTO upto, state_version
      FROM chat_rollup_state s;
    COMMIT;

    SELECT * INTO st FROM chat_rollup_state WHERE xmin = state_version FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;  -- the state changed since phase 1
    END IF;
    rolled_up := 0;
    IF upto > st.watermark_id THEN
        rolled_up := chat_rollup_fold(st.watermark_id, upto, st);
    END IF;
    -- refreshed_at: when the rollups were last known complete up to the watermark
    UPDATE chat_rollup_state
       SET watermark_id = greatest(watermark_id, upto), refreshed_at = now();
    caught_up := upto >= last_id;
    COMMIT;
END
$$;

-- Updates and deletes of rolled-up rows move their contribution. FOR SHARE waits for a
-- refresh in progress and holds the state still until this transaction ends. Rows that
-- retention deletes (it says so in chatstats.retention) keep their contribution.
CREATE FUNCTION chat_rollup_adjust()
RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    st chat_rollup_state;
BEGIN
    SELECT * INTO st FROM chat_rollup_state FOR SHARE;
    IF TG_OP = 'UPDATE' THEN
        PERFORM chat_rollup_apply(
            ARRAY(SELECT chat_rollup_input_of(n) FROM new_rows n WHERE n.id <= st.watermark_id),
            ARRAY(SELECT chat_rollup_input_of(o) FROM old_rows o WHERE o.id <= st.watermark_id),
            st);
    ELSIF current_setting('chatstats.retention', true) IS DISTINCT FROM 'on' THEN
        PERFORM chat_rollup_apply(
            '{}', ARRAY(SELECT chat_rollup_input_of(o) FROM old_rows o WHERE o.id <= st.watermark_id),
            st);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER ccr_rollup_store_update AFTER UPDATE ON chat_completion_requests
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION chat_rollup_adjust();
CREATE TRIGGER ccr_rollup_store_delete AFTER DELETE ON chat_completion_requests
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION chat_rollup_adjust();

-- TRUNCATE empties the rollups too; ids may restart, so the watermark does as well.
CREATE FUNCTION chat_rollup_reset()
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

CREATE TRIGGER ccr_rollup_store_truncate AFTER TRUNCATE ON chat_completion_requests
    FOR EACH STATEMENT EXECUTE FUNCTION chat_rollup_reset();

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

-- Retention: deletes up to p_batch_rows request rows created before p_before (rounded
-- down to a UTC midnight) that are rolled up; returns how many. Their contribution
-- stays in the rollups, and reads no longer look for raw rows before the horizon.
-- SECURITY DEFINER: the rollup job may not delete requests otherwise.
CREATE FUNCTION chat_rollup_retain(p_before timestamptz, p_batch_rows integer DEFAULT 10000)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    st chat_rollup_state;
    removed bigint;
BEGIN
    UPDATE chat_rollup_state SET raw_horizon = date_bin('1 day', p_before, timestamptz '2000-01-01 00:00:00+00')
     WHERE raw_horizon < date_bin('1 day', p_before, timestamptz '2000-01-01 00:00:00+00');
    SELECT * INTO st FROM chat_rollup_state FOR SHARE;
    PERFORM set_config('chatstats.retention', 'on', true);  -- for chat_rollup_adjust
    -- the conditions again on c: a row updated meanwhile is checked in its new version
    DELETE FROM chat_completion_requests c
     WHERE c.id IN (SELECT r.id FROM chat_completion_requests r
                     WHERE r.created_at < st.raw_horizon AND r.id <= st.watermark_id
                     ORDER BY r.created_at LIMIT p_batch_rows)
       AND c.created_at < st.raw_horizon AND c.id <= st.watermark_id;
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM set_config('chatstats.retention', 'off', true);
    RETURN removed;
END
$$;

-- How far the rollups are behind: rows in the tail, and (when some wait) seconds since
-- the last refresh that ran.
CREATE FUNCTION chat_rollup_lag(
    OUT lag_rows bigint, OUT lag_seconds numeric, OUT watermark_id bigint, OUT refreshed_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT t.n,
           CASE WHEN t.n = 0 THEN 0
                ELSE round(extract(epoch FROM now() - s.refreshed_at), 3) END,
           s.watermark_id, s.refreshed_at
      FROM chat_rollup_state s,
           LATERAL (SELECT count(*) AS n FROM chat_completion_requests c
                     WHERE c.id > s.watermark_id) t
$$;

-- The API reads; only the rollup job maintains.
REVOKE EXECUTE ON ROUTINE
    chat_rollup_apply(chat_rollup_input[], chat_rollup_input[], chat_rollup_state),
    chat_rollup_fold(bigint, bigint, chat_rollup_state),
    chat_rollup_refresh(bigint, integer, bigint, boolean),
    chat_rollup_prune(timestamptz),
    chat_rollup_retain(timestamptz, integer)
    FROM chatstats_api;
GRANT EXECUTE ON ROUTINE
    chat_rollup_widths(),
    chat_rollup_top(),
    chat_rollup_bucket(integer, timestamptz),
    chat_rollup_horizon(chat_rollup_state, integer),
    chat_latency_bucket(integer),
    chat_latency_scale(vector, integer),
    chat_rollup_base_bucket(chat_rollup_state, timestamptz),
    chat_rollup_input_of(chat_completion_requests),
    chat_rollup_deltas(chat_rollup_input[], integer, chat_rollup_state),
    chat_rollup_apply(chat_rollup_input[], chat_rollup_input[], chat_rollup_state),
    chat_rollup_fold(bigint, bigint, chat_rollup_state),
    chat_rollup_refresh(bigint, integer, bigint, boolean),
    chat_rollup_prune(timestamptz),
    chat_rollup_retain(timestamptz, integer),
    chat_rollup_lag()
    TO chatstats_rollup;
