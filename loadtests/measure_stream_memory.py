"""Peak memory of one gunicorn worker serving request-list pages of 100 to 100,000 rows,
/plot-data over every row, and the export of every row in each format.

All stream from server-side cursors, so the worker's peak RSS should not grow with
the page size or the rows plotted or exported. This seeds a scratch database up to
--rows (kept for reruns), starts `gunicorn wsgi:app` with one worker, and for each
answer resets the worker's peak RSS (/proc/PID/clear_refs), fetches it, and reads
the new peak (VmHWM). Exports are read 1 MiB at a time and their lines counted
(the seeded error messages hold no line breaks), against the list's total_count.
Linux only.

    .venv/bin/python loadtests/measure_stream_memory.py [--database-url URL] [--rows 100000]
    # 10M rows, exports only:
    .venv/bin/python loadtests/measure_stream_memory.py --database-url URL --rows 10000000 \
        --pages '' --no-plot --exports csv,ndjson
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
API = "/api/monitoring/chat-requests"
READ_BYTES = 1 << 20


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


def parsed(rows_of):
    """A reader of a JSON answer: (rows_of(the parsed body), bytes)."""
    def read(response):
        body = response.read()
        return rows_of(json.loads(body)), len(body)
    return read


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


def measure(base, pid, path, read):
    """Fetch path with the worker's peak RSS reset first; read(response) returns its rows
    (None when they do not add up) and bytes."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # peak RSS := current RSS
    before = proc_status(pid)["VmRSS"]
    started = time.perf_counter()
    with urllib.request.urlopen(base + path, timeout=600) as response:
        rows, size = read(response)
    seconds = time.perf_counter() - started
    peak = proc_status(pid)["VmHWM"]
    return {"path": path, "rows": rows, "ok": rows is not None, "bytes": size,
            "seconds": round(seconds, 2), "rows_per_s": round((rows or 0) / seconds),
            "rss_before_mib": before, "peak_rss_mib": peak, "growth_mib": peak - before}


def page_rows(limit):
    def rows_of(page):
        ok = len(page["data"]) == page["metadata"]["returned_count"] == limit
        return limit if ok else None
    return rows_of


def export_rows(expected, header_lines):
    """A reader of an export: its lines, less the header, if they are the expected rows."""
    def read(response):
        lines = size = 0
        while chunk := response.read(READ_BYTES):
            lines += chunk.count(b"\n")
            size += len(chunk)
        rows = lines - header_lines
        return (rows if rows == expected else None), size
    return read


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
@click.option("--pages", default=PAGES, show_default=True,
              help="Page sizes (limit) to fetch; '' for none.")
@click.option("--plot/--no-plot", default=True, show_default=True, help="Fetch /plot-data.")
@click.option("--exports", default="csv,ndjson", show_default=True,
              help="Export every row in these formats; '' for none.")
@click.option("--orders", default="desc", show_default=True, help="Export orders (desc, asc).")
@click.option("--fresh", is_flag=True, help="Recreate the scratch database first.")
def main(database_url, rows, port, threads, pages, plot, exports, orders, fresh):
    """Report the worker's peak RSS, the time and the rows/s for each answer."""
    limits = [int(limit) for limit in pages.split(",") if limit]
    url = database_url or scratch_database_url(fresh)
    total = ensure_rows(url, rows)
    if total < max(limits, default=0):
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
        _, first = get(base, f"{API}?limit=1")  # warm up: imports, pool
        listed = json.loads(first)["metadata"]["total_count"]
        results = [measure(base, pid, f"{API}?limit={limit}", parsed(page_rows(limit)))
                   for limit in limits]
        if plot:
            results.append(measure(base, pid, f"{API}/plot-data", parsed(plot_rows)))
        for order in filter(None, orders.split(",")):
            for fmt in filter(None, exports.split(",")):
                results.append(measure(base, pid, f"{API}/export?format={fmt}&order={order}",
                                       export_rows(listed, 1 if fmt == "csv" else 0)))
    finally:
        server.terminate()
        server.wait(timeout=30)
    click.echo(f"rows in database: {total}; worker threads: {threads}")
    click.echo(json.dumps(results, indent=2))
    if not all(r["ok"] for r in results):
        raise click.ClickException("an answer did not parse to the rows it announced")


if __name__ == "__main__":
    main()
