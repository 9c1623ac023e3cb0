-- Rolling up a history in one pass. The refresh (0009) folds rows in batches of ids, and
-- each batch updates every coarse row again (all time, 1024 days, ... per model, key and
-- user): slow on a long history, and it leaves a dead version per update. An empty store
-- is instead built level by level: the finest level each dimension keeps is summed
-- straight from the request rows, a 32-day block of created_at per statement (every
-- base bucket lies within one block), then each coarser level from the finer one, as
-- chat_rollup_apply sums them; the store and the watermark then appear in one commit.
--
-- The hand-over is exact while writers go on. New rows lie above the watermark the
-- backfill hands over (backfill_upto, a safe id as the refresh takes it), so the refresh
-- folds them afterwards. Updates and deletes of rows up to it are logged with their
-- transaction id while a backfill runs; each block records the snapshot it was summed
-- in, and the hand-over applies a logged version where the block holding it did not see
-- its change: the new version added, the old one taken out (chat_rollup_apply).
-- depends: 0013.user-rollups

-- The ALTER locks the state, and with it every refresh and adjustment, until commit.
ALTER TABLE chat_rollup_state ADD COLUMN backfill_upto bigint;
COMMENT ON COLUMN chat_rollup_state.backfill_upto IS
    'while a backfill runs: the requests it sums (id <= backfill_upto); updates and deletes of them are logged';

-- The sums per level, dimension, bucket and id (all of them, kept or not: the next level
-- is summed from them), a partition per level. Unlogged: a backfill cut short starts over.
CREATE TABLE chat_rollup_backfill_sums (LIKE chat_rollups INCLUDING STORAGE)
    PARTITION BY LIST (level);
DO $$
BEGIN
    FOR lvl IN 1 .. chat_rollup_top() LOOP
        EXECUTE format('CREATE UNLOGGED TABLE chat_rollup_backfill_sums_%s PARTITION OF chat_rollup_backfill_sums'
                       ' FOR VALUES IN (%s) WITH (toast_tuple_target = 128)', lvl, lvl);
        EXECUTE format('GRANT SELECT, INSERT, TRUNCATE ON chat_rollup_backfill_sums_%s TO chatstats_rollup', lvl);
    END LOOP;
END
$$;

-- The blocks of created_at summed, each with the snapshot it was summed in.
CREATE UNLOGGED TABLE chat_rollup_backfill_blocks (
    lo        timestamptz NOT NULL,
    hi        timestamptz NOT NULL,
    snapshot  pg_snapshot NOT NULL);

-- Versions of summed requests that updates and deletes replaced (sign -1) or wrote (1).
CREATE TABLE chat_rollup_backfill_log (
    xid    xid8 NOT NULL DEFAULT pg_current_xact_id(),
    sign   integer NOT NULL,
    input  chat_rollup_input NOT NULL);

-- 0009's, which also logs the changes a running backfill cannot see (only while the
-- store is empty: a backfill left behind by a process that died stops logging once a
-- refresh has folded rows in).
CREATE OR REPLACE FUNCTION chat_rollup_adjust()
RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    st chat_rollup_state;
    retention boolean := current_setting('chatstats.retention', true) IS NOT DISTINCT FROM 'on';
    logging boolean;
BEGIN
    SELECT * INTO st FROM chat_rollup_state FOR SHARE;
    logging := st.backfill_upto IS NOT NULL AND st.watermark_id = 0;
    IF TG_OP = 'UPDATE' THEN
        PERFORM chat_rollup_apply(
            ARRAY(SELECT chat_rollup_input_of(n) FROM new_rows n WHERE n.id <= st.watermark_id),
            ARRAY(SELECT chat_rollup_input_of(o) FROM old_rows o WHERE o.id <= st.watermark_id),
            st);
        IF logging THEN
            INSERT INTO chat_rollup_backfill_log (sign, input)
            SELECT 1, chat_rollup_input_of(n) FROM new_rows n WHERE n.id <= st.backfill_upto;
        END IF;
    ELSIF NOT retention THEN
        PERFORM chat_rollup_apply(
            '{}', ARRAY(SELECT chat_rollup_input_of(o) FROM old_rows o WHERE o.id <= st.watermark_id),
            st);
    END IF;
    IF logging AND NOT (TG_OP = 'DELETE' AND retention) THEN
        INSERT INTO chat_rollup_backfill_log (sign, input)
        SELECT -1, chat_rollup_input_of(o) FROM old_rows o WHERE o.id <= st.backfill_upto;
    END IF;
    RETURN NULL;
