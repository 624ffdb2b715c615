"""What a researcher sees: the dataset page rendered by headless Chromium (Debian's chromium and
chromium-driver), with the title, licence, resources and the data dictionary link visible; the page
in Vietnamese; the CSV previewed as a table and a chart."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from lakehouse.core.settings import REPO_ROOT
from publish.ckan_portal import publish_dataset, usage
from tests.conftest import TEST_PORTAL_ENV

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


def test_vietnamese_visitors_read_vietnamese_and_search_finds_it_with_or_without_diacritics(env, browser) -> None:
    env.write_gold([120, 80, None, 45, None, 33])
    publish_dataset(env.settings, env.ds)
    assert env.ds.title_vi and env.ds.title_vi != env.ds.title
    browser.get(f"{env.settings.ckan_url}/vi/dataset/{env.ds.name}")
    assert env.ds.title_vi in browser.find_element(By.CSS_SELECTOR, "h1").text
    keywords = " ".join(e.text for e in browser.find_elements(By.CSS_SELECTOR, ".tag-list a"))
    assert "dân số" in keywords and "population" not in keywords  # keywords in the visitor's language
    browser.get(f"{env.settings.ckan_url}/dataset/{env.ds.name}")
    assert env.ds.title in browser.find_element(By.CSS_SELECTOR, "h1").text
    keywords = " ".join(e.text for e in browser.find_elements(By.CSS_SELECTOR, ".tag-list a"))
    assert "population" in keywords and "dân số" not in keywords
    browser.get(f"{env.settings.ckan_url}/vi/dataset/?q=dan+so")
    assert env.ds.title_vi in browser.page_source  # the Vietnamese UI lists it by its Vietnamese title
    for typed in ("dân số", "dan so", "DAN SO", "tỉnh thành phố", "tinh thanh pho"):
        found = env.ckan.action.package_search(q=typed, rows=1000)["results"]
        assert env.ds.name in [d["name"] for d in found], typed
    api = env.ckan.action.package_show(id=env.ds.name)
    assert api["title"] == env.ds.title and api["title_vi"] == env.ds.title_vi  # the API is not localised


def test_the_csv_is_previewed_as_a_table_and_a_chart(env, browser) -> None:
    env.write_gold([120, 80, None, 45, None, 33])
    publish_dataset(env.settings, env.ds)
    csv = next(r for r in env.package()["resources"] if r["name"].endswith(".csv") and "dictionary" not in r["name"])
    views = {v["view_type"]: v["id"] for v in env.ckan.action.resource_view_list(id=csv["id"])}
    page = f"{env.settings.ckan_url}/dataset/{env.ds.name}/resource/{csv['id']}"
    browser.get(f"{page}/view/{views['datatables_view']}")
    # DataTables fetches the rows from datastore_search after the page loads
    WebDriverWait(browser, 30).until(lambda b: b.find_element(By.TAG_NAME, "body").text.count("Thành phố Hà Nội") >= 6)
    browser.get(f"{page}/view/{views['charts_view']}")
    WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".js-plotly-plot, svg.main-svg"))
    browser.save_screenshot(str(SCREENSHOTS / "chart_view.png"))


def test_page_views_and_downloads_are_counted_per_dataset(env, browser, ckan_portal) -> None:
    """CKAN's tracking counts a visit and a click on the download button; `bin/lakehouse status` shows
    them per dataset after the aggregation (`infra/ckan.sh tracking`, a cron job in production)."""
    env.write_gold([120, 80, None, 45, None, 33])
    publish_dataset(env.settings, env.ds)
    csv = next(r for r in env.package()["resources"] if r["name"] == f"{env.ds.name}.csv")
    browser.get(f"{env.settings.ckan_url}/dataset/{env.ds.name}")  # a page view of the dataset
    WebDriverWait(browser, 10).until(lambda b: b.execute_script("return jQuery.active == 0"))
    browser.get(f"{env.settings.ckan_url}/dataset/{env.ds.name}/resource/{csv['id']}")
    download = browser.find_element(By.CSS_SELECTOR, "a.resource-url-analytics")
    browser.execute_script("arguments[0].click();", download)
    WebDriverWait(browser, 10).until(lambda b: b.execute_script("return jQuery.active == 0"))
    portal_env = {**os.environ, **TEST_PORTAL_ENV}
    portal_env.pop("CKAN_URL", None)
    subprocess.run(["bash", str(REPO_ROOT / "infra" / "ckan.sh"), "tracking"], env=portal_env, check=True)
    counts = usage(env.settings, [env.ds.name])[env.ds.name]
    assert counts["downloads"] >= 1 and counts["views"] >= 1, counts
