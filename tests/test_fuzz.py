"""Hostile input against the live app (gunicorn, 2 workers) on the test database.

Schemathesis generates valid and invalid requests for every operation of
/openapi.json: no 500s, and every response must match its documented status,
content type, headers and schema. A longer run (docs/design.md, "Security", documents it) is the same command with more examples:
    st run http://127.0.0.1:8000/openapi.json -H "Authorization: Bearer $KEY" \
        --checks all --max-examples 500 --phases examples,coverage,fuzzing,stateful
"""
import os
import shutil
import socket
import subprocess
import sys
import time

import psycopg
import pytest
import requests
from psycopg.rows import dict_row

from helpers import PROJECT_DIR, live_server
from webapp import seed

API = "/api/monitoring/chat-requests"


@pytest.fixture(scope="module")
def live(database_url, tmp_path_factory):
    """`chatstats serve` on a free loopback port, with a key and a little data."""
    with live_server(database_url, tmp_path_factory.mktemp("server")) as server:
        yield server


def schemathesis_command(url, key, max_examples):
    """The run `make test` does (small max_examples); docs/design.md's longer run raises it."""
    st = shutil.which("st", path=os.path.dirname(sys.executable))
    return [st, "--config-file", str(PROJECT_DIR / "schemathesis.toml"), "run", f"{url}/openapi.json", "-H", f"Authorization: Bearer {key}",
            "--checks", "all", "--max-examples", str(max_examples),
            "--phases", "examples,coverage,fuzzing", "--generation-database", "none",
            "--seed", "20261124", "--workers", "2", "--no-color", "--request-timeout", "15"]


def test_every_operation_conforms_to_the_spec(live, tmp_path):
    """Schemathesis: every operation, valid and invalid inputs, every check."""
    result = subprocess.run(schemathesis_command(live.url, live.key, 25), capture_output=True,
                            text=True, timeout=240, cwd=tmp_path)  # its cache stays out of the tree
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout or " passed" in result.stdout, result.stdout[-3000:]


