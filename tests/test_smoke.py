def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_ready_when_migrated(client):
    response = client.get("/ready")
    assert response.status_code == 200, response.get_json()
