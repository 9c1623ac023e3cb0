-- Least privilege: chatstats_api (the API's login) may only read what the endpoints
-- need and execute the statistics functions; chatstats_rollup (the rollup job) may
-- also write the rollup tables. Neither owns anything, so neither can run DDL.
-- Roles are cluster-wide: created only if missing (an operator may pre-create them,
-- e.g. with a password), marked so that the rollback drops only roles it created.
-- depends: 0006.api-keys

DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['chatstats_api', 'chatstats_rollup'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I LOGIN', role_name);
                EXECUTE format('COMMENT ON ROLE %I IS %L', role_name,
                               'chatstats: created by migration 0007.roles');
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created concurrently by a migration of another database
            END;
        END IF;
    END LOOP;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO chatstats_api, chatstats_rollup',
                   current_database());
END
$$;

-- What the stats endpoints, the request list and /ready read.
GRANT USAGE ON SCHEMA public TO chatstats_api, chatstats_rollup;
GRANT SELECT ON chat_completion_requests, models, providers, _yoyo_migration TO chatstats_api;
GRANT SELECT ON chat_completion_requests TO chatstats_rollup;

-- Functions: only the API may execute ours (not PUBLIC), now and for functions that
-- later migrations create. Functions of extensions living in public are left alone.
DO $$
DECLARE
    routine regprocedure;
BEGIN
    FOR routine IN
        SELECT p.oid FROM pg_proc p
         WHERE p.pronamespace = 'public'::regnamespace
           AND NOT EXISTS (SELECT FROM pg_depend d
                            WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                              AND d.deptype = 'e')
    LOOP
        EXECUTE format('REVOKE EXECUTE ON ROUTINE %s FROM PUBLIC', routine);
        EXECUTE format('GRANT EXECUTE ON ROUTINE %s TO chatstats_api', routine);
    END LOOP;
END
$$;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON ROUTINES FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT EXECUTE ON ROUTINES TO chatstats_api;

-- Rollups: the statistics functions read them as the caller (the API). The rollup
-- job, connected as chatstats_rollup, folds new rows in through the refresh procedure;
-- it reads the requests and writes only the rollups.
GRANT SELECT ON chat_request_rollups, chat_request_rollup_state TO chatstats_api;
GRANT SELECT, INSERT, UPDATE ON chat_request_rollups, chat_request_rollup_state TO chatstats_rollup;
GRANT EXECUTE ON ROUTINE
    refresh_chat_request_rollups(bigint, integer, bigint, boolean),
    chat_request_rollup_safe_id(integer),
    chat_request_rollup_range(bigint, bigint),
    chat_request_rollup_add(chat_request_rollup_delta[]),
    chat_request_bucket(interval, timestamptz),
    chat_request_rollup_grains()
    TO chatstats_rollup;
REVOKE EXECUTE ON ROUTINE chat_request_rollup_safe_id(integer) FROM chatstats_api;
