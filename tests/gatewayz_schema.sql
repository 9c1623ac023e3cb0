-- A gatewayz production database, as chatstats sees it: a test fixture.
--
-- Our own DDL, written by chatstats from the facts of upstream's migrations
-- (Alpaca-Network/gatewayz-backend, supabase/migrations/*.sql, at commit
-- d4e0b0c6aacc554a2c8ed0b17a8b84c0d1ed583a) and of Supabase's role setup
-- (supabase/postgres, migrations/db). Nothing here is copied from upstream: each
-- object has the final shape the migrations leave (not their history), and function
-- bodies are ours, with upstream's signatures and result columns. The facts, their
-- sources and what is uncertain: docs/gatewayz-schema.md. File names below are
-- upstream's, under supabase/migrations/.
--
-- Run once, as a superuser, on an empty database. Roles are cluster-wide: they are
-- created only where missing. `gateway_owner` stands in for Supabase's `postgres`
-- role (our server's superuser already has that name); the superuser running this
-- file stands in for `supabase_admin`. No pg_cron job is created.

-- == Roles and the database =========================================================

-- Supabase's API roles (supabase/postgres init-scripts/00000000000000-initial-schema.sql;
-- INHERIT since 20230529180330_alter_api_roles_for_inherit.sql).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN
        CREATE ROLE anon NOLOGIN INHERIT;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticated') THEN
        CREATE ROLE authenticated NOLOGIN INHERIT;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'service_role') THEN
        CREATE ROLE service_role NOLOGIN INHERIT BYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticator') THEN
        CREATE ROLE authenticator LOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gateway_owner') THEN
        CREATE ROLE gateway_owner;
    END IF;
END
$$;

-- Attributes set on roles found as well as on roles created.
ALTER ROLE anon NOLOGIN INHERIT NOBYPASSRLS;
ALTER ROLE authenticated NOLOGIN INHERIT NOBYPASSRLS;
ALTER ROLE service_role NOLOGIN INHERIT BYPASSRLS;
ALTER ROLE authenticator LOGIN NOINHERIT;
-- Supabase's `postgres` after 10000000000000_demote-postgres.sql: no superuser, but
-- CREATEROLE and BYPASSRLS (Supabase also gives it REPLICATION: left out here).
ALTER ROLE gateway_owner NOSUPERUSER CREATEDB CREATEROLE LOGIN BYPASSRLS PASSWORD 'gateway';
GRANT anon, authenticated, service_role TO authenticator;
-- 20250605172253_grant_with_admin_to_postgres_16_and_above.sql (supabase/postgres).
GRANT anon, authenticated, service_role TO gateway_owner WITH ADMIN OPTION;

-- The database belongs to `postgres` on Supabase; its search_path
-- (init-scripts/00000000000003-post-setup.sql), here for this database only.
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I OWNER TO gateway_owner', current_database());
    EXECUTE format('ALTER ROLE gateway_owner IN DATABASE %I SET search_path TO "$user", public, extensions',
                   current_database());
END
$$;

-- Schema extensions with usage for the API roles (initial-schema.sql, demote-postgres.sql).
CREATE SCHEMA extensions;
GRANT ALL ON SCHEMA extensions TO gateway_owner;
GRANT USAGE ON SCHEMA extensions TO anon, authenticated, service_role;
CREATE EXTENSION vector SCHEMA extensions;

-- auth.uid(), which the policies on users and api_keys_new call
-- (init-scripts/00000000000001-auth-schema.sql; ours reads the JWT claim settings).
CREATE SCHEMA auth;
GRANT USAGE ON SCHEMA auth TO gateway_owner, anon, authenticated, service_role;
CREATE FUNCTION auth.uid() RETURNS uuid
LANGUAGE sql STABLE AS $$
    SELECT nullif(coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                           nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'),
                  '')::uuid
$$;

-- Schema public: usage and default privileges (initial-schema.sql: what `postgres`
-- creates in public is granted ALL to postgres, anon, authenticated, service_role).
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE gateway_owner IN SCHEMA public
    GRANT ALL ON TABLES TO gateway_owner, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE gateway_owner IN SCHEMA public
    GRANT ALL ON SEQUENCES TO gateway_owner, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE gateway_owner IN SCHEMA public
    GRANT ALL ON FUNCTIONS TO gateway_owner, anon, authenticated, service_role;

-- Everything below is created by (so owned by) gateway_owner, as `supabase db push`
-- runs the migrations as `postgres`.
SET ROLE gateway_owner;

-- == Tables =========================================================================

-- users: only the columns the FKs, the policies and the credit stubs need; NOT NULL
-- and unique as 20251009030427_remote_schema.sql has them (credits dropped by
-- 20260417000000_drop_legacy_credits_column.sql; the two balances from
-- 20260123100000_add_tiered_credits_tracking.sql).
CREATE TABLE public.users (
    id bigserial PRIMARY KEY,
    username varchar(255) NOT NULL UNIQUE,
    email varchar(255) NOT NULL UNIQUE,
    privy_user_id varchar(255) UNIQUE,
    is_active boolean DEFAULT true,
    subscription_allowance numeric(10, 4) DEFAULT 0,
    purchased_credits numeric(10, 4) DEFAULT 0,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now()
);

-- api_keys_new, the table chat_completion_requests.api_key_id refers to: the NOT NULL
-- and unique columns of 20251009030427_remote_schema.sql.
CREATE TABLE public.api_keys_new (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    api_key varchar(255) NOT NULL UNIQUE,
    key_name varchar(255) NOT NULL,
    is_active boolean DEFAULT true,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now()
);

-- providers: 20251230000001_restore_dropped_tables.sql (after 20251126165648_remote_schema.sql
-- dropped it), plus 20260402000002_add_fetch_module_path.sql and
-- 20260617000000_gatewayz_one_phase1_registry.sql.
CREATE TABLE public.providers (
    id serial PRIMARY KEY,
    name text NOT NULL CONSTRAINT providers_name_key UNIQUE,
    slug text NOT NULL CONSTRAINT providers_slug_key UNIQUE,
    description text,
    base_url text,
    api_key_env_var text,
    logo_url text,
    site_url text,
    privacy_policy_url text,
    terms_of_service_url text,
    status_page_url text,
    is_active boolean DEFAULT true,
    supports_streaming boolean DEFAULT false,
    supports_function_calling boolean DEFAULT false,
    supports_vision boolean DEFAULT false,
    supports_image_generation boolean DEFAULT false,
    average_response_time_ms integer,
    health_status text DEFAULT 'unknown'
        CHECK (health_status IN ('healthy', 'degraded', 'down', 'unknown')),
    last_health_check_at timestamptz,
    metadata jsonb DEFAULT '{}'::jsonb,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    fetch_module_path text,
    fetch_function_name text,
    tier text NOT NULL DEFAULT 'niche'
        CONSTRAINT providers_tier_valid CHECK (tier IN ('core', 'aggregator', 'niche')),
    region_affinity text,
    async_streaming boolean NOT NULL DEFAULT false,
    auth_type text
);
-- 20251230000001_restore_dropped_tables.sql
CREATE INDEX idx_providers_slug ON public.providers (slug);
CREATE INDEX idx_providers_is_active ON public.providers (is_active);
CREATE INDEX idx_providers_health_status ON public.providers (health_status);

-- models: 20251230000001_restore_dropped_tables.sql (provider_id nullable there), less
-- the columns dropped by 20260121000003 (pricing_*), 20260131000000 (top_provider),
-- 20260131000002 (model_id), 20260131000003 (per_request_limits), 20260131000005
-- (architecture); plus 20260119000000 (pricing backups), 20260217000000, 20260311000000,
-- 20260401000005, 20260617000002, 20260704000001.
CREATE TABLE public.models (
    id serial PRIMARY KEY,
    provider_id integer REFERENCES public.providers (id) ON DELETE CASCADE,
    model_name text NOT NULL,
    provider_model_id text NOT NULL,
    description text,
    context_length integer,
    modality text DEFAULT 'text->text',
    supports_streaming boolean DEFAULT false,
    supports_function_calling boolean DEFAULT false,
    supports_vision boolean DEFAULT false,
    average_response_time_ms integer,
    health_status text DEFAULT 'unknown'
        CHECK (health_status IN ('healthy', 'degraded', 'down', 'unknown')),
    last_health_check_at timestamptz,
    success_rate numeric(5, 2),
    is_active boolean DEFAULT true,
    metadata jsonb DEFAULT '{}'::jsonb,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    pricing_format_migrated boolean DEFAULT false,
    pricing_original_prompt numeric(20, 10),
    pricing_original_completion numeric(20, 10),
    pricing_original_image numeric(20, 10),
    pricing_original_request numeric(20, 10),
    content_hash text,
    last_seen_in_provider_at timestamptz DEFAULT now(),
    consecutive_missing_count integer NOT NULL DEFAULT 0,
    max_output_tokens integer,
    has_json_mode boolean NOT NULL DEFAULT false,
    is_reasoning boolean NOT NULL DEFAULT false,
    is_free boolean NOT NULL DEFAULT false,
    latency_tier smallint NOT NULL DEFAULT 3,
    canonical_id text,
    capabilities jsonb NOT NULL DEFAULT '{}'::jsonb,
    deprecated_at timestamptz,
    categories text[] NOT NULL DEFAULT '{}'::text[],
    CONSTRAINT unique_provider_model UNIQUE (provider_id, provider_model_id)
);
-- 20251230000001_restore_dropped_tables.sql (the first of each name wins over the
-- IF NOT EXISTS of 20260128000000_add_models_catalog_performance_indexes.sql)
CREATE INDEX idx_models_provider_id ON public.models (provider_id);
CREATE INDEX idx_models_provider_model_id ON public.models (provider_model_id);
CREATE INDEX idx_models_is_active ON public.models (is_active);
CREATE INDEX idx_models_health_status ON public.models (health_status);
CREATE INDEX idx_models_modality ON public.models (modality);
CREATE INDEX idx_models_provider_active ON public.models (provider_id, is_active);
-- 20260128000000_add_models_catalog_performance_indexes.sql (its pg_trgm index on
-- model_name is left out)
CREATE INDEX idx_models_model_name ON public.models (model_name);
-- 20260218000000_add_models_catalog_filter_indexes.sql
CREATE INDEX idx_models_active_model_name ON public.models (is_active, model_name) WHERE is_active = true;
CREATE INDEX idx_models_provider_active_name ON public.models (provider_id, is_active, model_name)
    WHERE is_active = true;
-- 20260217000000_add_content_hash_to_models.sql
CREATE INDEX idx_models_provider_content_hash ON public.models (provider_id, provider_model_id, content_hash);
-- 20260311000000_add_stale_model_tracking.sql
CREATE INDEX idx_models_stale_tracking ON public.models (provider_id, is_active, consecutive_missing_count)
    WHERE is_active = true;
-- 20260401000005_add_model_capability_columns.sql
CREATE INDEX idx_models_is_free ON public.models (is_free) WHERE is_free = true;
CREATE INDEX idx_models_latency_tier ON public.models (latency_tier);
CREATE INDEX idx_models_is_reasoning ON public.models (is_reasoning) WHERE is_reasoning = true;
-- 20260617000002_gatewayz_one_phase1_canonical_columns_on_models.sql
CREATE INDEX idx_models_canonical_id ON public.models (canonical_id) WHERE deprecated_at IS NULL;
-- 20260704000001_add_model_categories.sql
CREATE INDEX idx_models_categories ON public.models USING gin (categories);

-- The updated_at trigger of providers and models (20251230000001_restore_dropped_tables.sql;
-- search_path pinned by 20260527000001_full_security_hardening.sql). The unique_models
-- sync triggers of 20260129000000/20260129000001 are left out.
CREATE FUNCTION public.update_updated_at_column() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER update_providers_updated_at BEFORE UPDATE ON public.providers
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();
CREATE TRIGGER update_models_updated_at BEFORE UPDATE ON public.models
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

-- chat_completion_requests: 20251226000000_create_chat_completion_requests_stub.sql,
-- 20251227000000_fix_chat_completion_requests_user_id_type.sql (user_id bigint, FK),
-- 20260106000001 (api_key_id FK), 20260112000000 (is_anonymous NOT NULL), 20260115000001
-- (costs), 20260122000000 (metadata). request_id and error_message: no migration creates
-- them, the gateway writes both (src/db/chat_completion_requests.py). No FK on model_id,
-- no CHECK on status, no trigger.
CREATE TABLE public.chat_completion_requests (
    id bigserial PRIMARY KEY,
    request_id text,
    model_id integer,
    user_id bigint CONSTRAINT fk_chat_completion_requests_user_id
        REFERENCES public.users (id) ON DELETE SET NULL,
    api_key_id bigint CONSTRAINT fk_chat_completion_requests_api_key_id
        REFERENCES public.api_keys_new (id) ON DELETE SET NULL,
    status text NOT NULL DEFAULT 'pending',
    input_tokens bigint DEFAULT 0,
    output_tokens bigint DEFAULT 0,
    processing_time_ms numeric,
    error_message text,
    is_anonymous boolean NOT NULL DEFAULT false,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    cost_usd numeric(12, 6) DEFAULT NULL,
    input_cost_usd numeric(12, 6) DEFAULT NULL,
    output_cost_usd numeric(12, 6) DEFAULT NULL,
    pricing_source varchar(50) DEFAULT 'calculated',
    metadata jsonb DEFAULT '{}'::jsonb
);
-- 20251226000000_create_chat_completion_requests_stub.sql (+ 20251227000000 for user_id)
CREATE INDEX idx_chat_completion_requests_model_id_status ON public.chat_completion_requests (model_id, status);
CREATE INDEX idx_chat_completion_requests_status_created_at ON public.chat_completion_requests (status, created_at);
CREATE INDEX idx_chat_completion_requests_user_id ON public.chat_completion_requests (user_id);
CREATE INDEX idx_chat_completion_requests_api_key_id ON public.chat_completion_requests (api_key_id);
-- 20260112000000_add_is_anonymous_to_chat_completion_requests.sql
CREATE INDEX idx_chat_completion_requests_is_anonymous ON public.chat_completion_requests (is_anonymous);
-- 20260115000001_add_cost_tracking_to_chat_completion_requests.sql
CREATE INDEX idx_chat_completion_requests_cost ON public.chat_completion_requests (cost_usd DESC NULLS LAST)
    WHERE cost_usd IS NOT NULL;
CREATE INDEX idx_chat_completion_requests_model_cost
    ON public.chat_completion_requests (model_id, cost_usd DESC NULLS LAST) WHERE cost_usd IS NOT NULL;
-- 20260122000000_add_butter_cache_support.sql
CREATE INDEX idx_chat_requests_metadata_cache_hit ON public.chat_completion_requests ((metadata ->> 'butter_cache_hit'))
    WHERE metadata ->> 'butter_cache_hit' IS NOT NULL;
CREATE INDEX idx_chat_requests_cache_model_analysis ON public.chat_completion_requests (model_id, created_at)
    WHERE metadata ->> 'butter_cache_hit' = 'true';

-- The TTL job's per-day aggregates: 20260525010000_fix_ttl_cleanup_jobs.sql. Its primary
-- key makes model_id and user_id NOT NULL.
CREATE TABLE public.chat_completion_daily_aggregates (
    day date NOT NULL,
    model_id bigint,
    user_id bigint,
    request_count bigint NOT NULL DEFAULT 0,
    completed_count bigint NOT NULL DEFAULT 0,
    failed_count bigint NOT NULL DEFAULT 0,
    total_input_tokens bigint NOT NULL DEFAULT 0,
    total_output_tokens bigint NOT NULL DEFAULT 0,
    total_cost_usd numeric(20, 8) NOT NULL DEFAULT 0,
    first_request_at timestamptz,
    last_request_at timestamptz,
    PRIMARY KEY (day, model_id, user_id)
);
CREATE INDEX idx_chat_daily_agg_day ON public.chat_completion_daily_aggregates (day);
CREATE INDEX idx_chat_daily_agg_model ON public.chat_completion_daily_aggregates (model_id);
CREATE INDEX idx_chat_daily_agg_user ON public.chat_completion_daily_aggregates (user_id);

-- The log the TTL job writes to: 20260109000000_add_scheduled_trial_reconciliation.sql.
CREATE TABLE public.reconciliation_logs (
    id bigserial PRIMARY KEY,
    job_name text NOT NULL,
    result jsonb,
    created_at timestamptz DEFAULT now()
);
CREATE INDEX idx_reconciliation_logs_job_name_created ON public.reconciliation_logs (job_name, created_at DESC);

-- == Table privileges (on top of the default privileges) ============================

-- 20260527000000_emergency_rls_lockdown.sql
REVOKE ALL ON public.users, public.chat_completion_requests FROM anon, authenticated;
GRANT ALL ON public.users, public.chat_completion_requests TO service_role;
-- 20260527000001_full_security_hardening.sql
REVOKE ALL ON public.chat_completion_daily_aggregates, public.reconciliation_logs FROM anon, authenticated;
GRANT ALL ON public.chat_completion_daily_aggregates, public.reconciliation_logs TO service_role;
-- providers, models (20251230000001) and api_keys_new (20251126165648_remote_schema.sql)
-- keep ALL for anon, authenticated and service_role.

-- == Row level security =============================================================

-- users: 20251009030427_remote_schema.sql; its always-true policies (and those of
-- 20251126165648) dropped by 20260527000002_final_security_hardening.sql.
ALTER TABLE public.users ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can view their own data" ON public.users
    FOR SELECT USING (auth.uid()::text = privy_user_id::text);

-- api_keys_new: same files as users.
ALTER TABLE public.api_keys_new ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can view their own API keys" ON public.api_keys_new
    FOR SELECT USING (user_id IN (SELECT u.id FROM public.users u
                                   WHERE u.privy_user_id::text = auth.uid()::text));

-- providers: 20251230000001_restore_dropped_tables.sql.
ALTER TABLE public.providers ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Allow public read access to providers" ON public.providers
    FOR SELECT USING (true);
CREATE POLICY "Allow service role full access to providers" ON public.providers
    FOR ALL TO service_role USING (true) WITH CHECK (true);

-- models: 20251230000001_restore_dropped_tables.sql (inactive models hidden from every
-- role without BYPASSRLS but service_role).
ALTER TABLE public.models ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Allow public read access to active models" ON public.models
    FOR SELECT USING (is_active = true);
CREATE POLICY "Allow service role full access to models" ON public.models
    FOR ALL TO service_role USING (true) WITH CHECK (true);

-- chat_completion_requests: the policy of 20251226000000/20251227000000 survives
-- 20260527000002, but 20260527000000 revoked the table from anon and authenticated.
ALTER TABLE public.chat_completion_requests ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Allow users to read their own chat completion requests" ON public.chat_completion_requests
    FOR SELECT TO authenticated, anon USING (true);

-- 20260527000001_full_security_hardening.sql: RLS, no policy.
ALTER TABLE public.chat_completion_daily_aggregates ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.reconciliation_logs ENABLE ROW LEVEL SECURITY;

-- == The monitoring RPC functions ===================================================
-- Signatures and result columns of 20260104000000_add_provider_request_stats_function.sql
-- (plpgsql there, SECURITY INVOKER, STABLE; search_path pinned by 20260527000001; EXECUTE
-- left to PUBLIC and the default privileges). Our bodies: model_identifier is model_name
-- (upstream's bodies still read models.model_id, dropped by 20260131000002).

-- Providers with at least one request through one of their models.
CREATE FUNCTION public.get_provider_request_stats()
RETURNS TABLE (provider_id integer, name text, slug text,
               models_with_requests bigint, total_requests bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
    SELECT p.id, p.name, p.slug, count(DISTINCT m.id), count(r.id)
      FROM public.providers p
      JOIN public.models m ON m.provider_id = p.id
      JOIN public.chat_completion_requests r ON r.model_id = m.id
     GROUP BY p.id, p.name, p.slug
     ORDER BY count(r.id) DESC
$$;

-- Models with at least one request, all providers.
CREATE FUNCTION public.get_models_with_requests()
RETURNS TABLE (model_id integer, model_identifier text, model_name text,
               provider_model_id text, provider jsonb, stats jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
    SELECT m.id, m.model_name, m.model_name, m.provider_model_id,
           jsonb_build_object('id', p.id, 'name', p.name, 'slug', p.slug),
           jsonb_build_object(
               'total_requests', count(r.id),
               'total_input_tokens', coalesce(sum(r.input_tokens), 0),
               'total_output_tokens', coalesce(sum(r.output_tokens), 0),
               'total_tokens', coalesce(sum(r.input_tokens + r.output_tokens), 0),
               'avg_processing_time_ms', coalesce(round(avg(r.processing_time_ms), 2), 0))
      FROM public.models m
      JOIN public.providers p ON p.id = m.provider_id
      JOIN public.chat_completion_requests r ON r.model_id = m.id
     GROUP BY m.id, p.id
     ORDER BY count(r.id) DESC
$$;

-- The same for one provider.
CREATE FUNCTION public.get_models_with_requests_by_provider(p_provider_id integer)
RETURNS TABLE (model_id integer, model_identifier text, model_name text,
               provider_model_id text, provider jsonb, stats jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
    SELECT g.* FROM public.get_models_with_requests() g
     WHERE (g.provider ->> 'id')::integer = p_provider_id
     ORDER BY (g.stats ->> 'total_requests')::bigint DESC
$$;

-- One row, zeros when the model has no request.
CREATE FUNCTION public.get_model_request_stats(p_model_id integer)
RETURNS TABLE (total_requests bigint, total_input_tokens bigint, total_output_tokens bigint,
               total_tokens bigint, avg_processing_time_ms numeric)
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
    SELECT count(r.id),
           coalesce(sum(r.input_tokens), 0)::bigint,
           coalesce(sum(r.output_tokens), 0)::bigint,
           coalesce(sum(r.input_tokens + r.output_tokens), 0)::bigint,
           coalesce(round(avg(r.processing_time_ms), 2), 0)
      FROM public.chat_completion_requests r
     WHERE r.model_id = p_model_id
$$;

-- == Credit functions (stubs) ========================================================

-- Signature of 20260223000003_add_atomic_deduct_credits.sql (SECURITY DEFINER; search_path
-- pinned by 20260527000001). Our stub moves the balances, writes no ledger.
CREATE FUNCTION public.atomic_deduct_credits(
    p_user_id bigint, p_tokens_amount numeric, p_from_allowance numeric,
    p_from_purchased numeric, p_transaction_type varchar, p_description text,
    p_metadata jsonb DEFAULT '{}'::jsonb, p_request_id uuid DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_allowance numeric;
    v_purchased numeric;
BEGIN
    UPDATE public.users
       SET subscription_allowance = subscription_allowance - p_from_allowance,
           purchased_credits = purchased_credits - p_from_purchased
     WHERE id = p_user_id
    RETURNING subscription_allowance, purchased_credits INTO v_allowance, v_purchased;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('success', false, 'error', 'user not found',
                                  'transaction_id', NULL, 'new_allowance', NULL,
                                  'new_purchased', NULL, 'new_balance', NULL);
    END IF;
    RETURN jsonb_build_object('success', true, 'error', NULL, 'transaction_id', NULL,
                              'new_allowance', v_allowance, 'new_purchased', v_purchased,
                              'new_balance', v_allowance + v_purchased);
END
$$;
-- 20260223000003_add_atomic_deduct_credits.sql
REVOKE ALL ON FUNCTION public.atomic_deduct_credits(bigint, numeric, numeric, numeric, varchar, text, jsonb, uuid)
    FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.atomic_deduct_credits(bigint, numeric, numeric, numeric, varchar, text, jsonb, uuid)
    TO service_role;

-- Signature of 20260705000001_add_atomic_add_credits.sql (SECURITY DEFINER, created after
-- the hardening: no search_path). Our stub moves the balance, writes no ledger.
CREATE FUNCTION public.atomic_add_credits(
    p_user_id bigint, p_credits numeric, p_transaction_type varchar, p_description text,
    p_target varchar DEFAULT 'purchased', p_payment_id bigint DEFAULT NULL,
    p_metadata jsonb DEFAULT '{}'::jsonb, p_request_id uuid DEFAULT NULL,
    p_created_by text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER AS $$
DECLARE
    v_allowance numeric;
    v_purchased numeric;
BEGIN
    UPDATE public.users
       SET subscription_allowance = subscription_allowance
                                    + CASE WHEN p_target = 'allowance' THEN p_credits ELSE 0 END,
           purchased_credits = purchased_credits
                               + CASE WHEN p_target = 'allowance' THEN 0 ELSE p_credits END
     WHERE id = p_user_id
    RETURNING subscription_allowance, purchased_credits INTO v_allowance, v_purchased;
    RETURN jsonb_build_object('success', FOUND, 'idempotent', false, 'transaction_id', NULL,
                              'new_allowance', v_allowance, 'new_purchased', v_purchased,
                              'new_balance', v_allowance + v_purchased,
                              'error', CASE WHEN NOT FOUND THEN 'user not found' END);
END
$$;
-- 20260705000001_add_atomic_add_credits.sql
REVOKE ALL ON FUNCTION public.atomic_add_credits(bigint, numeric, varchar, text, varchar, bigint, jsonb, uuid, text)
    FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.atomic_add_credits(bigint, numeric, varchar, text, varchar, bigint, jsonb, uuid, text)
    TO service_role;

-- == The TTL job ====================================================================
-- 20260525010000_fix_ttl_cleanup_jobs.sql (replacing 20260525000000_add_ttl_cleanup_jobs.sql's
-- 30 days by 90); all SECURITY DEFINER with search_path pg_catalog, public; EXECUTE revoked
-- from PUBLIC, anon, authenticated by 20260527000002_final_security_hardening.sql.
-- Upstream's pg_cron job 'ttl-cleanup-daily' ('0 4 * * *') runs run_and_log_ttl_cleanups():
-- not scheduled here.

-- Aggregates every row of the days up to 90 days ago (idempotently: a day's counts are
-- replaced by those of its rows still present). Days are UTC days here (upstream casts in
-- the session's time zone, UTC on Supabase). A row with NULL model_id or user_id makes
-- it fail, as upstream's primary key does.
CREATE FUNCTION public.rollup_chat_completion_requests() RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_cutoff date := ((now() - interval '90 days') AT TIME ZONE 'UTC')::date;
    v_count bigint;
BEGIN
    WITH agg AS (
        SELECT (r.created_at AT TIME ZONE 'UTC')::date AS day, r.model_id, r.user_id,
               count(*) AS n,
               count(*) FILTER (WHERE r.status = 'completed') AS n_completed,
               count(*) FILTER (WHERE r.status = 'failed') AS n_failed,
               coalesce(sum(r.input_tokens), 0) AS tok_in,
               coalesce(sum(r.output_tokens), 0) AS tok_out,
               coalesce(sum(r.cost_usd), 0) AS cost,
               min(r.created_at) AS first_at, max(r.created_at) AS last_at
          FROM public.chat_completion_requests r
         WHERE r.created_at < ((v_cutoff + 1)::timestamp AT TIME ZONE 'UTC')
         GROUP BY 1, 2, 3
    ), written AS (
        INSERT INTO public.chat_completion_daily_aggregates AS d
               (day, model_id, user_id, request_count, completed_count, failed_count,
                total_input_tokens, total_output_tokens, total_cost_usd,
                first_request_at, last_request_at)
        SELECT day, model_id, user_id, n, n_completed, n_failed, tok_in, tok_out, cost,
               first_at, last_at
          FROM agg
        ON CONFLICT (day, model_id, user_id) DO UPDATE
           SET request_count = excluded.request_count,
               completed_count = excluded.completed_count,
               failed_count = excluded.failed_count,
               total_input_tokens = excluded.total_input_tokens,
               total_output_tokens = excluded.total_output_tokens,
               total_cost_usd = excluded.total_cost_usd,
               first_request_at = least(d.first_request_at, excluded.first_request_at),
               last_request_at = greatest(d.last_request_at, excluded.last_request_at)
        RETURNING 1
    )
    SELECT count(*) INTO v_count FROM written;
    RETURN jsonb_build_object('timestamp', now(), 'rolled_up', v_count,
                              'cutoff_date', v_cutoff,
                              'table', 'chat_completion_daily_aggregates');
END
$$;

-- Deletes the rows older than 90 days; it does not roll up first (the job does).
CREATE FUNCTION public.cleanup_chat_completion_requests() RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_count bigint;
BEGIN
    DELETE FROM public.chat_completion_requests WHERE created_at < now() - interval '90 days';
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN jsonb_build_object('timestamp', now(), 'deleted', v_count,
                              'table', 'chat_completion_requests');
END
$$;

-- The cron job's entry point, reduced to its chat_completion_requests steps (upstream's
-- also cleans model_health_history and rate_limit_alerts): rollup, then delete, each
-- step's failure logged and swallowed, so the delete runs even when the rollup failed.
CREATE FUNCTION public.run_and_log_ttl_cleanups() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    BEGIN
        INSERT INTO public.reconciliation_logs (job_name, result)
        VALUES ('ttl_rollup_chat_completion_requests', public.rollup_chat_completion_requests());
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO public.reconciliation_logs (job_name, result)
        VALUES ('ttl_rollup_chat_completion_requests',
                jsonb_build_object('timestamp', now(), 'error', SQLERRM, 'state', SQLSTATE));
    END;
    BEGIN
        INSERT INTO public.reconciliation_logs (job_name, result)
        VALUES ('ttl_cleanup_chat_completion_requests', public.cleanup_chat_completion_requests());
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO public.reconciliation_logs (job_name, result)
        VALUES ('ttl_cleanup_chat_completion_requests',
                jsonb_build_object('timestamp', now(), 'error', SQLERRM, 'state', SQLSTATE));
    END;
    DELETE FROM public.reconciliation_logs
     WHERE (job_name LIKE 'ttl_cleanup_%' OR job_name LIKE 'ttl_rollup_%')
       AND created_at < now() - interval '30 days';
END
$$;

-- 20260525010000_fix_ttl_cleanup_jobs.sql, 20260527000002_final_security_hardening.sql
REVOKE EXECUTE ON FUNCTION public.rollup_chat_completion_requests(), public.cleanup_chat_completion_requests(),
    public.run_and_log_ttl_cleanups() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.rollup_chat_completion_requests(), public.cleanup_chat_completion_requests(),
    public.run_and_log_ttl_cleanups() TO service_role;

RESET ROLE;
