"""Run the load test end to end: database, seed, gunicorn, headless Locust, cleanup.

    python loadtests/run.py --rows 1000000 --duration 60s      # or: make loadtest ROWS=1000000

Uses DATABASE_URL when set, else the embedded PostgreSQL (stopped again at the
end if this run started it); with --standby the server reads from a streaming
standby of the embedded PostgreSQL (`chatstats db replica start`) while the
writer writes to the primary. Exits with Locust's exit code: non-zero when the
gate in locustfile.py fails.
"""
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import click
import psutil
import psycopg

from report import table
from webapp import dsn, embedded
from webapp.config import Config

HERE = Path(__file__).resolve().parent
PROJECT_DIR = HERE.parent
BIN = Path(sys.executable).parent


def _tool(name):
    return shutil.which(name, path=str(BIN)) or name


def _chatstats(env, *args):
    return subprocess.run([_tool("chatstats"), *args], env=env, check=True,
                          stdout=subprocess.PIPE, text=True).stdout.strip()


def _pinned(cpus, argv):
    """argv under `taskset -c cpus` when a CPU list is given."""
    return ["taskset", "-c", cpus, *argv] if cpus else argv


def prepare_database(env, rows):
    """Migrate, then seed only the rows missing up to `rows` (an existing seed is reused)."""
    click.echo(_chatstats(env, "migrate"))
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        have = conn.execute("SELECT count(*) FROM chat_completion_requests").fetchone()[0]
        click.echo(f"database holds {have} requests; ROWS={rows}")
        if have >= rows:
            return
        subprocess.run([_tool("chatstats"), "seed", "--rows", str(rows - have)], env=env, check=True)
        click.echo("VACUUM ANALYZE (index-only scans need the visibility map)...")
        conn.execute("VACUUM ANALYZE chat_completion_requests")
    # With rollups (issue 3) roll the new history up now, not during the measurement.
    if subprocess.run([_tool("chatstats"), "rollup", "--help"], env=env,
                      capture_output=True).returncode == 0:
        subprocess.run([_tool("chatstats"), "rollup", "refresh"], env=env, check=True)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url, process, timeout_s=120):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise click.ClickException(f"the server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise click.ClickException(f"{url}/ready did not answer 200 within {timeout_s}s")


def stop(process, timeout_s=30):
    """SIGTERM (gunicorn's graceful stop), SIGKILL after timeout_s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class CpuMeter:
    """CPU seconds used by process trees (gunicorn, PostgreSQL) between start() and stop()."""

    def __init__(self, **roots):
        self.roots = {name: pid for name, pid in roots.items() if pid}
        self.used = {}

    def _sample(self):
        totals = {}
        for name, pid in self.roots.items():
            try:
                root = psutil.Process(pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
            total = 0.0
            for proc in procs:
                try:
                    total += sum(proc.cpu_times()[:2])
                except psutil.Error:
                    pass
            totals[name] = total
        return totals

    def start(self):
        self._start, self._wall = self._sample(), time.monotonic()

    def stop(self):
        end = self._sample()
        self.wall = time.monotonic() - self._wall
        self.used = {name: end[name] - self._start[name] for name in end if name in self._start}


def start_standby(env, keep_db):
    """The embedded server's streaming standby for the reads (CHATSTATS_READ_DATABASE_URL),
    caught up with the primary; returns a cleanup that stops it unless it ran before."""
    was_running = embedded.replica_url(Config.DATA_DIR) is not None
    env["CHATSTATS_READ_DATABASE_URL"] = embedded.start_replica(Config.DATA_DIR)
    with psycopg.connect(env["DATABASE_URL"]) as primary:
        lsn = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    with psycopg.connect(env["CHATSTATS_READ_DATABASE_URL"], autocommit=True) as standby:
        while not standby.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0]:
            time.sleep(0.2)
    click.echo(f"reads from the standby: {dsn.describe(env['CHATSTATS_READ_DATABASE_URL'])}")
    if was_running or keep_db:
        return lambda: None
    return lambda: click.echo(f"standby stopped: {embedded.stop_replica(Config.DATA_DIR)}")


def postmaster_pid(database_url):
    """The local PostgreSQL server's pid (parent of our backend), or None if remote."""
    with psycopg.connect(database_url) as conn:  # ask while the backend is alive
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        try:
            return psutil.Process(backend).ppid()
        except psutil.Error:
            return None


@click.command()
@click.option("--rows", type=click.IntRange(min=0), default=10_000_000, show_default=True,
              help="Seed the database up to this many requests (existing rows are kept).")
@click.option("--duration", default="2m", show_default=True, help="Locust run time (e.g. 60s, 2m).")
@click.option("--users", type=click.IntRange(min=1), default=20, show_default=True, help="Dashboard users.")
@click.option("--write-rate", type=click.FloatRange(min=0), default=100, show_default=True,
              help="Inserts per second by the gateway writer (0: none).")
@click.option("--writers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Writer users sharing --write-rate, each with its own connection.")
@click.option("--export-users", type=click.IntRange(min=0), default=0, show_default=True,
              help="Users pulling 100,000-row pages.")
@click.option("--p95-ms", type=float, default=1000, show_default=True, help="Gate: max p95 per endpoint.")
@click.option("--min-rps", type=float, default=0, show_default=True, help="Gate: min HTTP requests/s.")
@click.option("--source", default=None,
              help="CHATSTATS_STATS_SOURCE for the server (raw: the raw-aggregation baseline).")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="gunicorn workers.")
