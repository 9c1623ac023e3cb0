-- What a fresh migration defines in a demo database (the demo's gateway tables in public, chatstats in schema chatstats),
-- made by `make schema-snapshot`: edit the migrations, not this.
--
-- PostgreSQL database dump
--



SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET transaction_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: chatstats; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA chatstats;


--
-- Name: vector; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public;


--
-- Name: EXTENSION vector; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON EXTENSION vector IS 'vector data type and ivfflat and hnsw access methods';


--
-- Name: chat_request_group; Type: TYPE; Schema: chatstats; Owner: -
--

CREATE TYPE chatstats.chat_request_group AS (
	slot timestamp with time zone,
	kind text,
	group_id bigint,
	completed_requests bigint,
	failed_requests bigint,
	partial_requests bigint,
	total_input_tokens bigint,
	total_output_tokens bigint,
	processing_time_ms_sum numeric,
	total_cost_usd numeric,
	p50_processing_time_ms numeric,
	p95_processing_time_ms numeric,
	p99_processing_time_ms numeric,
	other_requests bigint,
	untimed_requests bigint
);


--
-- Name: chat_request_stat; Type: TYPE; Schema: chatstats; Owner: -
--

CREATE TYPE chatstats.chat_request_stat AS (
	model_id integer,
	total_requests bigint,
	completed_requests bigint,
	failed_requests bigint,
	partial_requests bigint,
	total_input_tokens bigint,
	total_output_tokens bigint,
	processing_time_ms_sum numeric,
	total_cost_usd numeric,
	p50_processing_time_ms numeric,
	p95_processing_time_ms numeric,
	p99_processing_time_ms numeric,
	other_requests bigint,
	untimed_requests bigint
);


--
-- Name: chat_rollup_delta; Type: TYPE; Schema: chatstats; Owner: -
--

CREATE TYPE chatstats.chat_rollup_delta AS (
	bucket timestamp with time zone,
	id bigint,
	completed bigint,
	failed bigint,
	partial bigint,
	input_tokens bigint,
	output_tokens bigint,
	processing_time_ms numeric,
	cost_usd numeric,
	latency public.vector,
	latency_over public.vector,
	dim "char",
	latency_hi public.vector,
	latency_over_hi public.vector,
	other bigint,
	untimed bigint
);


--
-- Name: chat_rollup_input; Type: TYPE; Schema: chatstats; Owner: -
--

CREATE TYPE chatstats.chat_rollup_input AS (
	created_at timestamp with time zone,
	model_id integer,
	status text,
	input_tokens bigint,
	output_tokens bigint,
	processing_time_ms numeric,
	cost_usd numeric,
	api_key_id bigint,
	user_id bigint
);


--
-- Name: model_stats; Type: TYPE; Schema: chatstats; Owner: -
--

CREATE TYPE chatstats.model_stats AS (
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
	total_cost_usd numeric,
	p50_processing_time_ms numeric,
	p95_processing_time_ms numeric,
	p99_processing_time_ms numeric,
	other_requests bigint
);


--
-- Name: api_key_lookup(text); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.api_key_lookup(p_prefix text) RETURNS TABLE(id bigint, name text, key_hash bytea)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'chatstats', 'public'
    AS $$
    SELECT k.id, k.name, k.key_hash FROM api_keys k
     WHERE k.prefix = p_prefix AND k.revoked_at IS NULL
$$;


--
-- Name: api_key_touch(bigint); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.api_key_touch(p_id bigint) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'chatstats', 'public'
    AS $$
    UPDATE api_keys SET last_used_at = now() WHERE id = p_id AND revoked_at IS NULL
$$;


--
-- Name: api_keys_active(); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.api_keys_active() RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'chatstats', 'public'
    AS $$
    SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL)
$$;


--
-- Name: change_outside(text, text); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.change_outside(made text, undo text) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    EXECUTE made;
    INSERT INTO chatstats.outside_changes (made, undo) VALUES (made, undo);
END
$$;


--
-- Name: chat_histogram(public.vector, public.vector, bigint, double precision[], boolean); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_histogram(p_pos public.vector, p_neg public.vector, p_narrow_rows bigint, p_wide double precision[], p_hi boolean) RETURNS public.vector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE WHEN p_wide IS NOT NULL OR p_narrow_rows > 16777216
                THEN chat_histogram_wide(p_pos, p_neg, p_narrow_rows, p_wide, p_hi)
                WHEN p_hi THEN NULL
                WHEN p_neg IS NULL THEN p_pos
                WHEN p_pos IS NULL THEN chat_latency_scale(p_neg, -1)
                ELSE p_pos - p_neg END
$$;


