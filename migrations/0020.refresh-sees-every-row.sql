-- A refresh never moves its watermark past requests it could not read. Under row level
-- security (Supabase enables it on the gateway's tables, with policies for its own roles
-- only) the rollup role may see none of the rows: a refresh then folded nothing and moved
-- the watermark past them, and they were lost for good while the lag said 0. Now the
-- refresh (and a backfill, before it starts) counts the rows of its id range as the
-- table's owner (whom the policies do not filter) and stops with an error naming the role
-- and what it missed; the lag counts
-- the rows waiting the same way, so that /ready tells.
-- depends: 0019.source-ttl

-- How many requests have p_after < id <= p_upto, counted as the owner (NULL: no bound).
CREATE FUNCTION chat_rollup_source_count(p_after bigint, p_upto bigint)
RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT count(*) FROM chat_completion_requests
     WHERE id > p_after AND (p_upto IS NULL OR id <= p_upto)
$$;
REVOKE EXECUTE ON FUNCTION chat_rollup_source_count(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION chat_rollup_source_count(bigint, bigint) TO chatstats_api, chatstats_rollup;

-- Stops with an error when the caller saw fewer than the requests with p_after < id <=
-- p_upto (NULL: no bound) that exist: row level security hides the others from it.
CREATE FUNCTION chat_rollup_check_seen(p_after bigint, p_upto bigint, p_seen bigint)
RETURNS void
LANGUAGE plpgsql STABLE AS $$
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
REVOKE EXECUTE ON FUNCTION chat_rollup_check_seen(bigint, bigint, bigint) FROM chatstats_api;
GRANT EXECUTE ON FUNCTION chat_rollup_check_seen(bigint, bigint, bigint) TO chatstats_rollup;

CREATE OR REPLACE FUNCTION chat_rollup_fold(p_after bigint, p_upto bigint, p_state chat_rollup_state)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    added chat_rollup_input[] := ARRAY(
        SELECT chat_rollup_input_of(c) FROM chat_completion_requests c
         WHERE c.id > p_after AND c.id <= p_upto);
BEGIN
    PERFORM chat_rollup_check_seen(p_after, p_upto, cardinality(added));
    PERFORM chat_rollup_apply(added, '{}', p_state);
    RETURN cardinality(added);
END
$$;

CREATE OR REPLACE FUNCTION chat_rollup_lag(
    OUT lag_rows bigint, OUT lag_seconds numeric, OUT watermark_id bigint, OUT refreshed_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT t.n,
           CASE WHEN t.n = 0 THEN 0
                ELSE round(extract(epoch FROM now() - s.refreshed_at), 3) END,
           s.watermark_id, s.refreshed_at
      FROM chat_rollup_state s,
           LATERAL (SELECT chat_rollup_source_count(s.watermark_id, NULL) AS n) t
$$;

-- The rollup role's backfill (the refresher's login: rollups.catch_up) needs these too;
-- only the API could execute them.
GRANT EXECUTE ON FUNCTION chat_rollup_ceil(integer, timestamptz) TO chatstats_rollup;
