-- Costs always with 6 decimals. The raw sum of only-NULL costs is 0, but a rollup
-- bucket once holding costs keeps the scale of its sum (0.000000) after those rows
-- were deleted or moved: the same number, a different JSON string ("0" vs
-- "0.000000"). Rounding both sources to the column's scale makes them identical.
-- depends: 0008.models-positive-ids

CREATE OR REPLACE FUNCTION chat_request_totals(
    p_start timestamptz DEFAULT NULL,
    p_end timestamptz DEFAULT NULL,
    p_model_id integer DEFAULT NULL)
RETURNS SETOF chat_request_total
LANGUAGE sql STABLE AS $$
    SELECT t.model_id, t.total_requests, t.completed_requests, t.failed_requests,
           t.partial_requests, t.total_input_tokens, t.total_output_tokens,
           t.processing_time_ms_sum, round(t.total_cost_usd, 6)
      FROM (SELECT * FROM chat_request_totals_raw(p_start, p_end, p_model_id)
             WHERE current_setting('chatstats.stats_source', true) = 'raw'
            UNION ALL
            SELECT * FROM chat_request_totals_rollup(p_start, p_end, p_model_id)
             WHERE current_setting('chatstats.stats_source', true) IS DISTINCT FROM 'raw') t
$$;
