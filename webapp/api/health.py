"""Liveness and readiness probes."""
from flask.views import MethodView
from .. import errors, migrate, rollups
from ..db import get_db
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
        """The database is reachable and every migration is applied

        Also reports the rollup lag: answers stay exact when it grows, only slower.
        """
        conn = get_db()
        pending = migrate.pending_ids(conn)
        if pending:
            raise errors.migrations_pending(pending)
        return {"status": "ready", "database": "ok", "pending_migrations": [],
                "rollup": rollups.lag(conn)}
