"""Security headers on every response, and CORS only for configured origins.

JSON answers get a CSP that allows nothing; the Swagger UI page may load its
local assets and run its one inline script, which carries a per-response nonce
(see templates/swagger_ui.html, which overrides flask-smorest's).
"""
import secrets

from flask import g

from . import auth

_COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
_DOCS_CSP = ("default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
             "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; "
             "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def csp_nonce():
    """The nonce of this response's inline scripts (templates call it)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def _add_headers(response):
    for name, value in _COMMON.items():
        response.headers.setdefault(name, value)
    if "csp_nonce" in g:
        response.headers["Content-Security-Policy"] = _DOCS_CSP.format(nonce=g.csp_nonce)
    else:
        response.headers.setdefault("Content-Security-Policy", _API_CSP)
    if auth.needs_key():
        response.headers.setdefault("Cache-Control", "no-store")  # per-key business data
    return response


def init_app(app):
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(_add_headers)
    origins = app.config["CORS_ORIGINS"]
    if origins:
        from flask_cors import CORS

        CORS(app, origins=origins, allow_headers=["Authorization", "X-API-Key", "X-Request-ID"],
             expose_headers=["X-Request-ID", "Retry-After"], methods=["GET", "OPTIONS"], max_age=600)
