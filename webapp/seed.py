"""Deterministic synthetic gateway traffic, generated inside PostgreSQL.

A few models take most requests (popularity falls off as rank^-1.5), about 3%
fail and 2% are partial, token counts are long-tailed, latency grows with the
output, and a fraction of the requests (0.5% by default) have no resolvable
model. Users and API keys are drawn uniformly from their counts. Rows are spread
evenly over the last `days` days in time order, like a real append-only log.
"""

PROVIDER_NAMES = ["OpenAI", "Anthropic", "Google", "Mistral", "Meta", "Cohere", "DeepSeek", "xAI"]
BATCH_ROWS = 50_000

_INSERT_BATCH = """
    INSERT INTO chat_completion_requests
        (request_id, model_id, input_tokens, output_tokens, processing_time_ms, status,
         error_message, user_id, api_key_id, cost_usd, created_at)
    SELECT format('seed-%%s-%%s', %(seed)s::int, g.i),
           CASE WHEN g.u_model < %(unattributed)s THEN NULL ELSE g.model_id END,
           g.input_tokens,
           CASE g.status WHEN 'failed' THEN 0
                         WHEN 'partial' THEN g.output_tokens / 3 ELSE g.output_tokens END,
           (80 + g.output_tokens * (8 + mod(g.model_rank, 7)) + 400 * random())::int,
           g.status,
           CASE g.status WHEN 'failed' THEN 'upstream error 5' || (random() * 3)::int END,
           1 + floor(random() * %(users)s)::int,
           1 + floor(random() * %(keys)s)::int,
           CASE WHEN random() < 0.02 THEN NULL
                ELSE round((g.input_tokens * (0.15 + mod(g.model_rank, 5)) / 1e6
                          + g.output_tokens * (0.6 + 3 * mod(g.model_rank, 5)) / 1e6)::numeric, 6) END,
           %(start)s::timestamptz + (g.i - %(first)s + random()) * %(step)s::interval
      FROM (SELECT i, u_model, m.id AS model_id, m.rank AS model_rank,
                   (1 + 2000 * (-ln(1 - random())) ^ 1.3 / 4)::int AS input_tokens,
                   (1 + 300 * -ln(1 - random()))::int AS output_tokens,
                   CASE WHEN u_status < 0.03 THEN 'failed'
                        WHEN u_status < 0.05 THEN 'partial' ELSE 'completed' END AS status
              FROM (SELECT i, random() AS u_model, random() AS u_pick, random() AS u_status
                      FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS i) r
              JOIN LATERAL (SELECT sm.id, sm.rank FROM seed_models sm
                             WHERE sm.cum_weight >= r.u_pick ORDER BY sm.cum_weight LIMIT 1) m ON true
           ) g
"""


def ensure_catalog(conn, providers, models):
    """Create providers and models (idempotent); return the model ids."""
    for p in range(providers):
        name = PROVIDER_NAMES[p] if p < len(PROVIDER_NAMES) else f"Provider {p + 1}"
        conn.execute("INSERT INTO providers (name, slug) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                     (name, name.lower().replace(" ", "-")))
    provider_ids = [r["id"] for r in conn.execute(
        "SELECT id FROM providers ORDER BY id LIMIT %s", (providers,)).fetchall()]
    # A catalog made by chatstats' first migrations has models.model_id: the same name.
    model_id = conn.execute("SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'public.models'::regclass"
                            " AND attname = 'model_id' AND NOT attisdropped) AS e").fetchone()["e"]
    for k in range(models):
        provider_id = provider_ids[k % len(provider_ids)]
        name = f"model-{k + 1}"  # the gateway's identifier of a model
        conn.execute(
            f"""INSERT INTO models (provider_id, model_name, provider_model_id{', model_id' * model_id})
               VALUES (%s, %s, %s{', %s' * model_id}) ON CONFLICT DO NOTHING""",
            (provider_id, name, f"{name}-2026-01", name)[:3 + model_id])
    return [r["id"] for r in conn.execute(
        "SELECT id FROM models WHERE provider_id = ANY(%s) ORDER BY id LIMIT %s",
        (provider_ids, models)).fetchall()]


def seed(conn, rows, providers=5, models=20, days=30, seed=42, users=10_000, keys=500,
         unattributed=0.005, progress=None, until=None):
    """Insert `rows` requests over the `days` days before `until` (None: now) in batches
    (one transaction each); `progress(n)` after each."""
    model_ids = ensure_catalog(conn, providers, models)
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS seed_models (id int, rank int, cum_weight float8)")
    conn.execute("TRUNCATE seed_models")
    conn.execute(
        """INSERT INTO seed_models
           SELECT id, rank, sum(w) OVER (ORDER BY rank) / sum(w) OVER ()
             FROM (SELECT id, ord AS rank, ord ^ -1.5 AS w
                     FROM unnest(%s::int[]) WITH ORDINALITY AS t(id, ord)) s""",
        (model_ids,))
    first = conn.execute("SELECT coalesce(max(id), 0) + 1 AS n FROM chat_completion_requests").fetchone()["n"]
    span = conn.execute("SELECT coalesce(%s::timestamptz, now()) - make_interval(days => %s) AS start, "
                        "make_interval(days => %s) / %s AS step", (until, days, days, rows)).fetchone()
    for lo in range(first, first + rows, BATCH_ROWS):
        hi = min(lo + BATCH_ROWS, first + rows) - 1
        with conn.transaction():
            conn.execute("SELECT setseed(%s)", (((seed * 1_000_003 + lo) % 2_000_000) / 1_000_000 - 1,))
            conn.execute(_INSERT_BATCH, {"seed": seed, "lo": lo, "hi": hi, "first": first,
                                         "start": span["start"], "step": span["step"],
                                         "users": users, "keys": keys, "unattributed": unattributed})
        if progress:
            progress(hi - lo + 1)
    return rows
