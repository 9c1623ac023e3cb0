"""chatstats against a database shaped like gatewayz's own (tests/gatewayz_schema.sql,
our DDL from the facts in docs/gatewayz-schema.md): Supabase's roles and default
privileges, the gateway's tables with row level security, its own functions.

The fixture is what the fact sheet says. `chatstats migrate`, run as the non-superuser
owner, either names in one line what the operator must run first (and changes nothing)
or attaches chatstats in schema chatstats; the gateway then writes as before, with
chatstats up or down, its statistics are its rows', its own functions resolve, its API
roles get nothing of chatstats', and `chatstats uninstall` restores the catalog.
"""
import random

import psycopg
import pytest
from psycopg import errors
from psycopg.rows import dict_row

import rollupcheck as rc
from helpers import PROJECT_DIR, run_cli
from webapp import cli, migrate, rollups
from webapp.dsn import with_user

OWNER = "gateway_owner"  # stands in for Supabase's `postgres`: no superuser, CREATEROLE, BYPASSRLS
# Everything in the database a migration could touch, as sorted text: schemas, relations,
# routines, triggers, policies, and the privileges on each.
CATALOG = """
    SELECT 'schema ' || nspname || ' ' || coalesce(nspacl::text, '') FROM pg_namespace
     WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
    UNION ALL
    SELECT 'relation ' || c.oid::regclass::text || ' ' || c.relkind::text || ' ' || coalesce(c.relacl::text, '')
           || ' rls ' || c.relrowsecurity
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
    UNION ALL
    SELECT 'routine ' || p.oid::regprocedure::text || ' ' || coalesce(p.proacl::text, '') || ' ' || md5(p.prosrc)
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
    UNION ALL
    SELECT 'trigger ' || tgrelid::regclass::text || ' ' || tgname || ' ' || tgenabled::text FROM pg_trigger
     WHERE NOT tgisinternal
    UNION ALL
    SELECT 'policy ' || schemaname || '.' || tablename || ' ' || policyname || ' ' || roles::text || ' ' || cmd
      FROM pg_policies
    UNION ALL
    SELECT 'default ' || defaclrole::regrole::text || ' ' || defaclobjtype::text || ' ' || defaclacl::text
      FROM pg_default_acl
    ORDER BY 1
"""


@pytest.fixture
def gateway(make_database):
    """A new database built by tests/gatewayz_schema.sql: (the superuser's URL, the owner's)."""
    url = make_database()
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute((PROJECT_DIR / "tests" / "gatewayz_schema.sql").read_text())
    return url, with_user(url, OWNER)


def catalog(url):
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute(CATALOG)]


