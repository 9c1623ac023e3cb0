"""Request ids, JSON access log lines, and /metrics."""
import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from webapp import rollups

PROVIDERS = "/api/monitoring/chat-requests/providers"


@pytest.fixture
def access_lines():
    """The access log lines written during the test, parsed."""
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger = logging.getLogger("chatstats.access")
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in records]
    logger.removeHandler(handler)


def test_request_id_is_echoed_or_generated(client):
    given = client.get("/health", headers={"X-Request-ID": "abc-123.req"})
    assert given.headers["X-Request-ID"] == "abc-123.req"
    for hostile in ("x" * 200, "a b", "évil", "line\\nbreak", ""):
        generated = client.get("/health", headers={"X-Request-ID": hostile})
        request_id = generated.headers["X-Request-ID"]
        assert request_id != hostile and len(request_id) == 32
    assert client.get("/health").headers["X-Request-ID"] != client.get("/health").headers["X-Request-ID"]


def test_one_json_line_per_request_without_the_key(app, client, api_key, access_lines):
    client.get(PROVIDERS, headers={"X-Request-ID": "req-1"})
    streamed = client.get("/api/monitoring/chat-requests?limit=5")
    streamed.get_data()
    streamed.close()  # a streamed response is logged when the server closes it
    app.test_client().get(PROVIDERS, headers={"X-API-Key": "wrong"})
    client.get("/no/such/path")
    lines = access_lines()
    assert [(line["path"], line["status"]) for line in lines] == [
        (PROVIDERS, 200), ("/api/monitoring/chat-requests", 200), (PROVIDERS, 401),
        ("/no/such/path", 404)]
    assert lines[0]["request_id"] == "req-1" and lines[0]["method"] == "GET"
    # unknown routes are 404 before (and without) authentication
    assert [line["key"] for line in lines] == ["tests", "tests", None, None]
    assert all(isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0 for line in lines)
    assert api_key not in json.dumps(lines) and "wrong" not in json.dumps(lines)


def _samples(text):
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def _value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def test_metrics_count_requests_per_endpoint(client):
    before = _samples(client.get("/metrics").get_data(as_text=True))
    for _ in range(3):
        assert client.get(PROVIDERS).status_code == 200
    client.get("/api/monitoring/chat-requests/models/99")
    client.get("/nothing/here/123")
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    after = _samples(response.get_data(as_text=True))

    def delta(name, **labels):
        return _value(after, name, **labels) - _value(before, name, **labels)

    rule = "/api/monitoring/chat-requests/providers"
    assert delta("chatstats_http_requests_total", method="GET", endpoint=rule, status="200") == 3
    assert delta("chatstats_http_request_duration_seconds_count", method="GET", endpoint=rule) == 3
    assert delta("chatstats_http_requests_total", method="GET", status="404",
                 endpoint="/api/monitoring/chat-requests/models/<model_id>") == 1
    assert delta("chatstats_http_requests_total", method="GET", endpoint="unmatched", status="404") == 1
    assert _value(after, "chatstats_db_pool", stat="pool_max") == client.application.config["POOL_MAX_SIZE"]
    assert _value(after, "chatstats_db_pool", stat="pool_size") >= 1
    assert _value(after, "chatstats_database_up") == 1


def test_rollup_lag_gauges(app, client, conn):
    """The same figures as chat_rollup_lag(): rows waiting, and for how long."""
    app.config["ROLLUP_INTERVAL_S"] = 0  # no refresh may race the comparison
    conn.execute("INSERT INTO providers (name, slug) VALUES ('p', 'p')")
    conn.execute("INSERT INTO models (provider_id, model_name, provider_model_id) VALUES (1, 'm', 'm')")
    conn.execute("INSERT INTO chat_completion_requests (request_id, model_id, processing_time_ms)"
                 " SELECT 'r' || i, 1, 5 FROM generate_series(1, 7) i")
    conn.execute("UPDATE chat_rollup_state SET refreshed_at = now() - interval '90 seconds'")
    samples = _samples(client.get("/metrics").get_data(as_text=True))
    assert _value(samples, "chatstats_rollup_lag_rows") == 7
    assert 90 <= _value(samples, "chatstats_rollup_lag_seconds") < 150  # however slow the machine

    rollups.catch_up(conn)
    samples = _samples(client.get("/metrics").get_data(as_text=True))
    assert _value(samples, "chatstats_rollup_lag_rows") == 0
    assert _value(samples, "chatstats_rollup_lag_seconds") == 0


def test_metrics_while_the_database_is_down(database_url, api_key):
    from webapp import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "AUTH_CACHE_S": 60})
    client = app.test_client()
    headers = {"X-API-Key": api_key}
    assert client.get("/metrics", headers=headers).status_code == 200  # key now cached
    app.extensions["chatstats_pool"].close()
    app.config["DATABASE_URL"] = "postgresql://nobody@127.0.0.1:9/none?connect_timeout=1"
    app.config["POOL_TIMEOUT_S"] = 0.5
    app.extensions.pop("chatstats_pool")
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    samples = _samples(response.get_data(as_text=True))
    assert _value(samples, "chatstats_database_up") == 0
    app.extensions["chatstats_pool"].close()
