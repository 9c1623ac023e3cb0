"""What starts where: a request starts no thread, a command no database server,
and a server without a database stops at start-up."""
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from webapp import refresher


def test_a_server_without_a_database_fails_at_start_up(app_factory):
    with pytest.raises(RuntimeError, match="DATABASE_URL is not set"):
        app_factory(DATABASE_URL=None, API_DATABASE_URL=None)


def test_requests_start_no_refresher(app, client):
    before = {thread for thread in threading.enumerate() if isinstance(thread, refresher.Refresher)}
    assert client.get("/api/monitoring/chat-requests/providers").status_code == 200  # opens the pool
    after = {thread for thread in threading.enumerate() if isinstance(thread, refresher.Refresher)}
    assert after == before and "chatstats_refresher" not in app.extensions


def test_commands_start_no_embedded_server(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    done = subprocess.run([Path(sys.executable).with_name("chatstats"), "migrate"],
                          env={**env, "CHATSTATS_DATA_DIR": str(tmp_path)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "DATABASE_URL is not set" in done.stderr and "chatstats db start" in done.stderr
    assert list(tmp_path.iterdir()) == []
