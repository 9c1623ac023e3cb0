"""The dashboard at `/`: one HTML page and its assets; the data comes from the public JSON API.

The page is a template with no inline script, so its CSP allows scripts from this
origin only. Assets (the page's own, and BokehJS as the bokeh wheel ships it, so
nothing is fetched from a CDN) are addressed by a digest of their content: they are
cached for a year and never revalidated, and a new release changes their URLs. They
are gzipped once per process, in memory, for clients that accept it.
"""
import gzip
import hashlib
import mimetypes
from functools import cache
from importlib import resources

from flask import Blueprint, abort, make_response, render_template, request

blp = Blueprint("dashboard", __name__)

# name: (package, path in it). BokehJS is its core and the plotting API the page draws with;
# bokeh is imported (~0.1 s) only when the page is first served, not when the app starts.
ASSETS = {
    "dashboard.js": (__package__, "static/dashboard/dashboard.js"),
    "dashboard.css": (__package__, "static/dashboard/dashboard.css"),
    "bokeh.min.js": ("bokeh", "server/static/js/bokeh.min.js"),
    "bokeh-api.min.js": ("bokeh", "server/static/js/bokeh-api.min.js"),
}
# BokehJS styles its elements with <style> elements and style attributes, hence
# 'unsafe-inline' for styles only.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'none'")
_YEAR = 365 * 24 * 3600


def asset_file(name):
    """The asset as its installed package holds it."""
    package, path = ASSETS[name]
    return resources.files(package).joinpath(path)


class _Asset:
    def __init__(self, name):
        self.body = asset_file(name).read_bytes()
        self.digest = hashlib.sha256(self.body).hexdigest()[:16]
        self.gzipped = gzip.compress(self.body, 9, mtime=0)
        self.mimetype = mimetypes.guess_type(name)[0]


@cache
def _asset(name):
    return _Asset(name)


def asset_url(name):
    """The asset's URL, which changes with its content (templates call it)."""
    return f"/dashboard/assets/{_asset(name).digest}/{name}"


@blp.route("/")
def page():
    """The dashboard; it asks the API for everything it shows."""
    response = make_response(render_template("dashboard.html", asset_url=asset_url))
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-cache"
    return response


@blp.route("/dashboard/assets/<digest>/<name>")
def asset(digest, name):
    """An asset, immutable under its digest; gzipped when the client accepts it."""
    if name not in ASSETS or _asset(name).digest != digest:
        abort(404)
    found = _asset(name)
    gzipped = "gzip" in request.headers.get("Accept-Encoding", "")
    response = make_response(found.gzipped if gzipped else found.body)
    response.mimetype = found.mimetype
    response.headers["Cache-Control"] = f"public, max-age={_YEAR}, immutable"
    response.headers["ETag"] = f'"{digest}"'
    response.vary.add("Accept-Encoding")
    if gzipped:
        response.headers["Content-Encoding"] = "gzip"
    return response
