"""Real browser: presenter mode (``?present=1``) for a projector at 1024x768.

No sidebar, and a button back; the Training page's buttons and labels are not cut at 1024x768.
"""

from __future__ import annotations

import re

import pytest
from conftest import screenshot, wait_for_app

pytestmark = pytest.mark.e2e

STEP = re.compile(r"Showing step (\d+) of (\d+)")


def test_presenter_mode_hides_the_sidebar_and_offers_the_way_back(app_url, page):
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(app_url)
    wait_for_app(page)
    page.goto(f"{app_url}/softmax?present=1")
    page.get_by_text(STEP).first.wait_for()
    page.locator('[data-testid="stSidebar"]').wait_for(state="hidden", timeout=30000)
    screenshot(page, "present_softmax_1024x768")
    page.get_by_role("button", name="Leave presenter mode").click()
    page.locator('[data-testid="stSidebar"]').wait_for(state="visible", timeout=30000)


def test_presenter_mode_training_page_cuts_no_label(app_url, page):
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(app_url)
    wait_for_app(page)
    page.goto(f"{app_url}/train?present=1")
    page.get_by_role("heading", name="Train the network").wait_for()
    wait_for_app(page)
    for name in ("Train", "Pause", "Stop", "Step one epoch", "Assignment", "Quick demo"):
        button = page.get_by_role("button", name=name, exact=True)
        assert button.evaluate("b => b.scrollWidth <= b.clientWidth + 1"), f"{name} is cut"
        text = button.inner_text()
        assert "…" not in text and name in text, text
    full = page.get_by_text("Full batch", exact=True)
    assert full.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    screenshot(page, "present_train_1024x768")