def test_served_workers_refresh_the_rollups(live, database_url):
    """`chatstats serve` starts a refresher in each gunicorn worker (its config's hooks)."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        seed.seed(conn, 50, providers=3, models=6, days=1, seed=8)
    deadline = time.monotonic() + 60
    while (lag := live.session.get(live.url + "/ready").json()["rollup"])["lag_rows"]:
        assert time.monotonic() < deadline, lag
        time.sleep(0.2)


def _assert_json_error(response, status):
    assert response.status_code == status, response.text[:500]
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False and body["code"] == status and body["message"]
    return body


@pytest.mark.parametrize("query", [
    {"limit": "9" * 40}, {"offset": "9" * 40}, {"offset": str(2**63)}, {"limit": "-1"},
    {"model_id": str(2**31)}, {"model_id": "1e3"}, {"provider_id": "0x10"},
    {"model_name": "x" * 201}, {"model_name": ""}, {"status": "completed' OR '1'='1"},
    {"start_date": "0000-01-01T00:00:00Z"}, {"end_date": "10000-01-01T00:00:00Z"},
    {"start_date": "2026-01-02", "end_date": "2026-01-01"}, {"start_date": "not a date"},
    {"limt": "5"},
])
def test_bad_parameters_are_422_naming_the_parameter(live, query):
    body = _assert_json_error(live.session.get(live.url + API, params=query), 422)
    assert set(body["errors"]["query"]) & set(query), body


@pytest.mark.parametrize("path", [
    "/providers?start_date=9" + "9" * 30, "/models?provider_id=" + "9" * 40,
    "/models/" + "9" * 40, "/models/99999999999"])
def test_huge_numbers_everywhere_are_4xx(live, path):
    response = live.session.get(live.url + API + path)
    assert response.status_code in (404, 422), response.text[:300]
    assert response.json()["success"] is False


@pytest.mark.parametrize("value", ["\x00", "a\x00b", "%", "_", "\\", "'; DROP TABLE models; --",
                                   "\" OR 1=1 --", "$$", "ü" * 200, "x" * 200])
def test_model_name_metacharacters_are_literal(live, value):
    """NUL is refused (PostgreSQL text cannot hold it); everything else matches literally."""
    response = live.session.get(live.url + API, params={"model_name": value, "limit": 5})
    if "\x00" in value:
        _assert_json_error(response, 422)
        return
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    assert body["metadata"]["total_count"] == 0 and body["data"] == []  # no seeded name matches
    assert body["metadata"]["filters"]["model_name"] == value


def test_a_real_model_name_still_matches(live):
    name = live.session.get(live.url + API, params={"limit": 1}).json()["data"][0]["models"]["model_name"]
    body = live.session.get(live.url + API, params={"model_name": name.upper(), "limit": 5}).json()
    assert body["metadata"]["total_count"] > 0


def test_nul_in_dates_and_ids_is_422(live):
    for query in ({"start_date": "2026-01-01\x00"}, {"model_id": "1\x00"}, {"status": "failed\x00"}):
        _assert_json_error(live.session.get(live.url + API, params=query), 422)


@pytest.mark.parametrize("raw_query", ["model_name=%FF%FE", "model_name=%C3%28", "status=%80",
                                       "%FF=1"])
def test_invalid_utf8_in_the_query_string_is_422(live, raw_query):
    response = live.session.get(f"{live.url}{API}?{raw_query}")
    body = _assert_json_error(response, 422)
    assert list(body["errors"]["query"].values()) == [["Must be valid UTF-8."]]


def test_valid_utf8_and_its_replacement_character_are_accepted(live):
    for value in ("%C3%BC", "%EF%BF%BD", "caf%C3%A9+model"):
        assert live.session.get(f"{live.url}{API}?model_name={value}").status_code == 200


def test_raw_non_utf8_bytes_in_the_request_line(live):
    port = int(live.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET " + API.encode() + b"?model_name=\xff\xfe HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: Bearer " + live.key.encode() + b"\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 4"), reply[:300]  # gunicorn's 400, or the app's 422
    assert b"Traceback" not in reply


def test_repeated_parameters_are_refused(live):
    """Two values for one filter is ambiguous: 422, not silently the first or last."""
    response = live.session.get(f"{live.url}{API}?status=failed&status=completed")
    body = _assert_json_error(response, 422)
    assert "status" in body["errors"]["query"]
    response = live.session.get(f"{live.url}{API}/providers?start_date=2026-01-01&start_date=2026-02-01")
    _assert_json_error(response, 422)


@pytest.mark.parametrize("start, end", [
    ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"), ("0001-01-01T00:00:00Z", None),
    (None, "9999-12-31T23:59:59Z"), ("9999-12-31T00:00:00Z", "9999-12-31T23:59:59Z"),
    ("0001-01-01T00:00:00+14:00", "0001-01-02T00:00:00-12:00")])
def test_far_past_and_future_dates(live, start, end):
    params = {key: value for key, value in (("start_date", start), ("end_date", end)) if value}
    everything = live.session.get(live.url + API + "/providers").json()
    total = sum(p["total_requests"] for p in everything["data"]) + \
        everything["metadata"]["unattributed_requests"]
    for path in ("/providers", "/models", "/models/1", ""):
        response = live.session.get(live.url + API + path, params=params)
        assert response.status_code == 200, (path, response.text[:300])
    listed = live.session.get(live.url + API, params={**params, "limit": 1}).json()
    wide = start is None or start.startswith("0001-01-01T00:00:00Z")
    expected = total if wide and (end is None or end.startswith("9999")) else 0
    assert listed["metadata"]["total_count"] == expected


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/health", API, API + "/providers", API + "/models/1", "/metrics"])
def test_wrong_methods_are_405_json(live, method, path):
    response = live.session.request(method, live.url + path)
    _assert_json_error(response, 405)
    assert "GET" in response.headers["Allow"]


# A malformed model id (e.g. /models/abc) is a 422 naming it: see test_validation.py.
@pytest.mark.parametrize("path", ["/nope", "/api/monitoring/chat-requests/nope",
                                  "/api/monitoring/chat-requests/models/1/extra", "/docs/assets/nope.js",
                                  "/" + "a" * 3000])
def test_unknown_routes_are_404_json(live, path):
    _assert_json_error(live.session.get(live.url + path), 404)


def test_request_lines_over_gunicorns_limit_are_414(live):
    """gunicorn refuses request lines over 4094 bytes itself, before the app sees them."""
    for url in (live.url + "/" + "a" * 5000, live.url + API + "?model_name=" + "x" * 5000):
        response = live.session.get(url)
        assert response.status_code == 414
        assert "Traceback" not in response.text


def test_no_server_version_and_headers_through_gunicorn(live):
    response = live.session.get(live.url + API + "/providers")
    assert response.status_code == 200
    server = response.headers.get("Server", "")
    assert not any(ch.isdigit() for ch in server), server  # gunicorn sends its name only
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Request-ID"]


def test_metrics_sum_both_workers(live):
    """Multiprocess mode: whichever worker answers, /metrics counts every worker's requests."""
    rule = API + "/providers"

    def count():
        text = live.session.get(live.url + "/metrics").text
        line = next((line for line in text.splitlines() if line.startswith(
            f'chatstats_http_requests_total{{endpoint="{rule}",method="GET",status="200"}}')), None)
        return float(line.rsplit(" ", 1)[1]) if line else 0.0

    before = count()
    for _ in range(40):  # new connections: the two workers share them
        assert requests.get(live.url + rule, headers={"X-API-Key": live.key}).status_code == 200
    assert count() - before == 40
