DROP FUNCTION chat_rollup_lag();
DROP FUNCTION chat_rollup_retain(timestamptz, integer);
DROP FUNCTION chat_rollup_prune(timestamptz);
DROP TRIGGER ccr_rollup_store_truncate ON chat_completion_requests;
DROP FUNCTION chat_rollup_reset();
DROP TRIGGER ccr_rollup_store_delete ON chat_completion_requests;
DROP TRIGGER ccr_rollup_store_update ON chat_completion_requests;
DROP FUNCTION chat_rollup_adjust();
DROP PROCEDURE chat_rollup_refresh(bigint, integer, bigint, boolean);
DROP FUNCTION chat_rollup_fold(bigint, bigint, chat_rollup_state);
DROP FUNCTION chat_rollup_apply(chat_rollup_input[], chat_rollup_input[], chat_rollup_state);
DROP FUNCTION chat_rollup_deltas(chat_rollup_input[], integer, chat_rollup_state);
DROP FUNCTION chat_rollup_base_bucket(chat_rollup_state, timestamptz);
DROP TYPE chat_rollup_delta;
DROP FUNCTION chat_rollup_input_of(chat_completion_requests);
DROP TYPE chat_rollup_input;
-- Without the triggers the new store would drift from the rows: start over.
TRUNCATE chat_rollups;
UPDATE chat_rollup_state SET watermark_id = 0, refreshed_at = NULL;
