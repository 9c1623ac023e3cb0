"""Liveness and readiness probes."""
import psycopg
from flask.views import MethodView

from .. import errors, migrate, rollups
from ..db import get_db
from ..queries.replication import replica_lag
from . import schemas
from .blueprint import Blueprint

blp = Blueprint("health", __name__, description="Probes for load balancers and orchestrators.")


@blp.route("/health")
class Health(MethodView):
    @blp.response(200, schemas.Health)
    def get(self):
        """The process is alive (does not touch the database)"""
        return {"status": "ok"}


@blp.route("/ready")
class Ready(MethodView):
    @blp.response(200, schemas.Readiness)
    @blp.alt_response(503, description="Database unreachable or migrations pending.")
    def get(self):
        """The database that answers reads is reachable and every migration is applied

        Reads are answered by the standbys when configured (else, or while they are
        unreachable, by the primary). Also reports the rollup lag and the standby's
        replication lag (null when the primary answers): answers stay exact when
        either grows; the rollup lag makes them slower, the replica lag older. The
        primary being unreachable leaves the service ready (statistics come from the
        standbys): `primary` says so.
        """
        conn = get_db()
        pending = migrate.pending_ids(conn)
        if pending:
            raise errors.migrations_pending(pending)
        lag = replica_lag(conn)
        return {"status": "ready", "database": "ok", "pending_migrations": [],
                "reads": "primary" if lag is None else "standby", "primary": primary_status(conn),
                "rollup": rollups.lag(conn), "replica_lag_seconds": lag}


def primary_status(read_conn):
    """"ok" when the primary answers (or answered this request's reads), else "unavailable"."""
    try:
        primary = get_db(primary=True, optional=True)
        if primary is read_conn or (primary is not None and primary.execute("SELECT 1").fetchone()):
            return "ok"
    except psycopg.OperationalError:
        pass
    return "unavailable"
