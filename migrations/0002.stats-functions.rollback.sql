DROP FUNCTION get_model_request_stats(integer, timestamptz, timestamptz);
DROP FUNCTION get_models_with_requests_by_provider(integer, timestamptz, timestamptz);
DROP FUNCTION get_models_with_requests(timestamptz, timestamptz);
DROP FUNCTION get_unattributed_request_count(timestamptz, timestamptz);
DROP FUNCTION get_provider_request_stats(timestamptz, timestamptz);
DROP FUNCTION chat_model_stats(integer, integer, timestamptz, timestamptz);
DROP TYPE model_stats;
DROP FUNCTION chat_request_totals(timestamptz, timestamptz, integer);
DROP TYPE chat_request_total;
