"""Faults injected into a real PostgreSQL: each must end in a clear 5xx JSON, then recover.

These tests stop and start their own embedded server (.chatstats/outage), so the
shared test server is never disturbed. A test-only version of one statistics
function sleeps when asked to (start_date in the first day of 1970, seconds = epoch),
which makes slow queries without slow data.
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import psycopg
import pytest
from psycopg.rows import dict_row
from werkzeug.test import EnvironBuilder

from webapp import embedded, migrate, seed
from webapp.dsn import with_database

from helpers import PROJECT_DIR

OUTAGE_DIR = PROJECT_DIR / ".chatstats" / "outage"
PROVIDERS = "/api/monitoring/chat-requests/providers"
REQUESTS = "/api/monitoring/chat-requests?limit=5"
SEEDED_ROWS = 500

# Statistics sleep start_date's seconds in the database when it falls on 1970-01-01 (slow()):
# chat_request_stats is wrapped, for this test's database only.
_SLEEPY_STATS = """
ALTER FUNCTION chat_request_stats(timestamptz, timestamptz, integer[], boolean) RENAME TO chat_request_stats_awake;
CREATE FUNCTION chat_request_stats(
    p_start timestamptz DEFAULT NULL,
    p_end timestamptz DEFAULT NULL,
    p_model_ids integer[] DEFAULT NULL,
    p_latency boolean DEFAULT true)
RETURNS SETOF chat_request_stat
LANGUAGE sql STABLE AS $$
    SELECT pg_sleep(extract(epoch FROM p_start)) WHERE p_start < '1970-01-02Z';
    SELECT * FROM chat_request_stats_awake(p_start, p_end, p_model_ids, p_latency)
$$
"""


def slow(seconds):
    """A providers request whose query sleeps this long in the database."""
    return f"{PROVIDERS}?start_date=1970-01-01T00:00:{seconds:02d}Z"


@pytest.fixture(scope="module")
def outage_url():
    """A migrated, seeded database on a server of its own, stopped at the end."""
    server = embedded.start(OUTAGE_DIR)
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS chatstats_outage WITH (FORCE)")
        admin.execute("CREATE DATABASE chatstats_outage")
    url = with_database(server, "chatstats_outage")
    migrate.apply(url)
    with owner(url) as conn:
        seed.seed(conn, SEEDED_ROWS)
        conn.execute(_SLEEPY_STATS)
    yield url
    embedded.stop(OUTAGE_DIR)


def owner(url):
    return psycopg.connect(url, autocommit=True, row_factory=dict_row)


@pytest.fixture
def database(outage_url):
    """The outage database, running at the start of each test whatever the last one did."""
    embedded.start(OUTAGE_DIR)
    return outage_url


@pytest.fixture
def make_app(app_factory, database):
    return lambda **config: app_factory(**{"DATABASE_URL": database, "POOL_MIN_SIZE": 1,
                                           "POOL_MAX_SIZE": 2, "POOL_TIMEOUT_S": 1.0, **config})


def timed_get(client, url):
    started = time.monotonic()
    response = client.get(url)
    return response, time.monotonic() - started


def assert_unavailable(response, elapsed):
    """A 503 within the pool timeout (1 s), or at least not after a long hang: the bound is
    generous, a busy machine must not fail it."""
    assert response.status_code == 503, response.get_data(as_text=True)
    body = response.get_json()
    assert body["success"] is False and body["code"] == 503
    assert "database" in body["message"]
    assert response.headers["Retry-After"].isdigit()
    assert elapsed < 15


def assert_exact(response, database):
    """200 and the providers' numbers add up to the rows in the table."""
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    counted = sum(p["total_requests"] for p in body["data"]) + body["metadata"]["unattributed_requests"]
    with owner(database) as conn:
        assert counted == conn.execute("SELECT count(*) AS n FROM chat_completion_requests").fetchone()["n"]


def api_backends(database):
    """The app's connections (as the owner sees them): pid and wait event."""
    with owner(database) as conn:
        return conn.execute(
            "SELECT pid, wait_event FROM pg_stat_activity WHERE application_name = 'chatstats'"
            " AND datname = current_database() ORDER BY pid").fetchall()


