"""The rollup refresher thread of a server process, started where the server starts.

`chatstats serve` starts one in each gunicorn worker (gunicorn_conf.py); under
any other server, START_REFRESHER makes create_app() start it (or run
`chatstats rollup refresh` from cron). Opening the pool or serving a request
never starts one.
"""
from . import config, db, rollups

_KEY = "chatstats_refresher"


def start(app):
    """Start this process's refresher for the app, unless ROLLUP_INTERVAL_S is 0 or one runs."""
    interval_s = app.config["ROLLUP_INTERVAL_S"]
    if interval_s > 0 and _KEY not in app.extensions:
        pgbouncer = {"prepare_threshold": None} if app.config["PGBOUNCER"] else None
        thread = rollups.Refresher(db.rollup_database_url(app.config), interval_s,
                                   config.horizons(app.config), app.config["RAW_RETENTION_DAYS"],
                                   connect_kwargs=pgbouncer,
                                   source_ttl_days=app.config["SOURCE_TTL_DAYS"])
        thread.start()
        app.extensions[_KEY] = thread


def running(app):
    """This process's refresher thread for the app, or None."""
    return app.extensions.get(_KEY)


def stop(app):
    """Stop it, if it runs (worker exit, tests)."""
    thread = app.extensions.pop(_KEY, None)
    if thread is not None:
        thread.stop()
