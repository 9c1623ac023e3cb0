"""The dashboard in a real browser (Debian's chromium through Selenium) against `chatstats serve`.

Without chromium and chromedriver these tests skip, saying so; with
CHATSTATS_REQUIRE_BROWSER=1 (.ci/run sets it) they fail instead. Screenshots at
1280x800 and 375 px go to .chatstats/screenshots/; load times and transferred
sizes are printed (run with -s to see them).
"""
import json
import os
import shutil
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import PROJECT_DIR, live_server

pytestmark = pytest.mark.browser

API = "/api/monitoring/chat-requests"
SCREENSHOTS = PROJECT_DIR / ".chatstats" / "screenshots"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def _browser_paths():
    return shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def live(database_url, tmp_path_factory):
    with live_server(database_url, tmp_path_factory.mktemp("prometheus")) as server:
        yield server


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium, chromedriver = _browser_paths()
    if not (chromium and chromedriver):
        message = ("browser tests need Debian's chromium and chromium-driver "
                   "(apt-get install chromium chromium-driver)")
        if os.environ.get("CHATSTATS_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(chromedriver))
    driver.set_window_size(1280, 800)
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
        _wait_loaded(browser)
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


def _wait_loaded(driver, marks=6):
    """Until the newest load has drawn every panel (each load marks six)."""
    WebDriverWait(driver, 20).until(lambda d: d.execute_script(
        "return performance.getEntriesByType('mark').filter(m => m.name.startsWith('panel:')).length")
        >= marks)


def _reload_and_wait(driver, change):
    before = driver.execute_script("return performance.getEntriesByType('mark').length")
    change()
    _wait_loaded(driver, before + 6)


def _fetched(driver, path):
    """The URL of the newest fetch of this API path."""
    urls = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    return [url for url in urls if urlsplit(url).path == path][-1]


def _table(driver, table_id):
    rows = driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")
    return [[cell.text for cell in row.find_elements(By.CSS_SELECTOR, "th, td")] for row in rows]


def _values(driver, table_id, column):
    return [cell.get_attribute("data-value") for cell in driver.find_elements(
        By.CSS_SELECTOR, f"#{table_id} tbody tr > :nth-child({column})")]


def _chart(driver, element_id):
    return driver.execute_script(
        "return document.getElementById(arguments[0]).data.map(t => [t.name, t.x, t.y])", element_id)


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
    _wait_loaded(browser)
    assert browser.execute_script("return sessionStorage.getItem('chatstats.apiKey')") == live.key
    assert live.key not in browser.current_url
    assert browser.execute_script("return document.cookie") == ""


def test_totals_and_tables_equal_the_api(page, live):
    driver = page()
    models = live.session.get(_fetched(driver, API + "/models")).json()["data"]
    providers = live.session.get(_fetched(driver, API + "/providers")).json()
    totals = dict(zip([e.text for e in driver.find_elements(By.CSS_SELECTOR, "#totals dt")],
                      [e.get_attribute("data-value") for e in driver.find_elements(By.CSS_SELECTOR, "#totals dd")]))
    assert int(totals["Requests"]) == sum(m["stats"]["total_requests"] for m in models) > 0
    assert int(totals["Tokens"]) == sum(m["stats"]["total_tokens"] for m in models)
    assert Decimal(totals["Cost"]) == sum(Decimal(m["stats"]["total_cost_usd"]) for m in models)
    assert int(totals["Unattributed requests"]) == providers["metadata"]["unattributed_requests"]
    shown = driver.find_element(By.ID, "totals").text
    assert f"{sum(m['stats']['total_requests'] for m in models):,}" in shown  # thousands separators
    assert "$" in shown

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
    for _ in range(16):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        reached.append(driver.execute_script(
            "const e = document.activeElement;"
            "return [e.id || e.className, getComputedStyle(e).outlineStyle]"))
    assert [name for name, _ in reached[:6]] == ["range", "tz", "provider", "model", "refresh", "scroll"]
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


def test_range_zone_and_filters_change_the_charts_and_the_url(page, browser):
    driver = page()
    bars, points = _chart(driver, "chart-models"), _chart(driver, "chart-recent")

    _reload_and_wait(driver, lambda: Select(driver.find_element(By.ID, "range")).select_by_value("24h"))
    assert "range=24h" in driver.current_url
    assert _chart(driver, "chart-models") != bars

    zone = driver.find_element(By.ID, "tz")
    _reload_and_wait(driver, lambda: (zone.clear(), zone.send_keys("Asia/Kathmandu", Keys.TAB)))
    assert "tz=Asia%2FKathmandu" in driver.current_url
    assert _chart(driver, "chart-recent") != points
    assert "Asia/Kathmandu" in driver.find_element(By.ID, "showing").text

    provider = _table(driver, "providers-table")[-1][0]
    bars = _chart(driver, "chart-models")
    _reload_and_wait(driver, lambda: driver.find_element(
        By.XPATH, f"//table[@id='providers-table']//button[text()='{provider}']").click())
    assert "provider=" in driver.current_url
    assert {row[-1] for row in _table(driver, "models-table")} == {provider}
    assert _chart(driver, "chart-models") != bars

    model = _table(driver, "models-table")[0][0]
    _reload_and_wait(driver, lambda: driver.find_element(
        By.XPATH, f"//table[@id='models-table']//button[text()='{model}']").click())
    assert "model=" in driver.current_url
    assert driver.find_element(By.CSS_SELECTOR, "#totals div:nth-child(5) dd").text.endswith("ms")
    assert {row[1] for row in _table(driver, "recent-table")} <= {model}

    shared = driver.current_url  # a shared URL reproduces the view
    driver.get(shared)
    _wait_loaded(driver)
    assert Select(driver.find_element(By.ID, "model")).first_selected_option.text == model

    _reload_and_wait(driver, lambda: Select(driver.find_element(By.ID, "range")).select_by_value("custom"))
    start = driver.find_element(By.ID, "start")
    assert start.is_displayed() and start.get_attribute("value")  # the last range, in the zone
    assert "range=custom" in driver.current_url and "start=" in driver.current_url


def test_no_other_host_screenshots_and_timings(browser, page, live):
    browser.execute_cdp_cmd("Network.clearBrowserCache", {})  # a first visit
    driver = page()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    origin = urlsplit(live.url).netloc
    first = _timings(driver)
    assert {urlsplit(url).netloc for url in first["resources"]} == {origin}
    _screenshot(driver, 1280, "desktop")

    driver.refresh()
    _wait_loaded(driver)
    again = _timings(driver)
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


def _timings(driver):
    data = driver.execute_script("""
        const nav = performance.getEntriesByType('navigation')[0];
        const marks = {};
        for (const m of performance.getEntriesByType('mark')) marks[m.name] ??= Math.round(m.startTime);
        const resources = performance.getEntriesByType('resource');
        return {resources: resources.map(r => r.name), marks,
                bytes: [nav, ...resources].reduce((sum, r) => sum + r.transferSize, 0),
                assets: resources.filter(r => r.name.includes('/dashboard/assets/'))
                                 .map(r => [r.name.split('/').pop(), r.transferSize, r.decodedBodySize])};""")
    data["summary"] = {"panels_ms": data["marks"], "transferred_bytes": data["bytes"],
                       "assets": data["assets"]}
    return data


def _screenshot(driver, width, name):
    """What a screen of this width and 800 px shows first, and the whole page."""
    driver.save_screenshot(str(SCREENSHOTS / f"dashboard-{name}.png"))
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(height, 4000))
    driver.save_screenshot(str(SCREENSHOTS / f"dashboard-{name}-full.png"))
    driver.set_window_size(width, 800)
