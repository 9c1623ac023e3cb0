"""Rate limits per API key (per client address when anonymous), with Flask-Limiter.

RATELIMIT_APPLICATION (e.g. "600/minute"; empty turns limits off) is one budget
per key shared by every protected route. The default storage is in-memory, so
each gunicorn worker counts on its own (the effective limit is workers x limit);
RATELIMIT_STORAGE_URI (e.g. redis://host:6379) makes them share one count.
"""
import math
import time

from flask import g, request
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded

from . import auth


def _client_key():
    key = getattr(g, "api_key", None)
    return f"key:{key['id']}" if key else f"addr:{request.remote_addr}"


def init_app(app, api):
    """Call after auth.init_app: limits are checked after the key is known."""
    limiter = Limiter(_client_key, app=app)
    limiter.request_filter(lambda: not auth.needs_key())

    def too_many_requests(error):
        reset_at = limiter.current_limit.reset_at if limiter.current_limit else time.time() + 1
        error.data = {"message": f"Rate limit exceeded ({error.description}); retry later.",
                      "headers": {"Retry-After": str(max(1, math.ceil(reset_at - time.time())))}}
        return api.handle_http_exception(error)

    app.register_error_handler(RateLimitExceeded, too_many_requests)
    return limiter
