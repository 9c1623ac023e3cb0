-- Back to 0022: the identifier read from models.model_id.
CREATE OR REPLACE FUNCTION chat_model_stats(p_provider_id integer, p_model_id integer, p_start timestamp with time zone, p_end timestamp with time zone)
 RETURNS SETOF model_stats
 LANGUAGE sql
 STABLE
AS $$
    SELECT coalesce(m.id, t.model_id), m.model_id, m.model_name, m.provider_model_id,
           m.provider_id, m.provider_name, m.provider_slug,
           coalesce(t.total_requests, 0),
           coalesce(t.completed_requests, 0),
           coalesce(t.failed_requests, 0),
           coalesce(t.partial_requests, 0),
           coalesce(t.total_input_tokens, 0),
           coalesce(t.total_output_tokens, 0),
           coalesce(t.total_input_tokens + t.total_output_tokens, 0),
           round(t.processing_time_ms_sum / nullif(t.total_requests - t.untimed_requests, 0), 2),
           coalesce(t.total_cost_usd, 0),
           t.p50_processing_time_ms, t.p95_processing_time_ms, t.p99_processing_time_ms,
           coalesce(t.other_requests, 0)
      FROM (SELECT m.id, m.model_id, m.model_name, m.provider_model_id, p.id AS provider_id,
                   p.name AS provider_name, p.slug AS provider_slug
              FROM models m
              LEFT JOIN providers p ON p.id = m.provider_id
             WHERE (p_provider_id IS NULL OR m.provider_id = p_provider_id)
               AND (p_model_id IS NULL OR m.id = p_model_id)) m  -- the catalog rows asked for
      FULL JOIN chat_request_stats(
                    p_start, p_end,
                    CASE WHEN p_model_id IS NOT NULL THEN ARRAY[p_model_id]
                         WHEN p_provider_id IS NOT NULL THEN
                             ARRAY(SELECT id FROM models WHERE provider_id = p_provider_id) END
                ) t ON t.model_id = m.id
     WHERE coalesce(m.id, t.model_id) IS NOT NULL  -- requests without a model: not a model's
       AND (p_model_id IS NOT NULL OR t.total_requests > 0)
     ORDER BY 8 DESC, 1
$$;

CREATE OR REPLACE FUNCTION get_model_request_counts(p_start_date timestamp with time zone DEFAULT NULL::timestamp with time zone, p_end_date timestamp with time zone DEFAULT NULL::timestamp with time zone)
 RETURNS TABLE(model_id integer, model_name text, model_identifier text, provider_name text, provider_slug text, request_count bigint)
 LANGUAGE sql
 STABLE
AS $$
    SELECT t.model_id, m.model_name, m.model_id, p.name, p.slug, t.total_requests
      FROM chat_request_stats(p_start_date, p_end_date, NULL, false) t
      LEFT JOIN models m ON m.id = t.model_id
      LEFT JOIN providers p ON p.id = m.provider_id
     WHERE t.model_id IS NOT NULL
     ORDER BY 6 DESC, 1
$$;

DROP FUNCTION chat_model_catalog();
