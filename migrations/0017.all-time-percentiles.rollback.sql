-- Back to 0016: all-time percentiles searched in the histograms at every read.
DROP TRIGGER chat_rollups_keep_percentiles ON chat_rollups;
DROP FUNCTION chat_rollup_keep_percentiles();
ALTER TABLE chat_rollups DROP COLUMN latency_percentiles;
REVOKE EXECUTE ON ROUTINE
    chat_histogram_values(vector, vector), chat_latency_percentile(float8[], float8[], float8)
    FROM chatstats_rollup;

-- 0016's.
CREATE OR REPLACE FUNCTION chat_request_stats_rollup(
    p_start timestamptz, p_end timestamptz, p_model_ids integer[], p_latency boolean)
RETURNS SETOF chat_request_stat
LANGUAGE plpgsql STABLE ROWS 500 AS $$
BEGIN
    RETURN QUERY
    SELECT nullif(s.id, 0)::integer, s.completed + s.failed + s.partial, s.completed, s.failed,
           s.partial, s.input_tokens, s.output_tokens, s.processing_time_ms, s.cost_usd,
           chat_latency_percentile(s.main, s.over, 0.5),
           chat_latency_percentile(s.main, s.over, 0.95),
           chat_latency_percentile(s.main, s.over, 0.99)
      FROM (SELECT t.*, chat_histogram_values(t.latency, t.latency_hi) AS main,
                   chat_histogram_values(t.latency_over, t.latency_over_hi) AS over
              FROM chat_rollup_sums(p_start, p_end, p_model_ids, p_latency) t
            OFFSET 0) s  -- each histogram converted once, then searched three times
     WHERE s.completed + s.failed + s.partial > 0;
END
$$;
