"""Load-test summaries as tables: one run (locustfile.py and run.py print it), or runs side by side.

    python loadtests/report.py loadtests/reports/A_summary.json loadtests/reports/B_summary.json
prints a Markdown table comparing the runs (e.g. rollups vs SOURCE=raw) for the README.
"""
import json
import sys


def table(result):
    lines = [f"{'endpoint':<34} {'requests':>8} {'fails':>5} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6}  (ms)"]
    for e in result["entries"]:
        lines.append(f"{e['type'] + ' ' + e['name']:<34} {e['requests']:>8} {e['failures']:>5} {e['rps']:>7.1f} "
                     f"{e['p50']:>6.0f} {e['p95']:>6.0f} {e['p99']:>6.0f}")
    lines.append(f"HTTP requests/s {result['http_rps']:.1f} over {result['seconds']:.0f}s, "
                 f"{result['failures']} failures; Locust CPU {result['locust_cpu_seconds']:.1f}s "
                 f"= {result['locust_cpu_percent']:.0f}% of one core")
    if result.get("stats_sources"):
        lag = result["max_rollup_lag"]
        lines.append("statistics answered from: " + ", ".join(f"{k} {v}" for k, v in result["stats_sources"].items())
                     + f"; largest rollup lag seen: {lag['rows']} rows, {lag['seconds']:.1f}s")
    if result["gate_failures"]:
        lines.append("gate failed: " + "; ".join(result["gate_failures"]))
    return "\n".join(lines)


def _label(result, path):
    """What answered (from the responses' metadata.source when known) and the table size."""
    run = result.get("run", {})
    source = "+".join(result.get("stats_sources") or {}) or run.get("stats_source", path)
    return f"{source}, {run.get('rows', '?')} rows"


def compare(results):
    """Markdown: one row per endpoint, p50/p95/p99 (ms) and requests/s of each run."""
    labels = [_label(result, path) for path, result in results]
    header = "| endpoint | " + " | ".join(f"{label}: req/s, p50 / p95 / p99 ms" for label in labels) + " |"
    lines = [header, "|---" * (len(results) + 1) + "|"]
    names = list(dict.fromkeys(f"{e['type']} {e['name']}" for _, result in results for e in result["entries"]))
    by_name = [{f"{e['type']} {e['name']}": e for e in result["entries"]} for _, result in results]
    for name in names:
        cells = [f"{e['rps']:.1f}, {e['p50']:.0f} / {e['p95']:.0f} / {e['p99']:.0f}" if (e := entries.get(name)) else "-"
                 for entries in by_name]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| HTTP requests/s, failures | " + " | ".join(
        f"{result['http_rps']:.1f}, {result['failures']}" for _, result in results) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    runs = [(path, json.loads(open(path).read())) for path in sys.argv[1:]]
    print(table(runs[0][1]) if len(runs) == 1 else compare(runs))
