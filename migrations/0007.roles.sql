-- Least privilege: chatstats_api (the API's login) may only read what the endpoints
-- need and execute the statistics functions; chatstats_rollup (the rollup job) may
-- also write the rollup tables. Neither owns anything, so neither can run DDL.
-- Roles are cluster-wide: created only if missing (an operator may pre-create them,
-- e.g. with a password), marked so that the rollback drops only roles it created.
-- depends: 0002.stats-functions

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

-- Rollups (issue 3): the stats functions read the tables as the caller; the rollup
-- job (connected as chatstats_rollup) runs the refresh function, which writes them as
-- the caller. Granted for whichever of them exist.
DO $$
DECLARE
    rollup_table regclass;
    routine regprocedure;
BEGIN
    FOR routine IN
        SELECT p.oid FROM pg_proc p
         WHERE p.pronamespace = 'public'::regnamespace
           AND p.proname = 'refresh_chat_request_rollups'
    LOOP
        EXECUTE format('GRANT EXECUTE ON ROUTINE %s TO chatstats_rollup', routine);
    END LOOP;
    FOR rollup_table IN
        SELECT to_regclass(t) FROM unnest(ARRAY['chat_request_rollup_hour',
                                                'chat_request_rollup_day',
                                                'chat_request_rollup_state']) AS t
         WHERE to_regclass(t) IS NOT NULL
    LOOP
        EXECUTE format('GRANT SELECT ON %s TO chatstats_api', rollup_table);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO chatstats_rollup',
                       rollup_table);
    END LOOP;
END
$$;
