-- Back to the baseline's refusal everywhere.

CREATE OR REPLACE FUNCTION chat_rollup_retain(p_before timestamptz, p_batch_rows integer DEFAULT 10000)
RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'chatstats does not delete the gateway''s request rows: its own TTL job removes them '
                    '(and chatstats keeps their statistics)'
          USING ERRCODE = 'feature_not_supported';
END
$$;
