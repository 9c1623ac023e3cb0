"""Start-up checks of `chatstats serve`: keys before exposing the API, the metrics directory."""
import ipaddress
import os
import shutil
from pathlib import Path

import click
import psycopg

from ..queries import keys


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name, or 0.0.0.0 / :: (every interface)


def check_keys(config, host, connect):
    """Refuse a non-loopback bind without an active key, unless ALLOW_ANONYMOUS; say what applies."""
    try:
        with connect() as conn:
            has_keys = keys.any_active(conn)
    except psycopg.OperationalError as error:
        _warn(f"cannot check API keys ({error}); without one, only loopback clients are served")
        return
    if has_keys:
        return
    if config["ALLOW_ANONYMOUS"]:
        _warn("CHATSTATS_ALLOW_ANONYMOUS is set and no API key exists: ANYONE who can reach "
              f"{host} may read the statistics and request rows")
    elif is_loopback(host):
        _warn("no API key exists: serving loopback clients only "
              "(create one with `chatstats keys create --name NAME`)")
    else:
        raise click.ClickException(
            f"refusing to listen on {host} without an API key: create one with "
            "`chatstats keys create --name NAME` (or set CHATSTATS_ALLOW_ANONYMOUS=1)")


def prepare_metrics_dir(data_dir):
    """A fresh PROMETHEUS_MULTIPROC_DIR (unless set), so /metrics sums all workers."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        return
    path = Path(data_dir) / "prometheus"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


def _warn(message):
    click.echo(f"chatstats: {message}", err=True)
