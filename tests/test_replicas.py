"""Statistics from streaming standbys: exact as of their replay point, and available
while a server is down.

An embedded primary and its streaming standby (`chatstats db replica start`) run in
.chatstats/replication, so that stopping them never disturbs the shared test server.
The app reads from the standby (READ_DATABASE_URL) and writes to the primary
(DATABASE_URL); each test injects a fault and checks what the client sees.
"""
import logging
import os
import shutil
import subprocess
import time
from types import SimpleNamespace

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

from webapp import cli, embedded, migrate, refresher, rollups, seed
from webapp.dsn import with_database

from helpers import PROJECT_DIR, make_key, run_cli

REPLICATION_DIR = PROJECT_DIR / ".chatstats" / "replication"
DATABASE = "chatstats_replication"
BASE = "/api/monitoring/chat-requests"
PROVIDERS = f"{BASE}/providers"
STATS_URLS = (PROVIDERS, f"{BASE}/models", f"{BASE}/models?provider_id=1", f"{BASE}/models/1",
              f"{BASE}/counts", f"{BASE}/models?start_date=2026-01-01&end_date=2030-01-01",
              f"{BASE}/counts?start_date=2026-01-01T00:07:00Z",
              f"{BASE}/timeseries?bucket=day&tz=Asia/Kathmandu&start_date=2026-01-01&end_date=2028-01-01",
              f"{BASE}/breakdown?by=user&top=3", f"{BASE}/breakdown?by=api_key&status=failed")
ROW_URLS = (f"{BASE}?limit=1000", f"{BASE}?limit=50&status=failed", f"{BASE}/plot-data?model_id=1")


def owner(url):
    return psycopg.connect(url, autocommit=True, row_factory=dict_row)


def wait_for_replay(primary, standby, timeout_s=60):
    """Until the standby has replayed everything the primary has written so far."""
    with owner(primary) as conn:
        lsn = conn.execute("SELECT pg_current_wal_lsn() AS l").fetchone()["l"]
    deadline = time.monotonic() + timeout_s
    with owner(standby) as conn:
        while not conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn AS done",
                               (lsn,)).fetchone()["done"]:
            assert time.monotonic() < deadline, "the standby did not replay in time"
            time.sleep(0.05)


def eventually(check, timeout_s=60, what="the condition"):
    """check()'s first truthy value, polling (no timing is asserted: the bound is generous)."""
    deadline = time.monotonic() + timeout_s
    while not (result := check()):
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout_s}s"
        time.sleep(0.1)
    return result


def replica_command(*args):
    """`chatstats db replica ARGS` for the standby of the replication server: its output."""
    result = run_cli(cli.Settings.from_environment(DATA_DIR=REPLICATION_DIR), ["db", "replica", *args])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def multi_host(*urls):
    """One conninfo naming the servers of `urls` (libpq's multi-host syntax), in order."""
    params = [conninfo_to_dict(url) for url in urls]
    return make_conninfo(**{**params[0], "host": ",".join(p["host"] for p in params),
                            "port": ",".join(str(p.get("port") or 5432) for p in params)})


@pytest.fixture(scope="module")
def servers():
    """The primary and its standby, with a migrated, seeded database; stopped at the end."""
    for name in (embedded.REPLICA, "second"):  # left by an earlier run
        embedded.stop_replica(REPLICATION_DIR, name, remove=True)
    primary_server = embedded.start(REPLICATION_DIR)
    with owner(primary_server) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    primary = with_database(primary_server, DATABASE)
    migrate.apply(primary)
    standby = with_database(embedded.start_replica(REPLICATION_DIR), DATABASE)
    yield SimpleNamespace(primary=primary, standby=standby)
    embedded.stop_replica(REPLICATION_DIR)
    embedded.stop(REPLICATION_DIR)


