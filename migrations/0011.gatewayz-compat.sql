-- Compatibility with gatewayz's monitoring clients: the light per-model request counts
-- of /counts, and providers listed only when they had requests in the range (upstream's
-- function joins inner; zero rows were clutter on its pages). Both read the rollup
-- store through chat_request_stats() without latency histograms, so their cost grows
-- with the models that had traffic, not with the requests.
-- depends: 0010.rollup-store-reads

-- Requests per model over [p_start_date, p_end_date), busiest first; requests without a
-- model are not counted here (get_unattributed_request_count() does).
CREATE FUNCTION get_model_request_counts(
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

-- Providers with at least one request in the range, busiest first (chat_request_stats()
-- yields only models with requests).
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
    SELECT p.id, p.name, p.slug, count(*), sum(t.total_requests)::bigint
      FROM chat_request_stats(p_start_date, p_end_date, NULL, false) t
      JOIN models m ON m.id = t.model_id
      JOIN providers p ON p.id = m.provider_id
     GROUP BY p.id
     ORDER BY 5 DESC, p.id
$$;
