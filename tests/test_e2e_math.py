"""Real browser: the two math pages open by URL, react to a control, and fit 1280x800 and 1024x768 screens.

Screenshots land in artifacts/screenshots/ (math_*.png). "Fits" means: the page does not scroll sideways and
no LaTeX block (matrix) is wider than its box (Streamlit would give it a horizontal scroll bar).
"""

from __future__ import annotations

import pytest
from conftest import IN_CI, screenshot, wait_for_app
from playwright.sync_api import expect

from mlp.data import find_data_files

pytestmark = pytest.mark.e2e

SIZES = ((1280, 800), (1024, 768))

OVERFLOW_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const wide = [];
  document.querySelectorAll('[data-testid="stMain"] .katex-display').forEach(e => {
    if (e.scrollWidth > e.clientWidth + 1) wide.push([e.scrollWidth, e.clientWidth, e.innerText.slice(0, 40)]);
  });
  return {page: [document.documentElement.scrollWidth, document.documentElement.clientWidth],
          main: [main.scrollWidth, main.clientWidth], wide: wide,
          latex: document.querySelectorAll('[data-testid="stMain"] .katex-display').length};
}"""


def open_page(page, app_url, path, heading):
    """The app's root first (until st.navigation has run once, Streamlit serves a sub-page URL from the pages/
    folder without app.py), then the page by its URL path."""
    page.goto(app_url)
    wait_for_app(page)
    page.goto(f"{app_url}/{path}")
    wait_for_app(page)
    page.get_by_role("heading", name=heading).first.wait_for()
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_text("Softmax and cross-entropy")).to_be_visible()  # app.py's navigation, not the folder's
    expect(nav.get_by_text("Backpropagation")).to_be_visible()


def metric_value(page, label):
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue").inner_text()


def assert_fits(page, name):
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(800)
        info = page.evaluate(OVERFLOW_JS)
        assert info["latex"] >= 3  # the page has rendered its formulas
        assert info["page"][0] <= info["page"][1], (name, width, info)
        assert info["main"][0] <= info["main"][1], (name, width, info)
        assert not info["wide"], (name, width, info["wide"])


def shots(page, name, anchor=None):
    """Top of the page at both sizes, and (optionally) the part around ``anchor`` text."""
    for width, height in SIZES:
        page.get_by_test_id("stMain").evaluate("e => e.scrollTo(0, 0)")
        screenshot(page, f"{name}_{width}x{height}", size=(width, height))
        if anchor:
            page.get_by_text(anchor).first.scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            screenshot(page, f"{name}_steps_{width}x{height}", size=(width, height))


def test_softmax_page(page, app_url):
    open_page(page, app_url, "softmax", "Softmax and cross-entropy")
    before = metric_value(page, "true class")
    slider = page.get_by_role("slider", name="logit of B")
    slider.focus()
    for _ in range(15):
        slider.press("ArrowRight")
    wait_for_app(page)
    expect(page.get_by_test_id("stMetric").filter(has_text="true class").get_by_test_id("stMetricValue")).not_to_have_text(before)
    after = float(metric_value(page, "true class"))
    assert after > float(before)  # a larger logit for B, a larger p_B

    page.get_by_text("Show all steps", exact=True).click()
    wait_for_app(page)
    page.get_by_role("heading", name="6. Simplify").wait_for()
    assert_fits(page, "softmax K=4")
    shots(page, "math_softmax", anchor="3. The softmax Jacobian")

    k = page.get_by_role("slider", name="Classes K")
    k.focus()
    k.press("End")
    wait_for_app(page)
    page.get_by_text("o_J", exact=False).first.wait_for()
    assert_fits(page, "softmax K=10")
    shots(page, "math_softmax_k10", anchor="3. The softmax Jacobian")

    scale = page.get_by_role("slider", name="Scale the logits by s")
    scale.focus()
    scale.press("End")
    wait_for_app(page)
    expect(page.get_by_text("Overflow:")).to_be_visible()
    page.get_by_text("Overflow:").scroll_into_view_if_needed()
    screenshot(page, "math_softmax_overflow_1024x768", size=(1024, 768))


def test_backprop_page_tiny_network(page, app_url):
    open_page(page, app_url, "backprop", "Backpropagation")
    page.get_by_text("Show all steps", exact=True).click()
    wait_for_app(page)
    page.get_by_text("9. Hidden-layer gradients").wait_for()
    before = metric_value(page, "Loss before the step")
    page.get_by_test_id("stNumberInput").filter(has_text="Seed").get_by_test_id("stNumberInputStepUp").click()
    wait_for_app(page)
    expect(page.get_by_test_id("stMetric").filter(has_text="Loss before the step").get_by_test_id("stMetricValue")).not_to_have_text(before)
    expect(page.get_by_text("entries agree")).to_be_visible()
    assert_fits(page, "backprop tiny")
    shots(page, "math_backprop", anchor="8. Back through W_o and the ReLU")

    for label in ("Inputs F", "Hidden ReLU units H", "Classes K", "Examples in the batch N"):
        slider = page.get_by_role("slider", name=label)
        slider.focus()
        slider.press("End")
        wait_for_app(page)
    assert_fits(page, "backprop tiny, largest sizes")
    page.get_by_text("One step of gradient descent").scroll_into_view_if_needed()
    screenshot(page, "math_backprop_momentum_1024x768", size=(1024, 768))


def test_backprop_page_real_letter(page, app_url):
    if not find_data_files():
        if IN_CI:
            pytest.fail("no data set in data/ (letters.npz is required in CI)")
        pytest.skip("no data set")
    open_page(page, app_url, "backprop", "Backpropagation")
    page.get_by_text("One real letter (784-H-10)").click()
    wait_for_app(page)
    page.get_by_role("heading", name="The hidden units that fire most").wait_for()
    first = metric_value(page, "Loss −log p_true")
    number = page.get_by_test_id("stNumberInput").filter(has_text="Image number")
    number.get_by_test_id("stNumberInputStepUp").click()
    wait_for_app(page)
    expect(page.get_by_test_id("stMetric").filter(has_text="Loss −log p_true").get_by_test_id("stMetricValue")).not_to_have_text(first)
    expect(page.get_by_text("freshly initialised 784-1000-10")).to_be_visible()
    assert_fits(page, "backprop real letter")
    shots(page, "math_backprop_letter", anchor="Backward: the shapes")
