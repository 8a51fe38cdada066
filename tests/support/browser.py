"""Headless Chromium for the dashboard's browser tests: Debian's `chromium` driven through
`/usr/bin/chromedriver` by selenium, with a fresh profile per browser, and screenshots kept
as test artifacts (in the test's tmp dir, and also in $TELEMETRY_SCREENSHOTS_DIR if set)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1400,1000", "--lang=en-US",
)  # fmt: skip
WAIT_S = 15.0


def start_browser(profile: Path) -> Any:
    """A headless Chromium with its own profile directory; skips the test if Chromium or
    chromedriver is not installed (scripts/setup installs them when run as root)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Chromium/chromedriver missing: run scripts/setup as root (apt-get chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    driver = start_browser(tmp_path / "chromium-profile")
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def screenshot(tmp_path: Path, browser: Any) -> Callable[[str], Path]:
    """Save what the browser shows as `<name>.png` (tmp dir, and $TELEMETRY_SCREENSHOTS_DIR)."""

    def save(name: str) -> Path:
        path = tmp_path / f"{name}.png"
        browser.save_screenshot(str(path))
        extra = os.environ.get("TELEMETRY_SCREENSHOTS_DIR")
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(extra) / path.name)
        return path

    return save


def wait_for(driver: Any, condition: Callable[[Any], Any], timeout: float = WAIT_S) -> Any:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, timeout, ignored_exceptions=ignored).until(condition)
