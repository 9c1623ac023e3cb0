"""GET /metrics in the Prometheus text format (protected like the API)."""
import os

import psycopg
from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from psycopg_pool import PoolTimeout

from .. import observability, rollups
from ..db import get_db

blp = Blueprint("metrics", __name__)


class _Scraped:
    """Values read from the database during this scrape (nothing stored between scrapes)."""

    def __init__(self, families):
        self.families = families

    def collect(self):
        return self.families


def _database_families():
    up = GaugeMetricFamily("chatstats_database_up", "1 when /metrics could query the database.")
    families = [up]
    try:
        lag = rollups.lag(get_db())
    except (psycopg.OperationalError, PoolTimeout):
        up.add_metric([], 0)
        return families
    up.add_metric([], 1)
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
    pool = current_app.extensions.get("chatstats_pool")
    if pool is not None:
        observability.record_pool(pool)
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    scraped = CollectorRegistry()
    scraped.register(_Scraped(database))
    return Response(generate_latest(registry) + generate_latest(scraped), content_type=CONTENT_TYPE_LATEST)
