"""API keys: storage, verification, caching, revocation, loopback-only and anonymous modes."""
import hashlib

import pytest

from helpers import make_key
from webapp import auth

PROVIDERS = "/api/monitoring/chat-requests/providers"
PROTECTED = [PROVIDERS, "/api/monitoring/chat-requests/models",
             "/api/monitoring/chat-requests/models/1", "/api/monitoring/chat-requests",
             "/api/monitoring/chat-requests/export", "/metrics"]
PUBLIC = ["/health", "/openapi.json", "/docs", "/docs/assets/swagger-ui-bundle.js"]


def _assert_401(response, error=None):
    assert response.status_code == 401, response.data
    body = response.get_json()
    assert body["success"] is False and body["code"] == 401 and body["message"]
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="chatstats"')
    if error:
        assert f'error="{error}"' in challenge


@pytest.fixture
def fresh_app(app_factory, database_url, conn):
    """An app (with its own key cache) per call: fresh_app(**config)."""
    return lambda **config: app_factory(**{"DATABASE_URL": database_url, **config})


def test_only_the_hash_and_prefix_are_stored(conn, api_key):
    row = conn.execute("SELECT * FROM api_keys").fetchone()
    assert api_key.startswith("cs_") and len(api_key) >= 40
    assert bytes(row["key_hash"]) == hashlib.sha256(api_key.encode()).digest()
    assert row["prefix"] == api_key[:11]
    assert api_key not in str(row.values())
    assert row["name"] == "tests" and row["revoked_at"] is None and row["last_used_at"] is None


@pytest.mark.parametrize("path", PROTECTED)
def test_protected_routes_need_a_key(app, api_key, path):
    _assert_401(app.test_client().get(path))


@pytest.mark.parametrize("path", PROTECTED)
def test_both_headers_carry_the_key(app, api_key, path):
    client = app.test_client()
    for headers in ({"Authorization": f"Bearer {api_key}"}, {"Authorization": f"bearer {api_key}"},
                    {"X-API-Key": api_key}):
        assert client.get(path, headers=headers).status_code in (200, 404), headers


@pytest.mark.parametrize("path", PUBLIC)
def test_public_routes_need_no_key(app, api_key, path):
    response = app.test_client().get(path, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 200


@pytest.mark.parametrize("headers, error", [
    ({"Authorization": "Bearer cs_wrongwrongwrongwrongwrongwrongwrongwrongwrong"}, "invalid_token"),
    ({"X-API-Key": "x"}, "invalid_token"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "invalid_request"),
    ({"Authorization": "Bearer"}, "invalid_request"),
])
def test_bad_keys_are_401(app, api_key, headers, error):
    _assert_401(app.test_client().get(PROVIDERS, headers=headers), error)


def test_a_key_with_the_right_prefix_but_wrong_secret_is_401(app, api_key):
    forged = api_key[:11] + "A" * (len(api_key) - 11)
    _assert_401(app.test_client().get(PROVIDERS, headers={"X-API-Key": forged}), "invalid_token")


def test_revoked_key_is_401_within_the_cache_period(fresh_app, conn, api_key):
    app = fresh_app()
    now = [0.0]  # the cache's clock, turned by hand
    app.extensions["chatstats_auth"] = auth.VerdictCache(30, timer=lambda: now[0])
    client = app.test_client()
    headers = {"X-API-Key": api_key}
    assert client.get(PROVIDERS, headers=headers).status_code == 200
    conn.execute("UPDATE api_keys SET revoked_at = now()")
    now[0] = 29.9
    assert client.get(PROVIDERS, headers=headers).status_code == 200  # still cached
    now[0] = 30.1
    _assert_401(client.get(PROVIDERS, headers=headers), "invalid_token")


def test_verified_keys_are_cached_and_last_used_written_once(fresh_app, conn, api_key):
    app = fresh_app(AUTH_CACHE_S=60)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {api_key}"}
    assert client.get(PROVIDERS, headers=headers).status_code == 200
    first_use = conn.execute("SELECT last_used_at FROM api_keys").fetchone()["last_used_at"]
    assert first_use is not None
    # While cached, neither a revocation nor last_used_at is looked at: no database work.
    conn.execute("UPDATE api_keys SET revoked_at = now()")
    for _ in range(20):
        assert client.get("/api/monitoring/chat-requests/models", headers=headers).status_code == 200
    assert conn.execute("SELECT last_used_at FROM api_keys").fetchone()["last_used_at"] == first_use


def test_cached_verification_touches_no_database(fresh_app, api_key, monkeypatch):
    """What auth adds to a request once the key is cached: a SHA-256 and a dict lookup."""
    app = fresh_app()
    headers = {"X-API-Key": api_key}
    assert app.test_client().get(PROVIDERS, headers=headers).status_code == 200  # now cached
    monkeypatch.setattr(auth, "get_db", lambda: pytest.fail("a cached key was looked up"))
    with app.test_request_context(PROVIDERS, headers=headers):
        for _ in range(100):
            assert auth._verify(api_key)["name"] == "tests"


def test_loopback_only_without_keys(app):
    client = app.test_client()
    assert client.get(PROVIDERS).status_code == 200  # the test client is 127.0.0.1
    assert client.get(PROVIDERS, environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    remote = client.get(PROVIDERS, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    _assert_401(remote)
    assert "loopback" in remote.get_json()["message"]
    # A proxy on the same host makes every client look local: proxied requests are remote.
    _assert_401(client.get(PROVIDERS, headers={"X-Forwarded-For": "203.0.113.9"}))


def test_anonymous_mode_serves_everyone_until_a_key_exists(fresh_app, conn):
    app = fresh_app(ALLOW_ANONYMOUS=True, AUTH_CACHE_S=0)
    client = app.test_client()
    assert client.get(PROVIDERS, environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 200
    make_key(conn, "first")
    _assert_401(client.get(PROVIDERS, environ_base={"REMOTE_ADDR": "203.0.113.9"}))
    _assert_401(client.get(PROVIDERS))  # with a key in place, loopback needs one too


def test_database_down_during_verification_is_503_not_500(fresh_app, api_key):
    app = fresh_app(DATABASE_URL="postgresql://nobody@127.0.0.1:9/none?connect_timeout=1",
                    POOL_TIMEOUT_S=0.5)
    response = app.test_client().get(PROVIDERS, headers={"X-API-Key": api_key})
    assert response.status_code == 503
    assert response.get_json()["success"] is False and response.headers["Retry-After"]


def test_a_key_before_chatstats_is_installed_is_503_migrations_pending(fresh_app, database_url,
                                                               without_stats_functions):
    """Not a 401: the key may be fine, the schema is behind. Without a key the documented
    fallback serves loopback (no key can exist yet)."""
    app = fresh_app(API_DATABASE_URL=database_url, RETRY_AFTER_S=7)  # the API role's grants are gone too
    client = app.test_client()
    for path in (PROVIDERS, "/ready"):
        response = client.get(path, headers={"X-API-Key": "cs_" + "x" * 43})
        assert response.status_code == 503, (path, response.get_json())
        assert "Migrations are pending" in response.get_json()["message"]
        assert response.headers["Retry-After"] == "7"
    assert "0001.baseline" in client.get("/ready").get_json()["message"]
    assert client.get(PROVIDERS).status_code == 200
