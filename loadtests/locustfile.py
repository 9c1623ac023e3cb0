"""Load test: a monitoring dashboard read by many people while the gateway keeps writing.

Run it through `make loadtest` (see loadtests/README.md) or directly:

    DATABASE_URL=... locust -f loadtests/locustfile.py --headless --host http://127.0.0.1:8000 \
        -u 21 -r 21 -t 2m        # -u = dashboard users + WRITERS + EXPORT_USERS

Settings come from the environment (see DEFAULTS below). Every response is checked
(status 200, `success: true`, self-consistent numbers); the quitting listener turns
the run into pass/fail through the process exit code.
"""
import functools
import json
import logging
import os
import random
import threading
import time
import uuid
from collections import Counter, deque
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import gevent
import psutil
from gevent.lock import Semaphore
from locust import FastHttpUser, User, between, events, task
from locust.runners import WorkerRunner

from report import table  # loadtests/report.py: Locust puts this directory on sys.path

import psycopg  # after locust: psycopg then sees gevent's patched select and cooperates

DEFAULTS = {  # each can be overridden by the environment variable of the same name
    "WRITE_RATE": 100,       # inserts per second, shared by all writer users (0: no writer)
    "WRITERS": 1,            # writer users, each with its own connection
    "UPDATE_FRACTION": 0.05,  # chance that an insert is followed by an UPDATE of a recent row
    "EXPORT_USERS": 0,       # users pulling EXPORT_LIMIT-row pages back to back
    "EXPORT_LIMIT": 100_000,  # rows per export page
    "LARGE_PAGE_WEIGHT": 1,  # weight of the 10,000-row page among the dashboard's tasks (sum 90)
    "THINK_MIN": 0.5,        # dashboard think time between requests, seconds
    "THINK_MAX": 2,
    "P95_MS": 1000,          # gate: p95 of every dashboard endpoint must not exceed this
    "MIN_RPS": 0,            # gate: HTTP requests/s over the run must reach this
}


def setting(name, cast=float):
    return cast(os.environ.get(name, DEFAULTS[name]))


