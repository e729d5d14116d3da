"""Shared fixtures: the bundled data, and a headless Chromium that checks rendered HTML pages."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")
# Without these flags a sandboxed root Chromium with no network tries to reach update and sync
# services on every start; none of them concerns the page under test.
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1400,1000")
# Inside the page, only the page itself and inline data may load.
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
COUNT_CANVASES = """
let count = 0;
const walk = (root) => root.querySelectorAll('*').forEach((el) => {
    if (el.tagName === 'CANVAS') count++;
    if (el.shadowRoot) walk(el.shadowRoot);
});
walk(document);
return count;
"""


@dataclass
class RenderedPage:
    canvases: int
    errors: list[str]
    requests: list[str]
    screenshot: Path

    @property
    def outside_requests(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(LOCAL_SCHEMES)]


class Browser:
    """Opens standalone HTML files in headless Chromium and reports what happened."""

    def __init__(self, driver: object) -> None:
        self._driver = driver

    def render(self, path: Path, *, name: str, settle: float = 1.5) -> RenderedPage:
        """Load ``path``, wait for Bokeh to draw, save a screenshot to artifacts/``name``.png."""
        import time

        driver = self._driver
        driver.get_log("browser"), driver.get_log("performance")  # start from clean logs
        driver.get(Path(path).resolve().as_uri())
        deadline = time.monotonic() + 20
        canvases = 0
        while time.monotonic() < deadline:
            time.sleep(settle)
            canvases = driver.execute_script(COUNT_CANVASES)
            if canvases:
                break
        ARTIFACTS.mkdir(exist_ok=True)
        screenshot = ARTIFACTS / f"{name}.png"
        driver.save_screenshot(str(screenshot))
        errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        events = (json.loads(entry["message"])["message"] for entry in driver.get_log("performance"))
        sent = (e for e in events if e["method"] == "Network.requestWillBeSent")
        requests = [e["params"]["request"]["url"] for e in sent]
        return RenderedPage(canvases, errors, requests, screenshot)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Chromium via selenium; skips (saying why) only when no browser can be had here."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (test extra)")
    from selenium.webdriver.chrome.service import Service

    if not (CHROMIUM and CHROMEDRIVER):
        reason = "no Chromium/chromedriver on this machine (.ci/run installs Debian's chromium packages)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests, but there is {reason}")
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield Browser(driver)
    finally:
        driver.quit()
