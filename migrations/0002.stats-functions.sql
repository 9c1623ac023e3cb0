-- Statistics functions: every endpoint's numbers come from chat_request_totals().
-- Ranges are [p_start, p_end); NULL means unbounded.
-- depends: 0001.schema

-- One model's totals (model_id NULL: the requests whose model did not resolve).
CREATE TYPE chat_request_total AS (
    model_id integer,
    total_requests bigint,
    completed_requests bigint,
    failed_requests bigint,
    partial_requests bigint,
    total_input_tokens bigint,
    total_output_tokens bigint,
    processing_time_ms_sum bigint,
    total_cost_usd numeric);

-- Per-model totals over [p_start, p_end), optionally of one model.
CREATE FUNCTION chat_request_totals(
    p_start timestamptz DEFAULT NULL,
    p_end timestamptz DEFAULT NULL,
    p_model_id integer DEFAULT NULL)
RETURNS SETOF chat_request_total
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT r.model_id,
           count(*),
           count(*) FILTER (WHERE r.status = 'completed'),
           count(*) FILTER (WHERE r.status = 'failed'),
           count(*) FILTER (WHERE r.status = 'partial'),
           sum(r.input_tokens)::bigint,
           sum(r.output_tokens)::bigint,
           sum(r.processing_time_ms)::bigint,
           coalesce(sum(r.cost_usd), 0)
      FROM chat_completion_requests r
     WHERE (p_start IS NULL OR r.created_at >= p_start)
       AND (p_end IS NULL OR r.created_at < p_end)
       AND (p_model_id IS NULL OR r.model_id = p_model_id)
     GROUP BY r.model_id
$$;

-- One model's row as every model endpoint returns it.
CREATE TYPE model_stats AS (
    model_id integer,
    model_identifier text,
    model_name text,
    provider_model_id text,
    provider_id integer,
    provider_name text,
    provider_slug text,
    total_requests bigint,
    completed_requests bigint,
    failed_requests bigint,
    partial_requests bigint,
    total_input_tokens bigint,
    total_output_tokens bigint,
    total_tokens bigint,
    avg_processing_time_ms numeric,
    total_cost_usd numeric);

-- With p_model_id the model is returned even when it has no requests (zeros);
-- otherwise only models with requests, busiest first.
CREATE FUNCTION chat_model_stats(
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

CREATE FUNCTION get_provider_request_stats(
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

-- Requests whose model_id is NULL: counted here, never silently dropped.
CREATE FUNCTION get_unattributed_request_count(
    p_start_date timestamptz DEFAULT NULL,
    p_end_date timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(t.total_requests), 0)::bigint
      FROM chat_request_totals(p_start_date, p_end_date) t
     WHERE t.model_id IS NULL
$$;

CREATE FUNCTION get_models_with_requests(
    p_start_date timestamptz DEFAULT NULL,
    p_end_date timestamptz DEFAULT NULL)
RETURNS SETOF model_stats
LANGUAGE sql STABLE AS $$
    SELECT * FROM chat_model_stats(NULL, NULL, p_start_date, p_end_date)
$$;

CREATE FUNCTION get_models_with_requests_by_provider(
    p_provider_id integer,
    p_start_date timestamptz DEFAULT NULL,
    p_end_date timestamptz DEFAULT NULL)
RETURNS SETOF model_stats
LANGUAGE sql STABLE AS $$
    SELECT * FROM chat_model_stats(p_provider_id, NULL, p_start_date, p_end_date)
$$;

-- Zeros when the model has no requests; no row when the model does not exist.
CREATE FUNCTION get_model_request_stats(
    p_model_id integer,
    p_start_date timestamptz DEFAULT NULL,
    p_end_date timestamptz DEFAULT NULL)
RETURNS SETOF model_stats
LANGUAGE sql STABLE AS $$
    SELECT * FROM chat_model_stats(NULL, p_model_id, p_start_date, p_end_date)
$$;

GRANT EXECUTE ON FUNCTION
    chat_request_totals(timestamptz, timestamptz, integer),
    chat_model_stats(integer, integer, timestamptz, timestamptz),
    get_provider_request_stats(timestamptz, timestamptz),
    get_unattributed_request_count(timestamptz, timestamptz),
    get_models_with_requests(timestamptz, timestamptz),
    get_models_with_requests_by_provider(integer, timestamptz, timestamptz),
    get_model_request_stats(integer, timestamptz, timestamptz)
    TO PUBLIC;
