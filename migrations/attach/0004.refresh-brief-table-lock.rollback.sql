-- The refresh takes the table lock for its safe id again, waiting as long as it is told.

CREATE OR REPLACE PROCEDURE chat_rollup_refresh(IN p_batch_rows bigint DEFAULT 250000, IN p_lock_timeout_ms integer DEFAULT 200, INOUT rolled_up bigint DEFAULT NULL::bigint, INOUT caught_up boolean DEFAULT NULL::boolean)
    LANGUAGE plpgsql
    AS $$
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

DROP FUNCTION chat_rollup_safe_id(integer);
