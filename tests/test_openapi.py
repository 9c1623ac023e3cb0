"""The OpenAPI document is valid and complete; the docs page works without internet."""
import re

from openapi_spec_validator import validate

from helpers import openapi_path

URL = re.compile(r"https?://[^\s\"'<>)]+")
# Routes that serve the documentation itself, the dashboard, and Prometheus' text format:
# not the JSON API.
UNDOCUMENTED_ENDPOINTS = ("static", "docs_assets.static", "api-docs.openapi_json",
                          "api-docs.openapi_swagger_ui", "metrics.metrics", "dashboard.page",
                          "dashboard.asset")
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def test_spec_is_valid_openapi(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_every_route_is_documented(app, client):
    paths = client.get("/openapi.json").get_json()["paths"]
    routes = [rule for rule in app.url_map.iter_rules() if rule.endpoint not in UNDOCUMENTED_ENDPOINTS]
    assert len(routes) >= 6
    for rule in routes:
        path = openapi_path(rule.rule)
        assert path in paths, path
        methods = {m.lower() for m in rule.methods} & HTTP_METHODS
        assert methods <= set(paths[path]), (path, methods)


def test_every_operation_is_described(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    for path, item in paths.items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            assert operation.get("summary"), (path, method)
            assert "200" in operation["responses"], (path, method)
            for parameter in operation.get("parameters", []):
                assert parameter.get("description"), (path, method, parameter["name"])
            if operation.get("parameters"):  # anything with input documents its rejection
                assert "422" in operation["responses"], (path, method)
    assert paths["/api/monitoring/chat-requests/models/{model_id}"]["get"]["responses"]["404"]


def test_docs_and_assets_are_local(client):
    response = client.get("/docs")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "swagger" in html.lower()
    assert URL.findall(html) == []
    assert URL.findall(client.get("/openapi.json").get_data(as_text=True)) == []

    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        assert asset.startswith("/"), asset
        served = client.get(asset)
        assert served.status_code == 200, asset
        assert len(served.get_data()) > 1000, asset
        served.close()
    spec_url = re.search(r"""url:\s*["']([^"']+)["']""", html).group(1)
    assert client.get(spec_url).status_code == 200
