"""chatstats: usage statistics of an LLM gateway's chat completion requests."""
from flask import Flask

from . import db, errors
from .config import Config


def create_app(test_config=None):
    app = Flask(__name__)
    app.config.from_object(Config)
    if test_config:
        app.config.update(test_config)

    if app.config["STATS_SOURCE"] not in ("rollup", "raw"):
        raise ValueError("CHATSTATS_STATS_SOURCE must be 'rollup' or 'raw'")
    app.json.sort_keys = False  # keep the documented order: success, data, metadata
    db.init_app(app)
    api = errors.Api(app)

    from .api import docs, health, requests, stats

    app.register_blueprint(docs.blp)
    for module in (health, stats, requests):
        api.register_blueprint(module.blp)

    from . import cli

    cli.init_app(app)
    return app
