-- Back to 0018's wrapper, which works out the coarse stretch also where none can be.

CREATE OR REPLACE FUNCTION chat_rollup_pieces(
    p_dim "char", p_start timestamptz, p_end timestamptz,
    p_start_outwards boolean DEFAULT true, p_end_outwards boolean DEFAULT true)
RETURNS TABLE (level smallint, lo timestamptz, hi timestamptz, exact boolean, sign integer)
LANGUAGE plpgsql STABLE ROWS 20 AS $$
DECLARE
    st chat_rollup_state;
    coarse smallint;        -- the finest level the dimension keeps everywhere
    fine_from timestamptz;  -- where the coarse stretch ends: raw rows or finer levels after it
    block_lo timestamptz;   -- the coarse level's bucket holding fine_from
    block_hi timestamptz;
    s timestamptz := coalesce(p_start, '-infinity');
    e timestamptz := coalesce(p_end, 'infinity');
BEGIN
    SELECT * INTO st FROM chat_rollup_state;
    SELECT min(l) INTO coarse FROM generate_series(1, chat_rollup_top()) l
     WHERE chat_rollup_kept_from(st, p_dim, l) = '-infinity';
    SELECT least(st.raw_horizon, min(chat_rollup_kept_from(st, p_dim, l))) INTO fine_from
      FROM generate_series(1, coarse - 1) l;
    IF isfinite(fine_from) AND coarse < chat_rollup_top() THEN
        block_lo := chat_rollup_bucket(coarse, fine_from);
        block_hi := chat_rollup_ceil(coarse, fine_from);
    END IF;
    IF block_lo IS NULL OR block_lo = fine_from OR s >= fine_from OR e <= fine_from
       OR s = '-infinity' AND e = 'infinity' THEN
        RETURN QUERY SELECT * FROM chat_rollup_pieces_plain(p_dim, p_start, p_end, p_start_outwards, p_end_outwards);
        RETURN;
    END IF;
    IF s < block_lo THEN
        RETURN QUERY SELECT * FROM chat_rollup_pieces_plain(p_dim, p_start, block_lo, p_start_outwards, false);
    END IF;
    IF e < block_hi AND e < st.raw_horizon THEN
        -- an end before the raw horizon rounds up to the finest level kept there
        e := chat_rollup_ceil((SELECT min(l) FROM generate_series(1, coarse) l
                                WHERE chat_rollup_kept_from(st, p_dim, l) < e)::integer, e);
    END IF;
    level := coarse; lo := block_lo; hi := block_hi; sign := 1;
    exact := s <= block_lo AND e = coalesce(p_end, 'infinity');
    RETURN NEXT;
    IF e < block_hi THEN
        RETURN QUERY SELECT p.level, p.lo, p.hi, p.exact, -p.sign
                       FROM chat_rollup_pieces_plain(p_dim, e, block_hi, false, false) p;
    ELSIF e > block_hi THEN
        RETURN QUERY SELECT * FROM chat_rollup_pieces_plain(p_dim, block_hi, p_end, false, p_end_outwards);
    END IF;
END
$$;
