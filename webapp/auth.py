"""API key authentication for every route but the public probes and docs.

A key is "cs_" + 43 random URL-safe characters; the database keeps its SHA-256
and its first PREFIX_LEN characters. A request's key is looked up by prefix and
its hash compared in constant time. Verified (and rejected) keys are cached per
process for AUTH_CACHE_S seconds, so auth costs one dict lookup on most requests,
a revocation takes effect within that time, and last_used_at is written at most
once per key and period. Without any active key, only loopback clients are
served (or everyone, with ALLOW_ANONYMOUS).
"""
import hashlib
import hmac
import http
import ipaddress
import logging
import secrets
import threading
import time

import psycopg

from apispec import BasePlugin
from cachetools import TTLCache
from flask import current_app, g, request
from flask_smorest import abort
from psycopg_pool import PoolTimeout

from .db import get_db
from .queries import keys

PREFIX_LEN = 11  # "cs_" + 8 random characters: 48 bits, enough to find a key
SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer",
                   "description": "`Authorization: Bearer <key>`; create keys with `chatstats keys create`."},
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}
# Endpoints anyone may call: probes, the spec, Swagger UI, the dashboard and their assets
# (the dashboard asks the API for data with the user's key).
PUBLIC_ENDPOINTS = frozenset({
    "health.Health", "health.Ready", "api-docs.openapi_json", "api-docs.openapi_swagger_ui",
    "docs_assets.static", "static", "dashboard.page", "dashboard.asset"})
_PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")
_CACHE_MAX = 10_000
_ANY_KEY = "any-active-key"
# flask-smorest registers the error schema (webapp.errors.ErrorSchema) as "Error".
ERROR_SCHEMA_REF = {"$ref": "#/components/schemas/Error"}
log = logging.getLogger(__name__)


def new_key():
    """(key, prefix, hash): the key is shown once, the rest is stored."""
    key = "cs_" + secrets.token_urlsafe(32)
    return key, key[:PREFIX_LEN], hash_key(key)


def hash_key(key):
    return hashlib.sha256(key.encode()).digest()


def is_public(endpoint):
    return endpoint in PUBLIC_ENDPOINTS


def needs_key():
    """Whether this request is checked (and rate limited): not for unknown routes (404/405),
    public routes, or CORS preflights (which carry no credentials)."""
    return request.url_rule is not None and not is_public(request.endpoint) \
        and request.method != "OPTIONS"


def init_app(app):
    app.extensions["chatstats_auth"] = VerdictCache(app.config["AUTH_CACHE_S"])
    app.before_request(authenticate)


class VerdictCache:
    """Per-process TTL cache of key verdicts; thread-safe for gthread workers.
    `timer` is the clock its entries age by (tests turn it by hand)."""

    def __init__(self, ttl_s, timer=time.monotonic):
        self._entries = TTLCache(_CACHE_MAX, ttl_s, timer) if ttl_s > 0 else None
        self._lock = threading.Lock()

    def get(self, name, compute):
        if self._entries is None:
            return compute()
        with self._lock:
            if name in self._entries:
                return self._entries[name]
        value = compute()
        with self._lock:
            self._entries[name] = value
        return value


def authenticate():
    """before_request: set g.api_key ({id, name}, or None when anonymous) or answer 401."""
    g.api_key = None
    if not needs_key():
        return
    presented = _presented_key()
    if presented is not None:
        g.api_key = _verify(presented)
        if g.api_key is None:
            _deny("The API key is invalid or revoked.", 'error="invalid_token"')
        return
    cache = current_app.extensions["chatstats_auth"]
    if cache.get(_ANY_KEY, lambda: keys.any_active(get_db())):
        _deny("An API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`.")
    if not (current_app.config["ALLOW_ANONYMOUS"] or _from_loopback()):
        _deny("No API key exists yet, so only loopback clients are served; "
              "create one with `chatstats keys create --name NAME`.")


def _presented_key():
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            _deny("Send the API key as `Authorization: Bearer <key>`.", 'error="invalid_request"')
        return credentials.strip()
    return request.headers.get("X-API-Key")


def _verify(presented):
    digest = hash_key(presented)
    cache = current_app.extensions["chatstats_auth"]
    return cache.get(digest, lambda: _verify_in_db(presented, digest))


def _verify_in_db(presented, digest):
    """Keys are verified where reads go (a standby, when configured); last_used_at is
    written on the primary, and skipped (logged) while it is unreachable."""
    for row in keys.lookup(get_db(), presented[:PREFIX_LEN]):
        if hmac.compare_digest(bytes(row["key_hash"]), digest):
            _touch(row)
            return {"id": row["id"], "name": row["name"]}
    return None


def _touch(key):
    try:
        primary = get_db(primary=True, optional=True)
        if primary is not None:
            keys.touch(primary, key["id"])
            return
        reason = "the primary is unreachable"
    except (psycopg.OperationalError, psycopg.errors.ReadOnlySqlTransaction, PoolTimeout) as error:
        reason = f"{type(error).__name__}: {error}"
    log.warning("last_used_at of API key %r not updated (%s)", key["name"], reason)


def _from_loopback():
    """A direct loopback peer; a proxy header means the real client is elsewhere."""
    if any(name in request.headers for name in _PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def _deny(message, error=None):
    challenge = 'Bearer realm="chatstats"' + (f", {error}" if error else "")
    abort(401, message=message, headers={"WWW-Authenticate": challenge})


class SpecPlugin(BasePlugin):
    """Documents what authenticate() enforces: the security schemes, and on each
    protected operation its security and the errors it can answer with; every
    documented error response gets the error schema."""

    PROTECTED_ERRORS = (401, 429, 503, 504)

    def init_spec(self, spec):
        for name, scheme in SCHEMES.items():
            spec.components.security_scheme(name, scheme)

    def operation_helper(self, path=None, operations=None, rule=None, **kwargs):
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if _is_error(status) and isinstance(response, dict) and "content" not in response:
                    response["content"] = {"application/json": {"schema": ERROR_SCHEMA_REF}}
            if rule is not None and not is_public(rule.endpoint):
                operation["security"] = [{name: []} for name in SCHEMES]
                for status in self.PROTECTED_ERRORS:
                    # flask-smorest registers a response component per HTTP status
                    responses.setdefault(str(status), http.HTTPStatus(status).name)


def _is_error(status):
    return str(status).isdigit() and int(status) >= 400
