-- A range's pieces by user never count a request twice.
--
-- Before the raw horizon a dimension's rows are only as fine as the finest level it keeps
-- there; before user_horizon (and detail_horizon) users keep 32-day blocks and all time
-- only. Where such a coarse stretch ended inside a 32-day block (user_horizon or the raw
-- horizon is a midnight, not a block boundary), 0013's pieces rounded what was left of a
-- range before it out to the whole block, which reaches into the part of the range that
-- finer rows had already taken: a user breakdown over (now - 700 days, now - 1 hour)
-- counted the requests from that midnight on twice once retention had removed older rows
-- and the newest requests lay in the same block (on most days: the migration test of
-- 0013 failed from 2026-12-04 on).
--
-- Now a range that crosses the end of the coarse stretch takes that block whole (what
-- lies before it as before) and the rest of the range after the block, or, when the range
-- ends inside the block, the block less what follows the range's end: rows there are
-- told apart (raw rows, finer levels), so the answer is exact but where the range's own
-- ends lie in the coarse stretch (they round outwards, as before). Models, all requests
-- and keys keep hours or days everywhere, so their coarse stretches end on their own
-- boundaries: their pieces are 0013's. A time series' slot too takes out what follows
-- its end inside such a block (a day in New York crossing the UTC midnight where the
-- raw horizon lies), although the next slot counts it: raw edges may overlap now.
-- Rolled back, 0013's pieces return (and with them the double count).
-- depends: 0017.all-time-percentiles

-- 0013's pieces, under a name of their own.
CREATE FUNCTION chat_rollup_pieces_plain(
    p_dim "char", p_start timestamptz, p_end timestamptz,
    p_start_outwards boolean DEFAULT true, p_end_outwards boolean DEFAULT true)
RETURNS TABLE (level smallint, lo timestamptz, hi timestamptz, exact boolean, sign integer)
LANGUAGE plpgsql STABLE ROWS 20 AS $$
DECLARE
    st chat_rollup_state;
    los timestamptz[];
    his timestamptz[];
    signs integer[];
    next_los timestamptz[];
    next_his timestamptz[];
    next_signs integer[];
    a timestamptz;
    b timestamptz;
    s integer;
    kept timestamptz;
    start_up float8[];    -- chat_rollup_edge_costs of p_start, when first needed
    start_down float8[];
    end_up float8[];      -- and of p_end
    end_down float8[];
BEGIN
    exact := true;
    los := ARRAY[coalesce(p_start, '-infinity')];
    his := ARRAY[coalesce(p_end, 'infinity')];
    signs := ARRAY[1];
    IF los[1] = '-infinity' AND his[1] = 'infinity' THEN
        level := chat_rollup_top(); lo := '-infinity'; hi := 'infinity'; sign := 1;
        RETURN NEXT;
        RETURN;
    END IF;
    IF los[1] >= his[1] THEN
        RETURN;
    END IF;
    SELECT * INTO st FROM chat_rollup_state;
    FOR lvl IN REVERSE chat_rollup_top() - 1 .. 1 LOOP
        next_los := '{}';
        next_his := '{}';
        next_signs := '{}';
        kept := chat_rollup_kept_from(st, p_dim, lvl);
        FOR i IN 1 .. cardinality(los) LOOP
            a := los[i];
            b := his[i];
            s := signs[i];
            lo := chat_rollup_ceil(lvl, greatest(a, kept));
            hi := chat_rollup_bucket(lvl, b);
            IF lo <= hi THEN  -- an end of the range may round outwards, the part outside taken out
                IF a < lo AND (a = p_start AND p_start_outwards OR a = p_end AND p_end_outwards)
                   AND chat_rollup_bucket(lvl, a) >= greatest(kept, st.raw_horizon) THEN
                    IF a = p_start AND start_up IS NULL THEN
                        SELECT c.to_ceil, c.from_floor INTO start_up, start_down FROM chat_rollup_edge_costs(st, p_dim, a) c;
                    ELSIF a = p_end AND end_up IS NULL THEN
                        SELECT c.to_ceil, c.from_floor INTO end_up, end_down FROM chat_rollup_edge_costs(st, p_dim, a) c;
                    END IF;
                    IF (CASE WHEN a = p_start THEN start_down[lvl] + 1 < start_up[lvl]
                             ELSE end_down[lvl] + 1 < end_up[lvl] END) THEN
                        lo := chat_rollup_bucket(lvl, a);
                    END IF;
                END IF;
                IF hi < b AND (b = p_end AND p_end_outwards OR b = p_start AND p_start_outwards)
                   AND lo >= st.raw_horizon THEN
                    IF b = p_end AND end_up IS NULL THEN
                        SELECT c.to_ceil, c.from_floor INTO end_up, end_down FROM chat_rollup_edge_costs(st, p_dim, b) c;
                    ELSIF b = p_start AND start_up IS NULL THEN
                        SELECT c.to_ceil, c.from_floor INTO start_up, start_down FROM chat_rollup_edge_costs(st, p_dim, b) c;
                    END IF;
                    IF (CASE WHEN b = p_end THEN end_up[lvl] + 1 < end_down[lvl]
                             ELSE start_up[lvl] + 1 < start_down[lvl] END) THEN
                        hi := chat_rollup_ceil(lvl, b);
                    END IF;
                END IF;
            END IF;
            IF lo < hi THEN
                level := lvl; sign := s;
                RETURN NEXT;
                IF lo <> a THEN
                    next_los := next_los || least(a, lo); next_his := next_his || greatest(a, lo);
                    next_signs := next_signs || CASE WHEN lo > a THEN s ELSE -s END;
                END IF;
                IF hi <> b THEN
                    next_los := next_los || least(b, hi); next_his := next_his || greatest(b, hi);
                    next_signs := next_signs || CASE WHEN hi < b THEN s ELSE -s END;
                END IF;
            ELSE
                next_los := next_los || a; next_his := next_his || b; next_signs := next_signs || s;
            END IF;
        END LOOP;
        los := next_los;
        his := next_his;
        signs := next_signs;
    END LOOP;
    FOR i IN 1 .. cardinality(los) LOOP
        a := los[i];
        sign := signs[i];
        FOREACH b IN ARRAY ARRAY(
                SELECT DISTINCT h
                  FROM (SELECT chat_rollup_kept_from(st, p_dim, l) FROM generate_series(1, chat_rollup_top()) l
                        UNION ALL
                        SELECT unnest(ARRAY[st.raw_horizon, his[i]])) x (h)
                 WHERE h > los[i] AND h <= his[i] ORDER BY h) LOOP
            IF a >= st.raw_horizon THEN
                level := NULL; lo := a; hi := b;
            ELSE
                level := (SELECT min(l) FROM generate_series(1, chat_rollup_top()) l
                           WHERE chat_rollup_kept_from(st, p_dim, l) <= a);
                lo := chat_rollup_bucket(level, a);
                hi := chat_rollup_ceil(level, b);
            END IF;
            exact := lo = a AND hi = b;
            RETURN NEXT;
            a := b;
        END LOOP;
    END LOOP;
