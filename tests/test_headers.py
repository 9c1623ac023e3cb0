"""Security headers on every response; CORS only for allow-listed origins."""
import re

import pytest

from webapp import create_app

PROVIDERS = "/api/monitoring/chat-requests/providers"


@pytest.mark.parametrize("path, status", [
    ("/health", 200), ("/openapi.json", 200), (PROVIDERS, 200), ("/metrics", 200),
    ("/api/monitoring/chat-requests/models/7", 404), ("/no/such/route", 404),
    ("/api/monitoring/chat-requests?limit=0", 422), ("/docs/assets/swagger-ui.css", 200)])
def test_every_response_has_security_headers(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "Access-Control-Allow-Origin" not in response.headers


def test_401_has_them_too(app):
    response = app.test_client().get(PROVIDERS, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 401
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_docs_csp_allows_only_local_assets_and_the_nonced_script(client):
    response = client.get("/docs")
    html = response.get_data(as_text=True)
    csp = response.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    scripts = re.findall(r"<script([^>]*)>", html)
    inline = [attrs for attrs in scripts if "src=" not in attrs]
    assert inline == [f' nonce="{nonce}"']
    for src in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert src.startswith("/docs/assets/"), src  # no CDN
        assert client.get(src).status_code == 200
    assert "script-src 'self' 'nonce-" in csp and "unsafe-inline" not in csp.split("style-src")[0]
    assert "connect-src 'self'" in csp  # Swagger UI fetches /openapi.json
    assert client.get("/docs").headers["Content-Security-Policy"] != csp  # a nonce per response


def test_no_cors_by_default(client):
    response = client.get(PROVIDERS, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = client.options(PROVIDERS, headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_cors_for_allow_listed_origins_only(database_url, conn, api_key):
    app = create_app({"TESTING": True, "DATABASE_URL": database_url,
                      "CORS_ORIGINS": ["https://dash.example"]})
    client = app.test_client()
    try:
        allowed = client.get(PROVIDERS, headers={"Origin": "https://dash.example",
                                                 "Authorization": f"Bearer {api_key}"})
        assert allowed.status_code == 200
        assert allowed.headers["Access-Control-Allow-Origin"] == "https://dash.example"
        preflight = client.options(PROVIDERS, headers={
            "Origin": "https://dash.example", "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization"})
        assert preflight.status_code == 200
        assert preflight.headers["Access-Control-Allow-Origin"] == "https://dash.example"
        assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
        other = client.get(PROVIDERS, headers={"Origin": "https://evil.example",
                                               "Authorization": f"Bearer {api_key}"})
        assert "Access-Control-Allow-Origin" not in other.headers
    finally:
        if pool := app.extensions.get("chatstats_pool"):
            pool.close()
