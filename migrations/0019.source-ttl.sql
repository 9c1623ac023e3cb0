-- The gateway's own TTL: its cleanup job deletes requests older than 90 days (after
-- copying them into aggregates of its own). Such deletes must not shrink the statistics:
-- rows older than source_ttl (CHATSTATS_SOURCE_TTL_DAYS, set by the refresher and
-- `chatstats migrate`; NULL: no TTL) keep their contribution when deleted, as retention's
-- do, and the raw horizon moves past them (to the UTC midnight after the newest), so that
-- reads take them from the rollups; rows of such an age that were not rolled up yet are
-- rolled up as they go, since no refresh will see them. Deletes of newer rows subtract as
-- before. During a backfill (the store being built) expired rows the backfill has read
-- keep their contribution; the others are not counted.
-- depends: 0018.pieces-count-once

ALTER TABLE chat_rollup_state ADD COLUMN source_ttl interval;
COMMENT ON COLUMN chat_rollup_state.source_ttl IS
    'deleted request rows older than this keep their contribution (the source''s own TTL); NULL: none';

CREATE OR REPLACE FUNCTION chat_rollup_adjust()
RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    st chat_rollup_state;
    retention boolean := current_setting('chatstats.retention', true) IS NOT DISTINCT FROM 'on';
    logging boolean;
    expired_before timestamptz;  -- deleted rows older than this expired (the source's TTL)
    expired_upto timestamptz;    -- the newest of them
BEGIN
    IF TG_OP = 'DELETE' AND NOT retention THEN
        expired_before := (SELECT now() - source_ttl FROM chat_rollup_state);
        expired_upto := (SELECT max(o.created_at) FROM old_rows o WHERE o.created_at < expired_before);
    END IF;
    IF expired_upto IS NULL THEN
        SELECT * INTO st FROM chat_rollup_state FOR SHARE;
    ELSE
        UPDATE chat_rollup_state
           SET raw_horizon = greatest(raw_horizon, chat_rollup_bucket(4, expired_upto) + interval '1 day')
        RETURNING * INTO st;
    END IF;
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
            ARRAY(SELECT chat_rollup_input_of(o) FROM old_rows o
                   WHERE o.created_at < expired_before AND o.id > st.watermark_id AND NOT logging),
            ARRAY(SELECT chat_rollup_input_of(o) FROM old_rows o
                   WHERE o.id <= st.watermark_id AND NOT coalesce(o.created_at < expired_before, false)),
            st);
    END IF;
    IF logging AND NOT (TG_OP = 'DELETE' AND retention) THEN
        INSERT INTO chat_rollup_backfill_log (sign, input)
        SELECT -1, chat_rollup_input_of(o) FROM old_rows o
         WHERE o.id <= st.backfill_upto
           AND NOT (TG_OP = 'DELETE' AND coalesce(o.created_at < expired_before, false));
    END IF;
    RETURN NULL;
END
$$;

-- Sets source_ttl to p_days days (NULL or 0: none); returns whether it changed.
CREATE FUNCTION chat_rollup_set_source_ttl(p_days integer)
RETURNS boolean
LANGUAGE sql AS $$
    WITH changed AS (
        UPDATE chat_rollup_state SET source_ttl = make_interval(days => nullif(p_days, 0))
         WHERE source_ttl IS DISTINCT FROM make_interval(days => nullif(p_days, 0))
        RETURNING 1)
    SELECT EXISTS (SELECT FROM changed)
$$;

-- The API reads; only the rollup job maintains.
REVOKE EXECUTE ON ROUTINE chat_rollup_set_source_ttl(integer) FROM chatstats_api;
GRANT EXECUTE ON ROUTINE chat_rollup_set_source_ttl(integer) TO chatstats_rollup;
