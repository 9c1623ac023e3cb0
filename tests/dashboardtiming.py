"""Headless Chromium (Debian's) driven by Selenium, and the dashboard's load timings as the
Performance API reports them. The browser tests use it; as a command it times a running server:

    .venv/bin/python tests/dashboardtiming.py http://127.0.0.1:8000 [--key KEY] \\
        [--query 'range=24h&tz=UTC' ...] [--runs 3] [--fresh] [--screenshot docs/dashboard.png]

For each query: a first visit (browser cache cleared) and `--runs` reloads; per visit the
milliseconds from navigation to each panel's mark (`panel:NAME`, see PANELS in dashboard.js)
and the bytes transferred. Prints one JSON line per visit, then a summary per query.
`--fresh`: a new browser profile for each query, so that every first visit is a fresh
browser's first navigation (nothing compiled yet), not only the first query's.
`--screenshot`: the last query's page at 1280x1280 (docs/dashboard.png went through
`pngquant --nofs 32` after).
"""
import argparse
import json
import shutil
import statistics
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")
QUERIES = ("range=1h&tz=UTC", "range=24h&tz=UTC", "range=7d&tz=UTC", "range=30d&tz=UTC",
           "range=90d&tz=UTC", "range=24h&tz=Asia/Kathmandu")


def browser_paths():
    return shutil.which("chromium"), shutil.which("chromedriver")


def chromium(user_data_dir):
    """A headless Chromium at 1280x800 that keeps the console log."""
    binary, driver_path = browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_window_size(1280, 800)
    return driver


def wait_loaded(driver, marks=None, timeout=20):
    """Until the newest load has drawn every panel (`marks`: the total count of panel marks)."""
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script(
        "return typeof PANELS !== 'undefined'"
        " && performance.getEntriesByType('mark').filter(m => m.name.startsWith('panel:')).length"
        " >= (arguments[0] ?? PANELS.length)", marks))


def timings(driver):
    """What the Performance API saw of this page: each panel's first mark (ms from navigation),
    the resources fetched and the bytes transferred."""
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


def _visit(driver, url, timeout):
    driver.get(url)
    wait_loaded(driver, timeout=timeout)
    found = timings(driver)["summary"]
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    return {"all_panels_ms": max(found["panels_ms"].values()), **found, "console_errors": errors}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--key", help="API key, when the API needs one")
    parser.add_argument("--query", action="append", help="the page's query string (repeatable)")
    parser.add_argument("--runs", type=int, default=3, help="reloads per query after the first visit")
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--fresh", action="store_true", help="a new browser profile for each query")
    parser.add_argument("--screenshot", help="save the last query's page (1280x1280) here")
    args = parser.parse_args(argv)
    if not all(browser_paths()):
        sys.exit("needs Debian's chromium and chromium-driver")
    queries = args.query or QUERIES
    for group in [[query] for query in queries] if args.fresh else [queries]:
        with tempfile.TemporaryDirectory() as profile:
            driver = chromium(profile)
            try:
                driver.get(f"{args.url}/health")
                if args.key:
                    driver.execute_script("sessionStorage.setItem('chatstats.apiKey', arguments[0])", args.key)
                for query in group:
                    _time_query(driver, args, query)
                if args.screenshot and query == queries[-1]:
                    driver.set_window_size(1280, 1280)
                    driver.save_screenshot(args.screenshot)
            finally:
                driver.quit()


def _time_query(driver, args, query):
    driver.execute_cdp_cmd("Network.clearBrowserCache", {})
    visits = [_visit(driver, f"{args.url}/?{query}", args.timeout) for _ in range(1 + args.runs)]
    for index, visit in enumerate(visits):
        print(json.dumps({"query": query, "visit": "first" if index == 0 else f"reload {index}",
                          **{k: v for k, v in visit.items() if k != "assets"}}))
    reloads = [v["all_panels_ms"] for v in visits[1:]] or [None]
    print(f"SUMMARY {query}: first visit {visits[0]['all_panels_ms']} ms "
          f"({visits[0]['transferred_bytes']:,} B), reloads median "
          f"{statistics.median(reloads) if reloads[0] is not None else '-'} ms, "
          f"max {max(reloads) if reloads[0] is not None else '-'} ms", flush=True)


if __name__ == "__main__":
    main()
