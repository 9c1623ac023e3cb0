"""gunicorn settings used by `chatstats serve` (`--config python:webapp.gunicorn_conf`).

The hooks import webapp lazily: the arbiter itself never loads the app.
"""


def post_worker_init(worker):
    """Each worker refreshes the rollups (the procedure's advisory lock lets one work at a time)."""
    from webapp import refresher

    refresher.start(worker.wsgi)


def worker_exit(server, worker):
    from webapp import refresher

    refresher.stop(worker.wsgi)


def child_exit(server, worker):
    """Drop a dead worker's live gauges from the summed Prometheus metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
