-- Two ways refresh_chat_request_rollups() (0004) moved the watermark past rows it
-- never rolled up, which then vanished from every rollup answer:
-- 1. On an empty table max(id) is NULL and least() ignores NULLs, so the watermark
--    jumped by a whole batch (e.g. a fresh install's refresher thread: the next
--    million inserted rows were never counted).
-- 2. A TRUNCATE ... RESTART IDENTITY between the two phases reset the watermark,
--    but phase 2 then set it back to the old ids, covering the restarted ones.
-- Phase 2 now only works if the state row is the version phase 1 read.
-- depends: 0005.rollup-reads

CREATE OR REPLACE PROCEDURE refresh_chat_request_rollups(
    p_batch_rows bigint DEFAULT 1000000,
    p_lock_timeout_ms integer DEFAULT 200,
    INOUT rolled_up bigint DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    done_upto bigint;
    upto bigint;
    seen xid;
BEGIN
    rolled_up := 0;
    IF NOT pg_try_advisory_xact_lock(hashtext('chatstats.refresh_chat_request_rollups')) THEN
        RETURN;  -- another process is refreshing
    END IF;
    PERFORM set_config('lock_timeout', p_lock_timeout_ms || 'ms', true);
    BEGIN
        LOCK TABLE chat_completion_requests IN SHARE ROW EXCLUSIVE MODE;
    EXCEPTION WHEN lock_not_available THEN
        RETURN;  -- writers are busy; answers stay exact through the tail meanwhile
    END;
    SELECT watermark_id, xmin INTO done_upto, seen FROM chat_request_rollup_state;
    SELECT least(coalesce(max(id), done_upto), done_upto + p_batch_rows) INTO upto
      FROM chat_completion_requests;
    COMMIT;

    -- Another refresh or a TRUNCATE since phase 1 changed the state: leave it to the next call.
    SELECT watermark_id INTO done_upto FROM chat_request_rollup_state
     WHERE xmin = seen FOR UPDATE;
    IF FOUND AND upto > done_upto THEN
        rolled_up := chat_request_rollup_range(done_upto, upto);
        UPDATE chat_request_rollup_state SET watermark_id = upto, refreshed_at = now();
    END IF;
    COMMIT;
END
$$;
