"""Settings, read once from the environment (see the README's configuration table)."""
import os
from pathlib import Path


def _int(name, default):
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def _flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _flag_on(name):
    """A flag that is on unless set to 0, false, no or off."""
    return os.environ.get(name, "").strip().lower() not in ("0", "false", "no", "off")


def _list(name):
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


class Config:
    # Database: the server needs DATABASE_URL; commands fall back to a running embedded server.
    DATABASE_URL = os.environ.get("DATABASE_URL") or None
    # The API's own login (role chatstats_api); unset means DATABASE_URL's server and
    # database with that role as user, which is enough on the embedded server.
    API_DATABASE_URL = os.environ.get("CHATSTATS_API_DATABASE_URL") or None
    ROLLUP_DATABASE_URL = os.environ.get("CHATSTATS_ROLLUP_DATABASE_URL") or None
    # Standbys (libpq multi-host syntax allowed) for the reads: statistics, the request list,
    # key verification, probes. Logged in as the API's login (API_DATABASE_URL's user and
    # password, or the API role). Unset: everything goes to DATABASE_URL's server.
    READ_DATABASE_URL = os.environ.get("CHATSTATS_READ_DATABASE_URL") or None
    # Standbys unreachable: on, reads go to the primary meanwhile; off, they answer 503.
    READ_FALLBACK = _flag_on("CHATSTATS_READ_FALLBACK")
    # Connections go through PgBouncer in transaction pooling mode: no startup options, no
    # server-side prepared statements (see docs/scaling.md for the role settings instead).
    PGBOUNCER = _flag("CHATSTATS_PGBOUNCER")
    DATA_DIR = Path(os.environ.get("CHATSTATS_DATA_DIR", ".chatstats")).absolute()
    POOL_MIN_SIZE = _int("CHATSTATS_POOL_MIN_SIZE", 1)
    POOL_MAX_SIZE = _int("CHATSTATS_POOL_MAX_SIZE", 10)
    POOL_TIMEOUT_S = float(os.environ.get("CHATSTATS_POOL_TIMEOUT_S", 5))
    CONNECT_TIMEOUT_S = _int("CHATSTATS_CONNECT_TIMEOUT_S", 5)  # libpq's connect_timeout
    STATEMENT_TIMEOUT_MS = _int("CHATSTATS_STATEMENT_TIMEOUT_MS", 5000)
    # Retry-After of every 503 and 504 (database down or busy, migrations pending, timeout).
    RETRY_AFTER_S = _int("CHATSTATS_RETRY_AFTER_S", 5)
    # `rollup` (default) answers statistics from rollups; `raw` aggregates raw rows (the baseline).
    STATS_SOURCE = os.environ.get("CHATSTATS_STATS_SOURCE", "rollup")
    # Seconds between rollup refreshes in each server process; 0 turns the thread off.
    ROLLUP_INTERVAL_S = float(os.environ.get("CHATSTATS_ROLLUP_INTERVAL_S", 1))
    # Days the 15-minute rollups are kept (older ranges' edges come from hours and raw rows).
    QUARTER_ROLLUP_DAYS = _int("CHATSTATS_QUARTER_ROLLUP_DAYS", 90)
    # Days the per-key and per-user hourly and 6-hour rollups are kept: ranges older than
    # that are read by key or user from coarser rollups and raw rows.
    DETAIL_ROLLUP_DAYS = _int("CHATSTATS_DETAIL_ROLLUP_DAYS", 35)
    # Days the per-user rollups of a day to 16 days are kept (after that, 32-day blocks).
    USER_ROLLUP_DAYS = _int("CHATSTATS_USER_ROLLUP_DAYS", 95)
    # Days request rows are kept (their statistics stay in the rollups); unset: all.
    RAW_RETENTION_DAYS = _int("CHATSTATS_RAW_RETENTION_DAYS", None)
    # The request table's own TTL (the gateway's cleanup job deletes rows older than 90
    # days): deletes of older rows keep their statistics. 0: no TTL, every delete subtracts.
    SOURCE_TTL_DAYS = _int("CHATSTATS_SOURCE_TTL_DAYS", 90)
    # create_app() starts the refresher thread (servers other than `chatstats serve`, whose
    # gunicorn workers start theirs in a hook: see webapp/refresher.py).
    START_REFRESHER = _flag("CHATSTATS_START_REFRESHER")
    # Rows fetched per round trip when streaming the request list.
    STREAM_CHUNK_ROWS = _int("CHATSTATS_STREAM_CHUNK_ROWS", 2000)
    # Flask-Compress: gzip the JSON answers (a page of 500 models is ~250 KB, ~30 KB gzipped);
    # streamed bodies (request list, plot feed, export) go out as they are, at full speed.
    COMPRESS_ALGORITHM = "gzip"
    COMPRESS_STREAMS = False
    # The statement timeout of an export's round trips: a filter that few of many rows
    # match (user_id, api_key_id: no index) may scan the table for one chunk.
    EXPORT_STATEMENT_TIMEOUT_MS = _int("CHATSTATS_EXPORT_STATEMENT_TIMEOUT_MS", 300_000)

    # Security: see webapp/auth.py, ratelimit.py, headers.py.
    ALLOW_ANONYMOUS = _flag("CHATSTATS_ALLOW_ANONYMOUS")
    AUTH_CACHE_S = float(os.environ.get("CHATSTATS_AUTH_CACHE_S", 30))
    RATELIMIT_APPLICATION = os.environ.get("CHATSTATS_RATE_LIMIT", "600/minute")
    RATELIMIT_STORAGE_URI = os.environ.get("CHATSTATS_RATE_LIMIT_STORAGE_URI", "memory://")
    CORS_ORIGINS = _list("CHATSTATS_CORS_ORIGINS")

    API_TITLE = "chatstats"
    API_VERSION = "1.0.0"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "/docs"
    OPENAPI_SWAGGER_UI_URL = "/docs/assets/"


def horizons(settings):
    """The days each kind of fine rollup is kept, as rollups.prune() takes them."""
    return settings["QUARTER_ROLLUP_DAYS"], settings["DETAIL_ROLLUP_DAYS"], settings["USER_ROLLUP_DAYS"]
