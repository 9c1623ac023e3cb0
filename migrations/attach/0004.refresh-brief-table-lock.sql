-- The refresh's safe id never holds the gateway's inserts back for long. It tries the
-- table lock as before (the writers' transactions end, max(id) is safe), waiting at
-- most 5 ms for it: while it waits, new inserts queue behind it. Mostly no writer is
-- mid-transaction and the lock is free at once. Where one is slow (an open transaction
-- of the gateway's), it waits without a lock instead: the ids the sequence has handed
-- out, once every transaction then writing to the table has ended. An insert locks the
-- table before it takes its id, so a transaction holding an id up to that value either
-- has ended or holds that lock then; waiting for those ends (pg_locks, at most
-- p_wait_ms) leaves every such id committed or gone. Where ids do not all come from a
-- sequence handing them out one at a time (a cache, explicit ids beyond it), that way is
-- closed and the refresh waits for its next turn, as before. Before, a slow writer made
-- every insert wait behind the refresh's lock request for up to 200 ms (1.5 s once the
-- refresher had been kept waiting). The backfill keeps the lock: it holds it until its
-- first fold commits.
-- depends: 0003.rollup-role-reads-requests-only

CREATE FUNCTION chat_rollup_safe_id(p_wait_ms integer) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    requests regclass := 'chat_completion_requests'::regclass;
    ids regclass := pg_get_serial_sequence('chat_completion_requests', 'id')::regclass;
    issued bigint;
    top bigint;
    writers text[];
    deadline timestamptz := clock_timestamp() + make_interval(secs => p_wait_ms / 1000.0);
    pause float8 := 0.001;
BEGIN
    issued := chat_request_rollup_safe_id(least(p_wait_ms, 5));
    IF issued IS NOT NULL OR ids IS NULL OR (SELECT seqcache FROM pg_sequence WHERE seqrelid = ids) <> 1 THEN
        RETURN issued;
    END IF;
    -- every id committed by now was handed out before: none above the sequence's value
    -- but explicit ones (read in this order, or rows committed meanwhile would count)
    top := coalesce((SELECT max(id) FROM chat_completion_requests), 0);
    issued := pg_sequence_last_value(ids);  -- NULL before the first
    IF issued IS NULL OR issued < top THEN
        RETURN NULL;
    END IF;
    writers := ARRAY(SELECT virtualtransaction FROM pg_locks
                      WHERE locktype = 'relation' AND relation = requests AND mode = 'RowExclusiveLock'
                        AND granted AND pid IS DISTINCT FROM pg_backend_pid());
    -- (pg_locks takes the lock manager's locks to read: ask again after 1, 2, 4... ms)
    WHILE cardinality(writers) > 0 AND EXISTS (
            SELECT FROM pg_locks WHERE locktype = 'relation' AND relation = requests
                                   AND virtualtransaction = ANY (writers)) LOOP
        IF clock_timestamp() > deadline THEN
            RETURN NULL;
        END IF;
        PERFORM pg_sleep(pause);
        pause := least(pause * 2, 0.05);
    END LOOP;
    RETURN issued;
END
$$;
REVOKE EXECUTE ON FUNCTION chat_rollup_safe_id(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION chat_rollup_safe_id(integer) TO chatstats_rollup;

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
    last_id := chat_rollup_safe_id(p_lock_timeout_ms);
    IF last_id IS NULL THEN
        RETURN;  -- writers are slow to finish; answers stay exact through the tail meanwhile
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
