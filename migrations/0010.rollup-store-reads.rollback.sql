-- Back to the bodies of 0002 (through chat_request_totals(), the old store's name).
ALTER TYPE model_stats
    DROP ATTRIBUTE p50_processing_time_ms,
    DROP ATTRIBUTE p95_processing_time_ms,
    DROP ATTRIBUTE p99_processing_time_ms;

CREATE OR REPLACE FUNCTION chat_model_stats(
    p_provider_id integer,
    p_model_id integer,
    p_start timestamptz,
    p_end timestamptz)
RETURNS SETOF model_stats
LANGUAGE sql STABLE AS $$
    SELECT m.id, m.model_id, m.model_name, m.provider_model_id,
           p.id, p.name, p.slug,
           coalesce(t.total_requests, 0),
           coalesce(t.completed_requests, 0),
           coalesce(t.failed_requests, 0),
           coalesce(t.partial_requests, 0),
           coalesce(t.total_input_tokens, 0),
           coalesce(t.total_output_tokens, 0),
           coalesce(t.total_input_tokens + t.total_output_tokens, 0),
           round(t.processing_time_ms_sum::numeric / nullif(t.total_requests, 0), 2),
           coalesce(t.total_cost_usd, 0)
      FROM models m
      JOIN providers p ON p.id = m.provider_id
      LEFT JOIN chat_request_totals(p_start, p_end, p_model_id) t ON t.model_id = m.id
     WHERE (p_provider_id IS NULL OR m.provider_id = p_provider_id)
       AND (p_model_id IS NULL OR m.id = p_model_id)
       AND (p_model_id IS NOT NULL OR t.total_requests > 0)
     ORDER BY 8 DESC, m.id
$$;

CREATE OR REPLACE FUNCTION get_provider_request_stats(
    p_start_date timestamptz DEFAULT NULL,
    p_end_date timestamptz DEFAULT NULL)
RETURNS TABLE (
    provider_id integer,
    name text,
    slug text,
    models_with_requests bigint,
    total_requests bigint)
LANGUAGE sql STABLE AS $$
    SELECT p.id, p.name, p.slug,
           count(t.model_id),
           coalesce(sum(t.total_requests), 0)::bigint
      FROM providers p
      LEFT JOIN models m ON m.provider_id = p.id
      LEFT JOIN chat_request_totals(p_start_date, p_end_date) t ON t.model_id = m.id
     GROUP BY p.id
     ORDER BY 5 DESC, p.id
$$;

CREATE OR REPLACE FUNCTION get_unattributed_request_count(
    p_start_date timestamptz DEFAULT NULL,
    p_end_date timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(t.total_requests), 0)::bigint
      FROM chat_request_totals(p_start_date, p_end_date) t
     WHERE t.model_id IS NULL
$$;

DROP FUNCTION chat_request_stats(timestamptz, timestamptz, integer[], boolean);
DROP FUNCTION chat_request_stats_rollup(timestamptz, timestamptz, integer[], boolean);
DROP FUNCTION chat_request_stats_raw(timestamptz, timestamptz, integer[], boolean);
DROP TYPE chat_request_stat;
DROP FUNCTION chat_rollup_sums(timestamptz, timestamptz, integer[], boolean);
DROP FUNCTION chat_rollup_raw(timestamptz, timestamptz, boolean, integer[]);
DROP FUNCTION chat_rollup_effective_range(timestamptz, timestamptz);
DROP FUNCTION chat_rollup_pieces(timestamptz, timestamptz);
DROP FUNCTION chat_rollup_ceil(integer, timestamptz);
