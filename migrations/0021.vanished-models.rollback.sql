-- Back to 0020: the statistics join the catalog (0010's chat_model_stats, 0015's provider stats, 0011's counts).
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
           coalesce(t.total_cost_usd, 0),
           t.p50_processing_time_ms, t.p95_processing_time_ms, t.p99_processing_time_ms
      FROM models m
      JOIN providers p ON p.id = m.provider_id
      LEFT JOIN chat_request_stats(
                    p_start, p_end,
                    CASE WHEN p_model_id IS NOT NULL THEN ARRAY[p_model_id]
                         WHEN p_provider_id IS NOT NULL THEN
                             ARRAY(SELECT id FROM models WHERE provider_id = p_provider_id) END
                ) t ON t.model_id = m.id
     WHERE (p_provider_id IS NULL OR m.provider_id = p_provider_id)
       AND (p_model_id IS NULL OR m.id = p_model_id)
       AND (p_model_id IS NOT NULL OR t.total_requests > 0)
     ORDER BY 8 DESC, m.id
$$;

CREATE OR REPLACE FUNCTION chat_provider_request_stats(
    p_start_date timestamptz DEFAULT NULL,
    p_end_date timestamptz DEFAULT NULL)
RETURNS TABLE (
    unattributed_requests bigint,
    provider_id integer,
    name text,
    slug text,
    models_with_requests bigint,
    total_requests bigint)
LANGUAGE sql STABLE AS $$
    WITH t AS MATERIALIZED (SELECT * FROM chat_request_stats(p_start_date, p_end_date, NULL, false))
    SELECT u.n, s.*
      FROM (SELECT coalesce(sum(t.total_requests), 0)::bigint AS n FROM t WHERE t.model_id IS NULL) u
      LEFT JOIN (SELECT p.id, p.name, p.slug, count(*), sum(t.total_requests)::bigint AS total_requests
                   FROM t
                   JOIN models m ON m.id = t.model_id
                   JOIN providers p ON p.id = m.provider_id
                  GROUP BY p.id) s ON true
     ORDER BY s.total_requests DESC, s.id
$$;

CREATE OR REPLACE FUNCTION get_model_request_counts(
    p_start_date timestamptz DEFAULT NULL,
    p_end_date timestamptz DEFAULT NULL)
RETURNS TABLE (
    model_id integer,
    model_name text,
    model_identifier text,
    provider_name text,
    provider_slug text,
    request_count bigint)
LANGUAGE sql STABLE AS $$
    SELECT m.id, m.model_name, m.model_id, p.name, p.slug, t.total_requests
      FROM chat_request_stats(p_start_date, p_end_date, NULL, false) t
      JOIN models m ON m.id = t.model_id
      JOIN providers p ON p.id = m.provider_id
     ORDER BY 6 DESC, 1
$$;
