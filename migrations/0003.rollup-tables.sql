-- Rollups: request totals per (grain, bucket, model, status), at four grains.
-- Rows with id <= chat_request_rollup_state.watermark_id are counted here; newer
-- rows (the tail) are read raw, so answers stay exact and fresh.
-- depends: 0002.stats-functions

-- The grains, finest first; each divides the next. Bucket bounds: a range's ragged
-- edges are read raw, so the finest grain bounds how many raw rows a query reads.
CREATE FUNCTION chat_request_rollup_grains()
RETURNS interval[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY[interval '1 minute', interval '10 minutes', interval '1 hour', interval '24 hours']
$$;

CREATE TABLE chat_request_rollups (
    grain               interval NOT NULL CHECK (grain = ANY (chat_request_rollup_grains())),
    bucket              timestamptz NOT NULL,
    model_id            integer NOT NULL,  -- 0: requests whose model_id is NULL
    status              text NOT NULL,
    requests            bigint NOT NULL,
    input_tokens        bigint NOT NULL,
    output_tokens       bigint NOT NULL,
    processing_time_ms  bigint NOT NULL,
    cost_usd            numeric NOT NULL,
    PRIMARY KEY (grain, bucket, model_id, status)
);
-- One model's statistics (the primary key serves all models at once).
CREATE INDEX chat_request_rollups_model_idx ON chat_request_rollups (model_id, grain, bucket);

-- One row: every request with id <= watermark_id is in the rollups.
CREATE TABLE chat_request_rollup_state (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    watermark_id  bigint NOT NULL DEFAULT 0,
    refreshed_at  timestamptz
);
INSERT INTO chat_request_rollup_state DEFAULT VALUES;

-- Rollups file requests without a model under model_id 0: keep real ids above it.
ALTER TABLE models ADD CONSTRAINT models_id_positive CHECK (id > 0);

-- Buckets need finite timestamps; no real request happens at +/-infinity.
ALTER TABLE chat_completion_requests
    ADD CONSTRAINT ccr_created_at_finite CHECK (isfinite(created_at));
