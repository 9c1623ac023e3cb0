-- The refresher's role reads the catalog again, as the baseline had it.

DO $$
DECLARE
    table_name text;
BEGIN
    FOREACH table_name IN ARRAY ARRAY['models', 'providers'] LOOP
        IF NOT has_table_privilege('chatstats_rollup', format('public.%I', table_name), 'SELECT') THEN
            PERFORM change_outside(format('GRANT SELECT ON public.%I TO chatstats_rollup', table_name),
                                   format('REVOKE SELECT ON public.%I FROM chatstats_rollup', table_name));
        END IF;
    END LOOP;
END
$$;
