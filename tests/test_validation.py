"""Bad input gets a 4xx JSON error naming the offending field; never a 500 or a traceback."""
import re

import flask_smorest
import pytest

from helpers import openapi_path
from webapp.api.blueprint import Blueprint

BASE = "/api/monitoring/chat-requests"
LIST, PROVIDERS, MODELS, MODEL = BASE, f"{BASE}/providers", f"{BASE}/models", f"{BASE}/models/1"
COUNTS, PLOT = f"{BASE}/counts", f"{BASE}/plot-data"
ALL = (LIST, PROVIDERS, MODELS, MODEL, COUNTS, PLOT)
BAD_IDS = ("x", "1.5", "", "0", "-1", str(2**31), "9" * 30, "1\x00")
BAD_DATES = ("yesterday", "2026-13-01", "2026-02-30T00:00:00", "2026-01-01T25:00:00Z", "",
             "2026-01-01\x00")

CASES = (
    [(path, {key: bad}, "query", key) for path in (LIST, PLOT) for key in ("model_id", "provider_id")
     for bad in BAD_IDS]
    + [(MODELS, {"provider_id": bad}, "query", "provider_id") for bad in BAD_IDS]
    + [(f"{BASE}/models/{bad}", {}, "path", "model_id") for bad in BAD_IDS if bad not in ("", "1.5")]
    + [(LIST, {"limit": bad}, "query", "limit") for bad in ("0", "100001", "-1", "ten", "")]
    + [(path, {"limit": bad}, "query", "limit") for path in (COUNTS, MODELS)
       for bad in ("0", "-1", "five", "", "2.5", str(2**31))]
    + [(PLOT, {key: "1"}, "query", key) for key in ("limit", "offset", "status", "model_name")]
    + [(LIST, {"offset": bad}, "query", "offset") for bad in ("-1", "x", str(2**63))]
    + [(path, {key: bad}, "query", key) for path in ALL for key in ("start_date", "end_date")
       for bad in BAD_DATES]
    + [(path, {"start_date": "2026-01-02", "end_date": "2026-01-01T23:59:59Z"}, "query", "start_date")
       for path in ALL]
    + [(LIST, {"status": bad}, "query", "status") for bad in ("done", "Completed", "", "failed\x00")]
    + [(path, {"unknown": "1"}, "query", "unknown") for path in ALL]
    + [(LIST, {"modelid": "1"}, "query", "modelid"), (PROVIDERS, {"provider_id": "1"}, "query",
                                                      "provider_id")]
    + [(LIST, {"model_name": bad}, "query", "model_name") for bad in ("a\x00b", "\x00", "", "x" * 201)]
)


def assert_clean_json_error(response, status=None):
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and 'File "' not in text
    assert response.mimetype == "application/json", text
    body = response.get_json()
    assert body["success"] is False
    if status is not None:
        assert response.status_code == status, text
    assert 400 <= response.status_code < 500, text
    return body


@pytest.mark.parametrize("path, query, location, field", CASES,
                         ids=[f"{path[len(BASE):] or '/'}-{query!r}" for path, query, *_ in CASES])
def test_bad_input_names_the_field(client, path, query, location, field):
    body = assert_clean_json_error(client.get(path, query_string=query), 422)
    assert field in body["errors"][location], body


@pytest.mark.parametrize("path, query", [
    (LIST, {"limit": "1"}), (LIST, {"limit": "100000", "offset": "0"}),
    (LIST, {"model_id": str(2**31 - 1), "provider_id": "1", "offset": str(2**63 - 1)}),
    (LIST, {"model_name": "%_\\", "status": "partial"}),
    (LIST, {"start_date": "2026-01-01", "end_date": "2026-01-01T00:00:00Z"}),  # empty, not an error
    (PROVIDERS, {"start_date": "2026-01-01T05:30:00+05:30", "end_date": "2026-01-01"}),
    (MODELS, {"provider_id": str(2**31 - 1)}),
    (MODELS, {"limit": "1", "provider_id": "1"}), (COUNTS, {"limit": str(2**31 - 1)}),
    (PLOT, {"model_id": "1", "provider_id": str(2**31 - 1), "start_date": "2026-01-01T00:00:00.000Z"}),
])
def test_edge_values_are_accepted(client, path, query):
    response = client.get(path, query_string=query)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["success"] is True


@pytest.mark.parametrize("model_id", ["1", str(2**31 - 1)])
def test_unknown_model_is_404(client, model_id):
    body = assert_clean_json_error(client.get(f"{BASE}/models/{model_id}"), 404)
    assert model_id in body["message"]


def test_unknown_route_is_json_404(client):
    assert_clean_json_error(client.get(f"{BASE}/nothing/here"), 404)


def test_wrong_method_is_json_405(client):
    assert_clean_json_error(client.post(PROVIDERS), 405)


def test_every_route_refuses_unknown_query_parameters(app, client):
    """One Blueprint setting covers every endpoint, present and future: walk the routes."""
    assert all(isinstance(blueprint, Blueprint) for blueprint in app.blueprints.values()
               if isinstance(blueprint, flask_smorest.Blueprint))
    paths = client.get("/openapi.json").get_json()["paths"]
    checked = 0
    for rule in app.url_map.iter_rules():
        operation = paths.get(openapi_path(rule.rule), {}).get("get", {})
        if not any(parameter["in"] == "query" for parameter in operation.get("parameters", [])):
            continue  # not an API operation, or one without query arguments
        url = re.sub(r"<[^>]+>", "1", rule.rule)
        body = assert_clean_json_error(client.get(url, query_string={"not_a_parameter": "1"}), 422)
        errors = body["errors"]["query"]
        assert errors.pop("not_a_parameter") == ["Unknown field."], (url, body)
        assert all(e == ["Missing data for required field."] for e in errors.values()), (url, body)
        checked += 1
    assert checked >= len(ALL)
