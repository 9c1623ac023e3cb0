DROP FUNCTION chat_request_totals(timestamptz, timestamptz, integer);
DROP FUNCTION chat_request_totals_rollup(timestamptz, timestamptz, integer);
DROP FUNCTION chat_request_rollup_partials(timestamptz, timestamptz, integer);
DROP FUNCTION chat_request_raw_sums(timestamptz, timestamptz, bigint, bigint, integer);
DROP TYPE chat_request_sums;
DROP FUNCTION chat_request_range_parts(timestamptz, timestamptz);
ALTER FUNCTION chat_request_totals_raw(timestamptz, timestamptz, integer)
    RENAME TO chat_request_totals;
