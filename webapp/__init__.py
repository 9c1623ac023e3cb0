"""chatstats: usage statistics of an LLM gateway's chat completion requests."""
from flask import Flask
from flask_compress import Compress

from . import auth, dashboard, db, errors, headers, observability, ratelimit, refresher
from .config import Config


def create_app(test_config=None):
    app = Flask(__name__)
    app.config.from_object(Config)
    if test_config:
        app.config.update(test_config)

    if app.config["STATS_SOURCE"] not in ("rollup", "raw"):
        raise ValueError("CHATSTATS_STATS_SOURCE must be 'rollup' or 'raw'")
    if app.config["PGBOUNCER"] and app.config["STATS_SOURCE"] == "raw":
        raise ValueError("CHATSTATS_STATS_SOURCE=raw is a startup option, which PgBouncer refuses: "
                         "set chatstats.stats_source on the API role instead (docs/scaling.md)")
    app.json.sort_keys = False  # keep the documented order: success, data, metadata
    Compress(app)  # JSON answers gzipped for clients that accept it (not the streamed ones)
    db.init_app(app)
    api = errors.Api(app, spec_kwargs={"extra_plugins": [auth.SpecPlugin()]})
    errors.init_app(app, api)
    # before_request order matters: request id, then the key, then its rate limit.
    observability.init_app(app)
    auth.init_app(app)
    ratelimit.init_app(app, api)
    headers.init_app(app)

    from .api import analytics, docs, health, metrics, request_list, stats

    app.register_blueprint(docs.blp)
    app.register_blueprint(dashboard.blp)
    app.register_blueprint(metrics.blp)
    for module in (health, stats, analytics, request_list):
        api.register_blueprint(module.blp)
    if app.config["START_REFRESHER"]:
        refresher.start(app)
    return app