def wait_for_sleep(database, timeout_s=30):
    """The pid of the app's connection that is in pg_sleep."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sleeping := [b["pid"] for b in api_backends(database) if b["wait_event"] == "PgSleep"]:
            return sleeping[0]
        time.sleep(0.05)
    raise AssertionError("the slow query never started")


def in_thread(client, url):
    result = {}
    thread = threading.Thread(target=lambda: result.update(response=client.get(url)))
    thread.start()
    return thread, result


def test_database_down_at_startup_then_back(make_app, database):
    embedded.stop(OUTAGE_DIR)
    client = make_app().test_client()  # creating the app needs no database

    assert client.get("/health").status_code == 200
    assert "chatstats_pool" not in client.application.extensions  # it did not even try
    for url in ("/ready", PROVIDERS, REQUESTS, "/api/monitoring/chat-requests/models/1"):
        assert_unavailable(*timed_get(client, url))

    embedded.start(OUTAGE_DIR)
    ready = client.get("/ready")  # the very next request, no restart
    assert ready.status_code == 200, ready.get_json()
    assert_exact(client.get(PROVIDERS), database)


def test_database_restarted_mid_run(make_app, database):
    client = make_app(POOL_MIN_SIZE=2).test_client()
    assert_exact(client.get(PROVIDERS), database)

    embedded.stop(OUTAGE_DIR)
    assert_unavailable(*timed_get(client, PROVIDERS))
    assert_unavailable(*timed_get(client, REQUESTS))
    embedded.start(OUTAGE_DIR)
    assert_exact(client.get(PROVIDERS), database)
    assert client.get(REQUESTS).status_code == 200

    # A restart between two requests: the pooled connections are all dead, none fails a request.
    assert len(api_backends(database)) == 2
    embedded.stop(OUTAGE_DIR)
    embedded.start(OUTAGE_DIR)
    assert_exact(client.get(PROVIDERS), database)
    assert client.get(REQUESTS).status_code == 200


def test_idle_connections_killed(make_app, database):
    client = make_app(POOL_MIN_SIZE=2).test_client()
    assert_exact(client.get(PROVIDERS), database)
    before = {b["pid"] for b in api_backends(database)}
    with owner(database) as conn:
        killed = conn.execute("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n"
                              "  FROM pg_stat_activity WHERE application_name = 'chatstats'"
                              "   AND datname = current_database()").fetchone()["n"]
    assert killed == len(before) >= 1

    # The pool's check replaces the dead connections: no request fails on them.
    assert_exact(client.get(PROVIDERS), database)
    assert client.get(REQUESTS).status_code == 200
    assert not before & {b["pid"] for b in api_backends(database)}


def test_connection_killed_mid_query(make_app, database):
    client = make_app().test_client()
    thread, result = in_thread(client, slow(5))
    pid = wait_for_sleep(database)
    with owner(database) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    thread.join(timeout=30)

    response = result["response"]
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.get_json()["success"] is False
    assert "Traceback" not in response.get_data(as_text=True)
    assert_exact(client.get(PROVIDERS), database)


def test_statement_timeout(make_app, database):
    client = make_app(STATEMENT_TIMEOUT_MS=300, POOL_MAX_SIZE=1).test_client()
    assert_exact(client.get(PROVIDERS), database)
    [backend] = [b["pid"] for b in api_backends(database)]

    response, elapsed = timed_get(client, slow(5))
    assert response.status_code == 504, response.get_data(as_text=True)
    body = response.get_json()
    assert body["success"] is False and "statement timeout" in body["message"]
    assert response.headers["Retry-After"].isdigit()
    assert elapsed < 5  # cut short: the query sleeps 5 s

    # The same connection serves the next request.
    assert_exact(client.get(PROVIDERS), database)
    assert [b["pid"] for b in api_backends(database)] == [backend]


@pytest.mark.parametrize("url", [f"/api/monitoring/chat-requests?limit={SEEDED_ROWS}",
                                 "/api/monitoring/chat-requests/plot-data"])
def test_client_gone_mid_stream(make_app, database, url):
    """The stream is closed early (as gunicorn does when the client disconnects): its
    transaction ends and the same connection serves the next request."""
    client = make_app(POOL_MAX_SIZE=1, STREAM_CHUNK_ROWS=10).test_client()
    assert client.get(REQUESTS).status_code == 200
    [backend] = [b["pid"] for b in api_backends(database)]

    response = client.get(url)
    chunks = iter(response.response)
    assert next(chunks).startswith(b'{"success": true') and next(chunks)
    response.close()

    assert_exact(client.get(PROVIDERS), database)
    assert [b["pid"] for b in api_backends(database)] == [backend]


def test_client_gone_before_the_body(make_app, database):
    """A response closed before its body starts ends its page: the same connection goes on."""
    app = make_app(POOL_MAX_SIZE=1)
    assert_exact(app.test_client().get(PROVIDERS), database)
    [backend] = [b["pid"] for b in api_backends(database)]

    status = []
    environ = EnvironBuilder(path=REQUESTS, environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_environ()
    app(environ, lambda line, headers: status.append(line)).close()
    assert status == ["200 OK"]

    assert_exact(app.test_client().get(PROVIDERS), database)
    assert [b["pid"] for b in api_backends(database)] == [backend]


def test_pool_exhausted(make_app, database):
    app = make_app(POOL_MAX_SIZE=1, POOL_TIMEOUT_S=0.5)
    thread, result = in_thread(app.test_client(), slow(3))
    wait_for_sleep(database)

    client = app.test_client()
    for url in (PROVIDERS, REQUESTS):
        response, elapsed = timed_get(client, url)
        assert_unavailable(response, elapsed)
        assert elapsed >= 0.5  # it did wait for a connection

    thread.join(timeout=30)
    assert_exact(result["response"], database)
    assert_exact(client.get(PROVIDERS), database)


STREAM_ROWS = 100_000


@pytest.fixture(scope="module")
def gunicorn(outage_url):
    """gunicorn (one gthread worker) on a free loopback port, over 100,000 seeded rows."""
    url = with_database(embedded.start(OUTAGE_DIR), "chatstats_stream")
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS chatstats_stream WITH (FORCE)")
        admin.execute("CREATE DATABASE chatstats_stream")
    migrate.apply(url)
    with owner(url) as conn:
        seed.seed(conn, STREAM_ROWS)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "2", "--worker-class", "gthread",
         "--graceful-timeout", "1", "wsgi:app"],
        cwd=PROJECT_DIR, env={**os.environ, "DATABASE_URL": url},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_http(server, port)
        yield server, port
    finally:
        server.terminate()
        server.wait(timeout=10)


def wait_for_http(server, port, timeout_s=20):
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1):
                return
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, "gunicorn is not serving"
            time.sleep(0.1)


def get_page(port, limit):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", f"/api/monitoring/chat-requests?limit={limit}")
    return connection.getresponse()


def test_undisturbed_stream_is_complete(gunicorn):
    """The control for the next test (on a smaller page: 100,000 rows take ~10 s)."""
    _, port = gunicorn
    body = json.loads(get_page(port, 10_000).read())
    assert len(body["data"]) == body["metadata"]["returned_count"] == 10_000
    assert body["metadata"]["total_count"] == STREAM_ROWS


def test_worker_killed_mid_stream(gunicorn):
    server, port = gunicorn
    response = get_page(port, STREAM_ROWS)
    assert response.status == 200 and response.getheader("Transfer-Encoding") == "chunked"
    received = response.read(256 * 1024)  # the worker is still writing: the page is ~50 MB
    [worker] = psutil.Process(server.pid).children()
    os.kill(worker.pid, signal.SIGKILL)

    with pytest.raises((http.client.IncompleteRead, ConnectionError)):
        while chunk := response.read(1024 * 1024):
            received += chunk
    with pytest.raises(json.JSONDecodeError):
        json.loads(received)

    # gunicorn replaces the worker: the next page is whole again.
    wait_for_http(server, port)
    assert len(json.loads(get_page(port, 100).read())["data"]) == 100
