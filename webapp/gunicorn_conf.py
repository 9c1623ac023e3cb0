"""gunicorn settings used by `chatstats serve` (`--config python:webapp.gunicorn_conf`)."""


def child_exit(server, worker):
    """Drop a dead worker's live gauges from the summed Prometheus metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