--
-- Name: chat_histogram_accum(double precision[], public.vector, public.vector, integer); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_histogram_accum(p_state double precision[], p_lo public.vector, p_hi public.vector, p_sign integer) RETURNS double precision[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
BEGIN
    IF p_lo IS NULL AND p_hi IS NULL THEN
        RETURN p_state;
    END IF;
    p_state := coalesce(p_state, '{0}');
    IF p_lo IS NOT NULL THEN
        p_state := vector_accum(p_state, chat_latency_scale(p_lo, p_sign));
    END IF;
    IF p_hi IS NOT NULL THEN
        p_state := vector_accum(p_state, chat_latency_scale(p_hi, p_sign));
    END IF;
    RETURN p_state;
END
$$;


--
-- Name: chat_histogram_narrow(public.vector, public.vector, bigint); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_histogram_narrow(p_hi public.vector, p_over_hi public.vector, p_requests bigint) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT p_hi IS NULL AND p_over_hi IS NULL AND p_requests <= chat_histogram_narrow_limit()
$$;


--
-- Name: chat_histogram_narrow_limit(); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_histogram_narrow_limit() RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT 4194304::bigint
$$;


--
-- Name: chat_histogram_plus(public.vector, public.vector, public.vector, boolean); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_histogram_plus(p_lo public.vector, p_hi public.vector, p_delta public.vector, p_hi_part boolean) RETURNS public.vector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT chat_histogram_split(chat_histogram_accum(chat_histogram_accum('{0}', p_lo, p_hi, 1), p_delta, NULL, 1),
                                p_hi_part)
$$;


--
-- Name: chat_histogram_split(double precision[], boolean); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_histogram_split(p_state double precision[], p_hi boolean) RETURNS public.vector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE WHEN cardinality(p_state) <= 1 THEN NULL
                WHEN p_hi THEN p_state[2:]::vector
                ELSE (vector_accum(p_state, chat_latency_scale(p_state[2:]::vector, -1)))[2:]::vector END
$$;


--
-- Name: chat_histogram_sum_limit(); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_histogram_sum_limit() RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT 524288::bigint
$$;


--
-- Name: chat_histogram_values(public.vector, public.vector); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_histogram_values(p_lo public.vector, p_hi public.vector) RETURNS double precision[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE WHEN p_hi IS NULL THEN vector_accum('{-1}', p_lo)
                ELSE vector_accum(vector_accum('{-2}', p_lo), p_hi) END
$$;


--
-- Name: chat_histogram_wide(public.vector, public.vector, bigint, double precision[], boolean); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_histogram_wide(p_pos public.vector, p_neg public.vector, p_narrow_rows bigint, p_wide double precision[], p_hi boolean) RETURNS public.vector
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
BEGIN
    IF p_narrow_rows > 16777216 THEN  -- float4 sums of so many requests may have rounded
        RAISE EXCEPTION 'a histogram sum of up to % requests in float4 might not be exact', p_narrow_rows
            USING ERRCODE = 'program_limit_exceeded';
    END IF;
    p_wide := coalesce(p_wide, '{0}');
    IF p_pos IS NOT NULL THEN
        p_wide := vector_accum(p_wide, p_pos);
    END IF;
    IF p_neg IS NOT NULL THEN
        p_wide := vector_accum(p_wide, chat_latency_scale(p_neg, -1));
    END IF;
    RETURN chat_histogram_split(p_wide, p_hi);
END
$$;


--
-- Name: chat_latency_bucket(numeric); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_latency_bucket(p_ms numeric) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE WHEN p_ms < 100 THEN greatest(floor(p_ms / 2), 0)::integer + 1
                WHEN p_ms >= 100  -- (not ELSE: least() would file NULL in the last bucket)
                THEN least(51 + floor(ln(p_ms / 100.0::float8) / ln(1.019794::float8))::integer, 912) END
$$;


--
-- Name: chat_latency_percentile(double precision[], double precision[], double precision); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_latency_percentile(p_latency double precision[], p_over double precision[], p_fraction double precision) RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE
        WHEN p_latency[495] + coalesce(p_over[419], 0) = 0 THEN NULL
        WHEN ceil(p_fraction * (p_latency[495] + coalesce(p_over[419], 0))) > p_latency[495] THEN
            round((100 * 1.019794::float8 ^ (443 + width_bucket(
                ceil(p_fraction * (p_latency[495] + p_over[419])) - 1 - p_latency[495], p_over))
                * 2 * 1.019794 / (1 + 1.019794))::numeric, 2)
        WHEN width_bucket(ceil(p_fraction * (p_latency[495] + coalesce(p_over[419], 0))) - 1,
                          p_latency) < 51 THEN
            2 * width_bucket(ceil(p_fraction * (p_latency[495] + coalesce(p_over[419], 0))) - 1,
                             p_latency) - 1.5
        ELSE
            round((100 * 1.019794::float8 ^ (width_bucket(
                ceil(p_fraction * (p_latency[495] + coalesce(p_over[419], 0))) - 1, p_latency) - 51)
                * 2 * 1.019794 / (1 + 1.019794))::numeric, 2)
    END
$$;


--
-- Name: chat_latency_scale(public.vector, integer); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_latency_scale(p_histogram public.vector, p_k integer) RETURNS public.vector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE WHEN p_k = 1 OR p_histogram IS NULL THEN p_histogram
                ELSE p_histogram * array_fill(p_k::real, ARRAY[vector_dims(p_histogram)])::vector END
$$;


--
-- Name: chat_model_catalog(); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_model_catalog() RETURNS TABLE(id integer, provider_id integer, model_identifier text, model_name text, provider_model_id text)
    LANGUAGE sql STABLE
    AS $$
    SELECT m.id, m.provider_id, coalesce(to_jsonb(m) ->> 'model_id', m.model_name), m.model_name,
           m.provider_model_id
      FROM models m
$$;


--
-- Name: chat_model_stats(integer, integer, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_model_stats(p_provider_id integer, p_model_id integer, p_start timestamp with time zone, p_end timestamp with time zone) RETURNS SETOF chatstats.model_stats
    LANGUAGE sql STABLE
    AS $$
    SELECT coalesce(m.id, t.model_id), m.model_identifier, m.model_name, m.provider_model_id,
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
      FROM (SELECT m.id, m.model_identifier, m.model_name, m.provider_model_id, p.id AS provider_id,
                   p.name AS provider_name, p.slug AS provider_slug
              FROM chat_model_catalog() m
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


--
-- Name: chat_provider_request_stats(timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_provider_request_stats(p_start_date timestamp with time zone DEFAULT NULL::timestamp with time zone, p_end_date timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS TABLE(unattributed_requests bigint, provider_id integer, name text, slug text, models_with_requests bigint, total_requests bigint)
    LANGUAGE sql STABLE
    AS $$
    WITH g AS MATERIALIZED (  -- per provider, and (id NULL) the requests of no known provider
        SELECT p.id, p.name, p.slug, count(*) AS models_with_requests, sum(t.total_requests)::bigint AS total_requests
          FROM chat_request_stats(p_start_date, p_end_date, NULL, false) t
          LEFT JOIN models m ON m.id = t.model_id
          LEFT JOIN providers p ON p.id = m.provider_id
         GROUP BY p.id)
    SELECT coalesce((SELECT g.total_requests FROM g WHERE g.id IS NULL), 0), s.*
      FROM (SELECT 1) one
      LEFT JOIN (SELECT * FROM g WHERE g.id IS NOT NULL) s ON true
     ORDER BY s.total_requests DESC, s.id
$$;


--
-- Name: chat_request_breakdown(timestamp with time zone, timestamp with time zone, text, integer, text, integer[], bigint, bigint, text); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_request_breakdown(p_start timestamp with time zone, p_end timestamp with time zone, p_by text, p_top integer DEFAULT 20, p_order text DEFAULT 'requests'::text, p_model_ids integer[] DEFAULT NULL::integer[], p_api_key_id bigint DEFAULT NULL::bigint, p_user_id bigint DEFAULT NULL::bigint, p_status text DEFAULT NULL::text) RETURNS SETOF chatstats.chat_request_group
    LANGUAGE sql STABLE
    AS $$
    WITH g AS MATERIALIZED (
        SELECT * FROM chat_request_groups(
            ARRAY[coalesce(p_start, '-infinity'), coalesce(p_end, 'infinity')], p_by, p_top, p_order,
            p_model_ids, p_api_key_id, p_user_id, p_status))
    SELECT x.slot, x.kind, x.group_id, x.completed_requests, x.failed_requests, x.partial_requests,
           x.total_input_tokens, x.total_output_tokens, x.processing_time_ms_sum, x.total_cost_usd,
           x.p50_processing_time_ms, x.p95_processing_time_ms, x.p99_processing_time_ms, x.other_requests,
           x.untimed_requests
      FROM (SELECT g.*, 1 AS part FROM g WHERE g.kind = 'group'
            UNION ALL
            SELECT p_start, k.kind, NULL, coalesce(g.completed_requests, 0), coalesce(g.failed_requests, 0),
                   coalesce(g.partial_requests, 0), coalesce(g.total_input_tokens, 0),
                   coalesce(g.total_output_tokens, 0), coalesce(g.processing_time_ms_sum, 0),
                   coalesce(g.total_cost_usd, 0), g.p50_processing_time_ms, g.p95_processing_time_ms,
                   g.p99_processing_time_ms, coalesce(g.other_requests, 0), coalesce(g.untimed_requests, 0),
                   k.part
              FROM (VALUES ('others', 2), ('total', 3)) k (kind, part)
              LEFT JOIN g ON g.kind = k.kind) x
     ORDER BY x.part,
              CASE p_order WHEN 'tokens' THEN x.total_input_tokens::numeric + x.total_output_tokens
                           WHEN 'cost' THEN x.total_cost_usd
                           ELSE (x.completed_requests + x.failed_requests + x.partial_requests + x.other_requests)::numeric
              END DESC, x.group_id NULLS LAST
$$;


--
-- Name: chat_request_first_at(); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_request_first_at() RETURNS timestamp with time zone
    LANGUAGE sql STABLE
    AS $$
    SELECT least((SELECT min(created_at) FROM chat_request_source()),
                 (SELECT min(bucket) FROM chat_rollups
                   WHERE level = 2 AND dim = 'a' AND bucket < (SELECT raw_horizon FROM chat_rollup_state)))
$$;


--
-- Name: chat_request_groups(timestamp with time zone[], text, integer, text, integer[], bigint, bigint, text); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_request_groups(p_bounds timestamp with time zone[], p_by text, p_top integer, p_order text, p_model_ids integer[], p_api_key_id bigint, p_user_id bigint, p_status text) RETURNS SETOF chatstats.chat_request_group
    LANGUAGE plpgsql STABLE ROWS 100
    AS $$
BEGIN
    IF current_setting('chatstats.stats_source', true) IS DISTINCT FROM 'raw'
       AND p_status IS NULL
       AND chat_request_groups_dim(p_by, p_model_ids, p_api_key_id, p_user_id) IS NOT NULL
       AND NOT EXISTS (SELECT FROM unnest(p_bounds[2:cardinality(p_bounds) - 1]) b
                        WHERE date_bin('15 minutes', b, timestamptz '2000-01-01 00:00:00+00') <> b) THEN
        RETURN QUERY SELECT * FROM chat_request_groups_rollup(
            p_bounds, p_by, p_top, p_order, p_model_ids, p_api_key_id, p_user_id);
    ELSE
        RETURN QUERY SELECT * FROM chat_request_groups_raw(
            p_bounds, p_by, p_top, p_order, p_model_ids, p_api_key_id, p_user_id, p_status);
    END IF;
END
$$;


--
-- Name: chat_request_groups_dim(text, integer[], bigint, bigint); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_request_groups_dim(p_by text, p_model_ids integer[], p_api_key_id bigint, p_user_id bigint) RETURNS "char"
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE count(DISTINCT d) WHEN 0 THEN 'a' WHEN 1 THEN min(d) END
      FROM unnest(ARRAY[CASE p_by WHEN 'model' THEN 'm' WHEN 'provider' THEN 'm'
                                  WHEN 'api_key' THEN 'k' WHEN 'user' THEN 'u' END,
                        CASE WHEN p_model_ids IS NOT NULL THEN 'm' END,
                        CASE WHEN p_api_key_id IS NOT NULL THEN 'k' END,
                        CASE WHEN p_user_id IS NOT NULL THEN 'u' END]::"char"[]) d
$$;


--
-- Name: chat_request_groups_ranked("char", timestamp with time zone[], bigint[], text, text, integer); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_request_groups_ranked(p_dim "char", p_bounds timestamp with time zone[], p_ids bigint[], p_by text, p_order text, p_top integer) RETURNS TABLE(g bigint, rank bigint)
    LANGUAGE plpgsql STABLE
    SET plan_cache_mode TO 'force_custom_plan'
    AS $$
BEGIN
    RETURN QUERY
    SELECT r.g, row_number() OVER (ORDER BY r.measure DESC, r.g NULLS LAST)
      FROM (SELECT CASE WHEN p_by = 'provider' THEN (SELECT m.provider_id FROM models m WHERE m.id = s.id)
                        ELSE nullif(s.id, 0) END AS g,
                   CASE p_order WHEN 'tokens' THEN sum(s.input_tokens::numeric + s.output_tokens)
                                WHEN 'cost' THEN sum(s.cost_usd)
                                ELSE sum(s.completed + s.failed + s.partial + s.other) END AS measure
              FROM chat_rollup_series(p_dim, p_bounds, p_ids, false) s
             GROUP BY 1
             ORDER BY 2 DESC, 1 NULLS LAST
             LIMIT p_top) r;
END
$$;


--
-- Name: chat_request_groups_raw(timestamp with time zone[], text, integer, text, integer[], bigint, bigint, text); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_request_groups_raw(p_bounds timestamp with time zone[], p_by text, p_top integer, p_order text, p_model_ids integer[], p_api_key_id bigint, p_user_id bigint, p_status text) RETURNS SETOF chatstats.chat_request_group
    LANGUAGE plpgsql STABLE ROWS 100
    SET plan_cache_mode TO 'force_custom_plan'
    AS $$
BEGIN
    RETURN QUERY
    WITH matching AS MATERIALIZED (
        SELECT p_bounds[width_bucket(c.created_at, p_bounds)] AS slot,
               CASE p_by WHEN 'model' THEN c.model_id
                         WHEN 'provider' THEN (SELECT m.provider_id FROM models m WHERE m.id = c.model_id)
                         WHEN 'api_key' THEN c.api_key_id
                         WHEN 'user' THEN c.user_id END AS g,
               c.status, c.input_tokens, c.output_tokens, c.processing_time_ms, c.cost_usd
          FROM chat_request_source() c
         WHERE c.created_at >= p_bounds[1] AND c.created_at < p_bounds[cardinality(p_bounds)]
           AND (p_model_ids IS NULL OR c.model_id = ANY (p_model_ids))
           AND (p_api_key_id IS NULL OR c.api_key_id = p_api_key_id)
           AND (p_user_id IS NULL OR c.user_id = p_user_id)
           AND (p_status IS NULL OR c.status = p_status)),
    ranked AS (
        SELECT m.slot, m.g,
               row_number() OVER (PARTITION BY m.slot ORDER BY CASE p_order
                   WHEN 'tokens' THEN sum(m.input_tokens::numeric + m.output_tokens)
                   WHEN 'cost' THEN coalesce(sum(m.cost_usd), 0)
                   ELSE count(*) END DESC, m.g NULLS LAST) <= p_top AS top
          FROM matching m
         GROUP BY m.slot, m.g)
    SELECT m.slot,
           CASE WHEN GROUPING(r.top) = 1 THEN 'total' WHEN r.top THEN 'group' ELSE 'others' END,
           CASE WHEN r.top THEN m.g END,
           count(*) FILTER (WHERE m.status = 'completed'),
           count(*) FILTER (WHERE m.status = 'failed'),
           count(*) FILTER (WHERE m.status = 'partial'),
           sum(m.input_tokens)::bigint,
           sum(m.output_tokens)::bigint,
           coalesce(sum(m.processing_time_ms), 0),
           coalesce(sum(m.cost_usd), 0),
           percentile_disc(0.5) WITHIN GROUP (ORDER BY m.processing_time_ms)::numeric,
           percentile_disc(0.95) WITHIN GROUP (ORDER BY m.processing_time_ms)::numeric,
           percentile_disc(0.99) WITHIN GROUP (ORDER BY m.processing_time_ms)::numeric,
           count(*) FILTER (WHERE m.status NOT IN ('completed', 'failed', 'partial')),
           count(*) FILTER (WHERE m.processing_time_ms IS NULL)
      FROM matching m
      -- joined by hash: -0.5 stands for the NULL group (IS NOT DISTINCT FROM would not hash)
      JOIN ranked r ON r.slot = m.slot AND coalesce(r.g::numeric, -0.5) = coalesce(m.g::numeric, -0.5)
     GROUP BY GROUPING SETS ((m.slot, r.top, CASE WHEN r.top THEN m.g END), (m.slot))
    HAVING p_by IS NOT NULL OR GROUPING(r.top) = 1;
END
$$;


--
-- Name: chat_request_groups_rollup(timestamp with time zone[], text, integer, text, integer[], bigint, bigint); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_request_groups_rollup(p_bounds timestamp with time zone[], p_by text, p_top integer, p_order text, p_model_ids integer[], p_api_key_id bigint, p_user_id bigint) RETURNS SETOF chatstats.chat_request_group
    LANGUAGE plpgsql STABLE ROWS 100
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
DECLARE
    dim "char" := chat_request_groups_dim(p_by, p_model_ids, p_api_key_id, p_user_id);
    ids bigint[] := CASE WHEN p_model_ids IS NOT NULL THEN p_model_ids::bigint[]
                         WHEN p_api_key_id IS NOT NULL THEN ARRAY[p_api_key_id]
                         WHEN p_user_id IS NOT NULL THEN ARRAY[p_user_id] END;
BEGIN
    RETURN QUERY
    WITH total AS MATERIALIZED (
        SELECT * FROM chat_rollup_series(CASE WHEN ids IS NULL THEN 'a' ELSE dim END, p_bounds, ids, true)),
    top AS MATERIALIZED (  -- a breakdown (one slot): its first p_top groups
        SELECT * FROM chat_request_groups_ranked(dim, p_bounds, ids, p_by, p_order, p_top) WHERE p_by IS NOT NULL),
    groups AS MATERIALIZED (  -- their sums and histograms, read again for their ids only
        SELECT t.g, t.rank, s.*
          FROM chat_rollup_series(dim, p_bounds, ARRAY(
                   SELECT x.id FROM top t,
                          LATERAL (SELECT coalesce(t.g, 0) AS id WHERE p_by <> 'provider' OR t.g IS NULL
                                   UNION ALL
                                   SELECT m.id FROM models m WHERE p_by = 'provider' AND m.provider_id = t.g) x
                    WHERE ids IS NULL OR x.id = ANY (ids)), true) s
          JOIN top t ON coalesce(t.g, -1) = coalesce(CASE WHEN p_by = 'provider' THEN (SELECT m.provider_id FROM models m WHERE m.id = s.id) ELSE nullif(s.id, 0) END, -1)
         WHERE p_by IS NOT NULL),
    terms AS (
        SELECT 'group' AS kind, g.g, g.rank, 1 AS sign, g.bucket, g.completed, g.failed, g.partial,
               g.other, g.untimed, g.input_tokens, g.output_tokens, g.processing_time_ms, g.cost_usd, g.latency,
               g.latency_over, g.latency_hi, g.latency_over_hi
          FROM groups g
        UNION ALL
        SELECT 'others', NULL, NULL, -1, g.bucket, g.completed, g.failed, g.partial, g.other, g.untimed,
               g.input_tokens,
               g.output_tokens, g.processing_time_ms, g.cost_usd, g.latency, g.latency_over,
               g.latency_hi, g.latency_over_hi
          FROM groups g
        UNION ALL
        SELECT k.kind, NULL, NULL, 1, a.bucket, a.completed, a.failed, a.partial, a.other, a.untimed,
               a.input_tokens,
               a.output_tokens, a.processing_time_ms, a.cost_usd, a.latency, a.latency_over,
               a.latency_hi, a.latency_over_hi
          FROM total a, unnest(CASE WHEN p_by IS NULL THEN '{total}'::text[] ELSE '{total,others}' END) k (kind)),
    sums AS (
        SELECT t.bucket AS slot, t.kind, t.g, t.rank,
               chat_sum(t.sign * t.completed) AS completed, chat_sum(t.sign * t.failed) AS failed,
               chat_sum(t.sign * t.partial) AS partial, chat_sum(t.sign * t.other) AS other,
               chat_sum(t.sign * t.untimed) AS untimed, chat_sum(t.sign * t.input_tokens) AS input_tokens,
               chat_sum(t.sign * t.output_tokens) AS output_tokens,
               sum(t.sign * t.processing_time_ms) AS processing_time_ms, sum(t.sign * t.cost_usd) AS cost_usd,
               sum(t.latency) FILTER (WHERE t.narrow AND t.sign > 0) AS pos,
               sum(t.latency) FILTER (WHERE t.narrow AND t.sign < 0) AS neg,
               sum(t.latency_over) FILTER (WHERE t.narrow AND t.sign > 0) AS over_pos,
               sum(t.latency_over) FILTER (WHERE t.narrow AND t.sign < 0) AS over_neg,
               chat_sum(abs(t.completed + t.failed + t.partial + t.other)) FILTER (WHERE t.narrow) AS narrow_rows,
               chat_histogram_sum(t.latency, t.latency_hi, t.sign) FILTER (WHERE NOT t.narrow) AS wide,
               chat_histogram_sum(t.latency_over, t.latency_over_hi, t.sign) FILTER (WHERE NOT t.narrow) AS over_wide
          FROM (SELECT t.*, t.latency_hi IS NULL AND t.latency_over_hi IS NULL
                            AND abs(t.completed + t.failed + t.partial + t.other) <= chat_histogram_sum_limit() AS narrow
                  FROM terms t OFFSET 0) t  -- narrow worked out once a row, not in every filter
         GROUP BY t.bucket, t.kind, t.g, t.rank)
    SELECT x.slot, x.kind, x.g::bigint, x.completed::bigint, x.failed::bigint, x.partial::bigint,
           x.input_tokens::bigint, x.output_tokens::bigint, x.processing_time_ms, x.cost_usd,
           chat_latency_percentile(x.main, x.over, 0.5),
           chat_latency_percentile(x.main, x.over, 0.95),
           chat_latency_percentile(x.main, x.over, 0.99), x.other::bigint, x.untimed::bigint
      FROM (SELECT h.*, chat_histogram_values(h.latency, h.latency_hi) AS main,
                   chat_histogram_values(h.latency_over, h.latency_over_hi) AS over
              FROM (SELECT s.*, chat_histogram(s.pos, s.neg, s.narrow_rows, s.wide, false) AS latency,
                           chat_histogram(s.pos, s.neg, s.narrow_rows, s.wide, true) AS latency_hi,
                           chat_histogram(s.over_pos, s.over_neg, s.narrow_rows, s.over_wide, false) AS latency_over,
                           chat_histogram(s.over_pos, s.over_neg, s.narrow_rows, s.over_wide, true) AS latency_over_hi
                      FROM sums s OFFSET 0) h
            OFFSET 0) x  -- each histogram converted once, searched three times
     ORDER BY x.slot, x.kind = 'total', x.kind = 'others', x.rank;
END
$$;


--
-- Name: chat_request_series(timestamp with time zone[], integer[], bigint, bigint, text); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_request_series(p_bounds timestamp with time zone[], p_model_ids integer[] DEFAULT NULL::integer[], p_api_key_id bigint DEFAULT NULL::bigint, p_user_id bigint DEFAULT NULL::bigint, p_status text DEFAULT NULL::text) RETURNS SETOF chatstats.chat_request_group
    LANGUAGE sql STABLE
    AS $$
    SELECT s.lo, 'total', NULL::bigint, coalesce(g.completed_requests, 0), coalesce(g.failed_requests, 0),
           coalesce(g.partial_requests, 0), coalesce(g.total_input_tokens, 0),
           coalesce(g.total_output_tokens, 0), coalesce(g.processing_time_ms_sum, 0),
           coalesce(g.total_cost_usd, 0), g.p50_processing_time_ms, g.p95_processing_time_ms,
           g.p99_processing_time_ms, coalesce(g.other_requests, 0), coalesce(g.untimed_requests, 0)
      FROM unnest(p_bounds[:cardinality(p_bounds) - 1]) s (lo)
      LEFT JOIN chat_request_groups(p_bounds, NULL, NULL, NULL, p_model_ids, p_api_key_id, p_user_id,
                                    p_status) g ON g.slot = s.lo AND g.kind = 'total'
     ORDER BY s.lo
$$;


--
-- Name: chat_request_source(); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_request_source() RETURNS TABLE(id bigint, created_at timestamp with time zone, model_id integer, user_id bigint, api_key_id bigint, status text, input_tokens bigint, output_tokens bigint, processing_time_ms numeric, cost_usd numeric)
    LANGUAGE sql STABLE
    AS $$
    SELECT r.id, r.created_at, r.model_id, r.user_id, r.api_key_id, r.status,
           coalesce(r.input_tokens, 0), coalesce(r.output_tokens, 0), r.processing_time_ms, r.cost_usd
      FROM chat_completion_requests r
$$;


--
-- Name: chat_request_stats(timestamp with time zone, timestamp with time zone, integer[], boolean); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_request_stats(p_start timestamp with time zone DEFAULT NULL::timestamp with time zone, p_end timestamp with time zone DEFAULT NULL::timestamp with time zone, p_model_ids integer[] DEFAULT NULL::integer[], p_latency boolean DEFAULT true) RETURNS SETOF chatstats.chat_request_stat
    LANGUAGE sql STABLE
    AS $$
    SELECT * FROM chat_request_stats_raw(p_start, p_end, p_model_ids, p_latency)
     WHERE current_setting('chatstats.stats_source', true) = 'raw'
    UNION ALL
    SELECT * FROM chat_request_stats_rollup(p_start, p_end, p_model_ids, p_latency)
     WHERE current_setting('chatstats.stats_source', true) IS DISTINCT FROM 'raw'
$$;


--
-- Name: chat_request_stats_raw(timestamp with time zone, timestamp with time zone, integer[], boolean); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_request_stats_raw(p_start timestamp with time zone, p_end timestamp with time zone, p_model_ids integer[], p_latency boolean) RETURNS SETOF chatstats.chat_request_stat
    LANGUAGE plpgsql STABLE ROWS 500
    SET plan_cache_mode TO 'force_custom_plan'
    AS $$
BEGIN
    RETURN QUERY
    SELECT r.model_id, count(*),
           count(*) FILTER (WHERE r.status = 'completed'),
           count(*) FILTER (WHERE r.status = 'failed'),
           count(*) FILTER (WHERE r.status = 'partial'),
           sum(r.input_tokens)::bigint,
           sum(r.output_tokens)::bigint,
           coalesce(sum(r.processing_time_ms), 0),
           coalesce(sum(r.cost_usd), 0),
           percentile_disc(0.5) WITHIN GROUP (ORDER BY r.processing_time_ms)
               FILTER (WHERE p_latency)::numeric,
           percentile_disc(0.95) WITHIN GROUP (ORDER BY r.processing_time_ms)
               FILTER (WHERE p_latency)::numeric,
           percentile_disc(0.99) WITHIN GROUP (ORDER BY r.processing_time_ms)
               FILTER (WHERE p_latency)::numeric,
           count(*) FILTER (WHERE r.status NOT IN ('completed', 'failed', 'partial')),
           count(*) FILTER (WHERE r.processing_time_ms IS NULL)
      FROM chat_request_source() r
     WHERE (p_start IS NULL OR r.created_at >= p_start)
       AND (p_end IS NULL OR r.created_at < p_end)
       AND (p_model_ids IS NULL OR r.model_id = ANY (p_model_ids)
            OR r.model_id IS NULL AND 0 = ANY (p_model_ids))
     GROUP BY r.model_id;
END
$$;


--
-- Name: chat_request_stats_rollup(timestamp with time zone, timestamp with time zone, integer[], boolean); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_request_stats_rollup(p_start timestamp with time zone, p_end timestamp with time zone, p_model_ids integer[], p_latency boolean) RETURNS SETOF chatstats.chat_request_stat
    LANGUAGE plpgsql STABLE ROWS 500
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
DECLARE
    waiting integer[];  -- all time: the models whose requests not rolled up yet count too
BEGIN
    IF p_latency AND p_start IS NULL AND p_end IS NULL THEN
        waiting := ARRAY(
            SELECT DISTINCT coalesce(r.model_id, 0) FROM chat_request_source() r
             WHERE r.id > (SELECT watermark_id FROM chat_rollup_state)
               AND (p_model_ids IS NULL OR coalesce(r.model_id, 0) = ANY (p_model_ids)));
        RETURN QUERY
        SELECT nullif(s.id, 0)::integer, s.completed + s.failed + s.partial + s.other, s.completed, s.failed,
               s.partial, s.input_tokens, s.output_tokens, s.processing_time_ms, s.cost_usd,
               coalesce(h.p[1], k.latency_percentiles[1]), coalesce(h.p[2], k.latency_percentiles[2]),
               coalesce(h.p[3], k.latency_percentiles[3]), s.other, s.untimed
          FROM chat_rollup_sums(NULL, NULL, p_model_ids, false) s
          LEFT JOIN (SELECT t.id, ARRAY[chat_latency_percentile(t.main, t.over, 0.5),
                                        chat_latency_percentile(t.main, t.over, 0.95),
                                        chat_latency_percentile(t.main, t.over, 0.99)] AS p
                       FROM (SELECT t.id, chat_histogram_values(t.latency, t.latency_hi) AS main,
                                    chat_histogram_values(t.latency_over, t.latency_over_hi) AS over
                               FROM chat_rollup_sums(NULL, NULL, waiting, true) t
                              WHERE cardinality(waiting) > 0
                             OFFSET 0) t) h ON h.id = s.id
          LEFT JOIN chat_rollups k
            ON h.id IS NULL AND k.level = chat_rollup_top() AND k.dim = 'm' AND k.bucket = '-infinity'
           AND k.id = s.id
         WHERE s.completed + s.failed + s.partial + s.other > 0;
        RETURN;
    END IF;
    RETURN QUERY
    SELECT nullif(s.id, 0)::integer, s.completed + s.failed + s.partial + s.other, s.completed, s.failed,
           s.partial, s.input_tokens, s.output_tokens, s.processing_time_ms, s.cost_usd,
           chat_latency_percentile(s.main, s.over, 0.5),
           chat_latency_percentile(s.main, s.over, 0.95),
           chat_latency_percentile(s.main, s.over, 0.99), s.other, s.untimed
      FROM (SELECT t.*, chat_histogram_values(t.latency, t.latency_hi) AS main,
                   chat_histogram_values(t.latency_over, t.latency_over_hi) AS over
              FROM chat_rollup_sums(p_start, p_end, p_model_ids, p_latency) t
            OFFSET 0) s  -- each histogram converted once, then searched three times
     WHERE s.completed + s.failed + s.partial + s.other > 0;
END
$$;


--
-- Name: chat_rollup_adjust(); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_adjust() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'chatstats', 'public'
    AS $$
DECLARE
    st chat_rollup_state;
    retention boolean := current_setting('chatstats.retention', true) IS NOT DISTINCT FROM 'on';
    logging boolean;
    expired_before timestamptz;  -- deleted rows older than this expired (the source's TTL)
    expired_upto timestamptz;    -- the newest of them
BEGIN
    IF TG_OP = 'DELETE' AND NOT retention THEN
        expired_before := (SELECT now() - source_ttl FROM chat_rollup_state);
        expired_upto := (SELECT max(o.created_at) FROM old_rows o WHERE o.created_at < expired_before);
    END IF;
    IF expired_upto IS NULL THEN
        SELECT * INTO st FROM chat_rollup_state FOR SHARE;
    ELSE
        UPDATE chat_rollup_state
           SET raw_horizon = greatest(raw_horizon, chat_rollup_bucket(4, expired_upto) + interval '1 day')
        RETURNING * INTO st;
    END IF;
    logging := st.backfill_upto IS NOT NULL AND st.watermark_id = 0;
    IF TG_OP = 'UPDATE' THEN
        PERFORM chat_rollup_apply(
            ARRAY(SELECT chat_rollup_input_of(n) FROM new_rows n WHERE n.id <= st.watermark_id),
            ARRAY(SELECT chat_rollup_input_of(o) FROM old_rows o WHERE o.id <= st.watermark_id),
            st);
        IF logging THEN
            INSERT INTO chat_rollup_backfill_log (sign, input)
            SELECT 1, chat_rollup_input_of(n) FROM new_rows n WHERE n.id <= st.backfill_upto;
        END IF;
    ELSIF NOT retention THEN
        PERFORM chat_rollup_apply(
            ARRAY(SELECT chat_rollup_input_of(o) FROM old_rows o
                   WHERE o.created_at < expired_before AND o.id > st.watermark_id AND NOT logging),
            ARRAY(SELECT chat_rollup_input_of(o) FROM old_rows o
                   WHERE o.id <= st.watermark_id AND NOT coalesce(o.created_at < expired_before, false)),
            st);
    END IF;
    IF logging AND NOT (TG_OP = 'DELETE' AND retention) THEN
        INSERT INTO chat_rollup_backfill_log (sign, input)
        SELECT -1, chat_rollup_input_of(o) FROM old_rows o
         WHERE o.id <= st.backfill_upto
           AND NOT (TG_OP = 'DELETE' AND coalesce(o.created_at < expired_before, false));
    END IF;
    RETURN NULL;
END
$$;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: chat_rollup_state; Type: TABLE; Schema: chatstats; Owner: -
--

CREATE TABLE chatstats.chat_rollup_state (
    singleton boolean DEFAULT true NOT NULL,
    watermark_id bigint DEFAULT 0 NOT NULL,
    refreshed_at timestamp with time zone,
    quarter_horizon timestamp with time zone DEFAULT '-infinity'::timestamp with time zone NOT NULL,
    raw_horizon timestamp with time zone DEFAULT '-infinity'::timestamp with time zone NOT NULL,
    detail_horizon timestamp with time zone DEFAULT '-infinity'::timestamp with time zone NOT NULL,
    user_horizon timestamp with time zone DEFAULT '-infinity'::timestamp with time zone NOT NULL,
    backfill_upto bigint,
    source_ttl interval,
    CONSTRAINT chat_rollup_state_singleton_check CHECK (singleton)
);


--
-- Name: COLUMN chat_rollup_state.backfill_upto; Type: COMMENT; Schema: chatstats; Owner: -
--

COMMENT ON COLUMN chatstats.chat_rollup_state.backfill_upto IS 'while a backfill runs: the requests it sums (id <= backfill_upto); updates and deletes of them are logged';


--
-- Name: COLUMN chat_rollup_state.source_ttl; Type: COMMENT; Schema: chatstats; Owner: -
--

COMMENT ON COLUMN chatstats.chat_rollup_state.source_ttl IS 'deleted request rows older than this keep their contribution (the source''s own TTL); NULL: none';


--
-- Name: chat_rollup_apply(chatstats.chat_rollup_input[], chatstats.chat_rollup_input[], chatstats.chat_rollup_state); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_apply(p_added chatstats.chat_rollup_input[], p_removed chatstats.chat_rollup_input[], p_state chatstats.chat_rollup_state) RETURNS void
    LANGUAGE plpgsql
    SET work_mem TO '256MB'
    AS $$
DECLARE
    slice constant integer := 524288;
    sums chat_rollup_delta[];
BEGIN
    IF cardinality(p_added) > slice OR cardinality(p_removed) > slice THEN
        FOR i IN 0 .. (greatest(cardinality(p_added), cardinality(p_removed)) - 1) / slice LOOP
            PERFORM chat_rollup_apply(coalesce(p_added[i * slice + 1:(i + 1) * slice], '{}'),
                                      coalesce(p_removed[i * slice + 1:(i + 1) * slice], '{}'), p_state);
        END LOOP;
        RETURN;
    END IF;
    sums := ARRAY(
        SELECT d FROM (SELECT * FROM chat_rollup_deltas(p_added, 1, p_state, '{m,k,u,a}')
                       UNION ALL
                       SELECT * FROM chat_rollup_deltas(p_removed, -1, p_state, '{m,k,u,a}')) d);
    FOR lvl IN 1 .. chat_rollup_top() LOOP
        sums := ARRAY(
            SELECT ROW(chat_rollup_bucket(lvl, d.bucket), d.id, chat_sum(d.completed), chat_sum(d.failed),
                       chat_sum(d.partial), chat_sum(d.input_tokens), chat_sum(d.output_tokens),
                       sum(d.processing_time_ms), sum(d.cost_usd), sum(d.latency),
                       sum(d.latency_over), d.dim, NULL, NULL, chat_sum(d.other),
                       chat_sum(d.untimed))::chat_rollup_delta
              FROM unnest(sums) d
             GROUP BY d.dim, chat_rollup_bucket(lvl, d.bucket), d.id);
        -- in key order, so that two transactions adding overlapping deltas lock rows in
        -- the same order
        INSERT INTO chat_rollups AS r (level, dim, bucket, id, completed, failed, partial, other, untimed,
                                       input_tokens, output_tokens, processing_time_ms, cost_usd, latency,
                                       latency_over)
        SELECT lvl, d.dim, d.bucket, d.id, d.completed, d.failed, d.partial, d.other, d.untimed,
               d.input_tokens, d.output_tokens, d.processing_time_ms, d.cost_usd, d.latency, d.latency_over
          FROM unnest(sums) d
         WHERE d.bucket >= chat_rollup_kept_from(p_state, d.dim, lvl)
         ORDER BY d.dim, d.bucket, d.id
        ON CONFLICT (level, dim, bucket, id) DO UPDATE
           SET completed = r.completed + excluded.completed,
               failed = r.failed + excluded.failed,
               partial = r.partial + excluded.partial,
               other = r.other + excluded.other,
               untimed = r.untimed + excluded.untimed,
               input_tokens = r.input_tokens + excluded.input_tokens,
               output_tokens = r.output_tokens + excluded.output_tokens,
               processing_time_ms = r.processing_time_ms + excluded.processing_time_ms,
               cost_usd = r.cost_usd + excluded.cost_usd,
               latency = CASE WHEN chat_histogram_narrow(r.latency_hi, r.latency_over_hi,
                                                         r.completed + r.failed + r.partial + r.other)
                              THEN r.latency + excluded.latency
                              ELSE chat_histogram_plus(r.latency, r.latency_hi, excluded.latency, false) END,
               latency_hi = CASE WHEN NOT chat_histogram_narrow(r.latency_hi, r.latency_over_hi,
                                                                r.completed + r.failed + r.partial + r.other)
                                 THEN chat_histogram_plus(r.latency, r.latency_hi, excluded.latency, true) END,
               latency_over = CASE WHEN NOT chat_histogram_narrow(r.latency_hi, r.latency_over_hi,
                                                                  r.completed + r.failed + r.partial + r.other)
                                   THEN chat_histogram_plus(r.latency_over, r.latency_over_hi,
                                                            excluded.latency_over, false)
                                   WHEN r.latency_over IS NULL THEN excluded.latency_over
                                   WHEN excluded.latency_over IS NULL THEN r.latency_over
                                   ELSE r.latency_over + excluded.latency_over END,
               latency_over_hi = CASE WHEN NOT chat_histogram_narrow(r.latency_hi, r.latency_over_hi,
                                                                     r.completed + r.failed + r.partial + r.other)
                                      THEN chat_histogram_plus(r.latency_over, r.latency_over_hi,
                                                               excluded.latency_over, true) END;
    END LOOP;
END
$$;


--
-- Name: chat_rollup_backfill_abandon(); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_backfill_abandon() RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    UPDATE chat_rollup_state SET backfill_upto = NULL WHERE backfill_upto IS NOT NULL;
    PERFORM chat_rollup_backfill_clear();
    PERFORM pg_advisory_unlock(hashtext('chatstats.chat_rollup_refresh'));
END
$$;


--
-- Name: chat_rollup_backfill_block(timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_backfill_block(p_lo timestamp with time zone, p_hi timestamp with time zone) RETURNS bigint
    LANGUAGE plpgsql
    SET enable_hashagg TO 'off'
    SET enable_hashjoin TO 'off'
    SET enable_mergejoin TO 'off'
    SET work_mem TO '256MB'
    AS $$
DECLARE
    st chat_rollup_state := (SELECT s FROM chat_rollup_state s);
    lo timestamptz := coalesce(p_lo, '-infinity');
    hi timestamptz := coalesce(p_hi, 'infinity');
    summed bigint;
    biggest bigint;
BEGIN
    WITH block AS (
        INSERT INTO chat_rollup_backfill_blocks VALUES (lo, hi, pg_current_snapshot())),
    stored AS (
        INSERT INTO chat_rollup_backfill_sums (level, dim, bucket, id, completed, failed, partial, other, untimed,
                                               input_tokens, output_tokens, processing_time_ms, cost_usd, latency,
                                               latency_over)
        SELECT 1, r.dim, r.bucket, r.id,
               count(*) FILTER (WHERE r.status = 'completed'),
               count(*) FILTER (WHERE r.status = 'failed'),
               count(*) FILTER (WHERE r.status = 'partial'),
               count(*) FILTER (WHERE r.status NOT IN ('completed', 'failed', 'partial')),
               count(*) FILTER (WHERE r.processing_time_ms IS NULL),
               sum(r.input_tokens)::bigint, sum(r.output_tokens)::bigint,
               coalesce(sum(r.processing_time_ms), 0), coalesce(sum(r.cost_usd), 0),
               coalesce(sum(s.latency), array_fill(0, ARRAY[494])::vector),  -- none timed: an empty histogram
               sum(s.latency_over)
          FROM (SELECT d.dim, chat_rollup_base_bucket(st, d.dim, c.created_at) AS bucket, d.id, c.status,
                       c.input_tokens, c.output_tokens, c.processing_time_ms, c.cost_usd
                  FROM chat_request_source() c
                 CROSS JOIN LATERAL (VALUES ('m'::"char", coalesce(c.model_id, 0)::bigint),
                                            ('k', coalesce(c.api_key_id, 0)), ('u', coalesce(c.user_id, 0)),
                                            ('a', 0)) d (dim, id)
                 WHERE c.created_at >= lo AND c.created_at < hi AND c.id <= st.backfill_upto
                 ORDER BY 1, 2, 3) r
          LEFT JOIN chat_latency_steps s ON s.bucket = chat_latency_bucket(r.processing_time_ms)
         GROUP BY r.dim, r.bucket, r.id
        RETURNING dim, completed + failed + partial + other AS n)
    SELECT coalesce(sum(n) FILTER (WHERE dim = 'a'), 0), max(n) INTO summed, biggest FROM stored;
    IF biggest > 16777216 THEN  -- its float4 histogram sum may have rounded: the refresh, then
        RAISE EXCEPTION 'a group of % requests in one backfill block', biggest
            USING ERRCODE = 'program_limit_exceeded';
    END IF;
    RETURN summed;
END
$$;


--
-- Name: chat_rollup_backfill_clear(); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_backfill_clear() RETURNS void
    LANGUAGE sql
    AS $$
    TRUNCATE chat_rollup_backfill_sums, chat_rollup_backfill_blocks, chat_rollup_backfill_log
$$;


--
-- Name: chat_rollup_backfill_finish(xid); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_backfill_finish(p_state_version xid) RETURNS bigint
    LANGUAGE plpgsql
    SET enable_hashagg TO 'off'
    SET work_mem TO '256MB'
    AS $$
DECLARE
    st chat_rollup_state := (SELECT s FROM chat_rollup_state s WHERE xmin = p_state_version);
    rolled_up bigint;
    written chat_rollup_input[];   -- logged versions the blocks did not see: to add
    replaced chat_rollup_input[];  -- and to take out
BEGIN
    IF st IS NULL THEN
        RAISE EXCEPTION 'the rollup state changed during the backfill' USING ERRCODE = 'serialization_failure';
    END IF;
    -- in key order: the primary key is built as by an index build, packed
    INSERT INTO chat_rollups (level, dim, bucket, id, completed, failed, partial, other, untimed, input_tokens,
                              output_tokens, processing_time_ms, cost_usd, latency, latency_over, latency_hi,
                              latency_over_hi)
    SELECT s.level, s.dim, s.bucket, s.id, s.completed, s.failed, s.partial, s.other, s.untimed, s.input_tokens,
           s.output_tokens, s.processing_time_ms, s.cost_usd, s.latency, s.latency_over, s.latency_hi,
           s.latency_over_hi
      FROM chat_rollup_backfill_sums s
     WHERE s.bucket >= chat_rollup_kept_from(st, s.dim, s.level)
     ORDER BY s.level, s.dim, s.bucket, s.id;
    rolled_up := (SELECT completed + failed + partial + other FROM chat_rollups
                   WHERE level = chat_rollup_top() AND dim = 'a' AND id = 0);

    -- The hand-over. The row lock waits out the writers that logged, and holds off the
    -- others until the watermark is in place (they adjust the store themselves then).
    PERFORM FROM chat_rollup_state WHERE xmin = p_state_version FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the rollup state changed during the backfill' USING ERRCODE = 'serialization_failure';
    END IF;
    SELECT coalesce(array_agg(l.input) FILTER (WHERE l.sign = 1), '{}'),
           coalesce(array_agg(l.input) FILTER (WHERE l.sign = -1), '{}')
      INTO written, replaced
      FROM chat_rollup_backfill_log l
      JOIN chat_rollup_backfill_blocks b ON (l.input).created_at >= b.lo AND (l.input).created_at < b.hi
     WHERE NOT pg_visible_in_snapshot(l.xid, b.snapshot);
    PERFORM chat_rollup_apply(written, replaced, st);
    UPDATE chat_rollup_state SET watermark_id = backfill_upto, backfill_upto = NULL, refreshed_at = now();
    PERFORM chat_rollup_backfill_clear();
    PERFORM pg_advisory_unlock(hashtext('chatstats.chat_rollup_refresh'));
    RETURN coalesce(rolled_up, 0);
END
$$;


--
-- Name: chat_rollup_backfill_levels("char"[]); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_backfill_levels(p_dims "char"[]) RETURNS void
    LANGUAGE plpgsql
    SET enable_hashagg TO 'off'
    SET work_mem TO '256MB'
    AS $$
BEGIN
    FOR lvl IN 2 .. chat_rollup_top() LOOP
        -- A group of one row is copied, its histograms as they are (still compressed); the
        -- others are summed. (An aggregate's vector has no dimensions in its type: stored
        -- into a vector(494) it would be cast, detoasted and compressed again.)
        WITH finer AS MATERIALIZED (
            SELECT s.*, chat_rollup_bucket(lvl, s.bucket) AS up,
                   count(*) OVER (PARTITION BY s.dim, chat_rollup_bucket(lvl, s.bucket), s.id) AS members
              FROM chat_rollup_backfill_sums s
             WHERE s.level = lvl - 1 AND s.dim = ANY (p_dims))
        INSERT INTO chat_rollup_backfill_sums (level, dim, bucket, id, completed, failed, partial, other, untimed,
                                               input_tokens, output_tokens, processing_time_ms, cost_usd, latency,
                                               latency_over, latency_hi, latency_over_hi)
        SELECT lvl, f.dim, f.up, f.id, f.completed, f.failed, f.partial, f.other, f.untimed, f.input_tokens,
               f.output_tokens, f.processing_time_ms, f.cost_usd, f.latency, f.latency_over, f.latency_hi,
               f.latency_over_hi
          FROM finer f
         WHERE f.members = 1
        UNION ALL
        SELECT lvl, f.dim, f.up, f.id, chat_sum(f.completed), chat_sum(f.failed), chat_sum(f.partial),
               chat_sum(f.other), chat_sum(f.untimed),
               chat_sum(f.input_tokens), chat_sum(f.output_tokens), sum(f.processing_time_ms),
               sum(f.cost_usd),
               chat_histogram(sum(f.latency) FILTER (WHERE f.narrow), NULL, chat_sum(f.n) FILTER (WHERE f.narrow),
                              chat_histogram_sum(f.latency, f.latency_hi, 1) FILTER (WHERE NOT f.narrow),
                              false)::vector(494),
               chat_histogram(sum(f.latency_over) FILTER (WHERE f.narrow), NULL, chat_sum(f.n) FILTER (WHERE f.narrow),
                              chat_histogram_sum(f.latency_over, f.latency_over_hi, 1) FILTER (WHERE NOT f.narrow),
                              false)::vector(418),
               chat_histogram(sum(f.latency) FILTER (WHERE f.narrow), NULL, chat_sum(f.n) FILTER (WHERE f.narrow),
                              chat_histogram_sum(f.latency, f.latency_hi, 1) FILTER (WHERE NOT f.narrow),
                              true)::vector(494),
               chat_histogram(sum(f.latency_over) FILTER (WHERE f.narrow), NULL, chat_sum(f.n) FILTER (WHERE f.narrow),
                              chat_histogram_sum(f.latency_over, f.latency_over_hi, 1) FILTER (WHERE NOT f.narrow),
                              true)::vector(418)
          FROM (SELECT f.*, f.completed + f.failed + f.partial + f.other AS n,
                       f.latency_hi IS NULL AND f.latency_over_hi IS NULL
                       AND f.completed + f.failed + f.partial + f.other <= chat_histogram_sum_limit() AS narrow
                  FROM finer f
                 WHERE f.members > 1 OFFSET 0) f  -- narrow worked out once a row, not in every filter
         GROUP BY f.dim, f.up, f.id;
    END LOOP;
END
$$;


--
-- Name: chat_rollup_backfill_start(bigint, integer); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_backfill_start(p_min_rows bigint, p_lock_timeout_ms integer, OUT started boolean, OUT state_version xid, OUT bounds timestamp with time zone[]) RETURNS record
    LANGUAGE plpgsql
    AS $$
DECLARE
    upto bigint;
    first_at timestamptz;
    last_at timestamptz;
BEGIN
    IF NOT pg_try_advisory_lock(hashtext('chatstats.chat_rollup_refresh')) THEN
        RETURN;  -- another process is refreshing or backfilling
    END IF;
    started := (SELECT watermark_id = 0 FROM chat_rollup_state)
               AND NOT EXISTS (SELECT FROM chat_rollups)
               AND (SELECT count(*) FROM (SELECT FROM chat_request_source() LIMIT p_min_rows) r) >= p_min_rows;
    IF started THEN
        upto := chat_rollup_lock_top_id(p_lock_timeout_ms);  -- no writer runs now, until commit
        started := CASE WHEN upto IS NOT NULL THEN true END;
    END IF;
    IF NOT coalesce(started, false) THEN
        PERFORM pg_advisory_unlock(hashtext('chatstats.chat_rollup_refresh'));
        RETURN;
    END IF;
    PERFORM chat_rollup_backfill_clear();  -- what a backfill cut short left
    UPDATE chat_rollup_state SET backfill_upto = upto RETURNING xmin INTO state_version;
    SELECT min(created_at), max(created_at) INTO first_at, last_at FROM chat_request_source();
    bounds := ARRAY(SELECT generate_series(chat_rollup_ceil(9, first_at), last_at, '768 hours'));
END
$$;


--
-- Name: chat_rollup_base_bucket(chatstats.chat_rollup_state, "char", timestamp with time zone); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_base_bucket(p_state chatstats.chat_rollup_state, p_dim "char", p_at timestamp with time zone) RETURNS timestamp with time zone
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT chat_rollup_bucket(
        CASE WHEN p_dim IN ('m', 'a') THEN CASE WHEN p_at >= p_state.quarter_horizon THEN 1 ELSE 2 END
             WHEN p_at >= p_state.detail_horizon THEN 2
             WHEN p_dim = 'k' OR p_at >= p_state.user_horizon THEN 4
             ELSE 9 END,
        p_at)
$$;


--
-- Name: chat_rollup_bucket(integer, timestamp with time zone); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_bucket(p_level integer, p_at timestamp with time zone) RETURNS timestamp with time zone
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE WHEN p_level = chat_rollup_top() THEN '-infinity'::timestamptz
                WHEN NOT isfinite(p_at) THEN p_at
                ELSE date_bin((chat_rollup_widths())[p_level], p_at, timestamptz '2000-01-01 00:00:00+00')
           END
$$;


--
-- Name: chat_rollup_ceil(integer, timestamp with time zone); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_ceil(p_level integer, p_at timestamp with time zone) RETURNS timestamp with time zone
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE WHEN chat_rollup_bucket(p_level, p_at) = p_at THEN p_at
                ELSE chat_rollup_bucket(p_level, p_at) + (chat_rollup_widths())[p_level] END
$$;


--
-- Name: chat_rollup_check_seen(bigint, bigint, bigint); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_check_seen(p_after bigint, p_upto bigint, p_seen bigint) RETURNS void
    LANGUAGE plpgsql STABLE
    AS $$
DECLARE
    existing bigint := chat_rollup_source_count(p_after, p_upto);
BEGIN
    IF p_seen < existing THEN
        RAISE EXCEPTION 'role % sees % of the % requests with ids in (%, %]: row level security hides the '
                        'others, and the rollups would miss them', current_user, p_seen, existing, p_after,
                        coalesce(p_upto::text, 'the newest')
              USING ERRCODE = 'insufficient_privilege',
                    HINT = format('Give the role a policy that shows it every row: CREATE POLICY chatstats_read ON '
                                  'chat_completion_requests FOR SELECT TO %I USING (true)', current_user);
    END IF;
END
$$;


--
-- Name: chat_rollup_deltas(chatstats.chat_rollup_input[], integer, chatstats.chat_rollup_state, "char"[], boolean); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_deltas(p_rows chatstats.chat_rollup_input[], p_sign integer, p_state chatstats.chat_rollup_state, p_dims "char"[], p_latency boolean DEFAULT true) RETURNS SETOF chatstats.chat_rollup_delta
    LANGUAGE sql STABLE
    AS $$
    SELECT CASE WHEN p_state IS NULL THEN r.created_at
                ELSE chat_rollup_base_bucket(p_state, d.dim, r.created_at) END,
           d.id,
           p_sign * count(*) FILTER (WHERE r.status = 'completed'),
           p_sign * count(*) FILTER (WHERE r.status = 'failed'),
           p_sign * count(*) FILTER (WHERE r.status = 'partial'),
           p_sign * sum(r.input_tokens)::bigint,
           p_sign * sum(r.output_tokens)::bigint,
           p_sign * coalesce(sum(r.processing_time_ms), 0),
           p_sign * coalesce(sum(r.cost_usd), 0),
           CASE WHEN p_latency  -- none timed: an empty histogram
                THEN chat_latency_scale(coalesce(sum(s.latency), array_fill(0, ARRAY[494])::vector), p_sign) END,
           chat_latency_scale(sum(s.latency_over), p_sign),
           d.dim, NULL::vector, NULL::vector,
           p_sign * count(*) FILTER (WHERE r.status NOT IN ('completed', 'failed', 'partial')),
           p_sign * count(*) FILTER (WHERE r.processing_time_ms IS NULL)
      FROM unnest(p_rows) r
      LEFT JOIN chat_latency_steps s ON p_latency AND s.bucket = chat_latency_bucket(r.processing_time_ms)
     CROSS JOIN LATERAL (VALUES ('m'::"char", coalesce(r.model_id, 0)::bigint),
                                ('k', coalesce(r.api_key_id, 0)), ('u', coalesce(r.user_id, 0)),
                                ('a', 0)) d (dim, id)
     WHERE d.dim = ANY (p_dims)
     GROUP BY 1, d.dim, d.id
$$;


--
-- Name: chat_rollup_edge_costs(chatstats.chat_rollup_state, "char", timestamp with time zone); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_edge_costs(p_state chatstats.chat_rollup_state, p_dim "char", p_at timestamp with time zone, OUT to_ceil double precision[], OUT from_floor double precision[]) RETURNS record
    LANGUAGE plpgsql STABLE
    AS $$
DECLARE
    -- in microseconds since the buckets' origin, in integers: plain arithmetic, exact
    t bigint := (extract(epoch FROM p_at - timestamptz '2000-01-01 00:00:00+00') * 1000000)::bigint;
    widths bigint[] := ARRAY(SELECT (extract(epoch FROM w) * 1000000)::bigint FROM unnest(chat_rollup_widths()) w);
    floors bigint[];
    ceils bigint[];
    finer integer;  -- the finest level kept around p_at below the current one
    w bigint;
    kept timestamptz;
BEGIN
    to_ceil := '{}';
    from_floor := '{}';
    FOR l IN 1 .. cardinality(widths) LOOP
        w := widths[l];
        floors[l] := t - ((t % w) + w) % w;
        ceils[l] := CASE WHEN floors[l] = t THEN t ELSE floors[l] + w END;
        IF finer IS NULL THEN
            to_ceil[l] := 2.0 * (ceils[l] - t) / w;
            from_floor[l] := 2.0 * (t - floors[l]) / w;
        ELSE
            w := widths[finer];
            to_ceil[l] := least((ceils[l] - ceils[finer])::float8 / w + to_ceil[finer],
                                (ceils[l] - floors[finer])::float8 / w + from_floor[finer]);
            from_floor[l] := least((floors[finer] - floors[l])::float8 / w + from_floor[finer],
                                   (ceils[finer] - floors[l])::float8 / w + to_ceil[finer]);
        END IF;
        kept := chat_rollup_kept_from(p_state, p_dim, l);
        IF kept = '-infinity' OR kept <= p_at - (t - floors[l]) * interval '1 microsecond' THEN
            finer := l;
        END IF;
    END LOOP;
END
$$;


--
-- Name: chat_rollup_effective_range(timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_effective_range(p_start timestamp with time zone, p_end timestamp with time zone, OUT effective_start timestamp with time zone, OUT effective_end timestamp with time zone) RETURNS record
    LANGUAGE plpgsql STABLE
    AS $$
BEGIN
    effective_start := p_start;
    effective_end := p_end;
    IF coalesce(p_start, '-infinity') < (SELECT raw_horizon FROM chat_rollup_state) THEN
        SELECT CASE WHEN p_start IS NOT NULL THEN least(p_start, min(p.lo) FILTER (WHERE NOT p.exact)) END,
               CASE WHEN p_end IS NOT NULL THEN greatest(p_end, max(p.hi) FILTER (WHERE NOT p.exact)) END
          INTO effective_start, effective_end
          FROM chat_rollup_pieces(p_start, p_end) p;
    END IF;
END
$$;


--
-- Name: chat_rollup_fold(bigint, bigint, chatstats.chat_rollup_state); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_fold(p_after bigint, p_upto bigint, p_state chatstats.chat_rollup_state) RETURNS bigint
    LANGUAGE plpgsql
    AS $$
DECLARE
    added chat_rollup_input[] := ARRAY(
        SELECT ROW(c.created_at, c.model_id, c.status, c.input_tokens, c.output_tokens, c.processing_time_ms,
                   c.cost_usd, c.api_key_id, c.user_id)::chat_rollup_input
          FROM chat_request_source() c
         WHERE c.id > p_after AND c.id <= p_upto);
BEGIN
    PERFORM chat_rollup_check_seen(p_after, p_upto, cardinality(added));
    PERFORM chat_rollup_apply(added, '{}', p_state);
    RETURN cardinality(added);
END
$$;


--
-- Name: chat_completion_requests; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.chat_completion_requests (
    id bigint NOT NULL,
    request_id text,
    model_id integer,
    user_id bigint,
    api_key_id bigint,
    status text DEFAULT 'pending'::text NOT NULL,
    input_tokens bigint DEFAULT 0,
    output_tokens bigint DEFAULT 0,
    processing_time_ms numeric,
    error_message text,
    is_anonymous boolean DEFAULT false NOT NULL,
    created_at timestamp with time zone DEFAULT now(),
    updated_at timestamp with time zone DEFAULT now(),
    cost_usd numeric(12,6),
    input_cost_usd numeric(12,6),
    output_cost_usd numeric(12,6),
    pricing_source character varying(50) DEFAULT 'calculated'::character varying,
    metadata jsonb DEFAULT '{}'::jsonb
);


--
-- Name: TABLE chat_completion_requests; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.chat_completion_requests IS 'chatstats demo: made by chatstats migrate';


--
-- Name: chat_rollup_input_of(public.chat_completion_requests, timestamp with time zone); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_input_of(r public.chat_completion_requests, p_at timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS chatstats.chat_rollup_input
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT ROW(coalesce(p_at, r.created_at), r.model_id, r.status, coalesce(r.input_tokens, 0),
               coalesce(r.output_tokens, 0), r.processing_time_ms, r.cost_usd, r.api_key_id,
               r.user_id)::chat_rollup_input
$$;


--
-- Name: chat_rollup_keep_percentiles(); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_keep_percentiles() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    main float8[] := chat_histogram_values(NEW.latency, NEW.latency_hi);
    over float8[] := chat_histogram_values(NEW.latency_over, NEW.latency_over_hi);
BEGIN
    NEW.latency_percentiles := ARRAY[chat_latency_percentile(main, over, 0.5),
                                     chat_latency_percentile(main, over, 0.95),
                                     chat_latency_percentile(main, over, 0.99)];
    RETURN NEW;
END
$$;


--
-- Name: chat_rollup_kept_from(chatstats.chat_rollup_state, "char", integer); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_kept_from(p_state chatstats.chat_rollup_state, p_dim "char", p_level integer) RETURNS timestamp with time zone
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE WHEN p_dim IN ('m', 'a') THEN
                    CASE WHEN p_level = 1 THEN p_state.quarter_horizon ELSE '-infinity'::timestamptz END
                WHEN p_level < 2 THEN 'infinity'::timestamptz
                WHEN p_level < 4 THEN p_state.detail_horizon
                WHEN p_dim = 'k' OR p_level = 9 OR p_level = chat_rollup_top() THEN '-infinity'::timestamptz
                WHEN p_level < 9 THEN p_state.user_horizon
                ELSE 'infinity'::timestamptz END
$$;


--
-- Name: chat_rollup_lag(); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_lag(OUT lag_rows bigint, OUT lag_seconds numeric, OUT watermark_id bigint, OUT refreshed_at timestamp with time zone) RETURNS record
    LANGUAGE sql STABLE
    AS $$
    SELECT t.n,
           CASE WHEN t.n = 0 THEN 0
                ELSE round(extract(epoch FROM now() - s.refreshed_at), 3) END,
           s.watermark_id, s.refreshed_at
      FROM chat_rollup_state s,
           LATERAL (SELECT chat_rollup_source_count(s.watermark_id, NULL) AS n) t
$$;


--
-- Name: chat_rollup_lock_top_id(integer); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_lock_top_id(p_lock_timeout_ms integer) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'chatstats', 'public'
    AS $$
BEGIN
    PERFORM set_config('lock_timeout', p_lock_timeout_ms || 'ms', true);
    LOCK TABLE chat_completion_requests IN SHARE ROW EXCLUSIVE MODE;
    RETURN coalesce((SELECT max(id) FROM chat_completion_requests), 0);
EXCEPTION WHEN lock_not_available THEN
    RETURN NULL;
END
$$;


--
-- Name: chat_rollup_pieces(timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_pieces(p_start timestamp with time zone, p_end timestamp with time zone) RETURNS TABLE(level smallint, lo timestamp with time zone, hi timestamp with time zone, exact boolean)
    LANGUAGE sql STABLE ROWS 20
    AS $$
    SELECT p.level, p.lo, p.hi, p.exact FROM chat_rollup_pieces('m', p_start, p_end) p
$$;


--
-- Name: chat_rollup_pieces("char", timestamp with time zone, timestamp with time zone, boolean, boolean); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_pieces(p_dim "char", p_start timestamp with time zone, p_end timestamp with time zone, p_start_outwards boolean DEFAULT true, p_end_outwards boolean DEFAULT true) RETURNS TABLE(level smallint, lo timestamp with time zone, hi timestamp with time zone, exact boolean, sign integer)
    LANGUAGE plpgsql STABLE ROWS 20
    AS $$
DECLARE
    st chat_rollup_state;
    coarse smallint;        -- the finest level the dimension keeps everywhere
    fine_from timestamptz;  -- where the coarse stretch ends: raw rows or finer levels after it
    block_lo timestamptz;   -- the coarse level's bucket holding fine_from
    block_hi timestamptz;
    s timestamptz := coalesce(p_start, '-infinity');
    e timestamptz := coalesce(p_end, 'infinity');
BEGIN
    SELECT * INTO st FROM chat_rollup_state;
    IF st.raw_horizon = '-infinity' THEN  -- raw rows everywhere: no coarse stretch
        RETURN QUERY SELECT * FROM chat_rollup_pieces_plain(p_dim, p_start, p_end, p_start_outwards, p_end_outwards);
        RETURN;
    END IF;
    SELECT min(l) INTO coarse FROM generate_series(1, chat_rollup_top()) l
     WHERE chat_rollup_kept_from(st, p_dim, l) = '-infinity';
    SELECT least(st.raw_horizon, min(chat_rollup_kept_from(st, p_dim, l))) INTO fine_from
      FROM generate_series(1, coarse - 1) l;
    IF isfinite(fine_from) AND coarse < chat_rollup_top() THEN
        block_lo := chat_rollup_bucket(coarse, fine_from);
        block_hi := chat_rollup_ceil(coarse, fine_from);
    END IF;
    IF block_lo IS NULL OR block_lo = fine_from OR s >= fine_from OR e <= fine_from
       OR s = '-infinity' AND e = 'infinity' THEN
        RETURN QUERY SELECT * FROM chat_rollup_pieces_plain(p_dim, p_start, p_end, p_start_outwards, p_end_outwards);
        RETURN;
    END IF;
    IF s < block_lo THEN
        RETURN QUERY SELECT * FROM chat_rollup_pieces_plain(p_dim, p_start, block_lo, p_start_outwards, false);
    END IF;
    IF e < block_hi AND e < st.raw_horizon THEN
        -- an end before the raw horizon rounds up to the finest level kept there
        e := chat_rollup_ceil((SELECT min(l) FROM generate_series(1, coarse) l
                                WHERE chat_rollup_kept_from(st, p_dim, l) < e)::integer, e);
    END IF;
    level := coarse; lo := block_lo; hi := block_hi; sign := 1;
    exact := s <= block_lo AND e = coalesce(p_end, 'infinity');
    RETURN NEXT;
    IF e < block_hi THEN
        RETURN QUERY SELECT p.level, p.lo, p.hi, p.exact, -p.sign
                       FROM chat_rollup_pieces_plain(p_dim, e, block_hi, false, false) p;
    ELSIF e > block_hi THEN
        RETURN QUERY SELECT * FROM chat_rollup_pieces_plain(p_dim, block_hi, p_end, false, p_end_outwards);
    END IF;
END
$$;


--
-- Name: chat_rollup_pieces_plain("char", timestamp with time zone, timestamp with time zone, boolean, boolean); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_pieces_plain(p_dim "char", p_start timestamp with time zone, p_end timestamp with time zone, p_start_outwards boolean DEFAULT true, p_end_outwards boolean DEFAULT true) RETURNS TABLE(level smallint, lo timestamp with time zone, hi timestamp with time zone, exact boolean, sign integer)
    LANGUAGE plpgsql STABLE ROWS 20
    AS $$
DECLARE
    st chat_rollup_state;
    los timestamptz[];
    his timestamptz[];
    signs integer[];
    next_los timestamptz[];
    next_his timestamptz[];
    next_signs integer[];
    a timestamptz;
    b timestamptz;
    s integer;
    kept timestamptz;
    start_up float8[];    -- chat_rollup_edge_costs of p_start, when first needed
    start_down float8[];
    end_up float8[];      -- and of p_end
    end_down float8[];
BEGIN
    exact := true;
    los := ARRAY[coalesce(p_start, '-infinity')];
    his := ARRAY[coalesce(p_end, 'infinity')];
    signs := ARRAY[1];
    IF los[1] = '-infinity' AND his[1] = 'infinity' THEN
        level := chat_rollup_top(); lo := '-infinity'; hi := 'infinity'; sign := 1;
        RETURN NEXT;
        RETURN;
    END IF;
    IF los[1] >= his[1] THEN
        RETURN;
    END IF;
    SELECT * INTO st FROM chat_rollup_state;
    FOR lvl IN REVERSE chat_rollup_top() - 1 .. 1 LOOP
        next_los := '{}';
        next_his := '{}';
        next_signs := '{}';
        kept := chat_rollup_kept_from(st, p_dim, lvl);
        FOR i IN 1 .. cardinality(los) LOOP
            a := los[i];
            b := his[i];
            s := signs[i];
            lo := chat_rollup_ceil(lvl, greatest(a, kept));
            hi := chat_rollup_bucket(lvl, b);
            IF lo <= hi THEN  -- an end of the range may round outwards, the part outside taken out
                IF a < lo AND (a = p_start AND p_start_outwards OR a = p_end AND p_end_outwards)
                   AND chat_rollup_bucket(lvl, a) >= greatest(kept, st.raw_horizon) THEN
                    IF a = p_start AND start_up IS NULL THEN
                        SELECT c.to_ceil, c.from_floor INTO start_up, start_down FROM chat_rollup_edge_costs(st, p_dim, a) c;
                    ELSIF a = p_end AND end_up IS NULL THEN
                        SELECT c.to_ceil, c.from_floor INTO end_up, end_down FROM chat_rollup_edge_costs(st, p_dim, a) c;
                    END IF;
                    IF (CASE WHEN a = p_start THEN start_down[lvl] + 1 < start_up[lvl]
                             ELSE end_down[lvl] + 1 < end_up[lvl] END) THEN
                        lo := chat_rollup_bucket(lvl, a);
                    END IF;
                END IF;
                IF hi < b AND (b = p_end AND p_end_outwards OR b = p_start AND p_start_outwards)
                   AND lo >= st.raw_horizon THEN
                    IF b = p_end AND end_up IS NULL THEN
                        SELECT c.to_ceil, c.from_floor INTO end_up, end_down FROM chat_rollup_edge_costs(st, p_dim, b) c;
                    ELSIF b = p_start AND start_up IS NULL THEN
                        SELECT c.to_ceil, c.from_floor INTO start_up, start_down FROM chat_rollup_edge_costs(st, p_dim, b) c;
                    END IF;
                    IF (CASE WHEN b = p_end THEN end_up[lvl] + 1 < end_down[lvl]
                             ELSE start_up[lvl] + 1 < start_down[lvl] END) THEN
                        hi := chat_rollup_ceil(lvl, b);
                    END IF;
                END IF;
            END IF;
            IF lo < hi THEN
                level := lvl; sign := s;
                RETURN NEXT;
                IF lo <> a THEN
                    next_los := next_los || least(a, lo); next_his := next_his || greatest(a, lo);
                    next_signs := next_signs || CASE WHEN lo > a THEN s ELSE -s END;
                END IF;
                IF hi <> b THEN
                    next_los := next_los || least(b, hi); next_his := next_his || greatest(b, hi);
                    next_signs := next_signs || CASE WHEN hi < b THEN s ELSE -s END;
                END IF;
            ELSE
                next_los := next_los || a; next_his := next_his || b; next_signs := next_signs || s;
            END IF;
        END LOOP;
        los := next_los;
        his := next_his;
        signs := next_signs;
    END LOOP;
    FOR i IN 1 .. cardinality(los) LOOP
        a := los[i];
        sign := signs[i];
        FOREACH b IN ARRAY ARRAY(
                SELECT DISTINCT h
                  FROM (SELECT chat_rollup_kept_from(st, p_dim, l) FROM generate_series(1, chat_rollup_top()) l
                        UNION ALL
                        SELECT unnest(ARRAY[st.raw_horizon, his[i]])) x (h)
                 WHERE h > los[i] AND h <= his[i] ORDER BY h) LOOP
            IF a >= st.raw_horizon THEN
                level := NULL; lo := a; hi := b;
            ELSE
                level := (SELECT min(l) FROM generate_series(1, chat_rollup_top()) l
                           WHERE chat_rollup_kept_from(st, p_dim, l) <= a);
                lo := chat_rollup_bucket(level, a);
                hi := chat_rollup_ceil(level, b);
            END IF;
            exact := lo = a AND hi = b;
            RETURN NEXT;
            a := b;
        END LOOP;
    END LOOP;
END
$$;


--
-- Name: chat_rollup_prune(timestamp with time zone, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_prune(p_from timestamp with time zone, p_detail_from timestamp with time zone DEFAULT NULL::timestamp with time zone, p_user_from timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS bigint
    LANGUAGE plpgsql
    AS $$
DECLARE
    st chat_rollup_state;
    removed bigint;
BEGIN
    UPDATE chat_rollup_state
       SET quarter_horizon = greatest(quarter_horizon, chat_rollup_bucket(4, p_from)),
           detail_horizon = greatest(detail_horizon, coalesce(chat_rollup_bucket(4, p_detail_from), detail_horizon)),
           user_horizon = greatest(user_horizon, coalesce(chat_rollup_bucket(4, p_user_from), user_horizon))
     WHERE quarter_horizon < chat_rollup_bucket(4, p_from)
        OR detail_horizon < chat_rollup_bucket(4, p_detail_from)
        OR user_horizon < chat_rollup_bucket(4, p_user_from)
    RETURNING * INTO st;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    DELETE FROM chat_rollups r
     WHERE r.level < 9 AND r.bucket < chat_rollup_kept_from(st, r.dim, r.level);
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END
$$;


--
-- Name: chat_rollup_raw(timestamp with time zone[], timestamp with time zone[], timestamp with time zone[], integer[], timestamp with time zone[], "char", bigint[], boolean); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_raw(p_slots timestamp with time zone[], p_los timestamp with time zone[], p_his timestamp with time zone[], p_signs integer[], p_tail timestamp with time zone[], p_dim "char", p_ids bigint[], p_latency boolean) RETURNS SETOF chatstats.chat_rollup_delta
    LANGUAGE plpgsql STABLE
    SET work_mem TO '64MB'
    SET max_parallel_workers_per_gather TO '0'
    SET enable_hashjoin TO 'off'
    SET enable_mergejoin TO 'off'
    SET enable_sort TO 'off'
    AS $_$
DECLARE
    edges text;
BEGIN
    SELECT coalesce(string_agg(format('r.created_at >= %L AND r.created_at < %L', e.lo, e.hi), ' OR '), 'false')
      INTO edges
      FROM unnest(p_los, p_his) e (lo, hi);
    IF cardinality(p_slots) = 0 AND (SELECT coalesce(max(id), 0) FROM chat_request_source())
                                     <= (SELECT watermark_id FROM chat_rollup_state) THEN
        RETURN;  -- no raw rows to read (none waits): the statement below is not even planned
    END IF;
    RETURN QUERY EXECUTE format($q$
        SELECT c.slot, coalesce(c.g, 0),
               c.sign * count(*) FILTER (WHERE c.status = 'completed'),
               c.sign * count(*) FILTER (WHERE c.status = 'failed'),
               c.sign * count(*) FILTER (WHERE c.status = 'partial'),
               c.sign * chat_sum(c.input_tokens), c.sign * chat_sum(c.output_tokens),
               c.sign * coalesce(sum(c.processing_time_ms), 0), c.sign * coalesce(sum(c.cost_usd), 0), %2$s, $7,
               NULL::vector, NULL::vector,
               c.sign * count(*) FILTER (WHERE c.status NOT IN ('completed', 'failed', 'partial')),
               c.sign * count(*) FILTER (WHERE c.processing_time_ms IS NULL)
          FROM (SELECT e.slot, e.sign, %1$s AS g, r.status, r.input_tokens, r.output_tokens,
                       r.processing_time_ms, r.cost_usd
                  FROM chat_request_source() r
                  JOIN unnest($1, $2, $9, $3) e (slot, lo, hi, sign) ON r.created_at >= e.lo AND r.created_at < e.hi
                 WHERE (%3$s) AND r.id <= $5
                UNION ALL
                SELECT $4[width_bucket(r.created_at, $4)], 1, %1$s, r.status, r.input_tokens,
                       r.output_tokens, r.processing_time_ms, r.cost_usd
                  FROM chat_request_source() r
                 WHERE r.id > $5 AND r.created_at >= $4[1] AND r.created_at < $4[cardinality($4)]) c
          %4$s
         WHERE $6 IS NULL OR c.g = ANY ($6) OR 0 = ANY ($6) AND c.g IS NULL
         GROUP BY c.slot, c.g, c.sign
        HAVING NOT $8 OR count(*) <= 16777216 OR chat_histogram_wide(NULL, NULL, count(*), NULL, false) IS NULL$q$,
        CASE p_dim WHEN 'm' THEN 'r.model_id::bigint' WHEN 'k' THEN 'r.api_key_id' WHEN 'u' THEN 'r.user_id'
                   ELSE 'NULL::bigint' END,
        CASE WHEN p_latency THEN 'chat_latency_scale(sum(s.latency), c.sign), chat_latency_scale(sum(s.latency_over), c.sign)'
             ELSE 'NULL::vector, NULL::vector' END,
        edges,
        CASE WHEN p_latency THEN 'LEFT JOIN chat_latency_steps s ON s.bucket = chat_latency_bucket(c.processing_time_ms)' END)
    USING p_slots, p_los, p_signs, p_tail, (SELECT watermark_id FROM chat_rollup_state), p_ids, p_dim, p_latency,
          p_his;
END
$_$;


--
-- Name: chat_rollup_refresh(bigint, integer, bigint, boolean); Type: PROCEDURE; Schema: chatstats; Owner: -
--

CREATE PROCEDURE chatstats.chat_rollup_refresh(IN p_batch_rows bigint DEFAULT 250000, IN p_lock_timeout_ms integer DEFAULT 200, INOUT rolled_up bigint DEFAULT NULL::bigint, INOUT caught_up boolean DEFAULT NULL::boolean)
    LANGUAGE plpgsql
    AS $$
DECLARE
    last_id bigint;
    upto bigint;
    state_version xid;
    st chat_rollup_state;
BEGIN
    rolled_up := NULL;
    caught_up := NULL;
    IF NOT pg_try_advisory_xact_lock(hashtext('chatstats.chat_rollup_refresh')) THEN
        RETURN;  -- another process is refreshing
    END IF;
    last_id := chat_rollup_safe_id(p_lock_timeout_ms);
    IF last_id IS NULL THEN
        RETURN;  -- writers are slow to finish; answers stay exact through the tail meanwhile
    END IF;
    SELECT least(last_id, s.watermark_id + p_batch_rows), s.xmin INTO upto, state_version
      FROM chat_rollup_state s;
    COMMIT;

    SELECT * INTO st FROM chat_rollup_state WHERE xmin = state_version FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;  -- the state changed since phase 1
    END IF;
    rolled_up := 0;
    IF upto > st.watermark_id THEN
        rolled_up := chat_rollup_fold(st.watermark_id, upto, st);
    END IF;
    -- refreshed_at: when the rollups were last known complete up to the watermark
    UPDATE chat_rollup_state
       SET watermark_id = greatest(watermark_id, upto), refreshed_at = now();
    caught_up := upto >= last_id;
    COMMIT;
END
$$;


--
-- Name: chat_rollup_reset(); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_reset() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'chatstats', 'public'
    AS $$
BEGIN
    PERFORM 1 FROM chat_rollup_state FOR UPDATE;
    TRUNCATE chat_rollups;
    UPDATE chat_rollup_state
       SET watermark_id = 0, refreshed_at = now(), quarter_horizon = '-infinity',
           raw_horizon = '-infinity', detail_horizon = '-infinity', user_horizon = '-infinity';
    RETURN NULL;
END
$$;


--
-- Name: chat_rollup_retain(timestamp with time zone, integer); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_retain(p_before timestamp with time zone, p_batch_rows integer DEFAULT 10000) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'chatstats', 'public'
    AS $$
DECLARE
    st chat_rollup_state;
    removed bigint;
BEGIN
    IF obj_description('public.chat_completion_requests'::regclass, 'pg_class') IS DISTINCT FROM
       'chatstats demo: made by chatstats migrate' THEN
        RAISE EXCEPTION 'chatstats does not delete the gateway''s request rows: its own TTL job removes them '
                        '(and chatstats keeps their statistics)'
              USING ERRCODE = 'feature_not_supported';
    END IF;
    UPDATE chat_rollup_state SET raw_horizon = date_bin('1 day', p_before, timestamptz '2000-01-01 00:00:00+00')
     WHERE raw_horizon < date_bin('1 day', p_before, timestamptz '2000-01-01 00:00:00+00');
    SELECT * INTO st FROM chat_rollup_state FOR SHARE;
    PERFORM set_config('chatstats.retention', 'on', true);  -- for chat_rollup_adjust
    -- the conditions again on c: a row updated meanwhile is checked in its new version
    DELETE FROM chat_completion_requests c
     WHERE c.id IN (SELECT r.id FROM chat_completion_requests r
                     WHERE r.created_at < st.raw_horizon AND r.id <= st.watermark_id
                     ORDER BY r.created_at LIMIT p_batch_rows)
       AND c.created_at < st.raw_horizon AND c.id <= st.watermark_id;
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM set_config('chatstats.retention', 'off', true);
    RETURN removed;
END
$$;


--
-- Name: chat_rollup_safe_id(integer); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_safe_id(p_wait_ms integer) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'chatstats', 'public'
    AS $$
DECLARE
    requests regclass := 'chat_completion_requests'::regclass;
    ids regclass := pg_get_serial_sequence('chat_completion_requests', 'id')::regclass;
    issued bigint;
    top bigint;
    writers text[];
    deadline timestamptz := clock_timestamp() + make_interval(secs => p_wait_ms / 1000.0);
    pause float8 := 0.001;
BEGIN
    issued := chat_rollup_lock_top_id(least(p_wait_ms, 5));
    IF issued IS NOT NULL OR ids IS NULL OR (SELECT seqcache FROM pg_sequence WHERE seqrelid = ids) <> 1 THEN
        RETURN issued;
    END IF;
    -- every id committed by now was handed out before: none above the sequence's value
    -- but explicit ones (read in this order, or rows committed meanwhile would count)
    top := coalesce((SELECT max(id) FROM chat_completion_requests), 0);
    issued := pg_sequence_last_value(ids);  -- NULL before the first
    IF issued IS NULL OR issued < top THEN
        RETURN NULL;
    END IF;
    writers := ARRAY(SELECT virtualtransaction FROM pg_locks
                      WHERE locktype = 'relation' AND relation = requests AND mode = 'RowExclusiveLock'
                        AND granted AND pid IS DISTINCT FROM pg_backend_pid());
    -- (pg_locks takes the lock manager's locks to read: ask again after 1, 2, 4... ms)
    WHILE cardinality(writers) > 0 AND EXISTS (
            SELECT FROM pg_locks WHERE locktype = 'relation' AND relation = requests
                                   AND virtualtransaction = ANY (writers)) LOOP
        IF clock_timestamp() > deadline THEN
            RETURN NULL;
        END IF;
        PERFORM pg_sleep(pause);
        pause := least(pause * 2, 0.05);
    END LOOP;
    RETURN issued;
END
$$;


--
-- Name: chat_rollup_series("char", timestamp with time zone[], bigint[], boolean); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_series(p_dim "char", p_bounds timestamp with time zone[], p_ids bigint[], p_latency boolean) RETURNS SETOF chatstats.chat_rollup_delta
    LANGUAGE sql STABLE
    AS $$
    WITH pieces AS MATERIALIZED (
        SELECT s.lo AS slot, p.*
          FROM unnest(p_bounds[:cardinality(p_bounds) - 1], p_bounds[2:]) s (lo, hi),
               chat_rollup_pieces(p_dim, s.lo, s.hi, s.lo = p_bounds[1], s.hi = p_bounds[cardinality(p_bounds)]) p),
    parts AS (
        -- A primary key range scan per piece (OFFSET 0 keeps each a subquery); some
        -- ids' rows are picked in the index (a condition on its last column), so that
        -- a generic plan serves some ids and all alike.
        SELECT p.slot, r.id, p.sign * r.completed AS completed, p.sign * r.failed AS failed,
               p.sign * r.partial AS partial, p.sign * r.other AS other, p.sign * r.untimed AS untimed,
               p.sign * r.input_tokens AS input_tokens,
               p.sign * r.output_tokens AS output_tokens, p.sign * r.processing_time_ms AS processing_time_ms,
               p.sign * r.cost_usd AS cost_usd, p.sign,
               CASE WHEN p_latency THEN r.latency END AS latency,
               CASE WHEN p_latency THEN r.latency_over END AS latency_over,
               CASE WHEN p_latency THEN r.latency_hi END AS latency_hi,
               CASE WHEN p_latency THEN r.latency_over_hi END AS latency_over_hi,
               NOT p_latency OR r.latency_hi IS NULL AND r.latency_over_hi IS NULL
                   AND r.completed + r.failed + r.partial + r.other <= chat_histogram_sum_limit() AS narrow
          FROM pieces p,
               LATERAL (SELECT * FROM chat_rollups r
                         WHERE p_ids IS NULL AND r.level = p.level AND r.dim = p_dim
                           AND r.bucket >= p.lo AND r.bucket < p.hi
                        UNION ALL
                        SELECT * FROM chat_rollups r
                         WHERE r.level = p.level AND r.dim = p_dim
                           AND r.bucket >= p.lo AND r.bucket < p.hi AND r.id = ANY (p_ids)
                        OFFSET 0) r
         WHERE p.level IS NOT NULL
        UNION ALL  -- raw rows: the ragged edges, and the tail over the range the pieces cover
        SELECT CASE WHEN d.bucket = x.tail_lo THEN p_bounds[1] ELSE d.bucket END, d.id, d.completed,
               d.failed, d.partial, d.other, d.untimed, d.input_tokens, d.output_tokens, d.processing_time_ms,
               d.cost_usd, 1, d.latency, d.latency_over, NULL, NULL,  -- signed already
               NOT p_latency OR abs(d.completed + d.failed + d.partial + d.other) <= chat_histogram_sum_limit()
          FROM (SELECT coalesce(array_agg(p.slot) FILTER (WHERE p.level IS NULL), '{}') AS slots,
                       coalesce(array_agg(p.lo) FILTER (WHERE p.level IS NULL), '{}') AS los,
                       coalesce(array_agg(p.hi) FILTER (WHERE p.level IS NULL), '{}') AS his,
                       coalesce(array_agg(p.sign) FILTER (WHERE p.level IS NULL), '{}') AS signs,
                       -- an outer edge rounded outwards takes the tail with it
                       least(p_bounds[1], min(p.lo) FILTER (WHERE NOT p.exact AND p.slot = p_bounds[1]))
                           AS tail_lo,
                       greatest(p_bounds[cardinality(p_bounds)], max(p.hi) FILTER (
                           WHERE NOT p.exact AND p.slot = p_bounds[cardinality(p_bounds) - 1])) AS tail_hi
                  FROM pieces p) x,
               chat_rollup_raw(x.slots, x.los, x.his, x.signs,
                               x.tail_lo || p_bounds[2:cardinality(p_bounds) - 1] || x.tail_hi,
                               p_dim, p_ids, p_latency) d),
    sums AS (
        SELECT t.slot, t.id, chat_sum(t.completed) AS completed, chat_sum(t.failed) AS failed,
               chat_sum(t.partial) AS partial, chat_sum(t.other) AS other, chat_sum(t.untimed) AS untimed,
               chat_sum(t.input_tokens) AS input_tokens,
               chat_sum(t.output_tokens) AS output_tokens, sum(t.processing_time_ms) AS processing_time_ms,
               sum(t.cost_usd) AS cost_usd,
               sum(t.latency) FILTER (WHERE t.narrow AND t.sign > 0) AS pos,
               sum(t.latency) FILTER (WHERE t.narrow AND t.sign < 0) AS neg,
               sum(t.latency_over) FILTER (WHERE t.narrow AND t.sign > 0) AS over_pos,
               sum(t.latency_over) FILTER (WHERE t.narrow AND t.sign < 0) AS over_neg,
               count(t.latency) * chat_histogram_sum_limit() AS narrow_rows,  -- at most (a piece per level and side)
               chat_histogram_sum(t.latency, t.latency_hi, t.sign) FILTER (WHERE NOT t.narrow) AS wide,
               chat_histogram_sum(t.latency_over, t.latency_over_hi, t.sign) FILTER (WHERE NOT t.narrow) AS over_wide
          FROM parts t
         GROUP BY t.slot, t.id)
    SELECT s.slot, s.id, s.completed, s.failed, s.partial, s.input_tokens, s.output_tokens,
           s.processing_time_ms, s.cost_usd,
           chat_histogram(s.pos, s.neg, s.narrow_rows, s.wide, false),
           chat_histogram(s.over_pos, s.over_neg, s.narrow_rows, s.over_wide, false), p_dim,
           chat_histogram(s.pos, s.neg, s.narrow_rows, s.wide, true),
           chat_histogram(s.over_pos, s.over_neg, s.narrow_rows, s.over_wide, true),
           s.other, s.untimed
      FROM sums s
    OFFSET 0  -- callers see columns, not expressions (which would keep theirs from being inlined)
$$;


--
-- Name: chat_rollup_set_source_ttl(integer); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_set_source_ttl(p_days integer) RETURNS boolean
    LANGUAGE sql
    AS $$
    WITH changed AS (
        UPDATE chat_rollup_state SET source_ttl = make_interval(days => nullif(p_days, 0))
         WHERE source_ttl IS DISTINCT FROM make_interval(days => nullif(p_days, 0))
        RETURNING 1)
    SELECT EXISTS (SELECT FROM changed)
$$;


--
-- Name: chat_rollup_source_count(bigint, bigint); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_source_count(p_after bigint, p_upto bigint) RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'chatstats', 'public'
    AS $$
    SELECT count(*) FROM chat_completion_requests
     WHERE id > p_after AND (p_upto IS NULL OR id <= p_upto)
$$;


--
-- Name: chat_rollup_sums(timestamp with time zone, timestamp with time zone, integer[], boolean); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_sums(p_start timestamp with time zone, p_end timestamp with time zone, p_ids integer[], p_latency boolean) RETURNS SETOF chatstats.chat_rollup_delta
    LANGUAGE sql STABLE
    AS $$
    SELECT NULL::timestamptz, s.id, s.completed, s.failed, s.partial, s.input_tokens,
           s.output_tokens, s.processing_time_ms, s.cost_usd, s.latency, s.latency_over, s.dim,
           s.latency_hi, s.latency_over_hi, s.other, s.untimed
      FROM chat_rollup_series('m', ARRAY[coalesce(p_start, '-infinity'), coalesce(p_end, 'infinity')],
                              p_ids::bigint[], p_latency) s
$$;


--
-- Name: chat_rollup_top(); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_top() RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT cardinality(chat_rollup_widths()) + 1
$$;


--
-- Name: chat_rollup_widths(); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.chat_rollup_widths() RETURNS interval[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT ARRAY['15 minutes', '1 hour', '6 hours', '1 day', '2 days', '4 days', '8 days',
                 '16 days', '32 days', '64 days', '128 days', '256 days', '512 days',
                 '1024 days']::interval[]
$$;


--
-- Name: get_model_request_counts(timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.get_model_request_counts(p_start_date timestamp with time zone DEFAULT NULL::timestamp with time zone, p_end_date timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS TABLE(model_id integer, model_name text, model_identifier text, provider_name text, provider_slug text, request_count bigint)
    LANGUAGE sql STABLE
    AS $$
    SELECT t.model_id, m.model_name, m.model_identifier, p.name, p.slug, t.total_requests
      FROM chat_request_stats(p_start_date, p_end_date, NULL, false) t
      LEFT JOIN chat_model_catalog() m ON m.id = t.model_id
      LEFT JOIN providers p ON p.id = m.provider_id
     WHERE t.model_id IS NOT NULL
     ORDER BY 6 DESC, 1
$$;


--
-- Name: get_model_request_stats(integer, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.get_model_request_stats(p_model_id integer, p_start_date timestamp with time zone DEFAULT NULL::timestamp with time zone, p_end_date timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS SETOF chatstats.model_stats
    LANGUAGE sql STABLE
    AS $$
    SELECT * FROM chat_model_stats(NULL, p_model_id, p_start_date, p_end_date)
$$;


--
-- Name: get_models_with_requests(timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.get_models_with_requests(p_start_date timestamp with time zone DEFAULT NULL::timestamp with time zone, p_end_date timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS SETOF chatstats.model_stats
    LANGUAGE sql STABLE
    AS $$
    SELECT * FROM chat_model_stats(NULL, NULL, p_start_date, p_end_date)
$$;


--
-- Name: get_models_with_requests_by_provider(integer, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.get_models_with_requests_by_provider(p_provider_id integer, p_start_date timestamp with time zone DEFAULT NULL::timestamp with time zone, p_end_date timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS SETOF chatstats.model_stats
    LANGUAGE sql STABLE
    AS $$
    SELECT * FROM chat_model_stats(p_provider_id, NULL, p_start_date, p_end_date)
$$;


--
-- Name: get_provider_request_stats(timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.get_provider_request_stats(p_start_date timestamp with time zone DEFAULT NULL::timestamp with time zone, p_end_date timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS TABLE(provider_id integer, name text, slug text, models_with_requests bigint, total_requests bigint)
    LANGUAGE sql STABLE
    AS $$
    SELECT s.provider_id, s.name, s.slug, s.models_with_requests, s.total_requests
      FROM chat_provider_request_stats(p_start_date, p_end_date) s
     WHERE s.provider_id IS NOT NULL
     ORDER BY s.total_requests DESC, s.provider_id
$$;


--
-- Name: get_unattributed_request_count(timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: chatstats; Owner: -
--

CREATE FUNCTION chatstats.get_unattributed_request_count(p_start_date timestamp with time zone DEFAULT NULL::timestamp with time zone, p_end_date timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS bigint
    LANGUAGE sql STABLE
    AS $$
    SELECT coalesce(sum(t.total_requests), 0)::bigint
      FROM chat_request_stats(p_start_date, p_end_date, '{0}', false) t
$$;


--
-- Name: chat_histogram_sum(public.vector, public.vector, integer); Type: AGGREGATE; Schema: chatstats; Owner: -
--

CREATE AGGREGATE chatstats.chat_histogram_sum(public.vector, public.vector, integer) (
    SFUNC = chatstats.chat_histogram_accum,
    STYPE = double precision[]
);


--
-- Name: chat_sum(bigint); Type: AGGREGATE; Schema: chatstats; Owner: -
--

CREATE AGGREGATE chatstats.chat_sum(bigint) (
    SFUNC = int8pl,
    STYPE = bigint,
    COMBINEFUNC = int8pl,
    PARALLEL = safe
);


--
-- Name: api_keys; Type: TABLE; Schema: chatstats; Owner: -
--

CREATE TABLE chatstats.api_keys (
    id bigint NOT NULL,
    name text NOT NULL,
    prefix text NOT NULL,
    key_hash bytea NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_used_at timestamp with time zone,
    revoked_at timestamp with time zone,
    CONSTRAINT api_keys_key_hash_check CHECK ((octet_length(key_hash) = 32)),
    CONSTRAINT api_keys_name_check CHECK (((char_length(name) >= 1) AND (char_length(name) <= 100)))
);


--
-- Name: api_keys_id_seq; Type: SEQUENCE; Schema: chatstats; Owner: -
--

ALTER TABLE chatstats.api_keys ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME chatstats.api_keys_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: chat_latency_steps; Type: TABLE; Schema: chatstats; Owner: -
--

CREATE TABLE chatstats.chat_latency_steps (
    bucket integer NOT NULL,
    latency public.vector(494) NOT NULL,
    latency_over public.vector(418)
);
ALTER TABLE ONLY chatstats.chat_latency_steps ALTER COLUMN latency SET STORAGE PLAIN;
ALTER TABLE ONLY chatstats.chat_latency_steps ALTER COLUMN latency_over SET STORAGE PLAIN;


--
-- Name: chat_rollup_backfill_blocks; Type: TABLE; Schema: chatstats; Owner: -
--

CREATE UNLOGGED TABLE chatstats.chat_rollup_backfill_blocks (
    lo timestamp with time zone NOT NULL,
    hi timestamp with time zone NOT NULL,
    snapshot pg_snapshot NOT NULL
);


--
-- Name: chat_rollup_backfill_log; Type: TABLE; Schema: chatstats; Owner: -
--

CREATE TABLE chatstats.chat_rollup_backfill_log (
    xid xid8 DEFAULT pg_current_xact_id() NOT NULL,
    sign integer NOT NULL,
    input chatstats.chat_rollup_input NOT NULL
);


--
-- Name: chat_rollup_backfill_sums; Type: TABLE; Schema: chatstats; Owner: -
--

CREATE TABLE chatstats.chat_rollup_backfill_sums (
    level smallint CONSTRAINT chat_rollups_level_not_null NOT NULL,
    dim "char" CONSTRAINT chat_rollups_dim_not_null NOT NULL,
    bucket timestamp with time zone CONSTRAINT chat_rollups_bucket_not_null NOT NULL,
    id bigint CONSTRAINT chat_rollups_id_not_null NOT NULL,
    completed bigint CONSTRAINT chat_rollups_completed_not_null NOT NULL,
    failed bigint CONSTRAINT chat_rollups_failed_not_null NOT NULL,
    partial bigint CONSTRAINT chat_rollups_partial_not_null NOT NULL,
    input_tokens bigint CONSTRAINT chat_rollups_input_tokens_not_null NOT NULL,
    output_tokens bigint CONSTRAINT chat_rollups_output_tokens_not_null NOT NULL,
    processing_time_ms numeric CONSTRAINT chat_rollups_processing_time_ms_not_null NOT NULL,
    cost_usd numeric CONSTRAINT chat_rollups_cost_usd_not_null NOT NULL,
    latency public.vector(494) CONSTRAINT chat_rollups_latency_not_null NOT NULL,
    latency_over public.vector(418),
    latency_hi public.vector(494),
    latency_over_hi public.vector(418),
    other bigint DEFAULT 0 NOT NULL,
    untimed bigint DEFAULT 0 NOT NULL
)
PARTITION BY LIST (level);
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums ALTER COLUMN latency SET STORAGE MAIN;
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums ALTER COLUMN latency_over SET STORAGE MAIN;


--
-- Name: chat_rollup_backfill_sums_1; Type: TABLE; Schema: chatstats; Owner: -
--

CREATE UNLOGGED TABLE chatstats.chat_rollup_backfill_sums_1 (
    level smallint CONSTRAINT chat_rollups_level_not_null NOT NULL,
    dim "char" CONSTRAINT chat_rollups_dim_not_null NOT NULL,
    bucket timestamp with time zone CONSTRAINT chat_rollups_bucket_not_null NOT NULL,
    id bigint CONSTRAINT chat_rollups_id_not_null NOT NULL,
    completed bigint CONSTRAINT chat_rollups_completed_not_null NOT NULL,
    failed bigint CONSTRAINT chat_rollups_failed_not_null NOT NULL,
    partial bigint CONSTRAINT chat_rollups_partial_not_null NOT NULL,
    input_tokens bigint CONSTRAINT chat_rollups_input_tokens_not_null NOT NULL,
    output_tokens bigint CONSTRAINT chat_rollups_output_tokens_not_null NOT NULL,
    processing_time_ms numeric CONSTRAINT chat_rollups_processing_time_ms_not_null NOT NULL,
    cost_usd numeric CONSTRAINT chat_rollups_cost_usd_not_null NOT NULL,
    latency public.vector(494) CONSTRAINT chat_rollups_latency_not_null NOT NULL,
    latency_over public.vector(418),
    latency_hi public.vector(494),
    latency_over_hi public.vector(418),
    other bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_other_not_null NOT NULL,
    untimed bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_untimed_not_null NOT NULL
)
WITH (toast_tuple_target='128');
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_1 ALTER COLUMN latency SET STORAGE MAIN;
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_1 ALTER COLUMN latency_over SET STORAGE MAIN;


--
-- Name: chat_rollup_backfill_sums_10; Type: TABLE; Schema: chatstats; Owner: -
--

CREATE UNLOGGED TABLE chatstats.chat_rollup_backfill_sums_10 (
    level smallint CONSTRAINT chat_rollups_level_not_null NOT NULL,
    dim "char" CONSTRAINT chat_rollups_dim_not_null NOT NULL,
    bucket timestamp with time zone CONSTRAINT chat_rollups_bucket_not_null NOT NULL,
    id bigint CONSTRAINT chat_rollups_id_not_null NOT NULL,
    completed bigint CONSTRAINT chat_rollups_completed_not_null NOT NULL,
    failed bigint CONSTRAINT chat_rollups_failed_not_null NOT NULL,
    partial bigint CONSTRAINT chat_rollups_partial_not_null NOT NULL,
    input_tokens bigint CONSTRAINT chat_rollups_input_tokens_not_null NOT NULL,
    output_tokens bigint CONSTRAINT chat_rollups_output_tokens_not_null NOT NULL,
    processing_time_ms numeric CONSTRAINT chat_rollups_processing_time_ms_not_null NOT NULL,
    cost_usd numeric CONSTRAINT chat_rollups_cost_usd_not_null NOT NULL,
    latency public.vector(494) CONSTRAINT chat_rollups_latency_not_null NOT NULL,
    latency_over public.vector(418),
    latency_hi public.vector(494),
    latency_over_hi public.vector(418),
    other bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_other_not_null NOT NULL,
    untimed bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_untimed_not_null NOT NULL
)
WITH (toast_tuple_target='128');
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_10 ALTER COLUMN latency SET STORAGE MAIN;
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_10 ALTER COLUMN latency_over SET STORAGE MAIN;


--
-- Name: chat_rollup_backfill_sums_11; Type: TABLE; Schema: chatstats; Owner: -
--

CREATE UNLOGGED TABLE chatstats.chat_rollup_backfill_sums_11 (
    level smallint CONSTRAINT chat_rollups_level_not_null NOT NULL,
    dim "char" CONSTRAINT chat_rollups_dim_not_null NOT NULL,
    bucket timestamp with time zone CONSTRAINT chat_rollups_bucket_not_null NOT NULL,
    id bigint CONSTRAINT chat_rollups_id_not_null NOT NULL,
    completed bigint CONSTRAINT chat_rollups_completed_not_null NOT NULL,
    failed bigint CONSTRAINT chat_rollups_failed_not_null NOT NULL,
    partial bigint CONSTRAINT chat_rollups_partial_not_null NOT NULL,
    input_tokens bigint CONSTRAINT chat_rollups_input_tokens_not_null NOT NULL,
    output_tokens bigint CONSTRAINT chat_rollups_output_tokens_not_null NOT NULL,
    processing_time_ms numeric CONSTRAINT chat_rollups_processing_time_ms_not_null NOT NULL,
    cost_usd numeric CONSTRAINT chat_rollups_cost_usd_not_null NOT NULL,
    latency public.vector(494) CONSTRAINT chat_rollups_latency_not_null NOT NULL,
    latency_over public.vector(418),
    latency_hi public.vector(494),
    latency_over_hi public.vector(418),
    other bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_other_not_null NOT NULL,
    untimed bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_untimed_not_null NOT NULL
)
WITH (toast_tuple_target='128');
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_11 ALTER COLUMN latency SET STORAGE MAIN;
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_11 ALTER COLUMN latency_over SET STORAGE MAIN;


--
-- Name: chat_rollup_backfill_sums_12; Type: TABLE; Schema: chatstats; Owner: -
--

CREATE UNLOGGED TABLE chatstats.chat_rollup_backfill_sums_12 (
    level smallint CONSTRAINT chat_rollups_level_not_null NOT NULL,
    dim "char" CONSTRAINT chat_rollups_dim_not_null NOT NULL,
    bucket timestamp with time zone CONSTRAINT chat_rollups_bucket_not_null NOT NULL,
    id bigint CONSTRAINT chat_rollups_id_not_null NOT NULL,
    completed bigint CONSTRAINT chat_rollups_completed_not_null NOT NULL,
    failed bigint CONSTRAINT chat_rollups_failed_not_null NOT NULL,
    partial bigint CONSTRAINT chat_rollups_partial_not_null NOT NULL,
    input_tokens bigint CONSTRAINT chat_rollups_input_tokens_not_null NOT NULL,
    output_tokens bigint CONSTRAINT chat_rollups_output_tokens_not_null NOT NULL,
    processing_time_ms numeric CONSTRAINT chat_rollups_processing_time_ms_not_null NOT NULL,
    cost_usd numeric CONSTRAINT chat_rollups_cost_usd_not_null NOT NULL,
    latency public.vector(494) CONSTRAINT chat_rollups_latency_not_null NOT NULL,
    latency_over public.vector(418),
    latency_hi public.vector(494),
    latency_over_hi public.vector(418),
    other bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_other_not_null NOT NULL,
    untimed bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_untimed_not_null NOT NULL
)
WITH (toast_tuple_target='128');
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_12 ALTER COLUMN latency SET STORAGE MAIN;
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_12 ALTER COLUMN latency_over SET STORAGE MAIN;


--
-- Name: chat_rollup_backfill_sums_13; Type: TABLE; Schema: chatstats; Owner: -
--

CREATE UNLOGGED TABLE chatstats.chat_rollup_backfill_sums_13 (
    level smallint CONSTRAINT chat_rollups_level_not_null NOT NULL,
    dim "char" CONSTRAINT chat_rollups_dim_not_null NOT NULL,
    bucket timestamp with time zone CONSTRAINT chat_rollups_bucket_not_null NOT NULL,
    id bigint CONSTRAINT chat_rollups_id_not_null NOT NULL,
    completed bigint CONSTRAINT chat_rollups_completed_not_null NOT NULL,
    failed bigint CONSTRAINT chat_rollups_failed_not_null NOT NULL,
    partial bigint CONSTRAINT chat_rollups_partial_not_null NOT NULL,
    input_tokens bigint CONSTRAINT chat_rollups_input_tokens_not_null NOT NULL,
    output_tokens bigint CONSTRAINT chat_rollups_output_tokens_not_null NOT NULL,
    processing_time_ms numeric CONSTRAINT chat_rollups_processing_time_ms_not_null NOT NULL,
    cost_usd numeric CONSTRAINT chat_rollups_cost_usd_not_null NOT NULL,
    latency public.vector(494) CONSTRAINT chat_rollups_latency_not_null NOT NULL,
    latency_over public.vector(418),
    latency_hi public.vector(494),
    latency_over_hi public.vector(418),
    other bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_other_not_null NOT NULL,
    untimed bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_untimed_not_null NOT NULL
)
WITH (toast_tuple_target='128');
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_13 ALTER COLUMN latency SET STORAGE MAIN;
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_13 ALTER COLUMN latency_over SET STORAGE MAIN;


--
-- Name: chat_rollup_backfill_sums_14; Type: TABLE; Schema: chatstats; Owner: -
--

CREATE UNLOGGED TABLE chatstats.chat_rollup_backfill_sums_14 (
    level smallint CONSTRAINT chat_rollups_level_not_null NOT NULL,
    dim "char" CONSTRAINT chat_rollups_dim_not_null NOT NULL,
    bucket timestamp with time zone CONSTRAINT chat_rollups_bucket_not_null NOT NULL,
    id bigint CONSTRAINT chat_rollups_id_not_null NOT NULL,
    completed bigint CONSTRAINT chat_rollups_completed_not_null NOT NULL,
    failed bigint CONSTRAINT chat_rollups_failed_not_null NOT NULL,
    partial bigint CONSTRAINT chat_rollups_partial_not_null NOT NULL,
    input_tokens bigint CONSTRAINT chat_rollups_input_tokens_not_null NOT NULL,
    output_tokens bigint CONSTRAINT chat_rollups_output_tokens_not_null NOT NULL,
    processing_time_ms numeric CONSTRAINT chat_rollups_processing_time_ms_not_null NOT NULL,
    cost_usd numeric CONSTRAINT chat_rollups_cost_usd_not_null NOT NULL,
    latency public.vector(494) CONSTRAINT chat_rollups_latency_not_null NOT NULL,
    latency_over public.vector(418),
    latency_hi public.vector(494),
    latency_over_hi public.vector(418),
    other bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_other_not_null NOT NULL,
    untimed bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_untimed_not_null NOT NULL
)
WITH (toast_tuple_target='128');
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_14 ALTER COLUMN latency SET STORAGE MAIN;
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_14 ALTER COLUMN latency_over SET STORAGE MAIN;


--
-- Name: chat_rollup_backfill_sums_15; Type: TABLE; Schema: chatstats; Owner: -
--

CREATE UNLOGGED TABLE chatstats.chat_rollup_backfill_sums_15 (
    level smallint CONSTRAINT chat_rollups_level_not_null NOT NULL,
    dim "char" CONSTRAINT chat_rollups_dim_not_null NOT NULL,
    bucket timestamp with time zone CONSTRAINT chat_rollups_bucket_not_null NOT NULL,
    id bigint CONSTRAINT chat_rollups_id_not_null NOT NULL,
    completed bigint CONSTRAINT chat_rollups_completed_not_null NOT NULL,
    failed bigint CONSTRAINT chat_rollups_failed_not_null NOT NULL,
    partial bigint CONSTRAINT chat_rollups_partial_not_null NOT NULL,
    input_tokens bigint CONSTRAINT chat_rollups_input_tokens_not_null NOT NULL,
    output_tokens bigint CONSTRAINT chat_rollups_output_tokens_not_null NOT NULL,
    processing_time_ms numeric CONSTRAINT chat_rollups_processing_time_ms_not_null NOT NULL,
    cost_usd numeric CONSTRAINT chat_rollups_cost_usd_not_null NOT NULL,
    latency public.vector(494) CONSTRAINT chat_rollups_latency_not_null NOT NULL,
    latency_over public.vector(418),
    latency_hi public.vector(494),
    latency_over_hi public.vector(418),
    other bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_other_not_null NOT NULL,
    untimed bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_untimed_not_null NOT NULL
)
WITH (toast_tuple_target='128');
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_15 ALTER COLUMN latency SET STORAGE MAIN;
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_15 ALTER COLUMN latency_over SET STORAGE MAIN;


--
-- Name: chat_rollup_backfill_sums_2; Type: TABLE; Schema: chatstats; Owner: -
--

CREATE UNLOGGED TABLE chatstats.chat_rollup_backfill_sums_2 (
    level smallint CONSTRAINT chat_rollups_level_not_null NOT NULL,
    dim "char" CONSTRAINT chat_rollups_dim_not_null NOT NULL,
    bucket timestamp with time zone CONSTRAINT chat_rollups_bucket_not_null NOT NULL,
    id bigint CONSTRAINT chat_rollups_id_not_null NOT NULL,
    completed bigint CONSTRAINT chat_rollups_completed_not_null NOT NULL,
    failed bigint CONSTRAINT chat_rollups_failed_not_null NOT NULL,
    partial bigint CONSTRAINT chat_rollups_partial_not_null NOT NULL,
    input_tokens bigint CONSTRAINT chat_rollups_input_tokens_not_null NOT NULL,
    output_tokens bigint CONSTRAINT chat_rollups_output_tokens_not_null NOT NULL,
    processing_time_ms numeric CONSTRAINT chat_rollups_processing_time_ms_not_null NOT NULL,
    cost_usd numeric CONSTRAINT chat_rollups_cost_usd_not_null NOT NULL,
    latency public.vector(494) CONSTRAINT chat_rollups_latency_not_null NOT NULL,
    latency_over public.vector(418),
    latency_hi public.vector(494),
    latency_over_hi public.vector(418),
    other bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_other_not_null NOT NULL,
    untimed bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_untimed_not_null NOT NULL
)
WITH (toast_tuple_target='128');
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_2 ALTER COLUMN latency SET STORAGE MAIN;
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_2 ALTER COLUMN latency_over SET STORAGE MAIN;


--
-- Name: chat_rollup_backfill_sums_3; Type: TABLE; Schema: chatstats; Owner: -
--

CREATE UNLOGGED TABLE chatstats.chat_rollup_backfill_sums_3 (
    level smallint CONSTRAINT chat_rollups_level_not_null NOT NULL,
    dim "char" CONSTRAINT chat_rollups_dim_not_null NOT NULL,
    bucket timestamp with time zone CONSTRAINT chat_rollups_bucket_not_null NOT NULL,
    id bigint CONSTRAINT chat_rollups_id_not_null NOT NULL,
    completed bigint CONSTRAINT chat_rollups_completed_not_null NOT NULL,
    failed bigint CONSTRAINT chat_rollups_failed_not_null NOT NULL,
    partial bigint CONSTRAINT chat_rollups_partial_not_null NOT NULL,
    input_tokens bigint CONSTRAINT chat_rollups_input_tokens_not_null NOT NULL,
    output_tokens bigint CONSTRAINT chat_rollups_output_tokens_not_null NOT NULL,
    processing_time_ms numeric CONSTRAINT chat_rollups_processing_time_ms_not_null NOT NULL,
    cost_usd numeric CONSTRAINT chat_rollups_cost_usd_not_null NOT NULL,
    latency public.vector(494) CONSTRAINT chat_rollups_latency_not_null NOT NULL,
    latency_over public.vector(418),
    latency_hi public.vector(494),
    latency_over_hi public.vector(418),
    other bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_other_not_null NOT NULL,
    untimed bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_untimed_not_null NOT NULL
)
WITH (toast_tuple_target='128');
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_3 ALTER COLUMN latency SET STORAGE MAIN;
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_3 ALTER COLUMN latency_over SET STORAGE MAIN;


--
-- Name: chat_rollup_backfill_sums_4; Type: TABLE; Schema: chatstats; Owner: -
--

CREATE UNLOGGED TABLE chatstats.chat_rollup_backfill_sums_4 (
    level smallint CONSTRAINT chat_rollups_level_not_null NOT NULL,
    dim "char" CONSTRAINT chat_rollups_dim_not_null NOT NULL,
    bucket timestamp with time zone CONSTRAINT chat_rollups_bucket_not_null NOT NULL,
    id bigint CONSTRAINT chat_rollups_id_not_null NOT NULL,
    completed bigint CONSTRAINT chat_rollups_completed_not_null NOT NULL,
    failed bigint CONSTRAINT chat_rollups_failed_not_null NOT NULL,
    partial bigint CONSTRAINT chat_rollups_partial_not_null NOT NULL,
    input_tokens bigint CONSTRAINT chat_rollups_input_tokens_not_null NOT NULL,
    output_tokens bigint CONSTRAINT chat_rollups_output_tokens_not_null NOT NULL,
    processing_time_ms numeric CONSTRAINT chat_rollups_processing_time_ms_not_null NOT NULL,
    cost_usd numeric CONSTRAINT chat_rollups_cost_usd_not_null NOT NULL,
    latency public.vector(494) CONSTRAINT chat_rollups_latency_not_null NOT NULL,
    latency_over public.vector(418),
    latency_hi public.vector(494),
    latency_over_hi public.vector(418),
    other bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_other_not_null NOT NULL,
    untimed bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_untimed_not_null NOT NULL
)
WITH (toast_tuple_target='128');
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_4 ALTER COLUMN latency SET STORAGE MAIN;
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_4 ALTER COLUMN latency_over SET STORAGE MAIN;


--
-- Name: chat_rollup_backfill_sums_5; Type: TABLE; Schema: chatstats; Owner: -
--

CREATE UNLOGGED TABLE chatstats.chat_rollup_backfill_sums_5 (
    level smallint CONSTRAINT chat_rollups_level_not_null NOT NULL,
    dim "char" CONSTRAINT chat_rollups_dim_not_null NOT NULL,
    bucket timestamp with time zone CONSTRAINT chat_rollups_bucket_not_null NOT NULL,
    id bigint CONSTRAINT chat_rollups_id_not_null NOT NULL,
    completed bigint CONSTRAINT chat_rollups_completed_not_null NOT NULL,
    failed bigint CONSTRAINT chat_rollups_failed_not_null NOT NULL,
    partial bigint CONSTRAINT chat_rollups_partial_not_null NOT NULL,
    input_tokens bigint CONSTRAINT chat_rollups_input_tokens_not_null NOT NULL,
    output_tokens bigint CONSTRAINT chat_rollups_output_tokens_not_null NOT NULL,
    processing_time_ms numeric CONSTRAINT chat_rollups_processing_time_ms_not_null NOT NULL,
    cost_usd numeric CONSTRAINT chat_rollups_cost_usd_not_null NOT NULL,
    latency public.vector(494) CONSTRAINT chat_rollups_latency_not_null NOT NULL,
    latency_over public.vector(418),
    latency_hi public.vector(494),
    latency_over_hi public.vector(418),
    other bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_other_not_null NOT NULL,
    untimed bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_untimed_not_null NOT NULL
)
WITH (toast_tuple_target='128');
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_5 ALTER COLUMN latency SET STORAGE MAIN;
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_5 ALTER COLUMN latency_over SET STORAGE MAIN;


--
-- Name: chat_rollup_backfill_sums_6; Type: TABLE; Schema: chatstats; Owner: -
--

CREATE UNLOGGED TABLE chatstats.chat_rollup_backfill_sums_6 (
    level smallint CONSTRAINT chat_rollups_level_not_null NOT NULL,
    dim "char" CONSTRAINT chat_rollups_dim_not_null NOT NULL,
    bucket timestamp with time zone CONSTRAINT chat_rollups_bucket_not_null NOT NULL,
    id bigint CONSTRAINT chat_rollups_id_not_null NOT NULL,
    completed bigint CONSTRAINT chat_rollups_completed_not_null NOT NULL,
    failed bigint CONSTRAINT chat_rollups_failed_not_null NOT NULL,
    partial bigint CONSTRAINT chat_rollups_partial_not_null NOT NULL,
    input_tokens bigint CONSTRAINT chat_rollups_input_tokens_not_null NOT NULL,
    output_tokens bigint CONSTRAINT chat_rollups_output_tokens_not_null NOT NULL,
    processing_time_ms numeric CONSTRAINT chat_rollups_processing_time_ms_not_null NOT NULL,
    cost_usd numeric CONSTRAINT chat_rollups_cost_usd_not_null NOT NULL,
    latency public.vector(494) CONSTRAINT chat_rollups_latency_not_null NOT NULL,
    latency_over public.vector(418),
    latency_hi public.vector(494),
    latency_over_hi public.vector(418),
    other bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_other_not_null NOT NULL,
    untimed bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_untimed_not_null NOT NULL
)
WITH (toast_tuple_target='128');
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_6 ALTER COLUMN latency SET STORAGE MAIN;
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_6 ALTER COLUMN latency_over SET STORAGE MAIN;


--
-- Name: chat_rollup_backfill_sums_7; Type: TABLE; Schema: chatstats; Owner: -
--

CREATE UNLOGGED TABLE chatstats.chat_rollup_backfill_sums_7 (
    level smallint CONSTRAINT chat_rollups_level_not_null NOT NULL,
    dim "char" CONSTRAINT chat_rollups_dim_not_null NOT NULL,
    bucket timestamp with time zone CONSTRAINT chat_rollups_bucket_not_null NOT NULL,
    id bigint CONSTRAINT chat_rollups_id_not_null NOT NULL,
    completed bigint CONSTRAINT chat_rollups_completed_not_null NOT NULL,
    failed bigint CONSTRAINT chat_rollups_failed_not_null NOT NULL,
    partial bigint CONSTRAINT chat_rollups_partial_not_null NOT NULL,
    input_tokens bigint CONSTRAINT chat_rollups_input_tokens_not_null NOT NULL,
    output_tokens bigint CONSTRAINT chat_rollups_output_tokens_not_null NOT NULL,
    processing_time_ms numeric CONSTRAINT chat_rollups_processing_time_ms_not_null NOT NULL,
    cost_usd numeric CONSTRAINT chat_rollups_cost_usd_not_null NOT NULL,
    latency public.vector(494) CONSTRAINT chat_rollups_latency_not_null NOT NULL,
    latency_over public.vector(418),
    latency_hi public.vector(494),
    latency_over_hi public.vector(418),
    other bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_other_not_null NOT NULL,
    untimed bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_untimed_not_null NOT NULL
)
WITH (toast_tuple_target='128');
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_7 ALTER COLUMN latency SET STORAGE MAIN;
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_7 ALTER COLUMN latency_over SET STORAGE MAIN;


--
-- Name: chat_rollup_backfill_sums_8; Type: TABLE; Schema: chatstats; Owner: -
--

CREATE UNLOGGED TABLE chatstats.chat_rollup_backfill_sums_8 (
    level smallint CONSTRAINT chat_rollups_level_not_null NOT NULL,
    dim "char" CONSTRAINT chat_rollups_dim_not_null NOT NULL,
    bucket timestamp with time zone CONSTRAINT chat_rollups_bucket_not_null NOT NULL,
    id bigint CONSTRAINT chat_rollups_id_not_null NOT NULL,
    completed bigint CONSTRAINT chat_rollups_completed_not_null NOT NULL,
    failed bigint CONSTRAINT chat_rollups_failed_not_null NOT NULL,
    partial bigint CONSTRAINT chat_rollups_partial_not_null NOT NULL,
    input_tokens bigint CONSTRAINT chat_rollups_input_tokens_not_null NOT NULL,
    output_tokens bigint CONSTRAINT chat_rollups_output_tokens_not_null NOT NULL,
    processing_time_ms numeric CONSTRAINT chat_rollups_processing_time_ms_not_null NOT NULL,
    cost_usd numeric CONSTRAINT chat_rollups_cost_usd_not_null NOT NULL,
    latency public.vector(494) CONSTRAINT chat_rollups_latency_not_null NOT NULL,
    latency_over public.vector(418),
    latency_hi public.vector(494),
    latency_over_hi public.vector(418),
    other bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_other_not_null NOT NULL,
    untimed bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_untimed_not_null NOT NULL
)
WITH (toast_tuple_target='128');
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_8 ALTER COLUMN latency SET STORAGE MAIN;
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_8 ALTER COLUMN latency_over SET STORAGE MAIN;


--
-- Name: chat_rollup_backfill_sums_9; Type: TABLE; Schema: chatstats; Owner: -
--

CREATE UNLOGGED TABLE chatstats.chat_rollup_backfill_sums_9 (
    level smallint CONSTRAINT chat_rollups_level_not_null NOT NULL,
    dim "char" CONSTRAINT chat_rollups_dim_not_null NOT NULL,
    bucket timestamp with time zone CONSTRAINT chat_rollups_bucket_not_null NOT NULL,
    id bigint CONSTRAINT chat_rollups_id_not_null NOT NULL,
    completed bigint CONSTRAINT chat_rollups_completed_not_null NOT NULL,
    failed bigint CONSTRAINT chat_rollups_failed_not_null NOT NULL,
    partial bigint CONSTRAINT chat_rollups_partial_not_null NOT NULL,
    input_tokens bigint CONSTRAINT chat_rollups_input_tokens_not_null NOT NULL,
    output_tokens bigint CONSTRAINT chat_rollups_output_tokens_not_null NOT NULL,
    processing_time_ms numeric CONSTRAINT chat_rollups_processing_time_ms_not_null NOT NULL,
    cost_usd numeric CONSTRAINT chat_rollups_cost_usd_not_null NOT NULL,
    latency public.vector(494) CONSTRAINT chat_rollups_latency_not_null NOT NULL,
    latency_over public.vector(418),
    latency_hi public.vector(494),
    latency_over_hi public.vector(418),
    other bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_other_not_null NOT NULL,
    untimed bigint DEFAULT 0 CONSTRAINT chat_rollup_backfill_sums_untimed_not_null NOT NULL
)
WITH (toast_tuple_target='128');
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_9 ALTER COLUMN latency SET STORAGE MAIN;
ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums_9 ALTER COLUMN latency_over SET STORAGE MAIN;


--
-- Name: chat_rollups; Type: TABLE; Schema: chatstats; Owner: -
--

CREATE TABLE chatstats.chat_rollups (
    level smallint CONSTRAINT chat_rollups_level_not_null1 NOT NULL,
    dim "char" CONSTRAINT chat_rollups_dim_not_null1 NOT NULL,
    bucket timestamp with time zone CONSTRAINT chat_rollups_bucket_not_null1 NOT NULL,
    id bigint CONSTRAINT chat_rollups_id_not_null1 NOT NULL,
    completed bigint CONSTRAINT chat_rollups_completed_not_null1 NOT NULL,
    failed bigint CONSTRAINT chat_rollups_failed_not_null1 NOT NULL,
    partial bigint CONSTRAINT chat_rollups_partial_not_null1 NOT NULL,
    input_tokens bigint CONSTRAINT chat_rollups_input_tokens_not_null1 NOT NULL,
    output_tokens bigint CONSTRAINT chat_rollups_output_tokens_not_null1 NOT NULL,
    processing_time_ms numeric CONSTRAINT chat_rollups_processing_time_ms_not_null1 NOT NULL,
    cost_usd numeric CONSTRAINT chat_rollups_cost_usd_not_null1 NOT NULL,
    latency public.vector(494) CONSTRAINT chat_rollups_latency_not_null1 NOT NULL,
    latency_over public.vector(418),
    latency_hi public.vector(494),
    latency_over_hi public.vector(418),
    latency_percentiles numeric[],
    other bigint DEFAULT 0 NOT NULL,
    untimed bigint DEFAULT 0 NOT NULL,
    CONSTRAINT chat_rollups_dim_check CHECK ((dim = ANY (ARRAY['m'::"char", 'k'::"char", 'u'::"char", 'a'::"char"]))),
    CONSTRAINT chat_rollups_level_check CHECK (((level >= 1) AND (level <= chatstats.chat_rollup_top())))
)
WITH (toast_tuple_target='128');
ALTER TABLE ONLY chatstats.chat_rollups ALTER COLUMN latency SET STORAGE MAIN;
ALTER TABLE ONLY chatstats.chat_rollups ALTER COLUMN latency_over SET STORAGE MAIN;


--
-- Name: COLUMN chat_rollups.dim; Type: COMMENT; Schema: chatstats; Owner: -
--

COMMENT ON COLUMN chatstats.chat_rollups.dim IS 'what id identifies: m a model, k an API key, u a user (0: requests without one), a all requests (id 0)';


--
-- Name: COLUMN chat_rollups.latency_percentiles; Type: COMMENT; Schema: chatstats; Owner: -
--

COMMENT ON COLUMN chatstats.chat_rollups.latency_percentiles IS 'p50, p95 and p99 of the histogram (latency + latency_hi, latency_over + latency_over_hi); kept on the models'' all-time rows only';


--
-- Name: outside_changes; Type: TABLE; Schema: chatstats; Owner: -
--

CREATE TABLE chatstats.outside_changes (
    id bigint NOT NULL,
    made text NOT NULL,
    undo text NOT NULL
);


--
-- Name: outside_changes_id_seq; Type: SEQUENCE; Schema: chatstats; Owner: -
--

ALTER TABLE chatstats.outside_changes ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME chatstats.outside_changes_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: chat_completion_requests_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.chat_completion_requests_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: chat_completion_requests_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.chat_completion_requests_id_seq OWNED BY public.chat_completion_requests.id;


--
-- Name: models; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.models (
    id integer NOT NULL,
    provider_id integer,
    model_name text NOT NULL,
    provider_model_id text NOT NULL,
    description text,
    context_length integer,
    is_active boolean DEFAULT true,
    metadata jsonb DEFAULT '{}'::jsonb,
    created_at timestamp with time zone DEFAULT now(),
    updated_at timestamp with time zone DEFAULT now()
);


--
-- Name: models_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.models_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: models_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.models_id_seq OWNED BY public.models.id;


--
-- Name: providers; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.providers (
    id integer NOT NULL,
    name text NOT NULL,
    slug text NOT NULL,
    is_active boolean DEFAULT true,
    metadata jsonb DEFAULT '{}'::jsonb,
    created_at timestamp with time zone DEFAULT now(),
    updated_at timestamp with time zone DEFAULT now()
);


--
-- Name: providers_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.providers_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: providers_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.providers_id_seq OWNED BY public.providers.id;


--
-- Name: chat_rollup_backfill_sums_1; Type: TABLE ATTACH; Schema: chatstats; Owner: -
--

ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums ATTACH PARTITION chatstats.chat_rollup_backfill_sums_1 FOR VALUES IN ('1');


--
-- Name: chat_rollup_backfill_sums_10; Type: TABLE ATTACH; Schema: chatstats; Owner: -
--

ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums ATTACH PARTITION chatstats.chat_rollup_backfill_sums_10 FOR VALUES IN ('10');


--
-- Name: chat_rollup_backfill_sums_11; Type: TABLE ATTACH; Schema: chatstats; Owner: -
--

ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums ATTACH PARTITION chatstats.chat_rollup_backfill_sums_11 FOR VALUES IN ('11');


--
-- Name: chat_rollup_backfill_sums_12; Type: TABLE ATTACH; Schema: chatstats; Owner: -
--

ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums ATTACH PARTITION chatstats.chat_rollup_backfill_sums_12 FOR VALUES IN ('12');


--
-- Name: chat_rollup_backfill_sums_13; Type: TABLE ATTACH; Schema: chatstats; Owner: -
--

ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums ATTACH PARTITION chatstats.chat_rollup_backfill_sums_13 FOR VALUES IN ('13');


--
-- Name: chat_rollup_backfill_sums_14; Type: TABLE ATTACH; Schema: chatstats; Owner: -
--

ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums ATTACH PARTITION chatstats.chat_rollup_backfill_sums_14 FOR VALUES IN ('14');


--
-- Name: chat_rollup_backfill_sums_15; Type: TABLE ATTACH; Schema: chatstats; Owner: -
--

ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums ATTACH PARTITION chatstats.chat_rollup_backfill_sums_15 FOR VALUES IN ('15');


--
-- Name: chat_rollup_backfill_sums_2; Type: TABLE ATTACH; Schema: chatstats; Owner: -
--

ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums ATTACH PARTITION chatstats.chat_rollup_backfill_sums_2 FOR VALUES IN ('2');


--
-- Name: chat_rollup_backfill_sums_3; Type: TABLE ATTACH; Schema: chatstats; Owner: -
--

ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums ATTACH PARTITION chatstats.chat_rollup_backfill_sums_3 FOR VALUES IN ('3');


--
-- Name: chat_rollup_backfill_sums_4; Type: TABLE ATTACH; Schema: chatstats; Owner: -
--

ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums ATTACH PARTITION chatstats.chat_rollup_backfill_sums_4 FOR VALUES IN ('4');


--
-- Name: chat_rollup_backfill_sums_5; Type: TABLE ATTACH; Schema: chatstats; Owner: -
--

ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums ATTACH PARTITION chatstats.chat_rollup_backfill_sums_5 FOR VALUES IN ('5');


--
-- Name: chat_rollup_backfill_sums_6; Type: TABLE ATTACH; Schema: chatstats; Owner: -
--

ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums ATTACH PARTITION chatstats.chat_rollup_backfill_sums_6 FOR VALUES IN ('6');


--
-- Name: chat_rollup_backfill_sums_7; Type: TABLE ATTACH; Schema: chatstats; Owner: -
--

ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums ATTACH PARTITION chatstats.chat_rollup_backfill_sums_7 FOR VALUES IN ('7');


--
-- Name: chat_rollup_backfill_sums_8; Type: TABLE ATTACH; Schema: chatstats; Owner: -
--

ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums ATTACH PARTITION chatstats.chat_rollup_backfill_sums_8 FOR VALUES IN ('8');


--
-- Name: chat_rollup_backfill_sums_9; Type: TABLE ATTACH; Schema: chatstats; Owner: -
--

ALTER TABLE ONLY chatstats.chat_rollup_backfill_sums ATTACH PARTITION chatstats.chat_rollup_backfill_sums_9 FOR VALUES IN ('9');


--
-- Name: chat_completion_requests id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.chat_completion_requests ALTER COLUMN id SET DEFAULT nextval('public.chat_completion_requests_id_seq'::regclass);


--
-- Name: models id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.models ALTER COLUMN id SET DEFAULT nextval('public.models_id_seq'::regclass);


--
-- Name: providers id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.providers ALTER COLUMN id SET DEFAULT nextval('public.providers_id_seq'::regclass);


--
-- Name: api_keys api_keys_key_hash_key; Type: CONSTRAINT; Schema: chatstats; Owner: -
--

ALTER TABLE ONLY chatstats.api_keys
    ADD CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash);


--
-- Name: api_keys api_keys_pkey; Type: CONSTRAINT; Schema: chatstats; Owner: -
--

ALTER TABLE ONLY chatstats.api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (id);


--
-- Name: chat_latency_steps chat_latency_steps_pkey; Type: CONSTRAINT; Schema: chatstats; Owner: -
--

ALTER TABLE ONLY chatstats.chat_latency_steps
    ADD CONSTRAINT chat_latency_steps_pkey PRIMARY KEY (bucket);


--
-- Name: chat_rollup_state chat_rollup_state_pkey; Type: CONSTRAINT; Schema: chatstats; Owner: -
--

ALTER TABLE ONLY chatstats.chat_rollup_state
    ADD CONSTRAINT chat_rollup_state_pkey PRIMARY KEY (singleton);


--
-- Name: chat_rollups chat_rollups_pkey; Type: CONSTRAINT; Schema: chatstats; Owner: -
--

ALTER TABLE ONLY chatstats.chat_rollups
    ADD CONSTRAINT chat_rollups_pkey PRIMARY KEY (level, dim, bucket, id);


--
-- Name: outside_changes outside_changes_pkey; Type: CONSTRAINT; Schema: chatstats; Owner: -
--

ALTER TABLE ONLY chatstats.outside_changes
    ADD CONSTRAINT outside_changes_pkey PRIMARY KEY (id);


--
-- Name: chat_completion_requests chat_completion_requests_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.chat_completion_requests
    ADD CONSTRAINT chat_completion_requests_pkey PRIMARY KEY (id);


--
-- Name: models models_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.models
    ADD CONSTRAINT models_pkey PRIMARY KEY (id);


--
-- Name: models models_provider_id_provider_model_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.models
    ADD CONSTRAINT models_provider_id_provider_model_id_key UNIQUE (provider_id, provider_model_id);


--
-- Name: providers providers_name_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.providers
    ADD CONSTRAINT providers_name_key UNIQUE (name);


--
-- Name: providers providers_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.providers
    ADD CONSTRAINT providers_pkey PRIMARY KEY (id);


--
-- Name: providers providers_slug_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.providers
    ADD CONSTRAINT providers_slug_key UNIQUE (slug);


--
-- Name: api_keys_active_name_idx; Type: INDEX; Schema: chatstats; Owner: -
--

CREATE UNIQUE INDEX api_keys_active_name_idx ON chatstats.api_keys USING btree (name) WHERE (revoked_at IS NULL);


--
-- Name: api_keys_active_prefix_idx; Type: INDEX; Schema: chatstats; Owner: -
--

CREATE INDEX api_keys_active_prefix_idx ON chatstats.api_keys USING btree (prefix) WHERE (revoked_at IS NULL);


--
-- Name: ccr_api_key_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ccr_api_key_idx ON public.chat_completion_requests USING btree (api_key_id);


--
-- Name: ccr_created_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ccr_created_idx ON public.chat_completion_requests USING btree (created_at);


--
-- Name: ccr_model_created_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ccr_model_created_idx ON public.chat_completion_requests USING btree (model_id, created_at);


--
-- Name: ccr_model_status_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ccr_model_status_idx ON public.chat_completion_requests USING btree (model_id, status);


--
-- Name: ccr_status_created_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ccr_status_created_idx ON public.chat_completion_requests USING btree (status, created_at);


--
-- Name: ccr_user_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ccr_user_idx ON public.chat_completion_requests USING btree (user_id);


--
-- Name: models_model_name_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX models_model_name_idx ON public.models USING btree (model_name);


--
-- Name: models_provider_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX models_provider_id_idx ON public.models USING btree (provider_id);


--
-- Name: chat_rollups chat_rollups_keep_percentiles; Type: TRIGGER; Schema: chatstats; Owner: -
--

CREATE TRIGGER chat_rollups_keep_percentiles BEFORE INSERT OR UPDATE ON chatstats.chat_rollups FOR EACH ROW WHEN (((new.level = chatstats.chat_rollup_top()) AND (new.dim = 'm'::"char"))) EXECUTE FUNCTION chatstats.chat_rollup_keep_percentiles();


--
-- Name: chat_completion_requests chatstats_rollup_delete; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER chatstats_rollup_delete AFTER DELETE ON public.chat_completion_requests REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION chatstats.chat_rollup_adjust();


--
-- Name: chat_completion_requests chatstats_rollup_truncate; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER chatstats_rollup_truncate AFTER TRUNCATE ON public.chat_completion_requests FOR EACH STATEMENT EXECUTE FUNCTION chatstats.chat_rollup_reset();


--
-- Name: chat_completion_requests chatstats_rollup_update; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER chatstats_rollup_update AFTER UPDATE ON public.chat_completion_requests REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION chatstats.chat_rollup_adjust();


--
-- Name: models models_provider_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.models
    ADD CONSTRAINT models_provider_id_fkey FOREIGN KEY (provider_id) REFERENCES public.providers(id) ON DELETE CASCADE;


--
-- Name: chat_completion_requests chatstats_read; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY chatstats_read ON public.chat_completion_requests FOR SELECT TO chatstats_api, chatstats_rollup USING (true);


--
-- Name: models chatstats_read; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY chatstats_read ON public.models FOR SELECT TO chatstats_api, chatstats_rollup USING (true);


--
-- Name: providers chatstats_read; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY chatstats_read ON public.providers FOR SELECT TO chatstats_api, chatstats_rollup USING (true);


--
-- Name: SCHEMA chatstats; Type: ACL; Schema: -; Owner: -
--

GRANT USAGE ON SCHEMA chatstats TO chatstats_api;
GRANT USAGE ON SCHEMA chatstats TO chatstats_rollup;


--
-- Name: FUNCTION api_key_lookup(p_prefix text); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.api_key_lookup(p_prefix text) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.api_key_lookup(p_prefix text) TO chatstats_api;


--
-- Name: FUNCTION api_key_touch(p_id bigint); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.api_key_touch(p_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.api_key_touch(p_id bigint) TO chatstats_api;


--
-- Name: FUNCTION api_keys_active(); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.api_keys_active() FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.api_keys_active() TO chatstats_api;


--
-- Name: FUNCTION change_outside(made text, undo text); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.change_outside(made text, undo text) FROM PUBLIC;


--
-- Name: FUNCTION chat_histogram(p_pos public.vector, p_neg public.vector, p_narrow_rows bigint, p_wide double precision[], p_hi boolean); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_histogram(p_pos public.vector, p_neg public.vector, p_narrow_rows bigint, p_wide double precision[], p_hi boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_histogram(p_pos public.vector, p_neg public.vector, p_narrow_rows bigint, p_wide double precision[], p_hi boolean) TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_histogram(p_pos public.vector, p_neg public.vector, p_narrow_rows bigint, p_wide double precision[], p_hi boolean) TO chatstats_rollup;


--
-- Name: FUNCTION chat_histogram_accum(p_state double precision[], p_lo public.vector, p_hi public.vector, p_sign integer); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_histogram_accum(p_state double precision[], p_lo public.vector, p_hi public.vector, p_sign integer) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_histogram_accum(p_state double precision[], p_lo public.vector, p_hi public.vector, p_sign integer) TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_histogram_accum(p_state double precision[], p_lo public.vector, p_hi public.vector, p_sign integer) TO chatstats_rollup;


--
-- Name: FUNCTION chat_histogram_narrow(p_hi public.vector, p_over_hi public.vector, p_requests bigint); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_histogram_narrow(p_hi public.vector, p_over_hi public.vector, p_requests bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_histogram_narrow(p_hi public.vector, p_over_hi public.vector, p_requests bigint) TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_histogram_narrow(p_hi public.vector, p_over_hi public.vector, p_requests bigint) TO chatstats_rollup;


--
-- Name: FUNCTION chat_histogram_narrow_limit(); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_histogram_narrow_limit() FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_histogram_narrow_limit() TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_histogram_narrow_limit() TO chatstats_rollup;


--
-- Name: FUNCTION chat_histogram_plus(p_lo public.vector, p_hi public.vector, p_delta public.vector, p_hi_part boolean); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_histogram_plus(p_lo public.vector, p_hi public.vector, p_delta public.vector, p_hi_part boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_histogram_plus(p_lo public.vector, p_hi public.vector, p_delta public.vector, p_hi_part boolean) TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_histogram_plus(p_lo public.vector, p_hi public.vector, p_delta public.vector, p_hi_part boolean) TO chatstats_rollup;


--
-- Name: FUNCTION chat_histogram_split(p_state double precision[], p_hi boolean); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_histogram_split(p_state double precision[], p_hi boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_histogram_split(p_state double precision[], p_hi boolean) TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_histogram_split(p_state double precision[], p_hi boolean) TO chatstats_rollup;


--
-- Name: FUNCTION chat_histogram_sum_limit(); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_histogram_sum_limit() FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_histogram_sum_limit() TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_histogram_sum_limit() TO chatstats_rollup;


--
-- Name: FUNCTION chat_histogram_values(p_lo public.vector, p_hi public.vector); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_histogram_values(p_lo public.vector, p_hi public.vector) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_histogram_values(p_lo public.vector, p_hi public.vector) TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_histogram_values(p_lo public.vector, p_hi public.vector) TO chatstats_rollup;


--
-- Name: FUNCTION chat_histogram_wide(p_pos public.vector, p_neg public.vector, p_narrow_rows bigint, p_wide double precision[], p_hi boolean); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_histogram_wide(p_pos public.vector, p_neg public.vector, p_narrow_rows bigint, p_wide double precision[], p_hi boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_histogram_wide(p_pos public.vector, p_neg public.vector, p_narrow_rows bigint, p_wide double precision[], p_hi boolean) TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_histogram_wide(p_pos public.vector, p_neg public.vector, p_narrow_rows bigint, p_wide double precision[], p_hi boolean) TO chatstats_rollup;


--
-- Name: FUNCTION chat_latency_bucket(p_ms numeric); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_latency_bucket(p_ms numeric) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_latency_bucket(p_ms numeric) TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_latency_bucket(p_ms numeric) TO chatstats_rollup;


--
-- Name: FUNCTION chat_latency_percentile(p_latency double precision[], p_over double precision[], p_fraction double precision); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_latency_percentile(p_latency double precision[], p_over double precision[], p_fraction double precision) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_latency_percentile(p_latency double precision[], p_over double precision[], p_fraction double precision) TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_latency_percentile(p_latency double precision[], p_over double precision[], p_fraction double precision) TO chatstats_rollup;


--
-- Name: FUNCTION chat_latency_scale(p_histogram public.vector, p_k integer); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_latency_scale(p_histogram public.vector, p_k integer) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_latency_scale(p_histogram public.vector, p_k integer) TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_latency_scale(p_histogram public.vector, p_k integer) TO chatstats_rollup;


--
-- Name: FUNCTION chat_model_catalog(); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_model_catalog() FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_model_catalog() TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_model_catalog() TO chatstats_rollup;


--
-- Name: FUNCTION chat_model_stats(p_provider_id integer, p_model_id integer, p_start timestamp with time zone, p_end timestamp with time zone); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_model_stats(p_provider_id integer, p_model_id integer, p_start timestamp with time zone, p_end timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_model_stats(p_provider_id integer, p_model_id integer, p_start timestamp with time zone, p_end timestamp with time zone) TO chatstats_api;


--
-- Name: FUNCTION chat_provider_request_stats(p_start_date timestamp with time zone, p_end_date timestamp with time zone); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_provider_request_stats(p_start_date timestamp with time zone, p_end_date timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_provider_request_stats(p_start_date timestamp with time zone, p_end_date timestamp with time zone) TO chatstats_api;


--
-- Name: FUNCTION chat_request_breakdown(p_start timestamp with time zone, p_end timestamp with time zone, p_by text, p_top integer, p_order text, p_model_ids integer[], p_api_key_id bigint, p_user_id bigint, p_status text); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_request_breakdown(p_start timestamp with time zone, p_end timestamp with time zone, p_by text, p_top integer, p_order text, p_model_ids integer[], p_api_key_id bigint, p_user_id bigint, p_status text) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_request_breakdown(p_start timestamp with time zone, p_end timestamp with time zone, p_by text, p_top integer, p_order text, p_model_ids integer[], p_api_key_id bigint, p_user_id bigint, p_status text) TO chatstats_api;


--
-- Name: FUNCTION chat_request_first_at(); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_request_first_at() FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_request_first_at() TO chatstats_api;


--
-- Name: FUNCTION chat_request_groups(p_bounds timestamp with time zone[], p_by text, p_top integer, p_order text, p_model_ids integer[], p_api_key_id bigint, p_user_id bigint, p_status text); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_request_groups(p_bounds timestamp with time zone[], p_by text, p_top integer, p_order text, p_model_ids integer[], p_api_key_id bigint, p_user_id bigint, p_status text) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_request_groups(p_bounds timestamp with time zone[], p_by text, p_top integer, p_order text, p_model_ids integer[], p_api_key_id bigint, p_user_id bigint, p_status text) TO chatstats_api;


--
-- Name: FUNCTION chat_request_groups_dim(p_by text, p_model_ids integer[], p_api_key_id bigint, p_user_id bigint); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_request_groups_dim(p_by text, p_model_ids integer[], p_api_key_id bigint, p_user_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_request_groups_dim(p_by text, p_model_ids integer[], p_api_key_id bigint, p_user_id bigint) TO chatstats_api;


--
-- Name: FUNCTION chat_request_groups_ranked(p_dim "char", p_bounds timestamp with time zone[], p_ids bigint[], p_by text, p_order text, p_top integer); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_request_groups_ranked(p_dim "char", p_bounds timestamp with time zone[], p_ids bigint[], p_by text, p_order text, p_top integer) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_request_groups_ranked(p_dim "char", p_bounds timestamp with time zone[], p_ids bigint[], p_by text, p_order text, p_top integer) TO chatstats_api;


--
-- Name: FUNCTION chat_request_groups_raw(p_bounds timestamp with time zone[], p_by text, p_top integer, p_order text, p_model_ids integer[], p_api_key_id bigint, p_user_id bigint, p_status text); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_request_groups_raw(p_bounds timestamp with time zone[], p_by text, p_top integer, p_order text, p_model_ids integer[], p_api_key_id bigint, p_user_id bigint, p_status text) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_request_groups_raw(p_bounds timestamp with time zone[], p_by text, p_top integer, p_order text, p_model_ids integer[], p_api_key_id bigint, p_user_id bigint, p_status text) TO chatstats_api;


--
-- Name: FUNCTION chat_request_groups_rollup(p_bounds timestamp with time zone[], p_by text, p_top integer, p_order text, p_model_ids integer[], p_api_key_id bigint, p_user_id bigint); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_request_groups_rollup(p_bounds timestamp with time zone[], p_by text, p_top integer, p_order text, p_model_ids integer[], p_api_key_id bigint, p_user_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_request_groups_rollup(p_bounds timestamp with time zone[], p_by text, p_top integer, p_order text, p_model_ids integer[], p_api_key_id bigint, p_user_id bigint) TO chatstats_api;


--
-- Name: FUNCTION chat_request_series(p_bounds timestamp with time zone[], p_model_ids integer[], p_api_key_id bigint, p_user_id bigint, p_status text); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_request_series(p_bounds timestamp with time zone[], p_model_ids integer[], p_api_key_id bigint, p_user_id bigint, p_status text) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_request_series(p_bounds timestamp with time zone[], p_model_ids integer[], p_api_key_id bigint, p_user_id bigint, p_status text) TO chatstats_api;


--
-- Name: FUNCTION chat_request_source(); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_request_source() FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_request_source() TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_request_source() TO chatstats_rollup;


--
-- Name: FUNCTION chat_request_stats(p_start timestamp with time zone, p_end timestamp with time zone, p_model_ids integer[], p_latency boolean); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_request_stats(p_start timestamp with time zone, p_end timestamp with time zone, p_model_ids integer[], p_latency boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_request_stats(p_start timestamp with time zone, p_end timestamp with time zone, p_model_ids integer[], p_latency boolean) TO chatstats_api;


--
-- Name: FUNCTION chat_request_stats_raw(p_start timestamp with time zone, p_end timestamp with time zone, p_model_ids integer[], p_latency boolean); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_request_stats_raw(p_start timestamp with time zone, p_end timestamp with time zone, p_model_ids integer[], p_latency boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_request_stats_raw(p_start timestamp with time zone, p_end timestamp with time zone, p_model_ids integer[], p_latency boolean) TO chatstats_api;


--
-- Name: FUNCTION chat_request_stats_rollup(p_start timestamp with time zone, p_end timestamp with time zone, p_model_ids integer[], p_latency boolean); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_request_stats_rollup(p_start timestamp with time zone, p_end timestamp with time zone, p_model_ids integer[], p_latency boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_request_stats_rollup(p_start timestamp with time zone, p_end timestamp with time zone, p_model_ids integer[], p_latency boolean) TO chatstats_api;


--
-- Name: FUNCTION chat_rollup_adjust(); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_adjust() FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_adjust() TO chatstats_api;


--
-- Name: TABLE chat_rollup_state; Type: ACL; Schema: chatstats; Owner: -
--

GRANT SELECT ON TABLE chatstats.chat_rollup_state TO chatstats_api;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE chatstats.chat_rollup_state TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_apply(p_added chatstats.chat_rollup_input[], p_removed chatstats.chat_rollup_input[], p_state chatstats.chat_rollup_state); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_apply(p_added chatstats.chat_rollup_input[], p_removed chatstats.chat_rollup_input[], p_state chatstats.chat_rollup_state) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_apply(p_added chatstats.chat_rollup_input[], p_removed chatstats.chat_rollup_input[], p_state chatstats.chat_rollup_state) TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_backfill_abandon(); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_backfill_abandon() FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_backfill_abandon() TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_backfill_block(p_lo timestamp with time zone, p_hi timestamp with time zone); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_backfill_block(p_lo timestamp with time zone, p_hi timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_backfill_block(p_lo timestamp with time zone, p_hi timestamp with time zone) TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_backfill_clear(); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_backfill_clear() FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_backfill_clear() TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_backfill_finish(p_state_version xid); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_backfill_finish(p_state_version xid) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_backfill_finish(p_state_version xid) TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_backfill_levels(p_dims "char"[]); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_backfill_levels(p_dims "char"[]) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_backfill_levels(p_dims "char"[]) TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_backfill_start(p_min_rows bigint, p_lock_timeout_ms integer, OUT started boolean, OUT state_version xid, OUT bounds timestamp with time zone[]); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_backfill_start(p_min_rows bigint, p_lock_timeout_ms integer, OUT started boolean, OUT state_version xid, OUT bounds timestamp with time zone[]) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_backfill_start(p_min_rows bigint, p_lock_timeout_ms integer, OUT started boolean, OUT state_version xid, OUT bounds timestamp with time zone[]) TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_base_bucket(p_state chatstats.chat_rollup_state, p_dim "char", p_at timestamp with time zone); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_base_bucket(p_state chatstats.chat_rollup_state, p_dim "char", p_at timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_base_bucket(p_state chatstats.chat_rollup_state, p_dim "char", p_at timestamp with time zone) TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_rollup_base_bucket(p_state chatstats.chat_rollup_state, p_dim "char", p_at timestamp with time zone) TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_bucket(p_level integer, p_at timestamp with time zone); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_bucket(p_level integer, p_at timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_bucket(p_level integer, p_at timestamp with time zone) TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_rollup_bucket(p_level integer, p_at timestamp with time zone) TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_ceil(p_level integer, p_at timestamp with time zone); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_ceil(p_level integer, p_at timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_ceil(p_level integer, p_at timestamp with time zone) TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_rollup_ceil(p_level integer, p_at timestamp with time zone) TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_check_seen(p_after bigint, p_upto bigint, p_seen bigint); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_check_seen(p_after bigint, p_upto bigint, p_seen bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_check_seen(p_after bigint, p_upto bigint, p_seen bigint) TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_deltas(p_rows chatstats.chat_rollup_input[], p_sign integer, p_state chatstats.chat_rollup_state, p_dims "char"[], p_latency boolean); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_deltas(p_rows chatstats.chat_rollup_input[], p_sign integer, p_state chatstats.chat_rollup_state, p_dims "char"[], p_latency boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_deltas(p_rows chatstats.chat_rollup_input[], p_sign integer, p_state chatstats.chat_rollup_state, p_dims "char"[], p_latency boolean) TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_rollup_deltas(p_rows chatstats.chat_rollup_input[], p_sign integer, p_state chatstats.chat_rollup_state, p_dims "char"[], p_latency boolean) TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_edge_costs(p_state chatstats.chat_rollup_state, p_dim "char", p_at timestamp with time zone, OUT to_ceil double precision[], OUT from_floor double precision[]); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_edge_costs(p_state chatstats.chat_rollup_state, p_dim "char", p_at timestamp with time zone, OUT to_ceil double precision[], OUT from_floor double precision[]) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_edge_costs(p_state chatstats.chat_rollup_state, p_dim "char", p_at timestamp with time zone, OUT to_ceil double precision[], OUT from_floor double precision[]) TO chatstats_api;


--
-- Name: FUNCTION chat_rollup_effective_range(p_start timestamp with time zone, p_end timestamp with time zone, OUT effective_start timestamp with time zone, OUT effective_end timestamp with time zone); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_effective_range(p_start timestamp with time zone, p_end timestamp with time zone, OUT effective_start timestamp with time zone, OUT effective_end timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_effective_range(p_start timestamp with time zone, p_end timestamp with time zone, OUT effective_start timestamp with time zone, OUT effective_end timestamp with time zone) TO chatstats_api;


--
-- Name: FUNCTION chat_rollup_fold(p_after bigint, p_upto bigint, p_state chatstats.chat_rollup_state); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_fold(p_after bigint, p_upto bigint, p_state chatstats.chat_rollup_state) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_fold(p_after bigint, p_upto bigint, p_state chatstats.chat_rollup_state) TO chatstats_rollup;


--
-- Name: TABLE chat_completion_requests; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT ON TABLE public.chat_completion_requests TO chatstats_api;
GRANT SELECT ON TABLE public.chat_completion_requests TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_input_of(r public.chat_completion_requests, p_at timestamp with time zone); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_input_of(r public.chat_completion_requests, p_at timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_input_of(r public.chat_completion_requests, p_at timestamp with time zone) TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_rollup_input_of(r public.chat_completion_requests, p_at timestamp with time zone) TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_keep_percentiles(); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_keep_percentiles() FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_keep_percentiles() TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_rollup_keep_percentiles() TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_kept_from(p_state chatstats.chat_rollup_state, p_dim "char", p_level integer); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_kept_from(p_state chatstats.chat_rollup_state, p_dim "char", p_level integer) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_kept_from(p_state chatstats.chat_rollup_state, p_dim "char", p_level integer) TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_rollup_kept_from(p_state chatstats.chat_rollup_state, p_dim "char", p_level integer) TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_lag(OUT lag_rows bigint, OUT lag_seconds numeric, OUT watermark_id bigint, OUT refreshed_at timestamp with time zone); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_lag(OUT lag_rows bigint, OUT lag_seconds numeric, OUT watermark_id bigint, OUT refreshed_at timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_lag(OUT lag_rows bigint, OUT lag_seconds numeric, OUT watermark_id bigint, OUT refreshed_at timestamp with time zone) TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_rollup_lag(OUT lag_rows bigint, OUT lag_seconds numeric, OUT watermark_id bigint, OUT refreshed_at timestamp with time zone) TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_lock_top_id(p_lock_timeout_ms integer); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_lock_top_id(p_lock_timeout_ms integer) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_lock_top_id(p_lock_timeout_ms integer) TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_pieces(p_start timestamp with time zone, p_end timestamp with time zone); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_pieces(p_start timestamp with time zone, p_end timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_pieces(p_start timestamp with time zone, p_end timestamp with time zone) TO chatstats_api;


--
-- Name: FUNCTION chat_rollup_pieces(p_dim "char", p_start timestamp with time zone, p_end timestamp with time zone, p_start_outwards boolean, p_end_outwards boolean); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_pieces(p_dim "char", p_start timestamp with time zone, p_end timestamp with time zone, p_start_outwards boolean, p_end_outwards boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_pieces(p_dim "char", p_start timestamp with time zone, p_end timestamp with time zone, p_start_outwards boolean, p_end_outwards boolean) TO chatstats_api;


--
-- Name: FUNCTION chat_rollup_pieces_plain(p_dim "char", p_start timestamp with time zone, p_end timestamp with time zone, p_start_outwards boolean, p_end_outwards boolean); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_pieces_plain(p_dim "char", p_start timestamp with time zone, p_end timestamp with time zone, p_start_outwards boolean, p_end_outwards boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_pieces_plain(p_dim "char", p_start timestamp with time zone, p_end timestamp with time zone, p_start_outwards boolean, p_end_outwards boolean) TO chatstats_api;


--
-- Name: FUNCTION chat_rollup_prune(p_from timestamp with time zone, p_detail_from timestamp with time zone, p_user_from timestamp with time zone); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_prune(p_from timestamp with time zone, p_detail_from timestamp with time zone, p_user_from timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_prune(p_from timestamp with time zone, p_detail_from timestamp with time zone, p_user_from timestamp with time zone) TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_raw(p_slots timestamp with time zone[], p_los timestamp with time zone[], p_his timestamp with time zone[], p_signs integer[], p_tail timestamp with time zone[], p_dim "char", p_ids bigint[], p_latency boolean); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_raw(p_slots timestamp with time zone[], p_los timestamp with time zone[], p_his timestamp with time zone[], p_signs integer[], p_tail timestamp with time zone[], p_dim "char", p_ids bigint[], p_latency boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_raw(p_slots timestamp with time zone[], p_los timestamp with time zone[], p_his timestamp with time zone[], p_signs integer[], p_tail timestamp with time zone[], p_dim "char", p_ids bigint[], p_latency boolean) TO chatstats_api;


--
-- Name: PROCEDURE chat_rollup_refresh(IN p_batch_rows bigint, IN p_lock_timeout_ms integer, INOUT rolled_up bigint, INOUT caught_up boolean); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON PROCEDURE chatstats.chat_rollup_refresh(IN p_batch_rows bigint, IN p_lock_timeout_ms integer, INOUT rolled_up bigint, INOUT caught_up boolean) FROM PUBLIC;
GRANT ALL ON PROCEDURE chatstats.chat_rollup_refresh(IN p_batch_rows bigint, IN p_lock_timeout_ms integer, INOUT rolled_up bigint, INOUT caught_up boolean) TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_reset(); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_reset() FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_reset() TO chatstats_api;


--
-- Name: FUNCTION chat_rollup_retain(p_before timestamp with time zone, p_batch_rows integer); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_retain(p_before timestamp with time zone, p_batch_rows integer) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_retain(p_before timestamp with time zone, p_batch_rows integer) TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_safe_id(p_wait_ms integer); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_safe_id(p_wait_ms integer) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_safe_id(p_wait_ms integer) TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_series(p_dim "char", p_bounds timestamp with time zone[], p_ids bigint[], p_latency boolean); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_series(p_dim "char", p_bounds timestamp with time zone[], p_ids bigint[], p_latency boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_series(p_dim "char", p_bounds timestamp with time zone[], p_ids bigint[], p_latency boolean) TO chatstats_api;


--
-- Name: FUNCTION chat_rollup_set_source_ttl(p_days integer); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_set_source_ttl(p_days integer) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_set_source_ttl(p_days integer) TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_source_count(p_after bigint, p_upto bigint); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_source_count(p_after bigint, p_upto bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_source_count(p_after bigint, p_upto bigint) TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_rollup_source_count(p_after bigint, p_upto bigint) TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_sums(p_start timestamp with time zone, p_end timestamp with time zone, p_ids integer[], p_latency boolean); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_sums(p_start timestamp with time zone, p_end timestamp with time zone, p_ids integer[], p_latency boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_sums(p_start timestamp with time zone, p_end timestamp with time zone, p_ids integer[], p_latency boolean) TO chatstats_api;


--
-- Name: FUNCTION chat_rollup_top(); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_top() FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_top() TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_rollup_top() TO chatstats_rollup;


--
-- Name: FUNCTION chat_rollup_widths(); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_rollup_widths() FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_rollup_widths() TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_rollup_widths() TO chatstats_rollup;


--
-- Name: FUNCTION get_model_request_counts(p_start_date timestamp with time zone, p_end_date timestamp with time zone); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.get_model_request_counts(p_start_date timestamp with time zone, p_end_date timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.get_model_request_counts(p_start_date timestamp with time zone, p_end_date timestamp with time zone) TO chatstats_api;


--
-- Name: FUNCTION get_model_request_stats(p_model_id integer, p_start_date timestamp with time zone, p_end_date timestamp with time zone); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.get_model_request_stats(p_model_id integer, p_start_date timestamp with time zone, p_end_date timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.get_model_request_stats(p_model_id integer, p_start_date timestamp with time zone, p_end_date timestamp with time zone) TO chatstats_api;


--
-- Name: FUNCTION get_models_with_requests(p_start_date timestamp with time zone, p_end_date timestamp with time zone); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.get_models_with_requests(p_start_date timestamp with time zone, p_end_date timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.get_models_with_requests(p_start_date timestamp with time zone, p_end_date timestamp with time zone) TO chatstats_api;


--
-- Name: FUNCTION get_models_with_requests_by_provider(p_provider_id integer, p_start_date timestamp with time zone, p_end_date timestamp with time zone); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.get_models_with_requests_by_provider(p_provider_id integer, p_start_date timestamp with time zone, p_end_date timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.get_models_with_requests_by_provider(p_provider_id integer, p_start_date timestamp with time zone, p_end_date timestamp with time zone) TO chatstats_api;


--
-- Name: FUNCTION get_provider_request_stats(p_start_date timestamp with time zone, p_end_date timestamp with time zone); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.get_provider_request_stats(p_start_date timestamp with time zone, p_end_date timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.get_provider_request_stats(p_start_date timestamp with time zone, p_end_date timestamp with time zone) TO chatstats_api;


--
-- Name: FUNCTION get_unattributed_request_count(p_start_date timestamp with time zone, p_end_date timestamp with time zone); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.get_unattributed_request_count(p_start_date timestamp with time zone, p_end_date timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.get_unattributed_request_count(p_start_date timestamp with time zone, p_end_date timestamp with time zone) TO chatstats_api;


--
-- Name: FUNCTION chat_histogram_sum(public.vector, public.vector, integer); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_histogram_sum(public.vector, public.vector, integer) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_histogram_sum(public.vector, public.vector, integer) TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_histogram_sum(public.vector, public.vector, integer) TO chatstats_rollup;


--
-- Name: FUNCTION chat_sum(bigint); Type: ACL; Schema: chatstats; Owner: -
--

REVOKE ALL ON FUNCTION chatstats.chat_sum(bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION chatstats.chat_sum(bigint) TO chatstats_api;
GRANT ALL ON FUNCTION chatstats.chat_sum(bigint) TO chatstats_rollup;


--
-- Name: TABLE chat_latency_steps; Type: ACL; Schema: chatstats; Owner: -
--

GRANT SELECT ON TABLE chatstats.chat_latency_steps TO chatstats_api;
GRANT SELECT ON TABLE chatstats.chat_latency_steps TO chatstats_rollup;


--
-- Name: TABLE chat_rollup_backfill_blocks; Type: ACL; Schema: chatstats; Owner: -
--

GRANT SELECT,INSERT,TRUNCATE ON TABLE chatstats.chat_rollup_backfill_blocks TO chatstats_rollup;


--
-- Name: TABLE chat_rollup_backfill_log; Type: ACL; Schema: chatstats; Owner: -
--

GRANT SELECT,INSERT,TRUNCATE ON TABLE chatstats.chat_rollup_backfill_log TO chatstats_rollup;


--
-- Name: TABLE chat_rollup_backfill_sums; Type: ACL; Schema: chatstats; Owner: -
--

GRANT SELECT,INSERT,TRUNCATE ON TABLE chatstats.chat_rollup_backfill_sums TO chatstats_rollup;


--
-- Name: TABLE chat_rollup_backfill_sums_1; Type: ACL; Schema: chatstats; Owner: -
--

GRANT SELECT,INSERT,TRUNCATE ON TABLE chatstats.chat_rollup_backfill_sums_1 TO chatstats_rollup;


--
-- Name: TABLE chat_rollup_backfill_sums_10; Type: ACL; Schema: chatstats; Owner: -
--

GRANT SELECT,INSERT,TRUNCATE ON TABLE chatstats.chat_rollup_backfill_sums_10 TO chatstats_rollup;


--
-- Name: TABLE chat_rollup_backfill_sums_11; Type: ACL; Schema: chatstats; Owner: -
--

GRANT SELECT,INSERT,TRUNCATE ON TABLE chatstats.chat_rollup_backfill_sums_11 TO chatstats_rollup;


--
-- Name: TABLE chat_rollup_backfill_sums_12; Type: ACL; Schema: chatstats; Owner: -
--

GRANT SELECT,INSERT,TRUNCATE ON TABLE chatstats.chat_rollup_backfill_sums_12 TO chatstats_rollup;


--
-- Name: TABLE chat_rollup_backfill_sums_13; Type: ACL; Schema: chatstats; Owner: -
--

GRANT SELECT,INSERT,TRUNCATE ON TABLE chatstats.chat_rollup_backfill_sums_13 TO chatstats_rollup;


--
-- Name: TABLE chat_rollup_backfill_sums_14; Type: ACL; Schema: chatstats; Owner: -
--

GRANT SELECT,INSERT,TRUNCATE ON TABLE chatstats.chat_rollup_backfill_sums_14 TO chatstats_rollup;


--
-- Name: TABLE chat_rollup_backfill_sums_15; Type: ACL; Schema: chatstats; Owner: -
--

GRANT SELECT,INSERT,TRUNCATE ON TABLE chatstats.chat_rollup_backfill_sums_15 TO chatstats_rollup;


--
-- Name: TABLE chat_rollup_backfill_sums_2; Type: ACL; Schema: chatstats; Owner: -
--

GRANT SELECT,INSERT,TRUNCATE ON TABLE chatstats.chat_rollup_backfill_sums_2 TO chatstats_rollup;


--
-- Name: TABLE chat_rollup_backfill_sums_3; Type: ACL; Schema: chatstats; Owner: -
--

GRANT SELECT,INSERT,TRUNCATE ON TABLE chatstats.chat_rollup_backfill_sums_3 TO chatstats_rollup;


--
-- Name: TABLE chat_rollup_backfill_sums_4; Type: ACL; Schema: chatstats; Owner: -
--

GRANT SELECT,INSERT,TRUNCATE ON TABLE chatstats.chat_rollup_backfill_sums_4 TO chatstats_rollup;


--
-- Name: TABLE chat_rollup_backfill_sums_5; Type: ACL; Schema: chatstats; Owner: -
--

GRANT SELECT,INSERT,TRUNCATE ON TABLE chatstats.chat_rollup_backfill_sums_5 TO chatstats_rollup;


--
-- Name: TABLE chat_rollup_backfill_sums_6; Type: ACL; Schema: chatstats; Owner: -
--

GRANT SELECT,INSERT,TRUNCATE ON TABLE chatstats.chat_rollup_backfill_sums_6 TO chatstats_rollup;


--
-- Name: TABLE chat_rollup_backfill_sums_7; Type: ACL; Schema: chatstats; Owner: -
--

GRANT SELECT,INSERT,TRUNCATE ON TABLE chatstats.chat_rollup_backfill_sums_7 TO chatstats_rollup;


--
-- Name: TABLE chat_rollup_backfill_sums_8; Type: ACL; Schema: chatstats; Owner: -
--

GRANT SELECT,INSERT,TRUNCATE ON TABLE chatstats.chat_rollup_backfill_sums_8 TO chatstats_rollup;


--
-- Name: TABLE chat_rollup_backfill_sums_9; Type: ACL; Schema: chatstats; Owner: -
--

GRANT SELECT,INSERT,TRUNCATE ON TABLE chatstats.chat_rollup_backfill_sums_9 TO chatstats_rollup;


--
-- Name: TABLE chat_rollups; Type: ACL; Schema: chatstats; Owner: -
--

GRANT SELECT ON TABLE chatstats.chat_rollups TO chatstats_api;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE chatstats.chat_rollups TO chatstats_rollup;


--
-- Name: TABLE models; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT ON TABLE public.models TO chatstats_api;


--
-- Name: TABLE providers; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT ON TABLE public.providers TO chatstats_api;


--
-- PostgreSQL database dump complete
--


