"""Real browser: the app starts and the home page reads."""

import pytest
from playwright.sync_api import expect

from conftest import screenshot, wait_for_app

pytestmark = pytest.mark.e2e


def test_home_page_loads(page, app_url):
    page.goto(app_url)
    wait_for_app(page)
    page.get_by_role("heading", name="The from-scratch MLP lab").wait_for()
    expect(page.get_by_text("In use:")).to_be_visible()
    expect(page.get_by_text("Images").first).to_be_visible()
    screenshot(page, "home_1280x800")
    screenshot(page, "home_1024x768", size=(1024, 768))