@pytest.fixture
def cluster(servers):
    """Both servers running at the start of each test, the standby caught up, the data
    seeded afresh: 2,000 rolled-up rows and 300 newer ones not rolled up yet."""
    embedded.start(REPLICATION_DIR)
    embedded.start_replica(REPLICATION_DIR)
    with owner(servers.primary) as conn:
        conn.execute("TRUNCATE chat_completion_requests, models, providers, api_keys"
                     " RESTART IDENTITY CASCADE")
        seed.seed(conn, 2000, providers=3, models=6, days=10, seed=7)
        rollups.catch_up(conn)
        seed.seed(conn, 300, providers=3, models=6, days=1, seed=8)
        servers.key = make_key(conn, "replicas")
    wait_for_replay(servers.primary, servers.standby)
    return servers


@pytest.fixture
def make_client(app_factory, cluster):
    """A test client of an app reading from the standby, sending the key."""
    def make(**config):
        app = app_factory(**{"DATABASE_URL": cluster.primary, "READ_DATABASE_URL": cluster.standby,
                             "POOL_MIN_SIZE": 1, "POOL_MAX_SIZE": 2, "POOL_TIMEOUT_S": 1.0,
                             "RETRY_AFTER_S": 1, "AUTH_CACHE_S": 0, **config})
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {cluster.key}"
        return client
    return make


