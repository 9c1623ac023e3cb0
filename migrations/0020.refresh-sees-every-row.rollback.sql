-- Back to 0019: 0009's fold and lag, which count what the caller sees.
CREATE OR REPLACE FUNCTION chat_rollup_fold(p_after bigint, p_upto bigint, p_state chat_rollup_state)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    added chat_rollup_input[] := ARRAY(
        SELECT chat_rollup_input_of(c) FROM chat_completion_requests c
         WHERE c.id > p_after AND c.id <= p_upto);
BEGIN
    PERFORM chat_rollup_apply(added, '{}', p_state);
    RETURN cardinality(added);
END
$$;

CREATE OR REPLACE FUNCTION chat_rollup_lag(
    OUT lag_rows bigint, OUT lag_seconds numeric, OUT watermark_id bigint, OUT refreshed_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT t.n,
           CASE WHEN t.n = 0 THEN 0
                ELSE round(extract(epoch FROM now() - s.refreshed_at), 3) END,
           s.watermark_id, s.refreshed_at
      FROM chat_rollup_state s,
           LATERAL (SELECT count(*) AS n FROM chat_completion_requests c
                     WHERE c.id > s.watermark_id) t
$$;

DROP FUNCTION chat_rollup_check_seen(bigint, bigint, bigint);
DROP FUNCTION chat_rollup_source_count(bigint, bigint);
REVOKE EXECUTE ON FUNCTION chat_rollup_ceil(integer, timestamptz) FROM chatstats_rollup;
