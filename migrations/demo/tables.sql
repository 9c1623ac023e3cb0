-- The demo database's gateway tables, shaped as the gateway's are (docs/gatewayz-schema.md):
-- `chatstats migrate` runs this once, as the first step on a database that has no
-- chat_completion_requests, then installs chatstats beside them (migrations/attach/)
-- exactly as it would beside a gateway's. From then on these tables are "the gateway's":
-- chatstats changes them no more than it would the real ones, and `chatstats uninstall`
-- leaves them.
--
-- As upstream: a numeric, nullable latency; nullable token counts; an open status
-- (default 'pending', no CHECK); no total_tokens; no models.model_id (model_name is the
-- identifier); no foreign key from a request to its model (the catalog sync deletes
-- models that requests still name). Unlike upstream: no users or API key tables (the
-- ids are plain numbers), fewer catalog columns, and indexes on created_at for the
-- request list (the gateway has none; see docs/gatewayz-schema.md).

CREATE TABLE public.providers (
    id          serial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    slug        text NOT NULL UNIQUE,
    is_active   boolean DEFAULT true,
    metadata    jsonb DEFAULT '{}'::jsonb,
    created_at  timestamptz DEFAULT now(),
    updated_at  timestamptz DEFAULT now()
);

CREATE TABLE public.models (
    id                 serial PRIMARY KEY,
    provider_id        integer REFERENCES public.providers (id) ON DELETE CASCADE,
    model_name         text NOT NULL,
    provider_model_id  text NOT NULL,
    description        text,
    context_length     integer,
    is_active          boolean DEFAULT true,
    metadata           jsonb DEFAULT '{}'::jsonb,
    created_at         timestamptz DEFAULT now(),
    updated_at         timestamptz DEFAULT now(),
    UNIQUE (provider_id, provider_model_id)
);
CREATE INDEX models_provider_id_idx ON public.models (provider_id);
CREATE INDEX models_model_name_idx ON public.models (model_name);

CREATE TABLE public.chat_completion_requests (
    id                  bigserial PRIMARY KEY,
    request_id          text,
    model_id            integer,
    user_id             bigint,
    api_key_id          bigint,
    status              text NOT NULL DEFAULT 'pending',
    input_tokens        bigint DEFAULT 0,
    output_tokens       bigint DEFAULT 0,
    processing_time_ms  numeric,
    error_message       text,
    is_anonymous        boolean NOT NULL DEFAULT false,
    created_at          timestamptz DEFAULT now(),
    updated_at          timestamptz DEFAULT now(),
    cost_usd            numeric(12, 6),
    input_cost_usd      numeric(12, 6),
    output_cost_usd     numeric(12, 6),
    pricing_source      varchar(50) DEFAULT 'calculated',
    metadata            jsonb DEFAULT '{}'::jsonb
);
-- As the gateway's.
CREATE INDEX ccr_model_status_idx ON public.chat_completion_requests (model_id, status);
CREATE INDEX ccr_status_created_idx ON public.chat_completion_requests (status, created_at);
CREATE INDEX ccr_user_idx ON public.chat_completion_requests (user_id);
CREATE INDEX ccr_api_key_idx ON public.chat_completion_requests (api_key_id);
-- The demo's own: the request list, newest first, unfiltered and by model.
CREATE INDEX ccr_created_idx ON public.chat_completion_requests (created_at);
CREATE INDEX ccr_model_created_idx ON public.chat_completion_requests (model_id, created_at);

-- The demo database's own sessions (psql, the tests) find chatstats' functions unqualified;
-- chatstats' roles have their own setting, and on a gateway's database the owner's CLI
-- sessions put chatstats first themselves.
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET search_path = chatstats, public', current_database());
END
$$;

-- The mark of the demo's table: chatstats' own retention deletes request rows only here
-- (a gateway's rows are the gateway's, which has its own TTL job).
COMMENT ON TABLE public.chat_completion_requests IS 'chatstats demo: made by chatstats migrate';
