"""The dashboard's page and assets as served (its behaviour in a browser: test_dashboard_browser)."""
import gzip
import re

import pytest

from webapp import dashboard


@pytest.fixture
def anonymous(app, api_key):
    """A client without a key while one exists: the page must still load and ask for it."""
    return app.test_client()


def test_page_is_public_strict_and_self_contained(anonymous):
    response = anonymous.get("/")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]+)", csp).group(1)
    assert script_src == "'self'"  # no inline script at all, no eval, no other host
    assert "connect-src 'self'" in csp
    html = response.get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert not re.search(r"(src|href)=\"(https?:)?//", html)  # nothing from another host
    for name in dashboard.ASSETS:
        assert dashboard.asset_url(name) in html


@pytest.mark.parametrize("name", sorted(dashboard.ASSETS))
def test_assets_are_immutable_and_gzipped(anonymous, name):
    url = dashboard.asset_url(name)
    plain = anonymous.get(url)
    zipped = anonymous.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert plain.status_code == zipped.status_code == 200
    assert "immutable" in zipped.headers["Cache-Control"] and "max-age=31536000" in zipped.headers["Cache-Control"]
    assert zipped.headers["Content-Encoding"] == "gzip" and "Content-Encoding" not in plain.headers
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert gzip.decompress(zipped.data) == plain.data == dashboard.asset_file(name).read_bytes()
    assert plain.mimetype in ("text/javascript", "text/css")


def test_an_asset_under_another_digest_or_name_is_404(anonymous):
    assert anonymous.get("/dashboard/assets/0000000000000000/dashboard.js").status_code == 404
    digest = dashboard.asset_url("dashboard.js").split("/")[3]
    assert anonymous.get(f"/dashboard/assets/{digest}/secret.py").status_code == 404
