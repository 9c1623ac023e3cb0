"""gatewayz's monitoring clients find every endpoint and field they read.

chatstats answers the chat-request statistics of the gatewayz gateway
(Alpaca-Network/gatewayz-backend, src/routes/monitoring.py). The field lists below
were written from that code and from the clients built on it: the backend's route
tests and scripts, the pages of its design doc (docs/CHAT_REQUESTS_VISUALIZATION_V2.md)
and the Grafana dashboards of Alpaca-Network/railway-grafana-stack. Each is checked
here with its JSON types; chatstats may add fields, never drop or retype one.
The deliberate differences (docs/design.md, "Compatibility with gatewayz") are checked last.
"""
from datetime import datetime, timedelta, timezone

import pytest

BASE = "/api/monitoring/chat-requests"
T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
NUMBER = (int, float)
TIMESTAMP = "timestamp"  # an ISO 8601 string with a zone, as Python and JavaScript parse it
NONE = type(None)


class Nullable:
    """A nested object or null."""

    def __init__(self, spec):
        self.spec = spec

# -- upstream's fields, by endpoint --------------------------------------------------

PROVIDER_REF = {"id": int, "name": str, "slug": str}
PROVIDERS = {
    "success": bool,
    "data": [{"provider_id": int, "name": str, "slug": str, "models_with_requests": int,
              "total_requests": int}],
    "metadata": {"total_providers": int, "timestamp": TIMESTAMP, "method": str},
}
MODELS = {
    "success": bool,
    "data": [{"model_id": int, "model_identifier": str, "model_name": str,
              "provider_model_id": str, "provider": PROVIDER_REF,
              "stats": {"total_requests": int, "total_input_tokens": int,
                        "total_output_tokens": int, "total_tokens": int,
                        "avg_processing_time_ms": NUMBER}}],
    "metadata": {"total_models": int, "timestamp": TIMESTAMP, "method": str},
}
COUNTS = {
    "success": bool,
    "data": [{"model_id": int, "model_name": str, "model_identifier": str, "provider_name": str,
              "provider_slug": str, "request_count": int}],
    "metadata": {"total_models": int, "total_requests": int, "timestamp": TIMESTAMP},
}
# A request row: the table's columns and the embedded model with its provider (upstream's
# inner join left out requests without a model; chatstats lists them with models: null).
REQUEST_MODEL = {"id": int, "model_id": str, "model_name": str, "provider_model_id": str,
                 "provider_id": int, "providers": PROVIDER_REF}
REQUEST_ROW = {"id": int, "request_id": str, "model_id": (int, NONE), "input_tokens": int,
               "output_tokens": int, "total_tokens": int, "processing_time_ms": int,
               "status": str, "error_message": (str, NONE), "created_at": TIMESTAMP,
               "models": Nullable(REQUEST_MODEL)}
REQUEST_LIST = {
    "success": bool,
    "data": [REQUEST_ROW],
    "metadata": {"total_count": int, "limit": int, "offset": int, "returned_count": int,
                 "timestamp": TIMESTAMP,
                 "filters": {key: (int, str, NONE) for key in
                             ("model_id", "provider_id", "model_name", "start_date", "end_date")}},
}
PLOT_DATA = {
    "success": bool,
    "recent_requests": [REQUEST_ROW],
    "plot_data": {"tokens": [int], "latency": [int], "timestamps": [TIMESTAMP]},
    "metadata": {"recent_count": int, "total_count": int, "timestamp": TIMESTAMP,
                 "compression": str, "format_version": str},
}
# Strings the backend's route tests refuse to find in a response.
MOCK_MARKERS = ("mock_", "test_data", "fake_", "N/A", "TODO", "PLACEHOLDER")


def assert_shape(value, spec, where="$"):
    """Every field of spec is in value with its type; lists check each item."""
    if isinstance(spec, Nullable):
        if value is not None:
            assert_shape(value, spec.spec, where)
    elif isinstance(spec, dict):
        assert isinstance(value, dict), (where, value)
        for key, field in spec.items():
            assert key in value, f"{where}.{key} missing"
            assert_shape(value[key], field, f"{where}.{key}")
    elif isinstance(spec, list):
        assert isinstance(value, list), (where, value)
        for i, item in enumerate(value):
            assert_shape(item, spec[0], f"{where}[{i}]")
    elif spec == TIMESTAMP:
        assert isinstance(value, str), (where, value)
        assert datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None, (where, value)
    else:
        types = spec if isinstance(spec, tuple) else (spec,)
        assert isinstance(value, types) and (bool in types or not isinstance(value, bool)), \
            (where, value, spec)


