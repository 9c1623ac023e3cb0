"""The load test (loadtests/) run end to end for a few seconds, so that its scenarios cannot rot.

Each run goes through loadtests/run.py exactly as `make loadtest` does: migrate,
seed up to --rows, gunicorn on a free port, headless Locust, gate, cleanup.
"""
import json
import os
import re
import subprocess
import sys
import threading

import psycopg

from webapp import seed

from helpers import PROJECT_DIR

RUN = PROJECT_DIR / "loadtests" / "run.py"


def run_loadtest(database_url, reports, *args, **env):
    """(completed process, the summary Locust wrote) of one short run."""
    result = subprocess.run(
        [sys.executable, str(RUN), "--users", "4", "--write-rate", "40", "--workers", "1",
         "--reports", str(reports), *args],
        env={**os.environ, "DATABASE_URL": database_url, "THINK_MIN": "0", "THINK_MAX": "0.1",
             "UPDATE_FRACTION": "0.3", **env},
        capture_output=True, text=True, timeout=120)
    summaries = list(reports.glob("*_summary.json"))
    assert len(summaries) == 1, result.stdout + result.stderr
    return result, json.loads(summaries[0].read_text())


def entries(summary):
    return {(e["type"], e["name"]): e for e in summary["entries"]}


def unreported_inserts(conn, seeded, summary):
    """Rows in the table beyond the seed and the inserts the writer reported.

    Locust may stop the single writer in the middle of an INSERT that then
    commits unreported, so this is 0 or 1.
    """
    rows = conn.execute("SELECT count(*) AS n FROM chat_completion_requests").fetchone()["n"]
    return rows - seeded - entries(summary)[("SQL", "INSERT request")]["requests"]


def test_short_run_passes_the_gate_with_reads_and_writes(database_url, conn, tmp_path):
    # The gate's figures are sanity bounds here (a busy machine is slow); make loadtest measures.
    result, summary = run_loadtest(database_url, tmp_path, "--rows", "3000", "--duration", "5s",
                                   "--export-users", "1", "--p95-ms", "5000", "--min-rps", "1",
                                   EXPORT_LIMIT="2000")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gate PASSED" in result.stdout
    stats = entries(summary)
    assert summary["failures"] == 0 and summary["gate_failures"] == []
    names = {name.split(" [")[0] for _, name in stats}
    assert {"/providers", "/models", "/models?provider_id", "/models/{id}", "list limit=100",
            "list export", "INSERT request", "UPDATE recent request"} <= names
    assert summary["http_rps"] >= 1
    assert stats[("SQL", "INSERT request")]["requests"] > 0
    # Every insert the writer reported is in the table, next to the 3000 seeded rows.
    assert unreported_inserts(conn, 3000, summary) in (0, 1)
    assert 0 < summary["locust_cpu_seconds"]


def delete_rows_until(stop, database_url):
    """What the writer never does: delete (the oldest rows), so that totals go down."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        while not stop.wait(0.3):
            conn.execute("DELETE FROM chat_completion_requests WHERE id IN "
                         "(SELECT id FROM chat_completion_requests ORDER BY id LIMIT 20)")


def test_gate_fails_on_shrinking_totals_and_low_rps_and_reuses_the_seed(database_url, conn, tmp_path):
    seed.seed(conn, 2500)
    stop = threading.Event()
    deleter = threading.Thread(target=delete_rows_until, args=(stop, database_url))
    deleter.start()
    try:
        result, summary = run_loadtest(database_url, tmp_path, "--rows", "2000", "--duration", "3s",
                                       "--min-rps", "1000000")
    finally:
        stop.set()
        deleter.join()
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "gate FAILED" in result.stdout
    held = int(re.search(r"database holds (\d+) requests", output).group(1))
    assert held > 2000 and "seeded" not in output  # enough rows already: no seeding
    assert "total_requests went down" in output  # the monotonic check caught the deletes
    assert summary["failures"] > 0
    assert f"{summary['failures']} failed requests" in summary["gate_failures"]
    assert [reason for reason in summary["gate_failures"] if "MIN_RPS=1e+06" in reason]
