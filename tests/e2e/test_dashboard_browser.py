"""The dashboard in a real browser: Debian's Chromium, headless, driven by Selenium through the system
chromedriver (nothing downloaded). Saves test-artifacts/dashboard.png."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from tests.e2e.operator_data import ANA, XSS_DESCRIPTION, seed_operator_data

pytestmark = pytest.mark.slow
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TOKEN = "browser-token-0123456789abcdef"
PRAIA = {"Praia de Copacabana ao pôr do sol", "Praias do Nordeste nas férias", XSS_DESCRIPTION}


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium with its console log captured; skipped when Chromium is not installed."""
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.skip(f"Chromium is not installed ({CHROMIUM}, {CHROMEDRIVER}): apt-get install chromium "
                    "chromium-driver (scripts/test does this when run as root)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
                f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1400,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def console_errors(driver) -> list[dict]:
    """SEVERE entries of the browser console since the last call."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def wait_for(driver, condition, timeout: float = 10):
    """Wait until `condition` holds; an element of the page being replaced counts as not yet."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def descriptions(driver) -> set[str]:
    from selenium.webdriver.common.by import By
    return {element.text for element in driver.find_elements(By.CSS_SELECTOR, "article.group h3.description")}


def images_loaded(driver) -> list[int]:
    """Scroll through the page so lazy images load; the naturalWidth of each once all are complete."""
    driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    wait_for(driver, lambda d: d.execute_script("return Array.from(document.images).every(i => i.complete)"))
    driver.execute_script("window.scrollTo(0, 0)")
    return driver.execute_script("return Array.from(document.images).map(i => i.naturalWidth)")


def full_page_screenshot(driver, path: Path) -> None:
    """The whole page, not just the viewport, through the DevTools protocol."""
    import base64

    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


def test_dashboard_in_chromium(make_live_app, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec

    live = make_live_app(ADMIN_TOKEN=TOKEN)
    seeded = seed_operator_data(live.services)
    assert live.send(ANA, "oi, lembra de mim?").status_code == 200
    live.wait_idle()

    browser.get(f"{live.url}/login?next=/report")
    browser.find_element(By.ID, "token").send_keys(TOKEN + Keys.ENTER)
    wait_for(browser, ec.presence_of_element_located((By.ID, "messages-chart")))
    assert browser.current_url == f"{live.url}/report"

    widths = images_loaded(browser)
    assert len(widths) == len(seeded.image_keys) and all(width > 0 for width in widths), widths

    bars = browser.find_elements(By.CSS_SELECTOR, "#messages-chart rect.bar")
    counts = [int(bar.get_attribute("data-count")) for bar in bars]
    assert len(bars) == 30 and sum(counts) == int(browser.find_element(By.ID, "total-messages").text)
    drawn = browser.execute_script("return Array.from(document.querySelectorAll('#messages-chart rect.bar'))"
                                   ".map(r => r.getBoundingClientRect().height)")
    assert max(drawn) > 50 and browser.find_element(By.ID, "messages-chart").size["width"] > 500

    assert XSS_DESCRIPTION in descriptions(browser)
    assert browser.execute_script("return window.__xss") is None
    assert browser.title != "pwned" and not browser.find_elements(By.CSS_SELECTOR, "article.group script")
    assert browser.find_elements(By.XPATH, "//td[text()='Caio <b>Negrito</b>']")
    assert "***.982.247-**" in browser.page_source and "52998224725" not in browser.page_source

    full_page_screenshot(browser, ARTIFACTS / "dashboard.png")

    search = browser.find_element(By.ID, "search")
    search.send_keys("praias" + Keys.ENTER)
    wait_for(browser, lambda d: "q=praias" in d.current_url and descriptions(d) == PRAIA)
    assert all(width > 0 for width in images_loaded(browser))
    browser.find_element(By.ID, "user-filter").send_keys(ANA + Keys.ENTER)
    # The search's own URL already has an empty "user=": wait for Ana's page, not for that one.
    wait_for(browser, lambda d: "user=%2B" in d.current_url
             and descriptions(d) == {"Praia de Copacabana ao pôr do sol"})

    status_url = f"{live.url}/memory-status/{ANA}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    browser.get(f"{live.url}/report")
    row = f"//tr[td/a[text()='{ANA}']]//button[contains(@class, 'clear-user-memory')]"
    browser.find_element(By.XPATH, row).click()
    wait_for(browser, ec.alert_is_present()).dismiss()
    assert requests.get(status_url, headers=auth, timeout=10).json()["exists"] is True
    browser.find_element(By.XPATH, row).click()
    wait_for(browser, ec.alert_is_present()).accept()
    notice = wait_for(browser, ec.presence_of_element_located((By.CSS_SELECTOR, "p.notice")))
    assert f"Memória de {ANA} apagada" in notice.text
    assert requests.get(status_url, headers=auth, timeout=10).json()["exists"] is False
    assert console_errors(browser) == []
