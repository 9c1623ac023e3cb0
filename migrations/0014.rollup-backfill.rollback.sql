-- Back to 0013: histories are rolled up by the refresh alone; a backfill in progress is
-- dropped with its tables (the store stays empty, the refresh fills it).
DROP FUNCTION chat_rollup_backfill_abandon();
DROP FUNCTION chat_rollup_backfill_finish(xid);
DROP FUNCTION chat_rollup_backfill_block(timestamptz, timestamptz);
DROP FUNCTION chat_rollup_backfill_start(bigint, integer);
DROP FUNCTION chat_rollup_backfill_clear();

-- 0009's definition again.
CREATE OR REPLACE FUNCTION chat_rollup_adjust()
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

DROP TABLE chat_rollup_backfill_log, chat_rollup_backfill_blocks, chat_rollup_backfill_sums;
ALTER TABLE chat_rollup_state DROP COLUMN backfill_upto;
