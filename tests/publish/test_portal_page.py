"""What a researcher sees: the dataset page rendered by headless Chromium (Debian's chromium and
chromium-driver), with the title, licence, resources and the data dictionary link visible."""

from __future__ import annotations

import shutil

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from lakehouse.core.settings import REPO_ROOT
from publish.ckan_portal import publish_dataset

SCREENSHOTS = REPO_ROOT / "var" / "test-output"


@pytest.fixture
def browser():
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.fail("Debian chromium and chromium-driver are missing: run `make setup`")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def test_dataset_page_shows_title_licence_resources_and_dictionary(env, browser) -> None:
    env.write_gold([12, None, 40, None])
    publish_dataset(env.settings, env.ds)
    browser.get(f"{env.settings.ckan_url}/dataset/{env.ds.name}")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "dataset_page.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000

    title = browser.find_element(By.CSS_SELECTOR, "h1")
    assert title.is_displayed() and env.ds.title in title.text
    licence = browser.find_element(By.PARTIAL_LINK_TEXT, "Creative Commons Attribution")
    assert licence.is_displayed()
    listed = [e for e in browser.find_elements(By.CSS_SELECTOR, "li.resource-item a.heading") if e.is_displayed()]
    assert len(listed) == env.published_files
    names = " ".join(e.text for e in listed)
    for suffix in (".csv", ".parquet", "datapackage.json", ".dictionary.csv", ".disclosure-report.md"):
        assert suffix in names, suffix
    dictionary = next(e for e in listed if ".dictionary.csv" in e.text)
    dictionary.click()  # the resource page offers the download
    download = browser.find_element(By.CSS_SELECTOR, "a.resource-url-analytics")
    assert download.is_displayed() and download.get_attribute("href").endswith(".dictionary.csv")
    browser.save_screenshot(str(SCREENSHOTS / "dictionary_resource_page.png"))
