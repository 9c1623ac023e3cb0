def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_ready_when_migrated(client):
    response = client.get("/ready")
    assert response.status_code == 200, response.get_json()


def test_client_sends_a_key_by_default(client):
    """The `client` fixture authenticates; app.test_client() does not."""
    response = client.get("/api/monitoring/chat-requests/providers")
    assert response.status_code == 200, response.get_json()
    anonymous = client.application.test_client().get(
        "/api/monitoring/chat-requests/providers", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert anonymous.status_code == 401
