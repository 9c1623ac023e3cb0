-- Back to 0004's procedure.
CREATE OR REPLACE PROCEDURE refresh_chat_request_rollups(
    p_batch_rows bigint DEFAULT 1000000,
    p_lock_timeout_ms integer DEFAULT 200,
    INOUT rolled_up bigint DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    done_upto bigint;
    upto bigint;
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
    SELECT watermark_id INTO done_upto FROM chat_request_rollup_state;
    SELECT least(max(id), done_upto + p_batch_rows) INTO upto FROM chat_completion_requests;
    COMMIT;

    SELECT watermark_id INTO done_upto FROM chat_request_rollup_state FOR UPDATE;
    IF upto > done_upto THEN
        rolled_up := chat_request_rollup_range(done_upto, upto);
        UPDATE chat_request_rollup_state SET watermark_id = upto, refreshed_at = now();
    END IF;
    COMMIT;
END
$$;