@click.option("--threads", type=click.IntRange(min=1), default=4, show_default=True, help="Threads per worker.")
@click.option("--server-cpus", default=None, help="Pin gunicorn with `taskset -c` (e.g. 0).")
@click.option("--locust-cpus", default=None, help="Pin Locust with `taskset -c` (e.g. 1).")
@click.option("--reports", type=click.Path(file_okay=False, path_type=Path), default=HERE / "reports",
              show_default=True)
@click.option("--keep-db", is_flag=True, help="Leave an embedded database running even if this run started it.")
@click.option("--standby", is_flag=True,
              help="Read from a streaming standby of the embedded database (not with DATABASE_URL: "
                   "set CHATSTATS_READ_DATABASE_URL instead).")
def main(rows, duration, users, write_rate, writers, export_users, p95_ms, min_rps, source,
         workers, threads, server_cpus, locust_cpus, reports, keep_db, standby):
    """Seed, serve and load-test the API; exit non-zero when the gate fails."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the cleanup below runs
    # The load comes from one address: the per-client rate limit would only measure itself.
    env = {"CHATSTATS_RATE_LIMIT": "", **os.environ}
    if source:
        env["CHATSTATS_STATS_SOURCE"] = source
    if standby and env.get("DATABASE_URL"):
        raise click.UsageError("--standby makes a standby of the embedded database; with DATABASE_URL "
                               "set CHATSTATS_READ_DATABASE_URL to your standbys instead")
    label = env.get("CHATSTATS_STATS_SOURCE") or "default"
    reports.mkdir(parents=True, exist_ok=True)
    prefix = reports / f"{datetime.now():%Y%m%d-%H%M%S}-{rows}rows-{label}{'-standby' if standby else ''}"

    with ExitStack() as cleanup:
        if not env.get("DATABASE_URL"):
            was_running = embedded.running_pid(Config.DATA_DIR) is not None
            env["DATABASE_URL"] = embedded.start(Config.DATA_DIR)
            if not was_running and not keep_db:
                cleanup.callback(lambda: click.echo(f"embedded database stopped: {embedded.stop(Config.DATA_DIR)}"))
        click.echo(dsn.describe(env["DATABASE_URL"]))
        prepare_database(env, rows)
        if standby:
            cleanup.callback(start_standby(env, keep_db))

        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        server_log = open(f"{prefix}-server.log", "w")
        cleanup.callback(server_log.close)
        server = subprocess.Popen(
            _pinned(server_cpus, [_tool("chatstats"), "serve", "--host", "127.0.0.1", "--port", str(port),
                                  "--workers", str(workers), "--threads", str(threads)]),
            env=env, cwd=PROJECT_DIR, stdout=server_log, stderr=subprocess.STDOUT,
            start_new_session=True)  # Ctrl-C reaches Locust, not the server; we stop it ourselves
        cleanup.callback(stop, server)
        wait_ready(url, server)
        click.echo(f"server ready at {url} (stats source: {label}; log {prefix}-server.log)")

        locust_env = {**env, "WRITE_RATE": str(write_rate), "WRITERS": str(writers),
                      "EXPORT_USERS": str(export_users), "P95_MS": str(p95_ms), "MIN_RPS": str(min_rps)}
        total_users = users + export_users + (writers if write_rate > 0 else 0)
        argv = _pinned(locust_cpus, [
            _tool("locust"), "-f", str(HERE / "locustfile.py"), "--headless", "--only-summary",
            "--host", url, "-u", str(total_users), "-r", str(total_users), "-t", duration,
            "--stop-timeout", "10", "--csv", str(prefix), "--html", f"{prefix}.html"])
        click.echo(" ".join(argv))
        read_url = env.get("CHATSTATS_READ_DATABASE_URL")
        cpu = CpuMeter(gunicorn=server.pid, postgres=postmaster_pid(env["DATABASE_URL"]),
                       **({"postgres standby": postmaster_pid(read_url)} if read_url else {}))
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.start()
        locust = subprocess.Popen(argv, env=locust_env, cwd=PROJECT_DIR)
        cleanup.callback(stop, locust)
        try:
            code = locust.wait()
        except KeyboardInterrupt:  # Locust got the SIGINT too: let it write its reports
            locust.wait(60)
            code = 130
            click.echo("interrupted", err=True)
        cpu.stop()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.used["locust (with start-up)"] = (children.ru_utime + children.ru_stime
                              - children_before.ru_utime - children_before.ru_stime)

    summary_file = Path(f"{prefix}_summary.json")
    try:
        summary = json.loads(summary_file.read_text())
    except FileNotFoundError:
        click.echo(f"Locust wrote no summary ({summary_file})", err=True)
        summary = None
    cpu_line = f"CPU over {cpu.wall:.0f}s (of {os.cpu_count()} cores): " + ", ".join(
        f"{name} {seconds:.1f}s = {100 * seconds / cpu.wall:.0f}% of one core" for name, seconds in cpu.used.items())
    if summary is not None:
        click.echo(table(summary))
        summary["run"] = {"command": sys.argv, "rows": rows, "duration": duration, "users": users,
                          "write_rate": write_rate, "writers": writers, "export_users": export_users,
                          "stats_source": label, "reads": "standby" if standby else "primary",
                          "workers": workers, "threads": threads,
                          "cpu": cpu_line, "exit_code": code}
        summary_file.write_text(json.dumps(summary, indent=1))
    click.echo(cpu_line)
    click.echo(f"reports: {prefix}.html, {prefix}_*.csv, {prefix}_summary.json; gate {'PASSED' if code == 0 else 'FAILED'}")
    sys.exit(code)


if __name__ == "__main__":
    main()
