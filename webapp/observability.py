"""Request ids, one-line JSON access logs, and Prometheus metrics.

The access log line and the latency sample of a streamed response (the request
list) are written when the body is closed, so they count its whole duration. Metrics live in
this process; under gunicorn, `chatstats serve` sets PROMETHEUS_MULTIPROC_DIR so
that /metrics (answered by any worker) sums every worker's samples.
"""
import json
import logging
import os
import re
import sys
import time
import uuid
from datetime import datetime, timezone

from flask import current_app, g, request
from prometheus_client import Counter, Gauge, Histogram

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

REQUESTS = Counter("chatstats_http_requests", "HTTP requests answered.",
                   ["method", "endpoint", "status"])
LATENCY = Histogram("chatstats_http_request_duration_seconds",
                    "Time from request to the last byte of the response.", ["method", "endpoint"],
                    buckets=(.002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
POOL = Gauge("chatstats_db_pool", "psycopg_pool get_stats() of this process's pool "
             "(summed over live workers).", ["stat"], multiprocess_mode="livesum")
READ_POOL = Gauge("chatstats_db_read_pool", "psycopg_pool get_stats() of this process's pool of "
                  "the standbys (summed over live workers).", ["stat"], multiprocess_mode="livesum")

access_log = logging.getLogger("chatstats.access")


def init_app(app):
    if not access_log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access_log.addHandler(handler)
        access_log.setLevel(logging.INFO)
        access_log.propagate = False
    app.before_request(_start)
    app.after_request(_finish)


def _start():
    g.started = time.perf_counter()
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if _SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def _finish(response):
    started = g.get("started", time.perf_counter())
    request_id = g.get("request_id") or uuid.uuid4().hex
    response.headers[REQUEST_ID_HEADER] = request_id
    key = g.get("api_key")
    entry = {
        "request_id": request_id, "method": request.method, "path": request.path,
        "endpoint": request.url_rule.rule if request.url_rule else None,
        "status": response.status_code, "key": key["name"] if key else None,
        "remote_addr": request.remote_addr,
    }
    pools = [pool for key in ("chatstats_pool", "chatstats_read_pool")
             if (pool := current_app.extensions.get(key)) is not None]
    if response.is_streamed:  # done when the WSGI server closes the body
        response.call_on_close(lambda: _log(entry, started, pools))
    else:
        _log(entry, started, pools)
    return response


def _log(entry, started, pools):
    duration_s = time.perf_counter() - started
    endpoint = entry["endpoint"] or "unmatched"  # unknown paths share one label
    REQUESTS.labels(entry["method"], endpoint, str(entry["status"])).inc()
    LATENCY.labels(entry["method"], endpoint).observe(duration_s)
    for pool in pools:
        if pool.pid == os.getpid():
            record_pool(pool)
    access_log.info(json.dumps({
        "ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "type": "access",
        **entry, "duration_ms": round(duration_s * 1000, 2)}))


def record_pool(pool):
    gauge = READ_POOL if getattr(pool, "key", None) == "chatstats_read_pool" else POOL
    for stat, value in pool.get_stats().items():
        gauge.labels(stat).set(value)
