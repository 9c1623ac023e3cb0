DROP FUNCTION chat_request_rollup_lag();
DROP TRIGGER ccr_rollup_truncate ON chat_completion_requests;
DROP FUNCTION chat_request_rollup_reset();
DROP TRIGGER ccr_rollup_delete ON chat_completion_requests;
DROP TRIGGER ccr_rollup_update ON chat_completion_requests;
DROP FUNCTION chat_request_rollup_adjust();
DROP PROCEDURE refresh_chat_request_rollups(bigint, integer, bigint, boolean);
DROP FUNCTION chat_request_rollup_safe_id(integer);
DROP FUNCTION chat_request_rollup_range(bigint, bigint);
DROP FUNCTION chat_request_rollup_add(chat_request_rollup_delta[]);
DROP FUNCTION chat_request_rollup_delta_of(chat_completion_requests, integer);
DROP TYPE chat_request_rollup_delta;
DROP FUNCTION chat_request_bucket(interval, timestamptz);
-- Without the triggers, the rollups would drift from the rows: start over.
TRUNCATE chat_request_rollups;
UPDATE chat_request_rollup_state SET watermark_id = 0, refreshed_at = NULL;
