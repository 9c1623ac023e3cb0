"""The load test's summary as a fixed-width table (shared by locustfile.py and run.py)."""


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