@pytest.fixture
def gateway(conn):
    """A little traffic as the gateway writes it: two providers with requests, one without,
    a request without a model, a failure with its message."""
    ids = {}
    for name, slug in (("OpenAI", "openai"), ("Anthropic", "anthropic"), ("Idle", "idle")):
        ids[slug] = conn.execute("INSERT INTO providers (name, slug) VALUES (%s, %s) RETURNING id",
                                 (name, slug)).fetchone()["id"]
    models = {}
    for provider, name in (("openai", "gpt-4o"), ("openai", "gpt-4o-mini"),
                           ("anthropic", "claude-3-5-sonnet"), ("idle", "idle-1")):
        models[name] = conn.execute(  # the gateway's catalog: model_name is the identifier
            "INSERT INTO models (provider_id, model_name, provider_model_id)"
            " VALUES (%s, %s, %s) RETURNING id", (ids[provider], name, f"{name}-2026")
        ).fetchone()["id"]
    traffic = [("gpt-4o", 12), ("gpt-4o-mini", 3), ("claude-3-5-sonnet", 7), (None, 2)]
    n = 0
    for ident, count in traffic:
        for _ in range(count):
            status = "failed" if n % 5 == 4 else "completed"
            conn.execute(
                "INSERT INTO chat_completion_requests (request_id, model_id, input_tokens,"
                " output_tokens, processing_time_ms, status, error_message, cost_usd, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (f"req-{n}", models.get(ident), 10 + n, 3 * n, 100 + 17 * n, status,
                 "upstream error 502" if status == "failed" else None, "0.000125",
                 T0 + n * timedelta(minutes=7)))
            n += 1
    return {"providers": ids, "models": models, "rows": n}


def get(client, path, **query):
    response = client.get(BASE + path, query_string=query)
    assert response.status_code == 200, (path, query, response.get_data(as_text=True)[:500])
    text = response.get_data(as_text=True)
    for marker in MOCK_MARKERS:
        assert marker not in text, (path, marker)
    body = response.get_json()
    assert body["success"] is True
    return body


# -- the fields, endpoint by endpoint ------------------------------------------------

@pytest.mark.parametrize("path, query, spec", [
    ("/providers", {}, PROVIDERS),
    ("/models", {}, MODELS),
    ("/models", {"provider_id": 1}, MODELS),
    ("/models", {"limit": 20}, MODELS),        # the Grafana scatter panel
    ("/counts", {}, COUNTS),
    ("/counts", {"limit": 5}, COUNTS),         # the Grafana "Top 5 Models" table
    ("", {}, REQUEST_LIST),
    ("", {"limit": 100}, REQUEST_LIST),        # the Grafana latency heatmap
    ("", {"limit": 1000, "model_name": "gpt"}, REQUEST_LIST),
    ("/plot-data", {}, PLOT_DATA),
    ("/plot-data", {"model_id": 1}, PLOT_DATA),
])
def test_upstream_fields_and_types(client, gateway, path, query, spec):
    body = get(client, path, **query)
    assert_shape(body, spec)
    listed = body.get("data", body.get("recent_requests"))
    assert listed, "the dataset has rows for every case: an empty list checks no item"


def test_a_request_without_a_model_has_null_models(client, gateway):
    rows = get(client, "", limit=100)["data"]
    assert [row["models"] for row in rows if row["model_id"] is None] == [None, None]


# -- what the clients do with them -----------------------------------------------------

def test_counts_as_the_backend_tests_read_them(client, gateway):
    """Busiest first; totals add up; the same models and requests as /models."""
    counts = get(client, "/counts")
    numbers = [item["request_count"] for item in counts["data"]]
    assert numbers == sorted(numbers, reverse=True) == [12, 7, 3]
    assert counts["metadata"]["total_models"] == len(counts["data"])
    assert counts["metadata"]["total_requests"] == sum(numbers)
    models = get(client, "/models")
    assert counts["metadata"]["total_models"] == models["metadata"]["total_models"]
    assert counts["metadata"]["total_requests"] == \
        sum(m["stats"]["total_requests"] for m in models["data"])


