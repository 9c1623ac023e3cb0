-- The rollup store, second design: cost independent of history length, compact,
-- with latency histograms. Replaces the store of 0003-0005, whose tables and
-- functions stay defined (empty, their triggers disabled) only so that those
-- migrations still roll back; nothing calls them any more.
--
-- One row per (level, bucket, model): request counts per status as columns, exact
-- sums, and the latency histogram as pgvector vectors (summed in C by sum(vector),
-- hundreds of times faster than merging arrays in SQL). Levels nest, each width
-- dividing the next: 15 minutes, 1 and 6 hours, 1 day, then blocks of 2, 4, 8, ...
-- 1024 days, and all time. A range is cut into O(log) pieces of these levels plus
-- raw rows at its ragged edges (0010). Quarters are kept for a configurable number
-- of days (quarter_horizon below), everything coarser for ever.
-- depends: 0007.roles

-- pgvector, unless the database has it: created with the usual privileges (executable by
-- everyone; the default privileges of 0007 are for our own functions) and marked, so
-- that the rollback drops only an extension this migration created.
DO $$
DECLARE
    routine regprocedure;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'vector') THEN
        CREATE EXTENSION vector;
        COMMENT ON EXTENSION vector IS 'chatstats: created by migration 0008.rollup-store';
        FOR routine IN
            SELECT d.objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
             WHERE e.extname = 'vector' AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
        LOOP
            EXECUTE format('GRANT EXECUTE ON ROUTINE %s TO PUBLIC', routine);
            EXECUTE format('REVOKE EXECUTE ON ROUTINE %s FROM chatstats_api', routine);
        END LOOP;
    END IF;
END
$$;

