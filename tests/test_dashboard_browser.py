"""The dashboard in a real browser (Debian's chromium through Selenium) against `chatstats serve`.

Without chromium and chromedriver these tests skip, saying so; with
CHATSTATS_REQUIRE_BROWSER=1 (.ci/run sets it) they fail instead. Screenshots at
1280x800 and 375 px go to .chatstats/screenshots/; load times and transferred
sizes are printed (run with -s to see them).
"""
import json
import os
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from helpers import PROJECT_DIR, live_server
from dashboardtiming import browser_paths, chromium, timings, wait_loaded

pytestmark = pytest.mark.browser

API = "/api/monitoring/chat-requests"
SCREENSHOTS = PROJECT_DIR / ".chatstats" / "screenshots"


@pytest.fixture(scope="module")
def live(database_url, tmp_path_factory):
    with live_server(database_url, tmp_path_factory.mktemp("server")) as server:
        yield server


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not all(browser_paths()):
        message = ("browser tests need Debian's chromium and chromium-driver "
                   "(apt-get install chromium chromium-driver)")
        if os.environ.get("CHATSTATS_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    driver = chromium(tmp_path_factory.mktemp("chromium"))
    yield driver
    driver.quit()


@pytest.fixture
def page(browser, live):
    """Opens the dashboard holding the right key (as a user who gave it); console errors fail
    the test."""
    def open_(query="range=90d&tz=UTC"):
        browser.get(f"{live.url}/health")  # same origin, so the same session storage
        browser.execute_script("sessionStorage.setItem('chatstats.apiKey', arguments[0])", live.key)
        browser.get_log("browser")  # drop what earlier pages left
        browser.get(f"{live.url}/?{query}")
        wait_loaded(browser)
        return browser

    yield open_
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors


def _key_asked(driver):
    """Whether the page, once its first load ended, asks for a key."""
    WebDriverWait(driver, 10).until(lambda d: d.execute_script(
        "return !document.getElementById('key-panel').hidden"
        " || document.getElementById('totals').children.length > 0"))
    return driver.find_element(By.ID, "key-panel").is_displayed()


def _enter_key(driver, key):
    field = driver.find_element(By.ID, "key")
    field.send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#key-form button").click()


def _panels(driver):
    """The panels each load marks when drawn (the page's PANELS)."""
    return driver.execute_script("return PANELS")


def _reload_and_wait(driver, change):
    before = driver.execute_script("return performance.getEntriesByType('mark').length")
    change()
    wait_loaded(driver, before + len(_panels(driver)))


def _fetched(driver, path, **params):
    """The URL of the newest fetch of this API path (with these query parameters)."""
    urls = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    return [url for url in urls if urlsplit(url).path == path and all(
        parse_qs(urlsplit(url).query).get(name) == [value] for name, value in params.items())][-1]


def _table(driver, table_id):
    rows = driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr, #{table_id} tfoot tr")
    return [[cell.text for cell in row.find_elements(By.CSS_SELECTOR, "th, td")] for row in rows]


def _values(driver, table_id, column):
    return [cell.get_attribute("data-value") for cell in driver.find_elements(
        By.CSS_SELECTOR, f"#{table_id} tbody tr > :nth-child({column})")]


def _chart(driver, element_id):
    """[series, x, y] for each series that BokehJS draws in this chart (its figure is named after
    the element): x as the wall clock of the chosen zone, y None where there is no value."""
    return driver.execute_script("""
        const figure = Bokeh.documents.map((doc) => doc.get_model_by_name(arguments[0])).find(Boolean);
        return figure.renderers.filter((r) => r.name).map((r) => [r.name,
            [...r.data_source.data.x].map((ms) => new Date(ms).toISOString().slice(0, 19)),
            [...r.data_source.data[r.glyph.y?.field ?? r.name]].map((v) => (Number.isNaN(v) ? null : v))]);
    """, element_id)


def _totals(driver):
    return dict(zip([e.text for e in driver.find_elements(By.CSS_SELECTOR, "#totals dt")],
                    [e.get_attribute("data-value") for e in driver.find_elements(By.CSS_SELECTOR, "#totals dd")]))


def _stats_row(stats):
    """A stats object as the top tables' data-values show it: requests, success rate, p95,
    tokens, cost."""
    requests = stats["total_requests"]
    return [requests, stats["completed_requests"] / requests if requests else None,
            stats["p95_processing_time_ms"], stats["total_tokens"], Decimal(stats["total_cost_usd"])]


def _shown_stats_rows(driver, selector):
    rows = []
    for row in driver.find_elements(By.CSS_SELECTOR, selector):
        values = [cell.get_attribute("data-value") for cell in row.find_elements(By.CSS_SELECTOR, "td")]
        number = lambda text: float(text) if text else None  # noqa: E731
        rows.append([int(values[0]), number(values[1]), number(values[2]), int(values[3]), Decimal(values[4])])
    return rows


def _approx(rows):
    return [[pytest.approx(v) if isinstance(v, float) else v for v in row] for row in rows]


def test_key_is_asked_for_and_a_wrong_one_is_refused_clearly(browser, live):
    browser.get(f"{live.url}/?range=90d&tz=UTC")
    browser.execute_script("sessionStorage.clear()")
    browser.refresh()
    assert _key_asked(browser)
    _enter_key(browser, "cs_wrong")
    WebDriverWait(browser, 10).until(
        lambda d: "refused this key" in d.find_element(By.ID, "key-message").text)
    assert browser.find_element(By.ID, "panels").get_attribute("hidden") is not None
    _enter_key(browser, live.key)
    wait_loaded(browser)
    assert browser.execute_script("return sessionStorage.getItem('chatstats.apiKey')") == live.key
    assert live.key not in browser.current_url
    assert browser.execute_script("return document.cookie") == ""


def test_totals_and_tables_equal_the_api(page, live):
    driver = page()
    models = live.session.get(_fetched(driver, API + "/models")).json()["data"]
    providers = live.session.get(_fetched(driver, API + "/providers")).json()
    total = live.session.get(_fetched(driver, API + "/breakdown", by="api_key")).json()["total"]
    totals = _totals(driver)
    unattributed = providers["metadata"]["unattributed_requests"]
    assert int(totals["Requests"]) == total["total_requests"] == sum(
        m["stats"]["total_requests"] for m in models) + unattributed > 0
    assert int(totals["Tokens"]) == total["total_tokens"]
    assert Decimal(totals["Cost"]) == Decimal(total["total_cost_usd"])
    assert float(totals["p95 latency"]) == total["p95_processing_time_ms"]
    assert int(totals["Unattributed requests"]) == unattributed
    shown = driver.find_element(By.ID, "totals").text
    assert f"{total['total_requests']:,}" in shown  # thousands separators
    assert "$" in shown and "ms" in shown

    by_requests = sorted(models, key=lambda m: -m["stats"]["total_requests"])
    assert [row[0] for row in _table(driver, "models-table")] == [m["model_name"] for m in by_requests]
    assert [int(v) for v in _values(driver, "models-table", 2)] == [m["stats"]["total_requests"] for m in by_requests]
    assert [int(v) for v in _values(driver, "models-table", 7)] == [m["stats"]["total_tokens"] for m in by_requests]
    assert [Decimal(v) for v in _values(driver, "models-table", 8)] == [
        Decimal(m["stats"]["total_cost_usd"]) for m in by_requests]
    assert [row[0] for row in _table(driver, "providers-table")] == [p["name"] for p in providers["data"]]
    assert [int(v) for v in _values(driver, "providers-table", 2)] == [
        p["total_requests"] for p in providers["data"]]

    recent = live.session.get(_fetched(driver, API)).json()["data"]
    rows = _table(driver, "recent-table")
    assert len(rows) == len(recent) == 50
    assert [row[3] for row in rows] == ["✖ failed" if r["status"] == "failed" else r["status"] for r in recent]


def test_controls_and_rows_are_reachable_by_keyboard_with_visible_focus(page):
    driver = page()
    reached = []
    for _ in range(24):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        reached.append(driver.execute_script(
            "const e = document.activeElement;"
            "return [e.id || e.className, getComputedStyle(e).outlineStyle]"))
    assert [name for name, _ in reached[:7]] == ["range", "tz", "provider", "model", "api-key-id", "refresh",
                                                 "scroll"]
    assert {"sort", "pick"} <= {name for name, _ in reached}  # headers sort, rows filter
    assert all(outline != "none" for _, outline in reached), reached


def test_request_rows_of_either_shape_are_read(page):
    """Today's rows carry `model` and `provider`; upstream's carry `models` with `providers`."""
    driver = page()
    today = {"model": {"id": 3, "model_name": "GPT-4o"}, "provider": {"id": 1, "name": "OpenAI"}}
    upstream = {"models": {"id": 3, "model_name": "GPT-4o", "providers": {"id": 1, "name": "OpenAI"}}}
    read = "return [...arguments].map((row) => rowModel(row))"
    assert driver.execute_script(read, today, upstream) == [{"name": "GPT-4o", "provider": "OpenAI"}] * 2
    assert driver.execute_script(read, {"model": None, "provider": None}, {"models": None}) == [None, None]


def test_time_series_and_top_tables_equal_the_api(page, live):
    driver = page("range=7d&tz=UTC")
    url = _fetched(driver, API + "/timeseries")
    assert parse_qs(urlsplit(url).query)["bucket"] == ["hour"]  # 7 days: 169 hourly points
    points = live.session.get(url).json()["data"]
    assert 168 <= len(points) <= 169
    starts = [p["bucket_start"][:19] for p in points]
    requests = _chart(driver, "chart-requests")
    assert [name for name, _, _ in requests] == ["completed", "partial", "failed", "other"]
    for name, x, y in requests:
        assert x == starts and y == [p[f"{name}_requests"] for p in points]
    assert [y for _, _, y in _chart(driver, "chart-tokens")] == [
        [p["total_input_tokens"] for p in points], [p["total_output_tokens"] for p in points]]
    assert _chart(driver, "chart-cost")[0][2] == [float(p["total_cost_usd"]) for p in points]
    assert [y for _, _, y in _chart(driver, "chart-latency")] == [
        [p[f"p{q}_processing_time_ms"] for p in points] for q in (50, 95, 99)]
    totals = _totals(driver)  # the series adds up to the totals
    assert int(totals["Requests"]) == sum(p["total_requests"] for p in points) > 0
    assert int(totals["Tokens"]) == sum(p["total_tokens"] for p in points)
    assert Decimal(totals["Cost"]) == sum(Decimal(p["total_cost_usd"]) for p in points)

    for table, by in (("keys-table", "api_key"), ("users-table", "user")):
        url = _fetched(driver, API + "/breakdown", by=by)
        assert parse_qs(urlsplit(url).query)["top"] == ["10"]
        answer = live.session.get(url).json()
        rows = _table(driver, table)
        assert len(answer["data"]) == 10 and len(rows) == 12
        label = "Key" if by == "api_key" else "User"
        assert [row[0] for row in rows] == [f"{label} {g['id']}" for g in answer["data"]] + ["Others", "Total"]
        assert _shown_stats_rows(driver, f"#{table} tbody tr") == _approx(
            [_stats_row(g) for g in answer["data"]])
        assert _shown_stats_rows(driver, f"#{table} tfoot tr") == _approx(
            [_stats_row(answer["others"]), _stats_row(answer["total"])])
        shown = rows[-1]
        assert f"{answer['total']['total_requests']:,}" in shown and shown[-1].startswith("$")


def test_range_zone_and_filters_change_the_charts_and_the_url(page, browser):
    driver = page()
    assert "bucket=day" in _fetched(driver, API + "/timeseries")
    requests = _chart(driver, "chart-requests")

    _reload_and_wait(driver, lambda: Select(driver.find_element(By.ID, "range")).select_by_value("24h"))
    assert "range=24h" in driver.current_url
    assert "bucket=hour" in _fetched(driver, API + "/timeseries")
    assert _chart(driver, "chart-requests") != requests
    utc_labels = _chart(driver, "chart-requests")[0][1]

    zone = driver.find_element(By.ID, "tz")
    _reload_and_wait(driver, lambda: (zone.clear(), zone.send_keys("Asia/Kathmandu", Keys.TAB)))
    assert "tz=Asia%2FKathmandu" in driver.current_url
    assert "tz=Asia%2FKathmandu" in _fetched(driver, API + "/timeseries")
    labels = _chart(driver, "chart-requests")[0][1]
    assert labels != utc_labels and len(labels) == len(utc_labels)
    assert all(label.endswith(":00:00") for label in labels)  # local hours, 5:45 ahead of UTC
    assert "Asia/Kathmandu" in driver.find_element(By.ID, "showing").text
    assert "Asia/Kathmandu" in driver.find_element(By.ID, "series-bucket").text

    _reload_and_wait(driver, lambda: Select(driver.find_element(By.ID, "range")).select_by_value("1h"))
    assert "bucket=minute" in _fetched(driver, API + "/timeseries")
    _reload_and_wait(driver, lambda: Select(driver.find_element(By.ID, "range")).select_by_value("90d"))

    key = _table(driver, "keys-table")[0][0]
    requests = _chart(driver, "chart-requests")
    _reload_and_wait(driver, lambda: driver.find_element(
        By.XPATH, f"//table[@id='keys-table']//button[text()='{key}']").click())
    key_id = key.split()[-1]
    assert f"api_key_id={key_id}" in driver.current_url
    assert driver.find_element(By.ID, "api-key-id").get_attribute("value") == key_id
    for path, params in (("/timeseries", {}), ("/breakdown", {"by": "api_key"}), ("/breakdown", {"by": "user"})):
        assert f"api_key_id={key_id}" in _fetched(driver, API + path, **params)
    assert [row[0] for row in _table(driver, "keys-table")] == [key, "Others", "Total"]
    assert _chart(driver, "chart-requests") != requests
    assert "Not filtered by API key" in driver.find_element(By.ID, "recent-table").text
    field = driver.find_element(By.ID, "api-key-id")
    _reload_and_wait(driver, lambda: (field.clear(), field.send_keys(Keys.TAB)))
    assert "api_key_id" not in driver.current_url

    provider = _table(driver, "providers-table")[-1][0]
    requests = _chart(driver, "chart-requests")
    _reload_and_wait(driver, lambda: driver.find_element(
        By.XPATH, f"//table[@id='providers-table']//button[text()='{provider}']").click())
    assert "provider=" in driver.current_url
    assert {row[-1] for row in _table(driver, "models-table")} == {provider}
    assert _chart(driver, "chart-requests") != requests

    model = _table(driver, "models-table")[0][0]
    _reload_and_wait(driver, lambda: driver.find_element(
        By.XPATH, f"//table[@id='models-table']//button[text()='{model}']").click())
    assert "model=" in driver.current_url
    assert driver.find_element(By.CSS_SELECTOR, "#totals div:nth-child(5) dd").text.endswith("ms")
    assert {row[1] for row in _table(driver, "recent-table")} <= {model}

    shared = driver.current_url  # a shared URL reproduces the view
    driver.get(shared)
    wait_loaded(driver)
    assert Select(driver.find_element(By.ID, "model")).first_selected_option.text == model

    _reload_and_wait(driver, lambda: Select(driver.find_element(By.ID, "range")).select_by_value("custom"))
    start = driver.find_element(By.ID, "start")
    assert start.is_displayed() and start.get_attribute("value")  # the last range, in the zone
    assert "range=custom" in driver.current_url and "start=" in driver.current_url
    assert "bucket=day" in _fetched(driver, API + "/timeseries")  # 90 days: the finest within 500


def test_the_bucket_suits_the_range(page):
    driver = page()
    day, hour = 24 * 3600e3, 3600e3
    cases = {"minute": (0, 8 * hour), "hour": (0, 20 * day), "day": (0, 400 * day),
             "week": (0, 3000 * day), "month": (0, 20000 * day)}
    for bucket, (start, end) in cases.items():
        assert driver.execute_script(
            "return bucketOf(new Date(arguments[0]), new Date(arguments[1]), 0)", start, end) == bucket
    assert driver.execute_script("return bucketOf(null, null, Date.now())") == "month"


def test_no_other_host_screenshots_and_timings(browser, page, live):
    browser.execute_cdp_cmd("Network.clearBrowserCache", {})  # a first visit
    driver = page()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    origin = urlsplit(live.url).netloc
    first = timings(driver)
    assert {urlsplit(url).netloc for url in first["resources"]} == {origin}
    _screenshot(driver, 1280, "desktop")

    driver.refresh()
    wait_loaded(driver)
    again = timings(driver)
    assert {urlsplit(url).netloc for url in again["resources"]} == {origin}
    print("\ndashboard timings", json.dumps({"first": first["summary"], "reload": again["summary"]}))
    assert first["summary"]["transferred_bytes"] < 2_000_000
    assert again["summary"]["transferred_bytes"] < 100_000
    assert max(first["summary"]["panels_ms"].values()) < 10_000  # the target (1 s) is reported

    driver.set_window_size(375, 800)
    try:
        WebDriverWait(driver, 5).until(  # nothing wider than the screen once charts re-laid out
            lambda d: d.execute_script("return document.documentElement.scrollWidth") <= 375)
        _screenshot(driver, 375, "phone")
    finally:
        driver.set_window_size(1280, 800)


def _screenshot(driver, width, name):
    """What a screen of this width and 800 px shows first, and the whole page."""
    driver.save_screenshot(str(SCREENSHOTS / f"dashboard-{name}.png"))
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(height, 4000))
    driver.save_screenshot(str(SCREENSHOTS / f"dashboard-{name}-full.png"))
    driver.set_window_size(width, 800)