def test_top_n_panels(client, gateway):
    """`limit` keeps the busiest N; the metadata still counts every model."""
    top = get(client, "/counts", limit=2)
    assert [item["model_name"] for item in top["data"]] == ["gpt-4o", "claude-3-5-sonnet"]
    assert (top["metadata"]["total_models"], top["metadata"]["total_requests"]) == (3, 22)
    top = get(client, "/models", limit=1)
    assert [item["model_name"] for item in top["data"]] == ["gpt-4o"]
    assert top["metadata"]["total_models"] == 3


def test_providers_page_lists_only_providers_with_requests(client, gateway):
    body = get(client, "/providers")
    assert [p["name"] for p in body["data"]] == ["OpenAI", "Anthropic"]
    assert body["metadata"]["total_providers"] == 2
    assert body["metadata"]["unattributed_requests"] == 2
    assert body["metadata"]["method"] == "rpc"  # the performance script reports it


def test_request_list_as_the_backend_tests_and_pages_read_it(client, gateway):
    body = get(client, "", limit=10, offset=10)
    assert (body["metadata"]["limit"], body["metadata"]["offset"]) == (10, 10)
    assert body["metadata"]["returned_count"] == len(body["data"]) == 10
    model_id = gateway["models"]["gpt-4o"]
    assert get(client, "", model_id=model_id)["metadata"]["filters"]["model_id"] == model_id
    for row in get(client, "", model_name="gpt", limit=1000)["data"]:
        assert "gpt" in row["models"]["model_name"].lower()
    for limit in (1000, 2000):  # the backend tests accept 200 (or 422 above their maximum)
        assert get(client, "", limit=limit)["metadata"]["limit"] == limit


def test_model_page_query_with_javascript_dates(client, gateway):
    """The design doc's page sends Date.toISOString() bounds and limit=1000."""
    model_id = gateway["models"]["gpt-4o"]
    body = get(client, "", model_id=model_id, start_date="2000-03-01T00:00:00.000Z",
               end_date=(T0 + timedelta(days=1)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
               limit=1000)
    assert body["metadata"]["returned_count"] == len(body["data"]) == 12
    for row in body["data"]:  # the page's scatter plot and table read these
        assert row["total_tokens"] == row["input_tokens"] + row["output_tokens"]
        assert isinstance(row["processing_time_ms"], int) and row["status"] in ("completed", "failed")


def test_plot_data_as_the_doc_reads_it(client, gateway):
    body = get(client, "/plot-data", provider_id=gateway["providers"]["openai"])
    plot, meta = body["plot_data"], body["metadata"]
    assert len(plot["tokens"]) == len(plot["latency"]) == len(plot["timestamps"]) == meta["total_count"] == 15
    assert plot["timestamps"] == sorted(plot["timestamps"])  # oldest first
    assert (meta["compression"], meta["format_version"]) == ("arrays", "1.0")
    assert meta["recent_count"] == len(body["recent_requests"]) == 10
    for row in body["recent_requests"]:
        assert row["models"]["providers"]["slug"] == "openai"
        assert row["models"]["model_name"].startswith("gpt")


def test_api_key_header_of_the_performance_script(app, gateway, api_key):
    """scripts/test_provider_stats_performance.py sends X-API-Key."""
    response = app.test_client().get(BASE + "/providers", headers={"X-API-Key": api_key})
    assert response.status_code == 200


# -- the deliberate differences ------------------------------------------------------

def test_deliberate_differences(app, client, gateway):
    # A misspelt or unknown parameter is refused, never ignored (upstream ignores it).
    body = client.get(BASE + "/counts", query_string={"limt": 5}).get_json()
    assert body["code"] == 422 and list(body["errors"]["query"]) == ["limt"]
    # end_date is exclusive (upstream: inclusive): a request at end_date is not counted.
    at = (T0 + 7 * timedelta(minutes=7)).isoformat()
    assert get(client, "/counts", start_date=T0.isoformat(), end_date=at)["metadata"]["total_requests"] == 7
    assert len(get(client, "/plot-data", start_date=T0.isoformat(), end_date=at)["plot_data"]["tokens"]) == 7
    # status must be a known one.
    assert client.get(BASE, query_string={"status": "done"}).status_code == 422
    # Once a key exists, a request without one is refused (upstream: optional keys).
    response = app.test_client().get(BASE + "/counts")
    assert response.status_code == 401 and response.get_json()["success"] is False