API = "/api/monitoring/chat-requests"
RANGES = {"all": None, "24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
STATUSES = ("completed", "failed", "partial")
WRITE_TYPE = "SQL"  # request_type of the writer's events, kept out of the latency and rps gate
EXPORT_NAME = "list export"

log = logging.getLogger("loadtest")


class Bad(Exception):
    """A response that arrived but is wrong."""


def expect(condition, message):
    if not condition:
        raise Bad(message)


# -- checks ------------------------------------------------------------------

class MonotonicTotals:
    """Totals without a range may only grow while writers only insert and update.

    A read that starts after another read has finished must see at least what
    that one saw (each statement takes a fresh snapshot), so each read is held
    to the highest total finished before it started.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._seen = {}

    def floor(self, key):
        with self._lock:
            return self._seen.get(key, 0)

    def record(self, key, floor, total):
        expect(total >= floor, f"{key}: total_requests went down from {floor} to {total}")
        with self._lock:
            self._seen[key] = max(self._seen.get(key, 0), total)


TOTALS = MonotonicTotals()
# Where the statistics came from (metadata.source: rollup or raw) and the largest rollup lag seen,
# so that a baseline run can be told from a rollup run by its answers, not only by its settings.
SOURCES = Counter()
MAX_LAG = {"rows": 0, "seconds": 0.0}


def observe_metadata(meta):
    if "source" in meta:
        SOURCES[meta["source"]] += 1
    MAX_LAG["rows"] = max(MAX_LAG["rows"], meta.get("rollup_lag_rows") or 0)
    MAX_LAG["seconds"] = max(MAX_LAG["seconds"], meta.get("rollup_lag_seconds") or 0)


def check_envelope(response):
    expect(response.status_code == 200, f"HTTP {response.status_code}: {(response.text or '')[:200]}")
    body = response.json()
    expect(body.get("success") is True, f"success is not true: {response.text[:200]}")
    return body


def check_model_stats(model):
    s = model["stats"]
    counts = [s["total_requests"], s["completed_requests"], s["failed_requests"], s["partial_requests"]]
    expect(all(isinstance(n, int) and n >= 0 for n in counts), f"model {model['model_id']}: bad counts {counts}")
    expect(sum(counts[1:]) == counts[0], f"model {model['model_id']}: statuses {counts[1:]} != total {counts[0]}")
    expect(s["total_tokens"] == s["total_input_tokens"] + s["total_output_tokens"] and
           min(s["total_input_tokens"], s["total_output_tokens"]) >= 0,
           f"model {model['model_id']}: tokens do not add up")
    avg = s["avg_processing_time_ms"]
    expect((avg is None) == (counts[0] == 0) and (avg is None or avg >= 0),
           f"model {model['model_id']}: avg_processing_time_ms {avg} with {counts[0]} requests")
    expect(Decimal(s["total_cost_usd"]) >= 0, f"model {model['model_id']}: negative cost")


def check_model_list(body, provider_id=None):
    models = body["data"]
    expect(body["metadata"]["total_models"] == len(models), "total_models != len(data)")
    totals = [m["stats"]["total_requests"] for m in models]
    expect(totals == sorted(totals, reverse=True), "models not sorted busiest first")
    for model in models:
        check_model_stats(model)
        expect(model["stats"]["total_requests"] > 0, f"model {model['model_id']} listed without requests")
        expect(provider_id is None or model["provider"]["id"] == provider_id,
               f"model {model['model_id']} of provider {model['provider']['id']}, asked {provider_id}")
    return sum(totals)


def check_providers(body):
    providers = body["data"]
    meta = body["metadata"]
    expect(meta["total_providers"] == len(providers), "total_providers != len(data)")
    totals = [p["total_requests"] for p in providers]
    expect(totals == sorted(totals, reverse=True), "providers not sorted busiest first")
    expect(all(t >= 0 for t in totals) and meta["unattributed_requests"] >= 0, "negative provider totals")
    expect(all(p["models_with_requests"] > 0 and p["total_requests"] > 0 for p in providers),
           "provider listed without requests")
    return sum(totals) + meta["unattributed_requests"]


def check_request_page(body, params):
    rows, meta = body["data"], body["metadata"]
    expected = max(0, min(params["limit"], meta["total_count"] - params.get("offset", 0)))
    expect(meta["returned_count"] == len(rows) == expected,
           f"{len(rows)} rows, returned_count {meta['returned_count']}, expected {expected} "
           f"(total_count {meta['total_count']})")
    keys = [(datetime.fromisoformat(r["created_at"]), r["id"]) for r in rows]
    expect(keys == sorted(keys, reverse=True), "rows not newest first")
    start = params.get("start_date")
    start = start and datetime.fromisoformat(start)
    for (created_at, _), row in zip(keys, rows):
        expect(start is None or created_at >= start, f"row {row['id']} before start_date")
        expect(row["total_tokens"] == row["input_tokens"] + row["output_tokens"], f"row {row['id']}: tokens")
        for key in ("status", "model_id"):
            expect(key not in params or row[key] == params[key], f"row {row['id']}: {key} != {params.get(key)}")
        model = row["models"]
        if "provider_id" in params:
            expect(model and model["provider_id"] == model["providers"]["id"] == params["provider_id"],
                   f"row {row['id']}: provider != {params['provider_id']}")
        if "model_name" in params:
            needle = params["model_name"].lower()
            expect(model and (needle in model["model_name"].lower()
                              or needle in model["model_id"].lower()),
                   f"row {row['id']}: model does not match {params['model_name']!r}")


# -- users -------------------------------------------------------------------

class Catalog:
    """Provider and model ids, read once per process from the API itself.

    One user reads it while the others wait: 20 users asking at once on a cold
    server would measure connection start-up, not the dashboard. It is reported
    apart (`catalog`), not mixed into `/models [all]`.
    """
    providers = None
    models = None
    model_names = None
    ending = False
    _loading = Semaphore()

    @classmethod
    def load(cls, client):
        with cls._loading:
            if cls.models is None:
                cls._fetch(client)

    @classmethod
    def _fetch(cls, client):
        with client.get(f"{API}/models", name="catalog /models", catch_response=True) as response:
            try:
                body = check_envelope(response)
                check_model_list(body)
                expect(body["data"], "no model has requests: seed the database first")
            except Exception as exc:
                response.failure(f"{type(exc).__name__}: {exc}")
                return
        rows = body["data"]
        cls.models = [m["model_id"] for m in rows]
        cls.providers = sorted({m["provider"]["id"] for m in rows})
        cls.model_names = [m["model_name"] for m in rows]


def dashboard_task(weight):
    """A weighted task that runs only once the catalog is known."""
    def decorate(func):
        @functools.wraps(func)
        def run(self):
            if Catalog.models is not None:
                func(self)
        return task(weight)(run)
    return decorate


class DashboardUser(FastHttpUser):
    """The mix of a monitoring dashboard: statistics panels and request tables."""
    wait_time = between(setting("THINK_MIN"), setting("THINK_MAX"))

    def on_start(self):
        Catalog.load(self.client)
        if Catalog.models is None and not Catalog.ending:
            Catalog.ending = True  # nothing to ask for: end the run once (the failure fails the gate)
            gevent.spawn(self.environment.runner.quit)  # not from a user's own greenlet

    def _get(self, path, name, params, check, monotonic_key=None):
        floor = TOTALS.floor(monotonic_key) if monotonic_key else None
        with self.client.get(path, params=params, name=name, catch_response=True) as response:
            try:
                body = check_envelope(response)
                total = check(body)
                observe_metadata(body["metadata"])
                if monotonic_key:
                    TOTALS.record(monotonic_key, floor, total)
            except Exception as exc:  # a wrong answer, or JSON that is not what the API promises
                response.failure(f"{type(exc).__name__}: {exc}")

    def _range(self):
        label = random.choice(list(RANGES))
        if RANGES[label] is None:
            return label, {}
        return label, {"start_date": (datetime.now(timezone.utc) - RANGES[label]).isoformat()}

    @dashboard_task(20)
    def providers(self):
        label, params = self._range()
        self._get(f"{API}/providers", f"/providers [{label}]", params, check_providers,
                  "providers" if label == "all" else None)

    @dashboard_task(15)
    def all_models(self):
        label, params = self._range()
        self._get(f"{API}/models", f"/models [{label}]", params, check_model_list,
                  "models" if label == "all" else None)

    @dashboard_task(15)
    def provider_models(self):
        label, params = self._range()
        provider_id = random.choice(Catalog.providers)
        self._get(f"{API}/models", f"/models?provider_id [{label}]",
                  {**params, "provider_id": provider_id},
                  lambda body: check_model_list(body, provider_id),
                  f"models of provider {provider_id}" if label == "all" else None)

    @dashboard_task(10)
    def one_model(self):
        label, params = self._range()
        model_id = random.choice(Catalog.models)

        def check(body):
            expect(body["data"]["model_id"] == model_id, f"asked model {model_id}, got {body['data']['model_id']}")
            check_model_stats(body["data"])
            return body["data"]["stats"]["total_requests"]

        self._get(f"{API}/models/{model_id}", f"/models/{{id}} [{label}]", params, check,
                  f"model {model_id}" if label == "all" else None)

    @dashboard_task(15)
    def request_page(self):
        params = {"limit": 100, "offset": random.choice([0] * 8 + [100, 500])}
        for key in random.sample(["status", "provider_id", "model_id", "model_name", "range"], k=random.randint(0, 2)):
            if key == "status":
                params["status"] = random.choice(STATUSES)
            elif key == "provider_id":
                params["provider_id"] = random.choice(Catalog.providers)
            elif key == "model_id":
                params["model_id"] = random.choice(Catalog.models)
            elif key == "model_name":
                params["model_name"] = random.choice(Catalog.model_names).split(" (")[0]
            else:
                params.update(self._range()[1])
        self._get(API, "list limit=100", params, lambda body: check_request_page(body, params))

    @dashboard_task(setting("LARGE_PAGE_WEIGHT", int))
    def large_page(self):
        params = {"limit": 10_000, **self._range()[1]}
        self._get(API, "list limit=10000", params, lambda body: check_request_page(body, params))


class ExportUser(FastHttpUser):
    """Pulls the newest EXPORT_LIMIT rows, as a nightly export or a CSV download would."""
    fixed_count = setting("EXPORT_USERS", int)
    abstract = fixed_count == 0
    wait_time = between(1, 2)
    network_timeout = connection_timeout = 300

    @task
    def export(self):
        params = {"limit": setting("EXPORT_LIMIT", int)}
        with self.client.get(API, params=params, name=EXPORT_NAME, catch_response=True) as response:
            try:
                check_request_page(check_envelope(response), params)
            except Exception as exc:
                response.failure(f"{type(exc).__name__}: {exc}")


class GatewayWriter(User):
    """Writes like the gateway: single-row autocommit INSERTs, sometimes an UPDATE of a recent row.

    Each writer keeps to a schedule of WRITE_RATE / WRITERS inserts per second. Every
    statement is reported as a locust request (type SQL) so it shows in the stats.
    """
    fixed_count = setting("WRITERS", int) if setting("WRITE_RATE") > 0 else 0
    abstract = fixed_count == 0
    interval = max(1, fixed_count) / max(setting("WRITE_RATE"), 1e-9)

    def wait_time(self):
        """Keep to the schedule, catching up after a stall of up to a second."""
        self.due = max(self.due + self.interval, time.monotonic() - 1)
        return max(0.0, self.due - time.monotonic())

    def on_start(self):
        self.due = time.monotonic()
        self.conn = None
        self.recent = deque(maxlen=200)
        self.models, self.weights = [], []

    def on_stop(self):
        if self.conn is not None:
            self.conn.close()

    def _connection(self):
        if self.conn is None or self.conn.closed:
            self.conn = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True,
                                        application_name="chatstats-loadtest-writer")
            ids = [r[0] for r in self.conn.execute("SELECT id FROM models ORDER BY id").fetchall()]
            self.models, self.weights = ids, [(rank + 1) ** -1.5 for rank in range(len(ids))]
        return self.conn

    def _run(self, name, sql, params):
        """Execute and report one statement; `params` is called once connected."""
        started = time.perf_counter()
        result = exception = None
        try:
            conn = self._connection()
            result = conn.execute(sql, params()).fetchone()
        except psycopg.Error as exc:
            exception = exc
            if self.conn is not None and self.conn.broken:
                self.conn = None
        self.environment.events.request.fire(
            request_type=WRITE_TYPE, name=name, response_time=(time.perf_counter() - started) * 1000,
            response_length=0, exception=exception, context={})
        return result

    def _new_row(self):
        model_id = random.choices(self.models, self.weights)[0] if self.models and random.random() >= 0.005 else None
        status = random.choices(STATUSES, (95, 3, 2))[0]
        input_tokens = 1 + int(2000 * random.expovariate(1) ** 1.3 / 4)
        output_tokens = 0 if status == "failed" else 1 + int(300 * random.expovariate(1))
        cost = round(Decimal(input_tokens * 0.5 + output_tokens * 2) / 1_000_000, 6)
        return {"request_id": f"loadtest-{uuid.uuid4().hex}", "model_id": model_id,
                "input_tokens": input_tokens, "output_tokens": output_tokens,
                "processing_time_ms": 80 + output_tokens * 10 + random.randint(0, 400), "status": status,
                "error_message": "upstream error 502" if status == "failed" else None,
                "user_id": random.randint(1, 10_000), "api_key_id": random.randint(1, 500), "cost_usd": cost}

    @task
    def write(self):
        row = self._run("INSERT request", """
            INSERT INTO chat_completion_requests
                (request_id, model_id, input_tokens, output_tokens, processing_time_ms, status,
                 error_message, user_id, api_key_id, cost_usd)
            VALUES (%(request_id)s, %(model_id)s, %(input_tokens)s, %(output_tokens)s,
                    %(processing_time_ms)s, %(status)s, %(error_message)s, %(user_id)s,
                    %(api_key_id)s, %(cost_usd)s)
            RETURNING id""", self._new_row)
        if row:
            self.recent.append(row[0])
        if self.recent and random.random() < setting("UPDATE_FRACTION"):
            # A late status/usage report for a request that just finished streaming.
            self._run("UPDATE recent request", """
                UPDATE chat_completion_requests
                   SET status = %(status)s, output_tokens = output_tokens + %(extra)s,
                       processing_time_ms = processing_time_ms + %(extra)s
                 WHERE id = %(id)s RETURNING id""",
                lambda: {"id": random.choice(self.recent), "status": random.choice(STATUSES),
                         "extra": random.randint(0, 50)})


# -- summary and gate --------------------------------------------------------

@events.test_start.add_listener
def _remember_cpu(environment, **kwargs):
    environment.loadtest_cpu_start = sum(psutil.Process().cpu_times()[:2])
    environment.loadtest_wall_start = time.monotonic()


def summary(environment):
    """Final figures per endpoint, Locust's own CPU use, and the gate's verdict."""
    stats = environment.stats
    elapsed = max((stats.last_request_timestamp or 0) - (stats.start_time or 0), 1e-9)
    wall = time.monotonic() - getattr(environment, "loadtest_wall_start", time.monotonic())
    cpu = sum(psutil.Process().cpu_times()[:2]) - getattr(environment, "loadtest_cpu_start", 0.0)
    entries = [{"type": e.method, "name": e.name, "requests": e.num_requests, "failures": e.num_failures,
                "rps": round(e.num_requests / elapsed, 2),
                **{f"p{q}": e.get_response_time_percentile(q / 100) for q in (50, 95, 99)}}
               for e in sorted(stats.entries.values(), key=lambda e: (e.method, e.name))]
    http = [e for e in entries if e["type"] != WRITE_TYPE]
    result = {"seconds": round(elapsed, 1), "entries": entries,
              "http_rps": round(sum(e["requests"] for e in http) / elapsed, 2),
              "failures": stats.total.num_failures,
              "locust_cpu_seconds": round(cpu, 2), "locust_cpu_percent": round(100 * cpu / max(wall, 1e-9), 1),
              "stats_sources": dict(SOURCES), "max_rollup_lag": dict(MAX_LAG)}
    reasons = []
    if result["failures"]:
        reasons.append(f"{result['failures']} failed requests")
    if environment.runner.exceptions:
        reasons.append(f"{len(environment.runner.exceptions)} exceptions in the locustfile")
    for e in http:
        if e["name"] != EXPORT_NAME and e["requests"] and e["p95"] > setting("P95_MS"):
            reasons.append(f"p95 of {e['name']} is {e['p95']:.0f} ms > P95_MS={setting('P95_MS'):g}")
    if result["http_rps"] < setting("MIN_RPS"):
        reasons.append(f"{result['http_rps']:.1f} HTTP requests/s < MIN_RPS={setting('MIN_RPS'):g}")
    result["gate_failures"] = reasons
    return result


@events.quitting.add_listener
def _gate(environment, **kwargs):
    if isinstance(environment.runner, WorkerRunner):
        return
    result = summary(environment)
    log.info("summary:\n%s", table(result))
    prefix = getattr(environment.parsed_options, "csv_prefix", None)
    if prefix:
        with open(f"{prefix}_summary.json", "w") as handle:
            json.dump(result, handle, indent=1)
    if result["gate_failures"]:
        log.error("GATE FAILED: %s", "; ".join(result["gate_failures"]))
        environment.process_exit_code = 1
    else:
        log.info("GATE PASSED")
        environment.process_exit_code = 0
