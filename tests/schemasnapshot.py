"""The schema that the migrations make, as sorted lines of text: of schemas public (the
gateway's, or the demo's) and chatstats.

Tables and their columns, indexes, constraints and triggers; functions and
procedures with their signatures, results, settings and a digest of their
bodies; types; row level security policies; the database's and its roles' settings; grants (on the database, the schema, relations, routines and
by default; an unset ACL counts as its default) and the attributes of the
roles they name. yoyo's own tables are left out but for their grants. The
owner's own privileges are left out but in default privileges (whose point
may be that PUBLIC has none), where the owner is <owner>: the lines do not
depend on who migrated (the snapshot connects as the owner).
"""
import subprocess
from pathlib import Path

import psycopg

CATALOG = """
WITH ns AS (  -- the gateway's schema and chatstats'
    SELECT oid, nspname, nspacl, nspowner FROM pg_namespace WHERE nspname IN ('public', 'chatstats')
), rel AS (
    SELECT c.oid, n.nspname || '.' || c.relname AS relname, c.relkind,
           coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", c.relowner)) AS relacl
      FROM pg_class c JOIN ns n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'c')
), members AS (  -- extensions' routines: theirs, whatever version is installed
    SELECT d.objid FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
), own AS (
    SELECT c.oid, c.relname, c.relkind FROM rel c
     WHERE c.relname NOT LIKE '%%yoyo%%'
), acl AS (
    SELECT 'database' AS object, (aclexplode(coalesce(datacl, acldefault('d', datdba)))).*
      FROM pg_database WHERE datname = current_database()
    UNION ALL
    SELECT 'schema ' || nspname, (aclexplode(coalesce(nspacl, acldefault('n', nspowner)))).* FROM ns
    UNION ALL
    SELECT 'relation ' || relname, (aclexplode(relacl)).* FROM rel WHERE relkind <> 'c'
    UNION ALL
    SELECT 'routine ' || p.oid::regprocedure::text,
           (aclexplode(coalesce(p.proacl, acldefault('f', p.proowner)))).*
      FROM pg_proc p WHERE p.pronamespace IN (SELECT oid FROM ns) AND NOT p.oid IN (SELECT objid FROM members)
    UNION ALL
    SELECT 'default ' || d.defaclobjtype::text
           || CASE d.defaclnamespace WHEN 0 THEN '' ELSE ' in ' || d.defaclnamespace::regnamespace::text END,
           (aclexplode(d.defaclacl)).*
      FROM pg_default_acl d WHERE d.defaclrole = current_user::regrole
), grants AS (
    SELECT acl.*, CASE acl.grantee WHEN 0 THEN 'PUBLIC' WHEN current_user::regrole THEN '<owner>'
                  ELSE pg_get_userbyid(acl.grantee) END AS who
      FROM acl WHERE acl.grantee <> current_user::regrole OR acl.object LIKE 'default %%'
)
SELECT CASE relkind WHEN 'r' THEN 'table ' WHEN 'p' THEN 'partitioned table ' WHEN 'v' THEN 'view '
       WHEN 'm' THEN 'materialized view ' WHEN 'S' THEN 'sequence ' ELSE 'composite type ' END || relname
  FROM own
UNION ALL
SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || CASE a.attidentity WHEN 'a' THEN ' identity always' WHEN 'd' THEN ' identity by default' ELSE '' END
       || coalesce(CASE WHEN a.attgenerated = 's' THEN ' generated ' ELSE ' default ' END
                   || pg_get_expr(d.adbin, d.adrelid), '')
  FROM own c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
 WHERE c.relkind <> 'S'
UNION ALL
SELECT 'index ' || indexdef FROM pg_indexes
 WHERE schemaname IN (SELECT nspname FROM ns) AND tablename NOT LIKE '%%yoyo%%'
UNION ALL
SELECT 'constraint ' || c.relname || ' ' || k.conname || ' ' || pg_get_constraintdef(k.oid)
  FROM own c JOIN pg_constraint k ON k.conrelid = c.oid
 WHERE k.contype <> 'n'  -- NOT NULL (a constraint since PostgreSQL 18) is in the column's line
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM own c JOIN pg_trigger t ON t.tgrelid = c.oid
 WHERE NOT t.tgisinternal
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'procedure ' ELSE 'function ' END || p.oid::regprocedure::text
       || coalesce(' returns ' || pg_get_function_result(p.oid), '')
       || ' language ' || l.lanname
       || CASE p.provolatile WHEN 'i' THEN ' immutable' WHEN 's' THEN ' stable' ELSE '' END
       || CASE WHEN p.proisstrict THEN ' strict' ELSE '' END
       || CASE WHEN p.prosecdef THEN ' security definer' ELSE '' END
       || coalesce(' set ' || array_to_string(p.proconfig, ', '), '')
       || ' body md5 ' || md5(p.prosrc)
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.pronamespace IN (SELECT oid FROM ns) AND NOT p.oid IN (SELECT objid FROM members)
UNION ALL
SELECT 'extension ' || extname FROM pg_extension WHERE extname <> 'plpgsql'
UNION ALL
SELECT CASE t.typtype WHEN 'd' THEN 'domain ' || t.typname || ' over '
                                     || format_type(t.typbasetype, t.typtypmod)
       ELSE 'enum ' || t.typname || ' ' || (SELECT string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder)
                                              FROM pg_enum e WHERE e.enumtypid = t.oid) END
  FROM pg_type t WHERE t.typnamespace IN (SELECT oid FROM ns) AND t.typtype IN ('d', 'e')
UNION ALL
SELECT 'grant ' || object || ' ' || privilege_type || ' to ' || who
       || CASE WHEN is_grantable THEN ' with grant option' ELSE '' END
       || CASE WHEN grantor = current_user::regrole THEN '' ELSE ' by ' || pg_get_userbyid(grantor) END
  FROM grants
UNION ALL
SELECT 'policy ' || schemaname || '.' || tablename || ' ' || policyname || ' ' || cmd || ' to '
       || array_to_string(roles, ', ') || coalesce(' using ' || qual, '') || coalesce(' check ' || with_check, '')
  FROM pg_policies WHERE schemaname IN (SELECT nspname FROM ns)
UNION ALL
SELECT 'setting ' || coalesce(pg_get_userbyid(nullif(setrole, 0)), 'database') || ' '
       || array_to_string(setconfig, ', ')
  FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
UNION ALL
SELECT DISTINCT 'role ' || r.rolname || CASE WHEN r.rolcanlogin THEN ' login' ELSE ' nologin' END
       || CASE WHEN r.rolinherit THEN '' ELSE ' noinherit' END
       || CASE WHEN r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolbypassrls
               THEN ' privileged' ELSE '' END
  FROM grants JOIN pg_roles r ON r.oid = grants.grantee AND r.oid <> current_user::regrole
ORDER BY 1
"""


def snapshot(url):
    """The schema of the database at url, one line per object, sorted (names qualified by
    their schema: the session's path is pg_catalog alone)."""
    with psycopg.connect(url) as conn:
        conn.execute("SET search_path = pg_catalog")
        return [row[0] for row in conn.execute(CATALOG)]


def dump(url):
    """The schema as pg_dump writes it (the embedded server's own pg_dump): every table,
    type, function, trigger and grant in full, owners and yoyo's tables left out; the lines
    that vary between runs (versions, the \\restrict key) dropped."""
    from webapp import embedded
    pg_dump = Path(embedded._wheel().__file__).parent / "pginstall" / "bin" / "pg_dump"
    text = subprocess.run([str(pg_dump), "--schema-only", "--no-owner", "--exclude-table=_yoyo*",
                           "--exclude-table=yoyo_lock", url], check=True, capture_output=True, text=True).stdout
    return [line for line in text.splitlines()
            if not line.startswith(("\\restrict ", "\\unrestrict ", "-- Dumped from", "-- Dumped by"))]
