"""Real browser: the app starts and the home page reads."""

import pytest
from conftest import screenshot, wait_for_app
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_home_page_loads(page, app_url):
    page.goto(app_url)
    wait_for_app(page)
    page.get_by_role("heading", name="The from-scratch MLP lab").wait_for()
    expect(page.get_by_text("In use:")).to_be_visible()
    expect(page.get_by_text("Images").first).to_be_visible()
    screenshot(page, "home_1280x800")
    screenshot(page, "home_1024x768", size=(1024, 768))


def test_deep_link_on_a_fresh_server_goes_through_the_router(page, fresh_app_url):
    """The first request a server gets is /softmax: it must still get app.py's navigation and layout."""
    page.goto(f"{fresh_app_url}/softmax")
    wait_for_app(page)
    page.get_by_role("heading", name="Softmax and cross-entropy").first.wait_for()
    nav = page.get_by_test_id("stSidebarNav")
    for title in ("Home", "Softmax and cross-entropy", "Backpropagation", "Training", "Inspection"):
        expect(nav.get_by_text(title, exact=True)).to_be_visible()
    expect(nav.get_by_text("app", exact=True)).to_have_count(0)  # not the file-name navigation
    assert page.title().startswith("MLP lab") or "Softmax" in page.title()
