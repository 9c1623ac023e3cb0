-- Back to 0010: every provider, with zeros for those without requests.
DROP FUNCTION get_model_request_counts(timestamptz, timestamptz);

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
      LEFT JOIN chat_request_stats(p_start_date, p_end_date, NULL, false) t ON t.model_id = m.id
     GROUP BY p.id
     ORDER BY 5 DESC, p.id
$$;
