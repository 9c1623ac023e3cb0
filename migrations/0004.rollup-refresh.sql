-- Keeping the rollups current. Inserts carry no trigger: a refresh procedure folds
-- new rows in below a safe watermark. Updates and deletes (rare) of rows already
-- rolled up adjust the rollups in the same transaction, through statement triggers.
-- depends: 0003.rollup-tables

-- Buckets are aligned to UTC midnight; '24 hours', not '1 day', so that no time zone applies.
CREATE FUNCTION chat_request_bucket(p_grain interval, p_at timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT date_bin(p_grain, p_at, timestamptz '2000-01-01 00:00:00+00')
$$;

-- A change to the rollups at the finest grain.
CREATE TYPE chat_request_rollup_delta AS (
    bucket              timestamptz,
    model_id            integer,
    status              text,
    requests            bigint,
    input_tokens        bigint,
    output_tokens       bigint,
    processing_time_ms  bigint,
    cost_usd            numeric);

-- One request's contribution, with sign -1 to take it out again.
CREATE FUNCTION chat_request_rollup_delta_of(r chat_completion_requests, p_sign integer)
RETURNS chat_request_rollup_delta
LANGUAGE sql IMMUTABLE AS $$
    SELECT ROW(chat_request_bucket((chat_request_rollup_grains())[1], r.created_at),
               coalesce(r.model_id, 0), r.status,
               p_sign, p_sign * r.input_tokens, p_sign * r.output_tokens,
               p_sign * r.processing_time_ms, p_sign * coalesce(r.cost_usd, 0))::chat_request_rollup_delta
$$;

-- Adds deltas at every grain. Rows are upserted in key order, so that two
-- transactions adding overlapping deltas lock rows in the same order.
CREATE FUNCTION chat_request_rollup_add(p_deltas chat_request_rollup_delta[])
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO chat_request_rollups AS r
    SELECT g.grain, chat_request_bucket(g.grain, d.bucket), d.model_id, d.status,
           sum(d.requests), sum(d.input_tokens), sum(d.output_tokens),
           sum(d.processing_time_ms), sum(d.cost_usd)
      FROM unnest(p_deltas) d
     CROSS JOIN unnest(chat_request_rollup_grains()) g (grain)
     GROUP BY 1, 2, 3, 4
     ORDER BY 1, 2, 3, 4
    ON CONFLICT (grain, bucket, model_id, status) DO UPDATE
       SET requests = r.requests + excluded.requests,
           input_tokens = r.input_tokens + excluded.input_tokens,
           output_tokens = r.output_tokens + excluded.output_tokens,
           processing_time_ms = r.processing_time_ms + excluded.processing_time_ms,
           cost_usd = r.cost_usd + excluded.cost_usd
$$;

-- Folds the requests with p_after < id <= p_upto into the rollups; returns how many.
CREATE FUNCTION chat_request_rollup_range(p_after bigint, p_upto bigint)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    deltas chat_request_rollup_delta[];
BEGIN
    SELECT array_agg(ROW(d.*)::chat_request_rollup_delta) INTO deltas
      FROM (SELECT chat_request_bucket((chat_request_rollup_grains())[1], created_at),
                   coalesce(model_id, 0), status,
                   count(*), sum(input_tokens), sum(output_tokens), sum(processing_time_ms),
                   coalesce(sum(cost_usd), 0)
              FROM chat_completion_requests
             WHERE id > p_after AND id <= p_upto
             GROUP BY 1, 2, 3) d;
    IF deltas IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM chat_request_rollup_add(deltas);
    RETURN (SELECT sum((d).requests) FROM unnest(deltas) d);
END
$$;

-- Waits out in-flight writers (giving up after p_lock_timeout_ms: NULL), then
-- returns the largest id: no transaction can commit a smaller one any more. The
-- lock lasts until the caller's transaction ends. SECURITY DEFINER because LOCK in
-- this mode needs write privileges on the table, which the rollup job does not have.
CREATE FUNCTION chat_request_rollup_safe_id(p_lock_timeout_ms integer)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM set_config('lock_timeout', p_lock_timeout_ms || 'ms', true);
    LOCK TABLE chat_completion_requests IN SHARE ROW EXCLUSIVE MODE;
    RETURN coalesce((SELECT max(id) FROM chat_completion_requests), 0);
EXCEPTION WHEN lock_not_available THEN
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION chat_request_rollup_safe_id(integer) FROM PUBLIC;

-- Rolls up the requests of the next p_batch_rows ids; call it in autocommit mode
-- (it commits). rolled_up: how many; caught_up: whether no committed row waits now.
-- Both are NULL when it did nothing because another refresh, or a lock holder
-- (a long COPY, a VACUUM), was in the way: call again later.
--
-- A request id is only safe to roll up once no transaction can still commit a row
-- with a smaller id. Phase 1 finds that id (chat_request_rollup_safe_id: a short
-- timeout, so that a long COPY never stalls other writers queued behind the lock)
-- and commits at once, releasing the lock. Phase 2 aggregates up to that id,
-- unless the state row changed since phase 1 (a TRUNCATE may have restarted the
-- ids); its row lock orders refreshes with the update/delete triggers below.
CREATE PROCEDURE refresh_chat_request_rollups(
    p_batch_rows bigint DEFAULT 1000000,
    p_lock_timeout_ms integer DEFAULT 200,
    INOUT rolled_up bigint DEFAULT NULL,
    INOUT caught_up boolean DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    done_upto bigint;
    last_id bigint;
    upto bigint;
    state_version xid;
BEGIN
    rolled_up := NULL;
    caught_up := NULL;
    IF NOT pg_try_advisory_xact_lock(hashtext('chatstats.refresh_chat_request_rollups')) THEN
        RETURN;  -- another process is refreshing
    END IF;
    last_id := chat_request_rollup_safe_id(p_lock_timeout_ms);
    IF last_id IS NULL THEN
        RETURN;  -- writers are busy; answers stay exact through the tail meanwhile
    END IF;
    SELECT watermark_id, xmin INTO done_upto, state_version FROM chat_request_rollup_state;
    upto := least(last_id, done_upto + p_batch_rows);
    COMMIT;

    SELECT watermark_id INTO done_upto FROM chat_request_rollup_state
     WHERE xmin = state_version FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;  -- a TRUNCATE or another refresh changed the state since phase 1
    END IF;
    rolled_up := 0;
    IF upto > done_upto THEN
        rolled_up := chat_request_rollup_range(done_upto, upto);
    END IF;
    -- refreshed_at: when the rollups were last known complete up to the watermark
    UPDATE chat_request_rollup_state
       SET watermark_id = greatest(watermark_id, upto), refreshed_at = now();
    caught_up := upto >= last_id;
    COMMIT;
END
$$;

-- Updates and deletes of rolled-up rows move their contribution. FOR SHARE waits
-- for a refresh in progress and holds the watermark still until this transaction ends.
CREATE FUNCTION chat_request_rollup_adjust()
RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    done_upto bigint;
    deltas chat_request_rollup_delta[];
BEGIN
    SELECT watermark_id INTO done_upto FROM chat_request_rollup_state FOR SHARE;
    IF TG_OP = 'UPDATE' THEN
        deltas := ARRAY(SELECT chat_request_rollup_delta_of(o, -1) FROM old_rows o WHERE o.id <= done_upto
                        UNION ALL
                        SELECT chat_request_rollup_delta_of(n, 1) FROM new_rows n WHERE n.id <= done_upto);
    ELSE
        deltas := ARRAY(SELECT chat_request_rollup_delta_of(o, -1) FROM old_rows o WHERE o.id <= done_upto);
    END IF;
    IF cardinality(deltas) > 0 THEN
        PERFORM chat_request_rollup_add(deltas);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER ccr_rollup_update AFTER UPDATE ON chat_completion_requests
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION chat_request_rollup_adjust();
CREATE TRIGGER ccr_rollup_delete AFTER DELETE ON chat_completion_requests
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION chat_request_rollup_adjust();

-- TRUNCATE empties the rollups too; ids may restart, so the watermark does as well.
CREATE FUNCTION chat_request_rollup_reset()
RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM chat_request_rollup_state FOR UPDATE;
    TRUNCATE chat_request_rollups;
    UPDATE chat_request_rollup_state SET watermark_id = 0, refreshed_at = now();
    RETURN NULL;
END
$$;

CREATE TRIGGER ccr_rollup_truncate AFTER TRUNCATE ON chat_completion_requests
    FOR EACH STATEMENT EXECUTE FUNCTION chat_request_rollup_reset();

-- How far the rollups are behind: rows in the tail, and (when some wait) seconds since
-- the last refresh that ran.
CREATE FUNCTION chat_request_rollup_lag(
    OUT lag_rows bigint, OUT lag_seconds numeric, OUT watermark_id bigint, OUT refreshed_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT t.n,
           CASE WHEN t.n = 0 THEN 0
                ELSE round(extract(epoch FROM now() - s.refreshed_at), 3) END,
           s.watermark_id, s.refreshed_at
      FROM chat_request_rollup_state s,
           LATERAL (SELECT count(*) AS n FROM chat_completion_requests c
                     WHERE c.id > s.watermark_id) t
$$;
