-- Back to 0018: every delete but retention's subtracts (0014's trigger).
DROP FUNCTION chat_rollup_set_source_ttl(integer);

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

ALTER TABLE chat_rollup_state DROP COLUMN source_ttl;
