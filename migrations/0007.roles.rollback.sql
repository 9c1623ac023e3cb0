-- Back to PUBLIC executing our functions; the roles keep nothing in this database.
-- A role is dropped only if this migration created it and no other database uses it.

DO $$
DECLARE
    routine regprocedure;
    role_name text;
BEGIN
    FOR routine IN
        SELECT p.oid FROM pg_proc p
         WHERE p.pronamespace = 'public'::regnamespace
           AND NOT EXISTS (SELECT FROM pg_depend d
                            WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                              AND d.deptype = 'e')
    LOOP
        EXECUTE format('GRANT EXECUTE ON ROUTINE %s TO PUBLIC', routine);
        EXECUTE format('REVOKE EXECUTE ON ROUTINE %s FROM chatstats_api, chatstats_rollup',
                       routine);
    END LOOP;

    EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM chatstats_api, chatstats_rollup',
                   current_database());
END
$$;

ALTER DEFAULT PRIVILEGES IN SCHEMA public
    REVOKE EXECUTE ON ROUTINES FROM chatstats_api;
ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON ROUTINES TO PUBLIC;
REVOKE ALL ON chat_completion_requests, models, providers, _yoyo_migration,
              chat_request_rollups, chat_request_rollup_state
    FROM chatstats_api, chatstats_rollup;
REVOKE ALL ON SCHEMA public FROM chatstats_api, chatstats_rollup;

DO $$
DECLARE
    role_name text;
BEGIN
    FOR role_name IN
        SELECT rolname FROM pg_roles
         WHERE rolname IN ('chatstats_api', 'chatstats_rollup')
           AND shobj_description(oid, 'pg_authid') = 'chatstats: created by migration 0007.roles'
    LOOP
        BEGIN
            EXECUTE format('DROP ROLE %I', role_name);
        EXCEPTION WHEN dependent_objects_still_exist THEN
            RAISE NOTICE 'role % kept: another database still grants it privileges', role_name;
        END;
    END LOOP;
END
$$;
