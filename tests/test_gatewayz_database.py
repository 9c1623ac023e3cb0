"""chatstats against a database shaped like gatewayz's own (tests/gatewayz_schema.sql,
our DDL from the facts in docs/gatewayz-schema.md): Supabase's roles and default
privileges, the gateway's tables with row level security, its own functions.

What holds today (docs/attach-plan.md says what comes next): the fixture is what the
fact sheet says, and `chatstats migrate` refuses such a database in one line without
changing anything.
"""
import psycopg
import pytest
from psycopg import errors
from psycopg.rows import dict_row

from conftest import PROJECT_DIR, run_cli
from webapp import cli
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


def test_migrate_refuses_the_gateways_database_and_changes_nothing(gateway):
    url, owner_url = gateway
    before = catalog(url)
    result = run_cli(cli.Settings.from_environment(DATABASE_URL=owner_url), ["migrate"])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: this database already has a chat_completion_requests table")
    assert len(result.output.strip().splitlines()) == 1
    assert catalog(url) == before
