"""`chatstats keys` and the start-up checks of `chatstats serve`."""
import hashlib
import os

import pytest

from webapp.cli import serve as serving


def test_create_prints_the_key_once_and_stores_its_hash(runner, conn):
    result = runner.invoke(args=["keys", "create", "--name", "dashboard"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    row = conn.execute("SELECT * FROM api_keys").fetchone()
    assert row["name"] == "dashboard"
    assert bytes(row["key_hash"]) == hashlib.sha256(key.encode()).digest()

    listed = runner.invoke(args=["keys", "list"])
    assert listed.exit_code == 0
    assert "dashboard" in listed.output and row["prefix"] in listed.output
    assert key not in listed.output and "active" in listed.output


def test_the_printed_key_authenticates(runner, app, conn):
    key = runner.invoke(args=["keys", "create", "--name", "ci"]).stdout.strip()
    client = app.test_client()
    assert client.get("/api/monitoring/chat-requests/providers",
                      headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert conn.execute("SELECT last_used_at FROM api_keys").fetchone()["last_used_at"] is not None


def test_active_names_are_unique_and_reusable_after_revoke(runner, conn):
    assert runner.invoke(args=["keys", "create", "--name", "ci"]).exit_code == 0
    duplicate = runner.invoke(args=["keys", "create", "--name", "ci"])
    assert duplicate.exit_code != 0 and "already named" in duplicate.output

    revoked = runner.invoke(args=["keys", "revoke", "ci"])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert runner.invoke(args=["keys", "revoke", "ci"]).exit_code != 0  # nothing active left
    assert runner.invoke(args=["keys", "create", "--name", "ci"]).exit_code == 0
    states = [row["revoked_at"] is None for row in
              conn.execute("SELECT revoked_at FROM api_keys ORDER BY id").fetchall()]
    assert states == [False, True]
    assert "revoked" in runner.invoke(args=["keys", "list"]).output


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "tab\there"])
def test_bad_names_are_refused(runner, conn, name):
    result = runner.invoke(args=["keys", "create", "--name", name])
    assert result.exit_code != 0
    assert conn.execute("SELECT count(*) AS n FROM api_keys").fetchone()["n"] == 0


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.0.2.1", False), ("example.com", False)])
def test_loopback_hosts(host, loopback):
    assert serving.is_loopback(host) is loopback


def test_serve_refuses_a_public_bind_without_keys(runner, monkeypatch):
    monkeypatch.setattr("os.execv", lambda *args: pytest.fail("gunicorn must not start"))
    result = runner.invoke(args=["serve", "--host", "0.0.0.0"])
    assert result.exit_code != 0
    assert "refusing to listen on 0.0.0.0 without an API key" in result.output


def test_serve_starts_when_allowed(runner, cli_settings, conn, monkeypatch, tmp_path):
    """Loopback without keys, anonymous mode, or a key: gunicorn is exec'd, with a notice."""
    started = []
    monkeypatch.setattr("os.execv", lambda path, argv: started.append(argv))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "")  # serve sets it for the workers

    result = runner.invoke(args=["serve", "--host", "127.0.0.1"])
    assert result.exit_code == 0 and "serving loopback clients only" in result.output

    cli_settings["ALLOW_ANONYMOUS"] = True
    result = runner.invoke(args=["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 0 and "ANYONE" in result.output
    cli_settings["ALLOW_ANONYMOUS"] = False

    runner.invoke(args=["keys", "create", "--name", "prod"])
    result = runner.invoke(args=["serve", "--host", "0.0.0.0", "--port", "8123"])
    assert result.exit_code == 0 and "chatstats:" not in result.stderr

    assert len(started) == 3
    assert "0.0.0.0:8123" in started[-1] and "python:webapp.gunicorn_conf" in started[-1]
    assert started[-1][-1] == "webapp:create_app()"
    assert os.environ["DATABASE_URL"] == cli_settings["DATABASE_URL"]
