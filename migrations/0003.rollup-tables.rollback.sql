ALTER TABLE chat_completion_requests DROP CONSTRAINT ccr_created_at_finite;
DROP TABLE chat_request_rollup_state;
DROP TABLE chat_request_rollups;
DROP FUNCTION chat_request_rollup_grains();
