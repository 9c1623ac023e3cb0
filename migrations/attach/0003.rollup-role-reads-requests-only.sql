-- The refresher's role reads the request table only: the baseline's SELECT on models and
-- providers (where it granted them) is revoked and leaves the ledger. Its policy on them
-- stays the API role's.
-- depends: 0002.demo-retention

DO $$
DECLARE
    table_name text;
    grant_made text;
BEGIN
    FOREACH table_name IN ARRAY ARRAY['models', 'providers'] LOOP
        grant_made := format('GRANT SELECT ON public.%I TO chatstats_rollup', table_name);
        IF EXISTS (SELECT FROM outside_changes WHERE made = grant_made) THEN
            EXECUTE format('REVOKE SELECT ON public.%I FROM chatstats_rollup', table_name);
            DELETE FROM outside_changes WHERE made = grant_made;
        END IF;
    END LOOP;
END
$$;
