ALTER TABLE chat_completion_requests DROP CONSTRAINT ccr_created_at_finite;
ALTER TABLE models DROP CONSTRAINT models_id_positive;
DROP TABLE chat_request_rollup_state;
DROP TABLE chat_request_rollups;
DROP FUNCTION chat_request_rollup_grains();