-- Bucket widths of levels 1, 2, ..., finest first; the level after the last is all
-- time. Days count as 24 hours.
CREATE FUNCTION chat_rollup_widths()
RETURNS interval[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['15 minutes', '1 hour', '6 hours', '1 day', '2 days', '4 days', '8 days',
                 '16 days', '32 days', '64 days', '128 days', '256 days', '512 days',
                 '1024 days']::interval[]
$$;

-- The all-time level.
CREATE FUNCTION chat_rollup_top()
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT cardinality(chat_rollup_widths()) + 1
$$;

-- The start of the level's bucket holding p_at (aligned to 2000-01-01 00:00 UTC).
CREATE FUNCTION chat_rollup_bucket(p_level integer, p_at timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_level = chat_rollup_top() THEN '-infinity'::timestamptz
                WHEN NOT isfinite(p_at) THEN p_at
                ELSE date_bin((chat_rollup_widths())[p_level], p_at, timestamptz '2000-01-01 00:00:00+00')
           END
$$;

-- ## Latency histograms
-- A processing time's bucket (1-based): 2 ms wide below 100 ms (error at most 1 ms),
-- then log buckets of ratio 1.019794 (relative error at most 0.98%), up to the
-- integer limit (bucket 912). Buckets 1-494 (below about 10 minutes) live in the
-- `latency` vector, 495-912 in `latency_over`, which stays NULL in nearly every row.
CREATE FUNCTION chat_latency_bucket(p_ms integer)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_ms < 100 THEN p_ms / 2 + 1
                ELSE 51 + floor(ln(p_ms / 100.0::float8) / ln(1.019794::float8))::integer END
$$;

-- Histograms are cumulative (element i counts the requests in buckets <= i), so that
-- a merged histogram's percentile is one binary search (width_bucket). Each request
-- adds its bucket's step: zeros below the bucket, ones from it on.
CREATE TABLE chat_latency_steps (
    bucket        integer PRIMARY KEY,
    latency       vector(494) NOT NULL,
    latency_over  vector(418)
);
-- Read for every request folded in: kept inline, uncompressed.
ALTER TABLE chat_latency_steps ALTER latency SET STORAGE PLAIN, ALTER latency_over SET STORAGE PLAIN;
INSERT INTO chat_latency_steps
SELECT b,
       ARRAY(SELECT (i >= b)::integer::real FROM generate_series(1, 494) i)::vector(494),
       CASE WHEN b > 494 THEN
           ARRAY(SELECT (i >= b - 494)::integer::real FROM generate_series(1, 418) i)::vector(418) END
  FROM generate_series(1, 912) b;

-- A percentile of a merged histogram (its vectors as real[]), ranked as percentile_disc
-- ranks: the r-th value, r = ceil(fraction * n) computed in float8 like percentile_disc;
-- NULL when empty. width_bucket(r - 1, counts) is a binary search: how many cumulative
-- counts lie below r, i.e. the bucket of the r-th value, minus one. The value reported
-- for a bucket is within 1 ms (below 100 ms) or 0.98% of every value in it: the middle
-- of a 2 ms bucket, or 2 lo hi / (lo + hi) of a log bucket [lo, hi). One expression
-- (with n and r spelt out each time), so that it is inlined into its callers.
CREATE FUNCTION chat_latency_percentile(p_latency real[], p_over real[], p_fraction float8)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN p_latency[494] + coalesce(p_over[418], 0) = 0 THEN NULL
        WHEN ceil(p_fraction * (p_latency[494] + coalesce(p_over[418], 0))) > p_latency[494] THEN
            round((100 * 1.019794::float8 ^ (444 + width_bucket(
                (ceil(p_fraction * (p_latency[494] + p_over[418])) - 1 - p_latency[494])::real, p_over))
                * 2 * 1.019794 / (1 + 1.019794))::numeric, 2)
        WHEN width_bucket((ceil(p_fraction * (p_latency[494] + coalesce(p_over[418], 0))) - 1)::real,
                          p_latency) < 50 THEN
            2 * width_bucket((ceil(p_fraction * (p_latency[494] + coalesce(p_over[418], 0))) - 1)::real,
                             p_latency) + 0.5
        ELSE
            round((100 * 1.019794::float8 ^ (width_bucket(
                (ceil(p_fraction * (p_latency[494] + coalesce(p_over[418], 0))) - 1)::real, p_latency) - 50)
                * 2 * 1.019794 / (1 + 1.019794))::numeric, 2)
    END
$$;

-- k times a histogram (k = -1 takes requests out again).
CREATE FUNCTION chat_latency_scale(p_histogram vector, p_k integer)
RETURNS vector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_k = 1 OR p_histogram IS NULL THEN p_histogram
                ELSE p_histogram * array_fill(p_k::real, ARRAY[vector_dims(p_histogram)])::vector END
$$;

-- ## The store
CREATE TABLE chat_rollups (
    level               smallint NOT NULL CHECK (level BETWEEN 1 AND chat_rollup_top()),
    -- what id identifies: 'm' a model (0: requests without one); room for other dimensions
    dim                 "char" NOT NULL CHECK (dim = 'm'),
    bucket              timestamptz NOT NULL,
    id                  bigint NOT NULL,
    completed           bigint NOT NULL,
    failed              bigint NOT NULL,
    partial             bigint NOT NULL,
    input_tokens        bigint NOT NULL,
    output_tokens       bigint NOT NULL,
    processing_time_ms  bigint NOT NULL,
    cost_usd            numeric NOT NULL,
    latency             vector(494) NOT NULL,
    latency_over        vector(418),
    PRIMARY KEY (level, dim, bucket, id)
) WITH (toast_tuple_target = 128);
-- Histograms compressed inline: most rows hold a few requests, so a step or two.
ALTER TABLE chat_rollups ALTER latency SET STORAGE MAIN, ALTER latency_over SET STORAGE MAIN;

-- One row. Requests with id <= watermark_id are in the rollups. Quarters (level 1)
-- before quarter_horizon are not kept; request rows before raw_horizon were removed
-- by retention, their contribution kept in the rollups. Horizons only move forward,
-- on UTC midnights.
CREATE TABLE chat_rollup_state (
    singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    watermark_id     bigint NOT NULL DEFAULT 0,
    refreshed_at     timestamptz,
    quarter_horizon  timestamptz NOT NULL DEFAULT '-infinity',
    raw_horizon      timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO chat_rollup_state DEFAULT VALUES;

-- The first kept bucket start of a level.
CREATE FUNCTION chat_rollup_horizon(p_state chat_rollup_state, p_level integer)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_level = 1 THEN p_state.quarter_horizon ELSE '-infinity'::timestamptz END
$$;

-- The old store goes dormant: no trigger feeds it, it holds nothing.
ALTER TABLE chat_completion_requests DISABLE TRIGGER ccr_rollup_update,
    DISABLE TRIGGER ccr_rollup_delete, DISABLE TRIGGER ccr_rollup_truncate;
TRUNCATE chat_request_rollups;
UPDATE chat_request_rollup_state SET watermark_id = 0, refreshed_at = NULL;

GRANT SELECT ON chat_rollups, chat_rollup_state, chat_latency_steps TO chatstats_api;
GRANT SELECT, INSERT, UPDATE, DELETE ON chat_rollups, chat_rollup_state TO chatstats_rollup;
GRANT SELECT ON chat_latency_steps TO chatstats_rollup;
