-- Every model over all time (the seed's default question, and gatewayz's /models without
-- dates) without a histogram to sum: each model's all-time row keeps the p50, p95 and
-- p99 of its histogram, recomputed by a trigger whenever the row is written (the refresh,
-- writers' updates and deletes, the backfill's copy). An all-time read takes them for
-- the models with no request waiting for the refresh and sums histograms for the others
-- only, as for any range. The percentiles are those the histogram gives (the same
-- function searches it), so the answers do not change: they cost less. And the reads'
-- statements are planned once a session (below).
-- depends: 0016.exact-histograms

ALTER TABLE chat_rollups ADD COLUMN latency_percentiles numeric[];
COMMENT ON COLUMN chat_rollups.latency_percentiles IS
    'p50, p95 and p99 of the histogram (latency + latency_hi, latency_over + latency_over_hi); '
    'kept on the models'' all-time rows only';

CREATE FUNCTION chat_rollup_keep_percentiles()
RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    main float8[] := chat_histogram_values(NEW.latency, NEW.latency_hi);
    over float8[] := chat_histogram_values(NEW.latency_over, NEW.latency_over_hi);
BEGIN
    NEW.latency_percentiles := ARRAY[chat_latency_percentile(main, over, 0.5),
                                     chat_latency_percentile(main, over, 0.95),
                                     chat_latency_percentile(main, over, 0.99)];
    RETURN NEW;
END
$$;

CREATE TRIGGER chat_rollups_keep_percentiles BEFORE INSERT OR UPDATE ON chat_rollups
    FOR EACH ROW WHEN (NEW.level = chat_rollup_top() AND NEW.dim = 'm')
    EXECUTE FUNCTION chat_rollup_keep_percentiles();

UPDATE chat_rollups SET latency_percentiles = NULL  -- the trigger computes them
 WHERE level = chat_rollup_top() AND dim = 'm';

-- As 0016's; over all time, the kept percentiles where no request of the model waits.
-- Its statements are planned once a session: with the default plan cache mode PL/pgSQL
-- kept planning them again at every call (the inlined series), ~1.2 ms of every answer
-- (measured side by side on both bench shapes, every range, the same answers).
CREATE OR REPLACE FUNCTION chat_request_stats_rollup(
    p_start timestamptz, p_end timestamptz, p_model_ids integer[], p_latency boolean)
RETURNS SETOF chat_request_stat
LANGUAGE plpgsql STABLE ROWS 500
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    waiting integer[];  -- all time: the models whose requests not rolled up yet count too
BEGIN
    IF p_latency AND p_start IS NULL AND p_end IS NULL THEN
        waiting := ARRAY(
            SELECT DISTINCT coalesce(r.model_id, 0) FROM chat_completion_requests r
             WHERE r.id > (SELECT watermark_id FROM chat_rollup_state)
               AND (p_model_ids IS NULL OR coalesce(r.model_id, 0) = ANY (p_model_ids)));
        RETURN QUERY
        SELECT nullif(s.id, 0)::integer, s.completed + s.failed + s.partial, s.completed, s.failed,
               s.partial, s.input_tokens, s.output_tokens, s.processing_time_ms, s.cost_usd,
               coalesce(h.p[1], k.latency_percentiles[1]), coalesce(h.p[2], k.latency_percentiles[2]),
               coalesce(h.p[3], k.latency_percentiles[3])
          FROM chat_rollup_sums(NULL, NULL, p_model_ids, false) s
          LEFT JOIN (SELECT t.id, ARRAY[chat_latency_percentile(t.main, t.over, 0.5),
                                        chat_latency_percentile(t.main, t.over, 0.95),
                                        chat_latency_percentile(t.main, t.over, 0.99)] AS p
                       FROM (SELECT t.id, chat_histogram_values(t.latency, t.latency_hi) AS main,
                                    chat_histogram_values(t.latency_over, t.latency_over_hi) AS over
                               FROM chat_rollup_sums(NULL, NULL, waiting, true) t
                              WHERE cardinality(waiting) > 0
                             OFFSET 0) t) h ON h.id = s.id
          LEFT JOIN chat_rollups k
            ON h.id IS NULL AND k.level = chat_rollup_top() AND k.dim = 'm' AND k.bucket = '-infinity'
           AND k.id = s.id
         WHERE s.completed + s.failed + s.partial > 0;
        RETURN;
    END IF;
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

-- The rollup job and the writers (whose updates and deletes adjust the store) write
-- all-time rows.
GRANT EXECUTE ON ROUTINE
    chat_rollup_keep_percentiles(), chat_histogram_values(vector, vector),
    chat_latency_percentile(float8[], float8[], float8)
    TO chatstats_rollup;
