-- One family of refresh functions: the safe id under the table lock, the last name left
-- of the first rollup store's (chat_request_rollup_*), becomes chat_rollup_lock_top_id
-- (it locks the request table against writers and returns its top id). Its two callers,
-- the refresh's safe id and the backfill's start, call it by that name; nothing else
-- changes.
-- depends: 0004.refresh-brief-table-lock

ALTER FUNCTION chat_request_rollup_safe_id(integer) RENAME TO chat_rollup_lock_top_id;

CREATE OR REPLACE FUNCTION chat_rollup_safe_id(p_wait_ms integer) RETURNS bigint
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
    issued := chat_rollup_lock_top_id(least(p_wait_ms, 5));
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

CREATE OR REPLACE FUNCTION chat_rollup_backfill_start(p_min_rows bigint, p_lock_timeout_ms integer, OUT started boolean, OUT state_version xid, OUT bounds timestamp with time zone[]) RETURNS record
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
        upto := chat_rollup_lock_top_id(p_lock_timeout_ms);  -- no writer runs now, until commit
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
