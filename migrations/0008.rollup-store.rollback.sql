-- The old store wakes up empty; its refresh rolls everything up again.
ALTER TABLE chat_completion_requests ENABLE TRIGGER ccr_rollup_update,
    ENABLE TRIGGER ccr_rollup_delete, ENABLE TRIGGER ccr_rollup_truncate;
DROP FUNCTION chat_rollup_horizon(chat_rollup_state, integer);
DROP TABLE chat_rollup_state;
DROP TABLE chat_rollups;
DROP FUNCTION chat_latency_scale(vector, integer);
DROP FUNCTION chat_latency_percentile(real[], real[], float8);
DROP TABLE chat_latency_steps;
DROP FUNCTION chat_latency_bucket(integer);
DROP FUNCTION chat_rollup_bucket(integer, timestamptz);
DROP FUNCTION chat_rollup_top();
DROP FUNCTION chat_rollup_widths();
-- The vector extension goes if this migration created it (and nothing else uses it).
DO $$
BEGIN
    IF obj_description((SELECT oid FROM pg_extension WHERE extname = 'vector'), 'pg_extension')
       = 'chatstats: created by migration 0008.rollup-store' THEN
        DROP EXTENSION vector;
    END IF;
END
$$;
