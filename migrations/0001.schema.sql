-- Gateway tables: providers, their models, and one row per chat completion request.
-- depends:

CREATE TABLE providers (
    id          serial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    slug        text NOT NULL UNIQUE,
    is_active   boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE models (
    id                 serial PRIMARY KEY,
    provider_id        integer NOT NULL REFERENCES providers (id) ON DELETE RESTRICT,
    model_id           text NOT NULL,
    model_name         text NOT NULL,
    provider_model_id  text NOT NULL,
    is_active          boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider_id, provider_model_id)
);
CREATE INDEX models_provider_id_idx ON models (provider_id);

CREATE TABLE chat_completion_requests (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id          text NOT NULL UNIQUE,
    model_id            integer REFERENCES models (id) ON DELETE RESTRICT,
    input_tokens        integer NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens       integer NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    total_tokens        integer GENERATED ALWAYS AS (input_tokens + output_tokens) STORED,
    processing_time_ms  integer NOT NULL CHECK (processing_time_ms >= 0),
    status              text NOT NULL DEFAULT 'completed'
                        CHECK (status IN ('completed', 'failed', 'partial')),
    error_message       text,
    user_id             bigint,
    api_key_id          bigint,
    cost_usd            numeric(12, 6),
    created_at          timestamptz NOT NULL DEFAULT now()
);
-- Per-model statistics and the request list filtered by model, newest first.
CREATE INDEX ccr_model_created_idx ON chat_completion_requests (model_id, created_at);
-- Time-range statistics and the unfiltered request list, newest first.
CREATE INDEX ccr_created_idx ON chat_completion_requests (created_at);
-- The request list filtered by status.
CREATE INDEX ccr_status_created_idx ON chat_completion_requests (status, created_at);
