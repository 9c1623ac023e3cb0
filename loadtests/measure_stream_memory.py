"""Peak memory of one gunicorn worker serving request-list pages of 100 to 100,000 rows,
and /plot-data over every row.

Both stream from server-side cursors, so the worker's peak RSS should not grow with
the page size or the rows plotted. This seeds a scratch database up to --rows (kept for
reruns), starts `gunicorn wsgi:app` with one worker, and for each page size
resets the worker's peak RSS (/proc/PID/clear_refs), fetches the page, and
reads the new peak (VmHWM). Linux only.

    .venv/bin/python loadtests/measure_stream_memory.py [--database-url URL] [--rows 100000]
"""
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import click
import psycopg
from psycopg.rows import dict_row

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from webapp import embedded, migrate, seed  # noqa: E402
from webapp.dsn import with_database  # noqa: E402
from webapp.config import Config  # noqa: E402

SCRATCH_DB = "chatstats_memprobe"
PAGES = "100,10000,100000"


def scratch_database_url(fresh):
    """The embedded server's scratch database, created when missing (or `fresh`)."""
    server = embedded.start(Config.DATA_DIR)
    with psycopg.connect(server, autocommit=True) as admin:
        if fresh:
            admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)")
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (SCRATCH_DB,)).fetchone():
            admin.execute(f"CREATE DATABASE {SCRATCH_DB}")
    return with_database(server, SCRATCH_DB)


def ensure_rows(url, rows):
    migrate.apply(url)
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        have = conn.execute("SELECT count(*) AS n FROM chat_completion_requests").fetchone()["n"]
        if have < rows:
            click.echo(f"seeding {rows - have} rows ...", err=True)
            seed.seed(conn, rows - have)
            conn.execute("ANALYZE chat_completion_requests")
    return max(have, rows)


def proc_status(pid):
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {key: int(fields[key].split()[0]) // 1024 for key in ("VmRSS", "VmHWM")}  # MiB


def worker_pid(master_pid, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise click.ClickException("gunicorn started no worker")


def get(base, path, timeout_s=300):
    with urllib.request.urlopen(base + path, timeout=timeout_s) as response:
        return response.status, response.read()


def wait_healthy(base, server, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise click.ClickException("gunicorn exited during start-up")
        try:
            if get(base, "/health", 2)[0] == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise click.ClickException("gunicorn did not become healthy")


def measure(base, pid, path, rows_of):
    """Fetch path with the worker's peak RSS reset first; rows_of(answer) counts its rows
    (None when they do not add up)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # peak RSS := current RSS
    before = proc_status(pid)["VmRSS"]
    started = time.perf_counter()
    status, body = get(base, path)
    seconds = time.perf_counter() - started
    peak = proc_status(pid)["VmHWM"]
    rows = rows_of(json.loads(body)) if status == 200 else None
    return {"path": path, "rows": rows, "ok": rows is not None, "bytes": len(body),
            "seconds": round(seconds, 2), "rss_before_mib": before, "peak_rss_mib": peak,
            "growth_mib": peak - before}


def page_rows(limit):
    def rows_of(page):
        ok = len(page["data"]) == page["metadata"]["returned_count"] == limit
        return limit if ok else None
    return rows_of


def plot_rows(plot):
    """Every matching request's values: three arrays of total_count entries."""
    lengths = {len(values) for values in plot["plot_data"].values()}
    return plot["metadata"]["total_count"] if lengths == {plot["metadata"]["total_count"]} else None


@click.command()
@click.option("--database-url", envvar="DATABASE_URL",
              help="Database to use (default: a scratch database on the embedded server).")
@click.option("--rows", default=100_000, show_default=True, help="Seed up to this many rows.")
@click.option("--port", default=8765, show_default=True)
@click.option("--threads", default=4, show_default=True, help="gthread threads of the worker.")
@click.option("--pages", default=PAGES, show_default=True, help="Page sizes (limit) to fetch.")
@click.option("--fresh", is_flag=True, help="Recreate the scratch database first.")
def main(database_url, rows, port, threads, pages, fresh):
    """Report the worker's peak RSS and the time for each page size."""
    limits = [int(limit) for limit in pages.split(",")]
    url = database_url or scratch_database_url(fresh)
    total = ensure_rows(url, rows)
    if total < max(limits):
        raise click.ClickException(f"need at least {max(limits)} rows, have {total}")
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen(
        [str(gunicorn), "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", str(threads),
         "--worker-class", "gthread", "--timeout", "300", "wsgi:app"],
        cwd=PROJECT_DIR, env={**os.environ, "DATABASE_URL": url},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, server)
        pid = worker_pid(server.pid)
        get(base, "/api/monitoring/chat-requests?limit=100")  # warm up: imports, pool
        results = [measure(base, pid, f"/api/monitoring/chat-requests?limit={limit}", page_rows(limit))
                   for limit in limits]
        results.append(measure(base, pid, "/api/monitoring/chat-requests/plot-data", plot_rows))
    finally:
        server.terminate()
        server.wait(timeout=30)
    click.echo(f"rows in database: {total}; worker threads: {threads}")
    click.echo(json.dumps(results, indent=2))
    if not all(r["ok"] for r in results):
        raise click.ClickException("an answer did not parse to the rows it announced")


if __name__ == "__main__":
    main()
