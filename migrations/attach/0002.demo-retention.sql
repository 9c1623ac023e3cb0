-- chatstats' retention on the demo's request table (migrations/demo/tables.sql, marked by
-- its comment): delete rows older than the raw horizon that the rollups hold, as the
-- first series did. A gateway's rows stay the gateway's (its own TTL job removes them and
-- chatstats keeps their statistics): there it still refuses.
-- depends: 0001.baseline

CREATE OR REPLACE FUNCTION chat_rollup_retain(p_before timestamptz, p_batch_rows integer DEFAULT 10000)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    st chat_rollup_state;
    removed bigint;
BEGIN
    IF obj_description('public.chat_completion_requests'::regclass, 'pg_class') IS DISTINCT FROM
       'chatstats demo: made by chatstats migrate' THEN
        RAISE EXCEPTION 'chatstats does not delete the gateway''s request rows: its own TTL job removes them '
                        '(and chatstats keeps their statistics)'
              USING ERRCODE = 'feature_not_supported';
    END IF;
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
