"""The SHAP report in a real browser: headless Debian Chromium (``make setup`` installs it and
its driver) opens the page offline, every section is visible and every image has decoded; a
full-page screenshot is saved for a person to look at."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from models.explain.report import SECTIONS
from tests.models.explain.test_report import small_report

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.fail("chromium and chromedriver not found: run `make setup` (Debian packages)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_report_renders_every_section_and_image_offline(browser: object, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    report = small_report()
    page = report.write(tmp_path / "reports")
    driver = browser  # type: ignore[assignment]

    driver.get(page.as_uri())  # type: ignore[attr-defined]

    for section_id, title in SECTIONS:
        section = driver.find_element(By.ID, section_id)  # type: ignore[attr-defined]
        assert section.is_displayed()
        assert section.find_element(By.TAG_NAME, "h2").text == title
    images = driver.execute_script(  # type: ignore[attr-defined]
        "return [...document.images].map(i => [i.closest('figure').dataset.name, i.complete,"
        " i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().width])"
    )
    assert sorted(name for name, *_ in images) == sorted(report.figures)
    for name, complete, width, height, shown_width in images:
        assert complete and width > 100 and height > 100, f"{name} did not decode"
        assert shown_width > 100, f"{name} is not laid out"
    screenshot = full_page_screenshot(driver, tmp_path / "shap_report.png")
    assert screenshot.stat().st_size > 50_000
    print(f"screenshot: {screenshot}")


def full_page_screenshot(driver: object, path: Path) -> Path:
    """The whole page, not just the window (Chrome DevTools ``captureBeyondViewport``)."""
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})  # type: ignore[attr-defined]
    size = metrics["cssContentSize"]
    shot = driver.execute_cdp_cmd(  # type: ignore[attr-defined]
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        },
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    return path
