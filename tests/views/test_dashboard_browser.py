"""The web dashboard in headless Chromium against a real service: it loads with runs,
agent statistics and charts; filters; pages; opens a run; refreshes live; works with auth
on (asks for the token, keeps it in the tab only) and off; and shows a run named with
markup as exactly that text, with no script run. Screenshots are kept as artifacts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.browser import browser, screenshot, wait_for  # noqa: F401  (fixtures)
from tests.support.service import ServiceFactory, ServiceProcess
from tests.views.helpers import MARKUP, ended_run, post_runs

PAGE_SIZE = 25
COMMIT_URL = "https://github.com/acme/agents/commit/abcdef1234567"
TRACEBACK = 'Traceback (most recent call last):\n  File "agent.py", line 7, in run\nRuntimeError: quota exceeded'


@pytest.fixture(scope="module")
def seeded(module_service_factory: ServiceFactory) -> Iterator[tuple[ServiceProcess, dict[str, Any]]]:
    service = module_service_factory()
    runs = {
        "crawler": [ended_run("crawler", "success" if i % 5 else "failure", 20_000 + 900 * i, hours_ago=i * 1.7) for i in range(30)],
        "summarizer": [ended_run("summarizer", "success" if i % 3 else "partial", 90_000 + 3000 * i, hours_ago=i * 2.3) for i in range(20)],
        "markup": [ended_run(MARKUP, "failure", 5_000, hours_ago=3, error_summary=MARKUP, error_details=MARKUP)],
        "detailed": [ended_run(
            "indexer", "failure", 61_000, hours_ago=0.2, error_summary="RuntimeError: quota exceeded",
            error_details=TRACEBACK, metrics_json={"tokens": 4242, "cost_usd": 0.37}, context_json={"model": "m-1"},
            git_repo="git@github.com:acme/agents.git", git_commit_hash="abcdef1234567",
        )],  # fmt: skip
    }
    with service.client() as client:
        post_runs(client, [run for group in runs.values() for run in group])
    yield service, runs


_ROWS = "#runs tbody tr:not(.empty-row)"


# Read and click through one script each: live refresh may redraw the table between two
# WebDriver calls, which would leave an element reference stale.
def _runs_rows(driver: Any) -> list[Any]:
    return list(driver.find_elements("css selector", _ROWS))


def _column(driver: Any, index: int) -> list[str]:
    script = f"return [...document.querySelectorAll('{_ROWS}')].map((row) => row.cells[arguments[0]].textContent)"
    return list(driver.execute_script(script, index))


def _click_first_run(driver: Any) -> None:
    driver.execute_script(f"document.querySelector('{_ROWS}').click()")


def _select(driver: Any, element_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    wait_for(driver, lambda d: value in [o.get_attribute("value") for o in Select(d.find_element("id", element_id)).options])
    Select(driver.find_element("id", element_id)).select_by_value(value)


def _open(driver: Any, service: ServiceProcess) -> None:
    driver.get(service.url + "/")
    wait_for(driver, lambda d: len(_runs_rows(d)) > 0)


def test_loads_runs_agents_and_charts(seeded: tuple[ServiceProcess, dict[str, Any]], browser: Any,
                                      screenshot: Callable[[str], Path]) -> None:  # fmt: skip
    service, _ = seeded
    _open(browser, service)
    assert len(_runs_rows(browser)) == PAGE_SIZE
    agents = [row.text.split("\n")[0] for row in browser.find_elements("css selector", "#agents tbody tr")]
    assert len(agents) == 4 and agents[0].startswith("crawler 30")
    assert browser.find_element("css selector", "#tiles .tile-value").text == "52"
    for chart in ("chart-success", "chart-duration"):
        lines = browser.find_elements("css selector", f"#{chart} path.series-line")
        assert len(lines) == 4, chart
        assert all(len(line.get_attribute("d").split("L")) >= 2 for line in lines[:2])
    legend = [item.text for item in browser.find_elements("css selector", "#legend .legend-item")]
    assert sorted(legend) == sorted(["crawler", "summarizer", MARKUP, "indexer"])
    screenshot("dashboard-overview")
    browser.execute_script("document.getElementById('runs').closest('.card').scrollIntoView()")
    screenshot("dashboard-runs-table")


def test_filters_narrow_the_runs(seeded: tuple[ServiceProcess, dict[str, Any]], browser: Any,
                                 screenshot: Callable[[str], Path]) -> None:  # fmt: skip
    service, _ = seeded
    _open(browser, service)
    _select(browser, "f-agent", "summarizer")
    wait_for(browser, lambda d: set(_column(d, 1)) == {"summarizer"})
    _select(browser, "f-status", "partial")
    wait_for(browser, lambda d: set(_column(d, 4)) == {"partial"})
    assert len(_runs_rows(browser)) == 7  # i % 3 == 0 for i in 0..19
    _select(browser, "f-since", "24h")
    wait_for(browser, lambda d: len(_runs_rows(d)) == 4)  # started 0, 6.9, 13.8, 20.7 hours ago
    browser.execute_script("document.getElementById('runs').closest('.card').scrollIntoView()")
    screenshot("dashboard-filtered")


def test_pages_through_the_runs(seeded: tuple[ServiceProcess, dict[str, Any]], browser: Any) -> None:
    service, _ = seeded
    _open(browser, service)
    first = _column(browser, 2)
    assert browser.find_element("id", "prev").get_attribute("disabled") == "true"
    browser.find_element("id", "next").click()
    wait_for(browser, lambda d: "Runs 26–50" in d.find_element("id", "page-info").text)
    second = _column(browser, 2)
    assert len(second) == PAGE_SIZE and not set(first) & set(second)
    browser.find_element("id", "next").click()
    wait_for(browser, lambda d: "Runs 51–52" in d.find_element("id", "page-info").text)
    assert browser.find_element("id", "next").get_attribute("disabled") == "true"
    browser.find_element("id", "prev").click()
    wait_for(browser, lambda d: _column(d, 2) == second)


def test_opens_a_run_with_traceback_metrics_and_commit_link(seeded: tuple[ServiceProcess, dict[str, Any]], browser: Any,
                                                            screenshot: Callable[[str], Path]) -> None:  # fmt: skip
    service, runs = seeded
    run = runs["detailed"][0]
    _open(browser, service)
    browser.find_element("id", "f-run").send_keys(run["run_id"])
    wait_for(browser, lambda d: _column(d, 2) == [run["run_id"]])
    _click_first_run(browser)
    wait_for(browser, lambda d: d.find_element("id", "detail").is_displayed())
    assert browser.find_element("id", "detail-title").text == run["run_id"]
    blocks = {b.find_element("tag name", "h3").text: b.find_element("tag name", "pre").get_attribute("textContent")
              for b in browser.find_elements("css selector", "#detail-body .detail-block") if b.find_elements("tag name", "pre")}  # fmt: skip
    assert blocks["ERROR_DETAILS"] == TRACEBACK
    assert '"tokens": 4242' in blocks["METRICS_JSON"] and '"model": "m-1"' in blocks["CONTEXT_JSON"]
    link = browser.find_element("css selector", "#detail-body a.commit-link")
    assert link.get_attribute("href") == COMMIT_URL and link.text == COMMIT_URL
    screenshot("dashboard-run-detail")


def test_markup_from_an_agent_is_shown_as_text_and_never_runs(seeded: tuple[ServiceProcess, dict[str, Any]], browser: Any,
                                                              screenshot: Callable[[str], Path]) -> None:  # fmt: skip
    from selenium.common.exceptions import NoAlertPresentException

    service, _ = seeded
    _open(browser, service)
    _select(browser, "f-agent", MARKUP)
    wait_for(browser, lambda d: _column(d, 1) == [MARKUP])
    _click_first_run(browser)
    wait_for(browser, lambda d: d.find_element("id", "detail").is_displayed())
    pres = [pre.get_attribute("textContent") for pre in browser.find_elements("css selector", "#detail-body pre")]
    assert pres == [MARKUP, MARKUP]
    assert browser.execute_script("return document.querySelectorAll('img').length") == 0
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text
    screenshot("dashboard-markup-as-text")


def test_live_refresh_shows_a_new_run_without_reload(seeded: tuple[ServiceProcess, dict[str, Any]], browser: Any) -> None:
    service, _ = seeded
    _open(browser, service)
    browser.execute_script("document.body.dataset.marker = 'same page'")
    newcomer = ended_run("late-agent", "success", 1000, hours_ago=0)
    with service.client() as client:
        post_runs(client, [newcomer])
    wait_for(browser, lambda d: _column(d, 2)[0] == newcomer["run_id"], timeout=20)
    assert browser.execute_script("return document.body.dataset.marker") == "same page"


def test_with_auth_on_it_asks_for_the_token_and_keeps_it_in_the_tab(service_factory: ServiceFactory, browser: Any,
                                                                    screenshot: Callable[[str], Path]) -> None:  # fmt: skip
    service = service_factory(auth_token="open-sesame")
    secret_agent = "agent-behind-auth"
    with service.client() as client:
        post_runs(client, [ended_run(secret_agent, "success", 100)])
    browser.get(service.url + "/")
    wait_for(browser, lambda d: d.find_element("id", "login").is_displayed())
    assert not browser.find_element("id", "app").is_displayed()
    assert secret_agent not in browser.page_source
    screenshot("dashboard-login")
    browser.find_element("id", "token-input").send_keys("wrong\n")
    wait_for(browser, lambda d: "refused" in d.find_element("id", "login-error").text)
    assert secret_agent not in browser.page_source
    browser.find_element("id", "token-input").send_keys("open-sesame\n")
    wait_for(browser, lambda d: _column(d, 1) == [secret_agent])
    assert "open-sesame" not in browser.current_url
    assert browser.execute_script("return sessionStorage.getItem('telemetry.token')") == "open-sesame"
    assert browser.execute_script("return localStorage.length + document.cookie.length") == 0
    screenshot("dashboard-auth-ok")
    browser.find_element("id", "signout").click()
    wait_for(browser, lambda d: d.find_element("id", "login").is_displayed())
    assert secret_agent not in browser.find_element("tag name", "body").text
    assert httpx.get(service.url + "/api/v1/runs").status_code == 401