def test_the_fixture_is_what_the_fact_sheet_says(gateway):
    url, owner_url = gateway
    with psycopg.connect(owner_url, autocommit=True, row_factory=dict_row) as owner:
        role = owner.execute("SELECT rolsuper, rolcreaterole, rolbypassrls FROM pg_roles"
                             " WHERE rolname = current_user").fetchone()
        assert role == {"rolsuper": False, "rolcreaterole": True, "rolbypassrls": True}
        columns = {r["column_name"]: (r["data_type"], r["is_nullable"]) for r in owner.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name = 'chat_completion_requests'")}
        assert columns["processing_time_ms"] == ("numeric", "YES")
        assert columns["input_tokens"][1] == columns["output_tokens"][1] == "YES"
        assert columns["status"] == ("text", "NO") and "total_tokens" not in columns
        assert "model_id" not in {r["column_name"] for r in owner.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'models'")}
        assert owner.execute("SELECT relrowsecurity FROM pg_class WHERE oid = 'chat_completion_requests'::regclass"
                             ).fetchone()["relrowsecurity"]
        provider = owner.execute("INSERT INTO providers (name, slug) VALUES ('P', 'p') RETURNING id").fetchone()["id"]
        owner.execute("INSERT INTO models (provider_id, model_name, provider_model_id, is_active)"
                      " VALUES (%s, 'on', 'on-1', true), (%s, 'off', 'off-1', false)", (provider, provider))
        # The gateway writes as service_role (PostgREST); its rows start as 'pending'.
        owner.execute("SET ROLE service_role")
        row = owner.execute("INSERT INTO chat_completion_requests (model_id, processing_time_ms)"
                            " VALUES (NULL, 812.5) RETURNING status, input_tokens").fetchone()
        assert row == {"status": "pending", "input_tokens": 0}
        # anon may not read requests at all (upstream's lockdown of 2026-05-27), and sees
        # active models only (a policy).
        owner.execute("SET ROLE anon")
        with pytest.raises(errors.InsufficientPrivilege):
            owner.execute("SELECT count(*) FROM chat_completion_requests")
        assert [r["model_name"] for r in owner.execute("SELECT model_name FROM models")] == ["on"]


def operator_grants(url):
    """What `chatstats migrate` asks the operator to run where the owner may not (roles are
    cluster-wide: other tests may have made them)."""
    with psycopg.connect(url, autocommit=True) as admin:
        for role in ("chatstats_api", "chatstats_rollup"):
            if admin.execute("SELECT FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
                admin.execute(f"CREATE ROLE {role} LOGIN")
            admin.execute(f"GRANT USAGE ON SCHEMA extensions TO {role}")
            admin.execute(f"GRANT {role} TO {OWNER} WITH ADMIN OPTION")


def test_migrate_names_what_the_operator_runs_and_changes_nothing(gateway):
    url, owner_url = gateway
    with psycopg.connect(url, autocommit=True) as admin:  # as on a fresh cluster: no rights on them yet
        for role, grantor in admin.execute(
                "SELECT roleid::regrole::text, grantor::regrole::text FROM pg_auth_members"
                " WHERE member = %s::regrole AND roleid::regrole::text IN ('chatstats_api', 'chatstats_rollup')",
                (OWNER,)).fetchall():
            admin.execute(f"REVOKE {role} FROM {OWNER} GRANTED BY {grantor}")
    before = catalog(url)
    result = run_cli(cli.Settings.from_environment(DATABASE_URL=owner_url), ["migrate"])
    assert result.exit_code == 1, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "GRANT chatstats_api TO gateway_owner WITH ADMIN OPTION;" in result.output, result.output
    assert result.output.rstrip().endswith("nothing was changed")
    assert catalog(url) == before


@pytest.fixture
def attached(gateway):
    """The gateway's database with chatstats attached by its owner (the operator's grants
    first): (superuser's URL, owner's URL, the catalog before `chatstats migrate`)."""
    url, owner_url = gateway
    operator_grants(url)
    before = catalog(url)
    # the gateway's TTL (the suite turns chatstats' off: its histories lie years back)
    result = run_cli(cli.Settings.from_environment(DATABASE_URL=owner_url, SOURCE_TTL_DAYS=90), ["migrate"])
    assert result.exit_code == 0, result.output
    assert "applied: 0001.baseline" in result.output
    return url, owner_url, before


# What chatstats adds outside its schema, as catalog() lines (the privileges' text aside).
ADDED_OUTSIDE = ("trigger chat_completion_requests chatstats_rollup_", "policy public.")


def test_attaching_adds_only_its_own_and_detaching_restores_the_catalog(attached):
    url, owner_url, before = attached
    after = catalog(url)
    gone = [line for line in before if line not in after]
    new = [line for line in after if line not in before]
    # Outside schema chatstats: the three tables it reads show its roles' SELECT (the
    # refresher's on the requests only), the triggers and policies are its own; no
    # routine of the gateway's changed.
    def name(line):
        return line.split(" ")[1]
    changed = {name(line) for line in gone}
    assert changed == {"chat_completion_requests", "models", "providers"} and all(
        line.startswith("relation ") for line in gone), gone
    granted = [line for line in new if line.startswith("relation ") and name(line) in changed]
    assert len(granted) == 3 and all("chatstats_api=r/" in line for line in granted)
    assert [name(line) for line in granted if "chatstats_rollup=r/" in line] == ["chat_completion_requests"]
    outside = [line for line in new if line not in granted and not name(line).startswith("chatstats")]
    assert outside and all(line.startswith(ADDED_OUTSIDE) for line in outside), outside
    # anon, authenticated and service_role get nothing of chatstats'
    assert not [line for line in new if ("anon=" in line or "authenticated=" in line or "service_role=" in line)
                and "chatstats" in line.split(" ")[1]], new

    result = run_cli(cli.Settings.from_environment(DATABASE_URL=owner_url), ["uninstall", "--yes"])
    assert result.exit_code == 0, result.output
    assert "DROP SCHEMA chatstats CASCADE" in result.output
    assert catalog(url) == before


def test_the_gateway_writes_with_chatstats_attached_and_down(attached, app_factory):
    """The gateway's inserts, updates and deletes (as service_role, through PostgREST)
    work, and the statistics equal the aggregation of its rows, through the TTL job too."""
    url, owner_url, _ = attached
    with psycopg.connect(owner_url, autocommit=True, row_factory=dict_row) as owner:
        provider = owner.execute("INSERT INTO providers (name, slug) VALUES ('P', 'p') RETURNING id").fetchone()["id"]
        model = owner.execute("INSERT INTO models (provider_id, model_name, provider_model_id)"
                              " VALUES (%s, 'gpt-4o', 'gpt-4o-1') RETURNING id", (provider,)).fetchone()["id"]
        owner.execute("SET ROLE service_role")
        owner.execute("SET search_path = public, extensions")  # PostgREST's: nothing of chatstats'
        owner.execute(
            "INSERT INTO chat_completion_requests (model_id, status, input_tokens, output_tokens,"
            " processing_time_ms, created_at)"
            " SELECT CASE WHEN g %% 9 > 0 THEN %s END, (ARRAY['completed', 'failed', 'pending'])[1 + g %% 3],"
            " CASE WHEN g %% 5 > 0 THEN g END, g %% 7, CASE WHEN g %% 4 > 0 THEN g * 1.5 END,"
            " now() - g * interval '2 hours' FROM generate_series(1, 1500) g", (model,))
        settings = cli.Settings.from_environment(DATABASE_URL=owner_url, SOURCE_TTL_DAYS=90)
        assert run_cli(settings, ["rollup", "refresh"]).exit_code == 0
        # chatstats down (nothing refreshes): the gateway still writes, updates, deletes
        owner.execute("INSERT INTO chat_completion_requests (model_id, status) VALUES (%s, 'completed')", (model,))
        owner.execute("UPDATE chat_completion_requests SET status = 'failed', processing_time_ms = 7.25"
                      " WHERE id % 10 = 2")
        # (a delete of rows younger than the TTL subtracts them; older rows expire and stay counted)
        owner.execute("DELETE FROM chat_completion_requests WHERE id % 10 = 1 AND created_at > now() - interval '30 days'")
        owner.execute("RESET ROLE")
        live = expected(owner)
        # the gateway's TTL job (pg_cron, as the owner): rows older than 90 days go, their
        # statistics stay
        owner.execute("SELECT public.run_and_log_ttl_cleanups()")
        assert owner.execute("SELECT count(*) AS n FROM chat_completion_requests").fetchone()["n"] < live["total"]
    client = app_factory(DATABASE_URL=owner_url, ALLOW_ANONYMOUS=True, SOURCE_TTL_DAYS=90).test_client()
    models = client.get("/api/monitoring/chat-requests/models").get_json()
    assert models["metadata"]["method"] == "rpc"
    [row] = models["data"]
    assert (row["model_identifier"], row["stats"]["total_requests"], row["stats"]["other_requests"],
            row["stats"]["total_input_tokens"]) == ("gpt-4o", live["model"], live["other"], live["input"])
    providers = client.get("/api/monitoring/chat-requests/providers").get_json()
    assert providers["metadata"]["unattributed_requests"] + providers["data"][0]["total_requests"] == live["total"]


def expected(conn):
    """Totals of the gateway's rows, aggregated here."""
    rows = conn.execute("SELECT model_id, status, input_tokens FROM chat_completion_requests").fetchall()
    return {"total": len(rows), "model": sum(r["model_id"] is not None for r in rows),
            "other": sum(r["model_id"] is not None and r["status"] not in ("completed", "failed", "partial")
                         for r in rows),
            "input": sum(r["input_tokens"] or 0 for r in rows if r["model_id"] is not None)}


def test_the_gateways_own_functions_resolve_and_anon_is_refused(attached):
    url, owner_url, _ = attached
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute("SET ROLE service_role")  # as the gateway calls it (PostgREST: public, extensions)
        conn.execute("SET search_path = public, extensions")
        conn.execute("SELECT * FROM get_provider_request_stats()").fetchall()  # one function: no ambiguity
        for role in ("anon", "authenticated", "service_role"):
            conn.execute(f"SET ROLE {role}")
            for sql in ("SELECT * FROM chatstats.chat_rollups", "SELECT chatstats.chat_rollup_lag()",
                        "SELECT * FROM chatstats.api_keys"):
                with pytest.raises(errors.InsufficientPrivilege):
                    with conn.transaction():
                        conn.execute(sql)


def test_chatstats_retention_leaves_the_gateways_rows_alone(attached):
    url, owner_url, _ = attached
    with psycopg.connect(owner_url, autocommit=True) as owner:
        owner.execute("INSERT INTO chat_completion_requests (status, created_at) VALUES ('completed', now() - interval '9 days')")
        result = run_cli(cli.Settings.from_environment(DATABASE_URL=owner_url), ["retention", "--raw-days", "1"])
        # (it rolls up first, as the command does; then one line, no traceback)
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert result.output.strip().splitlines()[-1].startswith(
            "Error: chatstats does not delete the gateway's request rows")
        assert owner.execute("SELECT count(*) FROM chat_completion_requests").fetchone()[0] == 1


@pytest.mark.parametrize("fill", ["refresh", "backfill"])
def test_every_statistic_equals_the_gateways_rows(attached, fill):
    """Rows as the gateway writes them (NULL tokens and latencies, fractional latencies,
    other statuses, as service_role), rolled up and read raw: every statistic and
    breakdown equals the Python aggregation, after updates and deletes as well."""
    url, owner_url, _ = attached
    with psycopg.connect(owner_url, autocommit=True, row_factory=dict_row) as owner:
        migrate.use_schema(owner)
        _, model_ids = rc.make_catalog(owner)
        # the users and keys the generated requests name (the gateway's foreign keys)
        owner.execute("INSERT INTO users (id, username, email) SELECT g, 'u' || g, g || '@x' FROM generate_series(1, 12) g")
        owner.execute("INSERT INTO api_keys_new (id, user_id, api_key, key_name)"
                      " SELECT g, 1, 'k' || g, 'key ' || g FROM generate_series(1, 3) g")
        owner.execute("SET ROLE service_role")
        rc.insert(owner, rc.gateway_requests(random.Random(5), model_ids, 1200), request_ids=False)
        owner.execute("RESET ROLE")
        sh = rc.shape(owner)
        rollups.catch_up(owner, batch_rows=500, backfill_min_rows=1 if fill == "backfill" else 10**12)
        rc.check_store(owner, sh)
        rc.check_gateway_statistics(owner, sh, "rollup")
        rc.check_gateway_statistics(owner, sh, "raw")
        owner.execute("SET ROLE service_role")
        owner.execute("UPDATE chat_completion_requests SET status = 'pending', processing_time_ms = NULL"
                      " WHERE id % 7 = 0")
        # rows older than the gateway's TTL (90 days) expire: their statistics stay
        expired = [r for r in rc.fetch_rows(owner) if r["id"] % 13 == 0]
        owner.execute("DELETE FROM chat_completion_requests WHERE id % 13 = 0")
        owner.execute("RESET ROLE")
        rc.check_store(owner, sh, retained=expired)
        rc.check_gateway_statistics(owner, sh, "rollup", retained=expired)


def test_every_endpoint_answers_from_the_gateways_rows(attached, app_factory):
    """Every endpoint on the attached database, as chatstats' API role: totals equal the
    aggregation of the gateway's rows (its columns: no request_id, numeric latency)."""
    url, owner_url, _ = attached
    with psycopg.connect(owner_url, autocommit=True, row_factory=dict_row) as owner:
        migrate.use_schema(owner)
        _, model_ids = rc.make_catalog(owner)
        owner.execute("SET ROLE service_role")
        rows = rc.gateway_requests(random.Random(8), model_ids, 400,
                                   end=owner.execute("SELECT now() AS t").fetchone()["t"])
        for r in rows:
            r["user_id"] = r["api_key_id"] = None  # (the gateway's foreign keys)
        rc.insert(owner, rows, request_ids=False)
        owner.execute("RESET ROLE")
        rollups.catch_up(owner)
        live = rc.fetch_rows(owner)
    expected = rc.python_stats(live)
    requests = sum(t.requests for t in expected.values())
    client = app_factory(DATABASE_URL=owner_url, ALLOW_ANONYMOUS=True, SOURCE_TTL_DAYS=90).test_client()
    api = "/api/monitoring/chat-requests"

    def get(path, **query):
        response = client.get(api + path, query_string=query)
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:300])
        return response

    models = get("/models").get_json()["data"]
    assert {m["model_id"]: (m["model_identifier"], m["stats"]["total_requests"], m["stats"]["other_requests"])
            for m in models} == {m: (f"m{model_ids.index(m)}", t.requests, t.counts[3])
                                 for m, t in expected.items() if m is not None}
    counts = get("/counts").get_json()
    assert counts["metadata"]["total_requests"] == requests - expected[None].requests
    providers = get("/providers").get_json()
    assert sum(p["total_requests"] for p in providers["data"]) + providers["metadata"]["unattributed_requests"] \
        == requests
    series = get("/timeseries", bucket="day", start_date=min(r["created_at"] for r in live).isoformat()).get_json()
    assert sum(p["total_requests"] for p in series["data"]) == requests
    assert sum(p["total_input_tokens"] for p in series["data"]) == sum(t.input_tokens for t in expected.values())
    breakdown = get("/breakdown", by="model").get_json()
    assert breakdown["total"]["total_requests"] == requests
    listed = get("", limit=5).get_json()
    assert listed["metadata"]["total_count"] == requests and all(r["request_id"] is None for r in listed["data"])
    assert len(get("/export", format="ndjson").get_data(as_text=True).splitlines()) == requests
    plot = get("/plot-data").get_json()
    assert len(plot["plot_data"]["latency"]) == requests
    assert plot["plot_data"]["latency"].count(None) == sum(r["processing_time_ms"] is None for r in live)
