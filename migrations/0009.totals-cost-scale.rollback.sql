-- Back to 0005's definition.
CREATE OR REPLACE FUNCTION chat_request_totals(
    p_start timestamptz DEFAULT NULL,
    p_end timestamptz DEFAULT NULL,
    p_model_id integer DEFAULT NULL)
RETURNS SETOF chat_request_total
LANGUAGE sql STABLE AS $$
    SELECT * FROM chat_request_totals_raw(p_start, p_end, p_model_id)
     WHERE current_setting('chatstats.stats_source', true) = 'raw'
    UNION ALL
    SELECT * FROM chat_request_totals_rollup(p_start, p_end, p_model_id)
     WHERE current_setting('chatstats.stats_source', true) IS DISTINCT FROM 'raw'
$$;
