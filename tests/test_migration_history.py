"""Released migrations are append-only.

yoyo tracks migrations by id, so a database migrated earlier would silently
keep the old body of an edited file. Released files are recorded in
released_migrations.sha256 (`sha256sum -c` reads it too) and must not change;
new migrations sort after them, in each series. A fresh migration of a demo database
(migrations/demo/tables.sql, then the attach series) must make the schema recorded in
schema_snapshot.txt (the catalog's facts, roles too) and
in docs/schema.sql (every definition in full, as pg_dump writes it: the current SQL in one
file, reviewed as a diff with each migration); see ARCHITECTURE.md to record a new
migration and regenerate both.
"""
import difflib
import hashlib

import psycopg
import pytest

from helpers import PROJECT_DIR
from schemasnapshot import dump, snapshot
from webapp import migrate

CHECKSUMS = PROJECT_DIR / "tests" / "released_migrations.sha256"
SNAPSHOT = PROJECT_DIR / "tests" / "schema_snapshot.txt"
SCHEMA = PROJECT_DIR / "docs" / "schema.sql"
SCHEMA_HEADER = ("-- What a fresh migration defines in a demo database (the demo's gateway tables in public,"
                 " chatstats in schema chatstats),\n-- made by `make schema-snapshot`: edit the migrations,"
                 " not this.\n")
SNAPSHOT_HEADER = "# Made by tests/test_migration_history.py --update-schema-snapshot on PostgreSQL {}\n"


def released():
    """{path in the checkout: sha256} of the released migration files."""
    return {path: digest for digest, path in
            (line.split(maxsplit=1) for line in CHECKSUMS.read_text().splitlines())}


def test_released_migrations_are_unchanged():
    for path, digest in released().items():
        assert hashlib.sha256((PROJECT_DIR / path).read_bytes()).hexdigest() == digest, \
            f"{path} was released: add a new migration instead of changing it"


@pytest.mark.parametrize("series", ["migrations", "migrations/attach"])
def test_new_migrations_come_after_the_released_ones(series):
    ids = [path.rsplit("/", 1)[-1].split(".")[0] for path in released() if path.rsplit("/", 1)[0] == series]
    assert ids, f"no released migration of {series}"
    for path in (PROJECT_DIR / series).glob("*.sql"):
        if f"{series}/{path.name}" not in released():
            assert path.name.split(".")[0] > max(ids), f"{path.name} sorts before released {max(ids)}"


def test_a_fresh_migration_makes_the_recorded_schema(make_database, request):
    url = make_database()
    migrate.apply(url)
    with psycopg.connect(url) as conn:
        header = SNAPSHOT_HEADER.format(conn.info.server_version // 10000)
    lines = [line + "\n" for line in snapshot(url)]
    if request.config.getoption("update_schema_snapshot"):
        SNAPSHOT.write_text(header + "".join(lines))
    recorded = SNAPSHOT.read_text().splitlines(keepends=True)
    if recorded[0] != header:
        pytest.skip(f"the snapshot was not taken on this PostgreSQL version: {recorded[0]}")
    diff = "".join(difflib.unified_diff(recorded[1:], lines, "schema_snapshot.txt", "fresh migration"))
    assert not diff, "the migrations make another schema than recorded:\n" + diff

    definitions = (SCHEMA_HEADER + "".join(line + "\n" for line in dump(url))).splitlines(keepends=True)
    if request.config.getoption("update_schema_snapshot"):
        SCHEMA.write_text("".join(definitions))
    diff = "".join(difflib.unified_diff(SCHEMA.read_text().splitlines(keepends=True), definitions,
                                        "docs/schema.sql", "fresh migration"))
    assert not diff, "the migrations define other objects than docs/schema.sql:\n" + diff
