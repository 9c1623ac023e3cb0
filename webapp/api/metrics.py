"""GET /metrics in the Prometheus text format (protected like the API)."""
import os

import psycopg
from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from psycopg_pool import PoolTimeout

from .. import db, observability, refresher, rollups
from ..db import get_db
from ..queries.replication import replica_lag
from .health import primary_status

blp = Blueprint("metrics", __name__)


class _Scraped:
    """Values read from the database during this scrape (nothing stored between scrapes)."""

    def __init__(self, families):
        self.families = families

    def collect(self):
        return self.families


def _database_families():
    up = GaugeMetricFamily("chatstats_database_up",
                           "1 when /metrics could query the database that answers reads.")
    primary_up = GaugeMetricFamily("chatstats_primary_up", "1 when the primary answers.")
    families = [up, primary_up]
    try:
        conn = get_db()
        lag, standby_lag = rollups.lag(conn), replica_lag(conn)
    except (psycopg.OperationalError, PoolTimeout):
        up.add_metric([], 0)
        # Without standbys the reads' database is the primary: no second wait for it.
        separate = current_app.extensions.get(db.READ_POOL) is not None
        primary_up.add_metric([], int(separate and primary_status(None) == "ok"))
        return families
    up.add_metric([], 1)
    primary_up.add_metric([], int(primary_status(conn) == "ok"))
    families.append(GaugeMetricFamily(
        "chatstats_reads_from_standby", "1 when a standby answers reads, 0 when the primary does.",
        value=int(standby_lag is not None)))
    if standby_lag is not None:
        families.append(GaugeMetricFamily(
            "chatstats_replica_lag_seconds", "How far the standby answering reads is behind.",
            value=standby_lag))
    if (thread := refresher.running(current_app)) is not None:
        families.append(GaugeMetricFamily(
            "chatstats_refresher_waiting", "1 while this process's rollup refresher cannot "
            "refresh (the primary unreachable, or a standby not promoted yet), logged once.",
            value=int(thread.waiting_for is not None)))
    if lag is not None:
        families.append(GaugeMetricFamily(
            "chatstats_rollup_lag_rows", "Requests not rolled up yet (read raw meanwhile).",
            value=lag["lag_rows"]))
        families.append(GaugeMetricFamily(
            "chatstats_rollup_lag_seconds",
            "Seconds since the last refresh while requests wait; 0 when none wait.",
            value=lag["lag_seconds"]))
    return families


@blp.route("/metrics")
def metrics():
    database = _database_families()  # opens this process's pool if need be
    for key in (db.PRIMARY_POOL, db.READ_POOL):
        if (pool := current_app.extensions.get(key)) is not None:
            observability.record_pool(pool)
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    scraped = CollectorRegistry()
    scraped.register(_Scraped(database))
    return Response(generate_latest(registry) + generate_latest(scraped), content_type=CONTENT_TYPE_LATEST)