def answer(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def without_timestamps(body):
    """The body but for what depends on the time of reading."""
    return {**body, "metadata": {key: value for key, value in body["metadata"].items()
                                 if key not in ("timestamp", "replica_lag_seconds", "rollup_lag_seconds")}}


def requests_counted(body):
    return sum(p["total_requests"] for p in body["data"]) + body["metadata"]["unattributed_requests"]


def count_rows(url):
    with owner(url) as conn:
        return conn.execute("SELECT count(*) AS n FROM chat_completion_requests").fetchone()["n"]


def test_standby_answers_exactly(cluster, make_client):
    """After inserts, updates and deletes on the primary (of rolled-up rows and of rows
    not rolled up yet), every answer from the standby equals the primary's, once replayed."""
    with owner(cluster.primary) as conn:
        conn.execute("UPDATE chat_completion_requests SET status = 'failed', processing_time_ms = 7"
                     " WHERE id % 97 = 0")  # rolled up (id <= 2000) and not
        conn.execute("UPDATE chat_completion_requests SET model_id = NULL WHERE id IN (5, 2100)")
        conn.execute("DELETE FROM chat_completion_requests WHERE id % 89 = 0")
        seed.seed(conn, 50, providers=3, models=6, days=1, seed=9)
    wait_for_replay(cluster.primary, cluster.standby)
    standby, primary = make_client(), make_client(READ_DATABASE_URL=None)

    providers = answer(standby, PROVIDERS)
    assert providers["metadata"]["replica_lag_seconds"] is not None  # a standby answered
    assert providers["metadata"]["rollup_lag_rows"] > 0  # the tail was read too
    assert requests_counted(providers) == count_rows(cluster.primary)
    for url in STATS_URLS + ROW_URLS:
        from_standby, from_primary = answer(standby, url), answer(primary, url)
        assert from_standby["metadata"]["replica_lag_seconds"] >= 0, url
        assert from_primary["metadata"]["replica_lag_seconds"] is None, url
        assert without_timestamps(from_standby) == without_timestamps(from_primary), url


def test_standby_answers_as_of_its_replay_point(cluster, make_client):
    """Replay paused: the standby answers exactly what it has replayed; resumed, the rest."""
    client = make_client()
    before = requests_counted(answer(client, PROVIDERS))
    with owner(cluster.standby) as standby:
        standby.execute("SELECT pg_wal_replay_pause()")
        try:
            with owner(cluster.primary) as conn:
                seed.seed(conn, 25, providers=3, models=6, days=1, seed=10)
            paused = answer(client, PROVIDERS)
            assert requests_counted(paused) == before
            assert paused["metadata"]["replica_lag_seconds"] > 0  # received, not replayed
            assert answer(client, f"{BASE}?limit=1")["metadata"]["total_count"] == before
        finally:
            standby.execute("SELECT pg_wal_replay_resume()")
    wait_for_replay(cluster.primary, cluster.standby)
    assert requests_counted(answer(client, PROVIDERS)) == before + 25
    assert answer(client, f"{BASE}?limit=1")["metadata"]["total_count"] == before + 25


def test_ready_and_metrics_report_both_lags(make_client):
    client = make_client()
    ready = answer(client, "/ready")
    assert ready["reads"] == "standby" and ready["primary"] == "ok"
    # streaming, everything received replayed: no lag (the primary may write meanwhile)
    eventually(lambda: answer(client, "/ready")["replica_lag_seconds"] == 0, what="lag 0")
    assert ready["rollup"]["lag_rows"] > 0
    metrics = client.get("/metrics").get_data(as_text=True)
    for line in ("chatstats_database_up 1.0", "chatstats_primary_up 1.0",
                 "chatstats_reads_from_standby 1.0", "chatstats_replica_lag_seconds ",
                 "chatstats_rollup_lag_rows ", 'chatstats_db_read_pool{stat="pool_max"} 2.0'):
        assert line in metrics, line


def test_standby_down_reads_go_to_the_primary(cluster, make_client):
    client = make_client()
    assert answer(client, PROVIDERS)["metadata"]["replica_lag_seconds"] is not None
    assert with_database(replica_command("url"), DATABASE) == cluster.standby
    assert replica_command("stop") == "stopped"

    started = time.monotonic()
    body = answer(client, PROVIDERS)
    assert time.monotonic() - started < 15  # within the pool timeout (1 s), generously
    assert body["metadata"]["replica_lag_seconds"] is None  # the primary answered
    assert requests_counted(body) == count_rows(cluster.primary)
    assert len(answer(client, f"{BASE}?limit=100")["data"]) == 100
    ready = answer(client, "/ready")
    assert ready["reads"] == "primary" and ready["replica_lag_seconds"] is None

    assert with_database(replica_command("start"), DATABASE) == cluster.standby
    # the standby is tried again after RETRY_AFTER_S
    eventually(lambda: answer(client, PROVIDERS)["metadata"]["replica_lag_seconds"] is not None,
               what="reading from the standby again")


def test_standby_down_without_fallback_is_503(cluster, make_client):
    client = make_client(READ_FALLBACK=False)
    embedded.stop_replica(REPLICATION_DIR)
    for url in (PROVIDERS, f"{BASE}?limit=5", "/ready"):
        response = client.get(url)
        assert response.status_code == 503, response.get_data(as_text=True)
        assert response.get_json()["success"] is False
        assert response.headers["Retry-After"] == "1"
    embedded.start_replica(REPLICATION_DIR)
    eventually(lambda: client.get(PROVIDERS).status_code == 200, what="the standby answering again")


def test_busy_standby_is_503_not_the_primary(cluster, make_client):
    """A standby that is up but has no free connection is a 503, like a busy primary: the
    dashboards' load never spills onto the gateway's database."""
    client = make_client(POOL_MAX_SIZE=1, POOL_TIMEOUT_S=0.5)
    assert answer(client, PROVIDERS)["metadata"]["replica_lag_seconds"] is not None
    pool = client.application.extensions["chatstats_read_pool"]
    held = pool.getconn()  # another request's, for as long as this test wants
    try:
        response = client.get(PROVIDERS)
        assert response.status_code == 503, response.get_data(as_text=True)
        assert response.headers["Retry-After"] == "1"
        assert not pool.resting()  # not taken for down: the next request tries it again
    finally:
        pool.putconn(held)
    assert answer(client, PROVIDERS)["metadata"]["replica_lag_seconds"] is not None


def test_primary_down_statistics_keep_answering(cluster, make_client, caplog):
    """Keys are verified on the standby, last_used_at is skipped (logged); the refresher
    waits, then resumes with the primary."""
    client = make_client(ROLLUP_INTERVAL_S=0.2)
    refresher.start(client.application)
    eventually(lambda: answer(client, "/ready")["rollup"]["lag_rows"] == 0, what="the refresh")
    answer(client, PROVIDERS)  # the key verified, last_used_at written
    with owner(cluster.primary) as conn:
        used = conn.execute("SELECT last_used_at FROM api_keys").fetchone()["last_used_at"]
    assert used is not None
    embedded.stop(REPLICATION_DIR)

    with caplog.at_level(logging.WARNING):
        body = answer(client, PROVIDERS)
        assert requests_counted(body) == 2300
        assert body["metadata"]["replica_lag_seconds"] >= 0
        assert len(answer(client, f"{BASE}?limit=10")["data"]) == 10
        ready = answer(client, "/ready")
        assert ready["reads"] == "standby" and ready["primary"] == "unavailable"
        thread = client.application.extensions["chatstats_refresher"]
        eventually(lambda: thread.waiting_for, what="the refresher noticing")
        metrics = client.get("/metrics").get_data(as_text=True)
        assert "chatstats_primary_up 0.0" in metrics and "chatstats_refresher_waiting 1.0" in metrics
    assert "last_used_at of API key 'replicas' not updated" in caplog.text
    assert "rollup refresh waits" in caplog.text
    assert thread.is_alive()

    embedded.start(REPLICATION_DIR)
    with owner(cluster.primary) as conn:
        seed.seed(conn, 40, providers=3, models=6, days=1, seed=11)
        eventually(lambda: rollups.lag(conn)["lag_rows"] == 0, what="the refresher resuming")
        eventually(lambda: client.get(PROVIDERS).status_code == 200 and conn.execute(
            "SELECT last_used_at FROM api_keys").fetchone()["last_used_at"] > used,
            what="last_used_at written again")
    assert thread.waiting_for is None
    assert "chatstats_refresher_waiting 0.0" in client.get("/metrics").get_data(as_text=True)


def test_promoted_standby(cluster, make_client):
    """A second standby, then the primary lost and that standby promoted: with several
    standbys in READ_DATABASE_URL reads go on from the next one while one is down, and
    the refresher follows DATABASE_URL (both servers, target_session_attrs=read-write)
    to the promoted one."""
    second = with_database(embedded.start_replica(REPLICATION_DIR, "second"), DATABASE)
    try:
        wait_for_replay(cluster.primary, second)
        both = make_conninfo(multi_host(cluster.primary, second), target_session_attrs="read-write")
        client = make_client(DATABASE_URL=both, READ_DATABASE_URL=multi_host(cluster.standby, second),
                             ROLLUP_INTERVAL_S=0.2)
        refresher.start(client.application)

        embedded.stop_replica(REPLICATION_DIR)  # the first standby: the second one answers
        assert answer(client, PROVIDERS)["metadata"]["replica_lag_seconds"] is not None
        embedded.stop(REPLICATION_DIR)
        thread = client.application.extensions["chatstats_refresher"]
        eventually(lambda: thread.waiting_for, what="the refresher noticing")
        assert requests_counted(answer(client, PROVIDERS)) == 2300

        with owner(second) as conn:
            conn.execute("SELECT pg_promote()")
            eventually(lambda: not conn.execute("SELECT pg_is_in_recovery() AS r").fetchone()["r"],
                       what="the promotion")
            seed.seed(conn, 60, providers=3, models=6, days=1, seed=12)
            eventually(lambda: rollups.lag(conn)["lag_rows"] == 0, what="the refresher following")
        body = answer(client, PROVIDERS)
        assert requests_counted(body) == 2360
        assert body["metadata"]["replica_lag_seconds"] is None  # the promoted server answers
        # cleared once the refresh that caught up has returned, a moment after its commit
        eventually(lambda: thread.waiting_for is None, what="the refresher resuming")
    finally:
        embedded.start(REPLICATION_DIR)
        embedded.stop_replica(REPLICATION_DIR, "second", remove=True)


# -- PgBouncer in transaction pooling mode ------------------------------------------

PGBOUNCER_DIR = REPLICATION_DIR / "pgbouncer"
PGBOUNCER_PORT = 6432


@pytest.fixture(scope="module")
def pgbouncer(servers):
    """Debian's pgbouncer, transaction pooling, one server connection per database and
    user (so that every client shares it), in front of the primary (DATABASE) and the
    standby (DATABASE_standby); as an unprivileged user when we are root. The API role
    gets its settings from the role (PgBouncer refuses startup options)."""
    binary = shutil.which("pgbouncer")
    if binary is None:
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    shutil.rmtree(PGBOUNCER_DIR, ignore_errors=True)
    PGBOUNCER_DIR.mkdir(parents=True)
    PGBOUNCER_DIR.chmod(0o777)
    host = {name: conninfo_to_dict(url)["host"] for name, url in vars(servers).items()
            if name in ("primary", "standby")}
    (PGBOUNCER_DIR / "users.txt").write_text(
        "".join(f'"{user}" ""\n' for user in ("postgres", "chatstats_api", "chatstats_rollup")))
    (PGBOUNCER_DIR / "pgbouncer.ini").write_text(f"""
[databases]
{DATABASE} = host={host["primary"]} dbname={DATABASE}
{DATABASE}_standby = host={host["standby"]} dbname={DATABASE}
[pgbouncer]
pool_mode = transaction
default_pool_size = 1
listen_addr =
listen_port = {PGBOUNCER_PORT}
unix_socket_dir = {PGBOUNCER_DIR}
auth_type = trust
auth_file = {PGBOUNCER_DIR / "users.txt"}
logfile = {PGBOUNCER_DIR / "pgbouncer.log"}
""")
    with owner(servers.primary) as conn:
        conn.execute(f"ALTER ROLE chatstats_api IN DATABASE {DATABASE} SET statement_timeout = '5s'")
        conn.execute(f"ALTER ROLE chatstats_api IN DATABASE {DATABASE} SET TimeZone = 'UTC'")
    user = ["-u", embedded._system_user()] if os.geteuid() == 0 else []
    process = subprocess.Popen([binary, *user, str(PGBOUNCER_DIR / "pgbouncer.ini")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"host={PGBOUNCER_DIR} port={PGBOUNCER_PORT} user=postgres dbname={DATABASE}"
    eventually(lambda: (PGBOUNCER_DIR / f".s.PGSQL.{PGBOUNCER_PORT}").exists()
               or process.poll() is not None, what="pgbouncer listening")
    assert process.poll() is None, (PGBOUNCER_DIR / "pgbouncer.log").read_text()
    yield SimpleNamespace(primary=url, standby=url.replace(f"dbname={DATABASE}", f"dbname={DATABASE}_standby"))
    process.terminate()
    process.wait(timeout=10)
    with owner(servers.primary) as conn:
        conn.execute(f"ALTER ROLE chatstats_api IN DATABASE {DATABASE} RESET ALL")


def test_through_pgbouncer(cluster, pgbouncer, make_client):
    """Statistics (each asked more often than psycopg's prepare threshold), the streamed
    list and plot, keys' last_used_at and the refresher's procedure, all through PgBouncer
    in transaction mode, equal the direct answers."""
    direct = make_client()
    bounced = make_client(DATABASE_URL=pgbouncer.primary, READ_DATABASE_URL=pgbouncer.standby,
                          PGBOUNCER=True, POOL_MAX_SIZE=3, STREAM_CHUNK_ROWS=7, ROLLUP_INTERVAL_S=0.2)
    for url in STATS_URLS + ROW_URLS:
        expected = without_timestamps(answer(direct, url))
        for _ in range(7):
            assert without_timestamps(answer(bounced, url)) == expected, url
    assert answer(bounced, PROVIDERS)["metadata"]["replica_lag_seconds"] is not None
    with bounced.application.app_context():
        with bounced.application.extensions["chatstats_read_pool"].connection() as conn:
            assert conn.execute("SHOW statement_timeout").fetchone()["statement_timeout"] == "5s"

    refresher.start(bounced.application)
    with owner(cluster.primary) as conn:
        seed.seed(conn, 70, providers=3, models=6, days=1, seed=13)
        eventually(lambda: rollups.lag(conn)["lag_rows"] == 0, what="the refresh through PgBouncer")
        touched = conn.execute("SELECT last_used_at FROM api_keys").fetchone()["last_used_at"]
    wait_for_replay(cluster.primary, cluster.standby)
    assert requests_counted(answer(bounced, PROVIDERS)) == 2370
    with owner(cluster.primary) as conn:
        assert conn.execute("SELECT last_used_at FROM api_keys").fetchone()["last_used_at"] > touched
