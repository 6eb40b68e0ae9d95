"""Real browser: the two math pages open by URL, react to a control, and fit 1280x800 and 1024x768 screens.

Screenshots land in artifacts/screenshots/ (math_*.png). "Fits" means: the page does not scroll sideways and
no LaTeX block (matrix) is wider than its box (Streamlit would give it a horizontal scroll bar).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import IN_CI, screenshot, wait_for_app, wait_for_layout, wait_for_text
from playwright.sync_api import expect

from lab.explain import tiny_problem
from mlp.data import find_data_files

pytestmark = pytest.mark.e2e

WAIT = 30_000  # ms for a rerun to show (machines running CI and other work are busy)

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
    # app.py's navigation, not the folder's
    expect(nav.get_by_text("Softmax and cross-entropy")).to_be_visible(timeout=WAIT)
    expect(nav.get_by_text("Backpropagation")).to_be_visible(timeout=WAIT)


def metric(page, label):
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")


def metric_value(page, label):
    return metric(page, label).inner_text()


def softmax(o):
    """Written out here, independent of mlp: p = exp(o - max o) / sum exp(o - max o)."""
    e = np.exp(np.asarray(o, float) - np.max(o))
    return e / e.sum()


def tiny_loss(n_in, n_hidden, n_out, n_ex, seed):
    """The average cross-entropy of the tiny network the page builds for these sizes and seed, computed here."""
    params, x, labels = tiny_problem(n_in, n_hidden, n_out, n_ex, seed)
    h = np.maximum(x @ params.w_h + params.b_h, 0.0)
    p = np.array([softmax(row) for row in h @ params.w_o + params.b_o])
    return float(-np.mean(np.log(p[np.arange(n_ex), labels])))


def wait_for_metric(page, label, value):
    """Wait until the metric ``label`` reads exactly ``value`` (the rerun with the new input has been drawn)."""
    wait_for_text(page, metric(page, label), lambda t: t == value)
    wait_for_app(page)


def assert_fits(page, name):
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        wait_for_layout(page, width)
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
            wait_for_layout(page, width)
            screenshot(page, f"{name}_steps_{width}x{height}", size=(width, height))


def test_softmax_page(page, app_url):
    open_page(page, app_url, "softmax", "Softmax and cross-entropy")
    logits = [2.0, 1.0, 0.1, -1.0]  # the page's defaults for K = 4, true class B
    assert metric_value(page, "true class") == f"{softmax(logits)[1]:.4f}"
    slider = page.get_by_role("slider", name="logit of B")
    slider.focus()
    for _ in range(15):
        slider.press("ArrowRight")
    expect(slider).to_have_attribute("aria-valuetext", "2.50", timeout=WAIT)
    logits[1] = 2.5  # 15 steps of 0.1: p_B and the loss must be those of the new logits
    wait_for_metric(page, "true class", f"{softmax(logits)[1]:.4f}")
    assert metric_value(page, "Loss L") == f"{-np.log(softmax(logits)[1]):.4f}"
    assert metric_value(page, "Predicted") == "B"

    page.get_by_text("Show all steps", exact=True).click()
    page.get_by_role("heading", name="6. Simplify").wait_for()
    wait_for_app(page)
    assert_fits(page, "softmax K=4")
    shots(page, "math_softmax", anchor="3. The softmax Jacobian")

    k = page.get_by_role("slider", name="Classes K")
    k.focus()
    k.press("End")
    logits += [0.5, -0.5, 1.5, -2.0, 0.0, 0.8]  # the defaults of E..J join
    wait_for_metric(page, "true class", f"{softmax(logits)[1]:.4f}")
    expect(page.get_by_role("slider", name="logit of J")).to_be_visible(timeout=WAIT)
    assert_fits(page, "softmax K=10")
    shots(page, "math_softmax_k10", anchor="3. The softmax Jacobian")

    scale = page.get_by_role("slider", name="Scale the logits by s")
    scale.focus()
    scale.press("End")
    expect(page.get_by_text("Overflow:")).to_be_visible(timeout=WAIT)  # s = 1000: e^(1000 * 2.5) is inf
    wait_for_app(page)
    page.get_by_text("Overflow:").scroll_into_view_if_needed()
    screenshot(page, "math_softmax_overflow_1024x768", size=(1024, 768))


def sizes_caption(page):
    return page.get_by_text(re.compile(r"^A \d+-\d+-\d+ ReLU \+ softmax network"))


def test_backprop_page_tiny_network(page, app_url):
    open_page(page, app_url, "backprop", "Backpropagation")
    page.get_by_text("Show all steps", exact=True).click()
    page.get_by_text("9. Hidden-layer gradients").wait_for()
    wait_for_app(page)
    assert metric_value(page, "Loss before the step") == f"{tiny_loss(4, 3, 3, 2, 27):.6f}"  # the defaults
    page.get_by_test_id("stNumberInput").filter(has_text="Seed").get_by_test_id("stNumberInputStepUp").click()
    wait_for_metric(page, "Loss before the step", f"{tiny_loss(4, 3, 3, 2, 28):.6f}")  # seed 28
    entries = 4 * 3 + 3 + 3 * 3 + 3  # W_h, b_h, W_o, b_o
    expect(page.get_by_text(f"All {entries} entries agree")).to_be_visible(timeout=WAIT)
    assert_fits(page, "backprop tiny")
    shots(page, "math_backprop", anchor="8. Back through W_o and the ReLU")

    # each slider to its end; the page must draw the network of the new sizes, one rerun at a time
    sizes = {"F": 4, "H": 3, "K": 3, "N": 2}
    for label, name, key, value in (("Inputs F", "F", "Home", 2), ("Inputs F", "F", "End", 4),
                                    ("Hidden ReLU units H", "H", "End", 4), ("Classes K", "K", "End", 4),
                                    ("Examples in the batch N", "N", "End", 4)):
        slider = page.get_by_role("slider", name=label)
        slider.focus()
        slider.press(key)
        sizes[name] = value
        f, h, k, n = sizes.values()
        wait_for_text(page, sizes_caption(page), f"^A {f}-{h}-{k} ReLU \\+ softmax network.* a batch of {n} ")
        wait_for_metric(page, "Loss before the step", f"{tiny_loss(f, h, k, n, 28):.6f}")
        expect(page.get_by_text(f"All {f * h + h + h * k + k} entries agree")).to_be_visible(timeout=WAIT)
    x_rows = page.get_by_text(re.compile(r"^Examples \(rows of x\) and their classes"))
    # N = 4 examples of K = 4 classes
    expect(x_rows).to_have_text(re.compile(r"1: [A-D], 2: [A-D], 3: [A-D], 4: [A-D]\.$"), timeout=WAIT)
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
    page.get_by_role("heading", name="The hidden units that fire most").wait_for()
    wait_for_app(page)
    first = metric_value(page, "Loss −log p_true")
    number = page.get_by_test_id("stNumberInput").filter(has_text="Image number")
    value = int(number.get_by_role("spinbutton").input_value())
    number.get_by_test_id("stNumberInputStepUp").click()
    expect(number.get_by_role("spinbutton")).to_have_value(str(value + 1), timeout=WAIT)
    wait_for_text(page, metric(page, "Loss −log p_true"), lambda t: t and t != first)  # another letter's loss
    wait_for_app(page)
    expect(page.get_by_text("freshly initialised 784-1000-10")).to_be_visible(timeout=WAIT)
    assert_fits(page, "backprop real letter")
    shots(page, "math_backprop_letter", anchor="Backward: the shapes")