END
$$;

-- A backfill's own tables emptied (TRUNCATE: no dead rows left behind).
CREATE FUNCTION chat_rollup_backfill_clear()
RETURNS void
LANGUAGE sql AS $$
    TRUNCATE chat_rollup_backfill_sums, chat_rollup_backfill_blocks, chat_rollup_backfill_log
$$;

-- Starts a backfill when the store is empty and at least p_min_rows requests wait:
-- takes the refresh's lock for the session (refreshes wait until the backfill ends),
-- finds the safe id as a refresh does (writers wait p_lock_timeout_ms at most, then a
-- few milliseconds) and starts logging. Call it in autocommit mode, then
-- chat_rollup_backfill_block for every block between the 32-day bounds `bounds`,
-- then chat_rollup_backfill_finish (or chat_rollup_backfill_abandon); the first block
-- starts at NULL, the last ends at NULL (unbounded). started: NULL when
-- another refresh or busy writers were in the way (call again later), false when there
-- is nothing to backfill.
CREATE FUNCTION chat_rollup_backfill_start(
    p_min_rows bigint, p_lock_timeout_ms integer,
    OUT started boolean, OUT state_version xid, OUT bounds timestamptz[])
LANGUAGE plpgsql AS $$
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
               AND (SELECT count(*) FROM (SELECT FROM chat_completion_requests LIMIT p_min_rows) r) >= p_min_rows;
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
    SELECT min(created_at), max(created_at) INTO first_at, last_at FROM chat_completion_requests;
    bounds := ARRAY(SELECT generate_series(chat_rollup_ceil(9, first_at), last_at, '768 hours'));
END
$$;

-- Sums the requests of [p_lo, p_hi) (NULL: unbounded) up to backfill_upto at the finest
-- level each dimension keeps there, as chat_rollup_deltas does, in one statement whose
-- snapshot is recorded; returns how many it summed.
CREATE FUNCTION chat_rollup_backfill_block(p_lo timestamptz, p_hi timestamptz)
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

-- Sums every coarser level from the finer one, then, in one transaction with the
-- hand-over, copies the buckets each dimension keeps into the empty store, applies the
-- logged changes the blocks did not see and moves the watermark to backfill_upto. Raises
-- serialization_failure (nothing changed; start again) when the state changed since
-- p_state_version (a TRUNCATE, a horizon moved). Returns how many requests it rolled up.
CREATE FUNCTION chat_rollup_backfill_finish(p_state_version xid)
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

-- Gives a started backfill up: logging stops, its tables are emptied, refreshes may run.
CREATE FUNCTION chat_rollup_backfill_abandon()
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE chat_rollup_state SET backfill_upto = NULL WHERE backfill_upto IS NOT NULL;
    PERFORM chat_rollup_backfill_clear();
    PERFORM pg_advisory_unlock(hashtext('chatstats.chat_rollup_refresh'));
END
$$;

-- Writers log as they adjust the store (as the role that updates or deletes); the rollup
-- job backfills.
GRANT SELECT, INSERT, TRUNCATE ON chat_rollup_backfill_sums, chat_rollup_backfill_blocks, chat_rollup_backfill_log
    TO chatstats_rollup;
REVOKE EXECUTE ON ROUTINE
    chat_rollup_backfill_clear(),
    chat_rollup_backfill_start(bigint, integer),
    chat_rollup_backfill_block(timestamptz, timestamptz),
    chat_rollup_backfill_finish(xid),
    chat_rollup_backfill_abandon()
    FROM chatstats_api;
GRANT EXECUTE ON ROUTINE
    chat_rollup_backfill_clear(),
    chat_rollup_backfill_start(bigint, integer),
    chat_rollup_backfill_block(timestamptz, timestamptz),
    chat_rollup_backfill_finish(xid),
    chat_rollup_backfill_abandon()
    TO chatstats_rollup;
