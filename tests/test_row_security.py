"""Row level security on the request table (Supabase enables it on the gateway's tables,
with policies for its own roles only): a refresh or a backfill that cannot see every row
stops and says so, instead of moving its watermark past rows it never read (0020)."""
import psycopg
import pytest
from psycopg import errors
from psycopg.rows import dict_row

from helpers import connect_as, run_cli
from webapp import cli, migrate, rollups, seed
from webapp.db import API_ROLE, ROLLUP_ROLE
from webapp.dsn import with_user

ROWS = 300


@pytest.fixture
def hidden(make_database):
    """A migrated scratch database whose requests only their owner sees (row level security
    on, chatstats' own policy dropped): (url, owner's connection)."""
    url = make_database()
    migrate.apply(url)
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as owner:
        seed.seed(owner, ROWS, providers=2, models=3, days=2)
        owner.execute("ALTER TABLE chat_completion_requests ENABLE ROW LEVEL SECURITY")
        owner.execute("DROP POLICY chatstats_read ON chat_completion_requests")
        yield url, owner



def test_a_refresh_that_cannot_see_the_rows_stops_and_says_why(hidden):
    url, owner = hidden
    with connect_as(url, ROLLUP_ROLE) as rollup, connect_as(url, API_ROLE) as api:
        with pytest.raises(errors.InsufficientPrivilege, match=f"role {ROLLUP_ROLE} sees 0 of the 100 requests"):
            rollups.refresh(rollup, batch_rows=100)
        assert rollups.backfill(rollup, min_rows=10) == 0  # it sees too few rows to start
        # A policy that shows it half the rows: the backfill starts, and stops.
        owner.execute(f"CREATE POLICY even_ids ON chat_completion_requests FOR SELECT TO {ROLLUP_ROLE}"
                      " USING (id % 2 = 0)")
        with pytest.raises(errors.InsufficientPrivilege, match=f"sees {ROWS // 2} of the {ROWS} requests"):
            rollups.backfill(rollup, min_rows=10)
        with pytest.raises(errors.InsufficientPrivilege, match="sees 50 of the 100 requests"):
            rollups.refresh(rollup, batch_rows=100)
        assert owner.execute("SELECT watermark_id FROM chat_rollup_state").fetchone()["watermark_id"] == 0
        assert not owner.execute("SELECT EXISTS (SELECT FROM chat_rollups) AS e").fetchone()["e"]
        assert rollups.lag(api)["lag_rows"] == ROWS  # counted as the owner: /ready tells

        owner.execute("DROP POLICY even_ids ON chat_completion_requests")
        owner.execute(f"CREATE POLICY chatstats_read ON chat_completion_requests FOR SELECT TO {ROLLUP_ROLE}"
                      " USING (true)")
        assert rollups.backfill(rollup, min_rows=10) == ROWS  # (the rollup role could not, before 0020)
        assert rollups.lag(api)["lag_rows"] == 0


def test_the_command_line_says_so_in_one_line(hidden):
    url, owner = hidden
    result = run_cli(cli.Settings.from_environment(DATABASE_URL=with_user(url, ROLLUP_ROLE)), ["rollup", "refresh"])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: role {ROLLUP_ROLE} sees 0 of the {ROWS} requests")
    assert "CREATE POLICY chatstats_read" in result.output and len(result.output.strip().splitlines()) == 1
