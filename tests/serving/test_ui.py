"""GET /ui in headless Chromium: drop an image, see the top-5 and the diagnostics plots (screenshot checked)."""

import io
import shutil
from pathlib import Path

import pytest
from PIL import Image

from hub.samples import SAMPLES

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="needs Debian's chromium and chromium-driver (make test installs them as root)")


def test_ui_shows_top5_and_plots(server, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--window-size=1200,900", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        driver.get(f"{server}/ui")
        WebDriverWait(driver, 30).until(lambda d: "alternet-tiny-cifar10" in d.find_element(By.ID, "model").text)
        image = tmp_path / "ship.png"
        Image.open(SAMPLES / "ship_1.png").resize((128, 128)).save(image)
        driver.find_element(By.ID, "file").send_keys(str(image))
        WebDriverWait(driver, 60).until(expected_conditions.text_to_be_present_in_element_attribute(
            (By.TAG_NAME, "body"), "data-state", "done"))
        rows = driver.find_elements(By.CSS_SELECTOR, "[data-testid=top5-row]")
        assert len(rows) == 5 and all("%" in row.text for row in rows)
        assert driver.find_elements(By.CSS_SELECTOR, "[data-testid=spectrum-line]")
        assert len(driver.find_elements(By.CSS_SELECTOR, "[data-testid=noise-bar]")) == 3
        assert driver.find_element(By.ID, "error").text == ""
        png = driver.get_screenshot_as_png()
        Path(tmp_path / "ui.png").write_bytes(png)
        shot = Image.open(io.BytesIO(png)).convert("RGB")
        colours = shot.getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 50  # not a blank page
        blue = sum(count for count, rgb in colours if rgb == (58, 123, 213))  # the top-5 bars and spectrum
        red = sum(count for count, rgb in colours if rgb == (213, 87, 58))  # the noise bars (or none if no flips)
        assert blue > 500, "no top-5 bars or spectrum drawn"
        assert red >= 0

        driver.find_element(By.ID, "file").send_keys(str(SAMPLES.parent / "samples.py"))  # not an image
        WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "error").text)
        assert driver.find_element(By.ID, "error").text.startswith("415")
    finally:
        driver.quit()
