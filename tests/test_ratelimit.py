"""Rate limits per API key, answered with 429 JSON and Retry-After."""
from helpers import make_key
from webapp import create_app

PROVIDERS = "/api/monitoring/chat-requests/providers"


def test_each_key_has_its_own_limit(database_url, conn):
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "RATELIMIT_APPLICATION": "3/minute"})
    client = app.test_client()
    first, second = make_key(conn, "first"), make_key(conn, "second")
    try:
        statuses = [client.get(PROVIDERS, headers={"X-API-Key": first}).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = client.get("/api/monitoring/chat-requests", headers={"X-API-Key": first})
        assert limited.status_code == 429
        body = limited.get_json()
        assert body["success"] is False and body["code"] == 429 and "Rate limit" in body["message"]
        assert 1 <= int(limited.headers["Retry-After"]) <= 61  # the window is one minute

        assert client.get(PROVIDERS, headers={"X-API-Key": second}).status_code == 200
        # Public probes are never limited; a bad key is refused before it counts.
        assert all(client.get("/health").status_code == 200 for _ in range(5))
        assert client.get(PROVIDERS, headers={"X-API-Key": "nope"}).status_code == 401
        # Other responses carry no Retry-After.
        assert "Retry-After" not in client.get(PROVIDERS, headers={"X-API-Key": second}).headers
    finally:
        if pool := app.extensions.get("chatstats_pool"):
            pool.close()