END
$$;

-- [p_start, p_end) (NULL or infinite: unbounded) as signed pieces of a dimension's kept
-- levels (see chat_rollup_pieces_plain), with the coarse stretch's last block taken whole
-- where the range crosses its end (see above).
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

-- As 0016's, a raw row counted in every edge that holds it (edges may overlap now: a
-- time series' slot that ends inside the coarse stretch's last block takes out raw rows
-- after its end, which the next slot counts in), not in the last edge starting before it.
CREATE OR REPLACE FUNCTION chat_rollup_raw(
    p_slots timestamptz[], p_los timestamptz[], p_his timestamptz[], p_signs integer[],
    p_tail timestamptz[], p_dim "char", p_ids bigint[], p_latency boolean)
RETURNS SETOF chat_rollup_delta
LANGUAGE plpgsql STABLE
SET work_mem = '64MB'  -- histograms summed in memory
SET max_parallel_workers_per_gather = 0
SET enable_hashjoin = off
SET enable_mergejoin = off
SET enable_sort = off  -- groups summed in a hash table, not sorted with their histograms
AS $$
DECLARE
    edges text;
BEGIN
    SELECT coalesce(string_agg(format('r.created_at >= %L AND r.created_at < %L', e.lo, e.hi), ' OR '), 'false')
      INTO edges
      FROM unnest(p_los, p_his) e (lo, hi);
    IF cardinality(p_slots) = 0 AND (SELECT coalesce(max(id), 0) FROM chat_completion_requests)
                                     <= (SELECT watermark_id FROM chat_rollup_state) THEN
        RETURN;  -- no raw rows to read (none waits): the statement below is not even planned
    END IF;
    RETURN QUERY EXECUTE format($q$
        SELECT c.slot, coalesce(c.g, 0),
               c.sign * count(*) FILTER (WHERE c.status = 'completed'),
               c.sign * count(*) FILTER (WHERE c.status = 'failed'),
               c.sign * count(*) FILTER (WHERE c.status = 'partial'),
               c.sign * chat_sum(c.input_tokens), c.sign * chat_sum(c.output_tokens),
               c.sign * chat_sum(c.processing_time_ms), c.sign * coalesce(sum(c.cost_usd), 0), %2$s, $7,
               NULL::vector, NULL::vector
          FROM (SELECT e.slot, e.sign, %1$s AS g, r.status, r.input_tokens, r.output_tokens,
                       r.processing_time_ms, r.cost_usd
                  FROM chat_completion_requests r
                  JOIN unnest($1, $2, $9, $3) e (slot, lo, hi, sign) ON r.created_at >= e.lo AND r.created_at < e.hi
                 WHERE (%3$s) AND r.id <= $5
                UNION ALL
                SELECT $4[width_bucket(r.created_at, $4)], 1, %1$s, r.status, r.input_tokens,
                       r.output_tokens, r.processing_time_ms, r.cost_usd
                  FROM chat_completion_requests r
                 WHERE r.id > $5 AND r.created_at >= $4[1] AND r.created_at < $4[cardinality($4)]) c
          %4$s
         WHERE $6 IS NULL OR c.g = ANY ($6) OR 0 = ANY ($6) AND c.g IS NULL
         GROUP BY c.slot, c.g, c.sign
        HAVING NOT $8 OR count(*) <= 16777216 OR chat_histogram_wide(NULL, NULL, count(*), NULL, false) IS NULL$q$,
        CASE p_dim WHEN 'm' THEN 'r.model_id::bigint' WHEN 'k' THEN 'r.api_key_id' WHEN 'u' THEN 'r.user_id'
                   ELSE 'NULL::bigint' END,
        CASE WHEN p_latency THEN 'chat_latency_scale(sum(s.latency), c.sign), chat_latency_scale(sum(s.latency_over), c.sign)'
             ELSE 'NULL::vector, NULL::vector' END,
        edges,
        CASE WHEN p_latency THEN 'JOIN chat_latency_steps s ON s.bucket = chat_latency_bucket(c.processing_time_ms)' END)
    USING p_slots, p_los, p_signs, p_tail, (SELECT watermark_id FROM chat_rollup_state), p_ids, p_dim, p_latency,
          p_his;
END
$$;
