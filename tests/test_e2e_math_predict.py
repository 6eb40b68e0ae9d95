"""Real browser: predict, then reveal on the two math pages, and screenshots of their new parts at 1280x800 and
1024x768 (artifacts/screenshots/predict_*.png). Fails when a LaTeX block or the page scrolls sideways."""

from __future__ import annotations

import re

import pytest
from conftest import screenshot, wait_for_app
from playwright.sync_api import expect

from mlp.data import find_data_files

pytestmark = pytest.mark.e2e

SIZES = ((1280, 800), (1024, 768))

WIDE_JS = """() => {
  const wide = [];
  document.querySelectorAll('[data-testid="stMain"] .katex-display').forEach(e => {
    if (e.scrollWidth > e.clientWidth + 1) {
      const tex = e.querySelector('annotation');
      wide.push([e.scrollWidth, e.clientWidth, (tex ? tex.textContent : e.innerText).slice(0, 90)]);
    }
  });
  const main = document.querySelector('[data-testid="stMain"]');
  return {wide: wide, main: [main.scrollWidth, main.clientWidth]};
}"""


def open_page(page, app_url, path, heading):
    page.goto(app_url)
    wait_for_app(page)
    page.goto(f"{app_url}/{path}")
    wait_for_app(page)
    page.get_by_role("heading", name=heading).first.wait_for()


def shots(page, name, anchors):
    """At each size: the part of the page around each anchor text, and a check that nothing scrolls sideways."""
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(600)
        info = page.evaluate(WIDE_JS)
        assert not info["wide"] and info["main"][0] <= info["main"][1], (name, width, info)
        for tag, anchor in anchors:
            page.get_by_text(anchor).first.evaluate("e => e.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(300)
            screenshot(page, f"predict_{name}_{tag}_{width}x{height}")


def metric_value(page, label):
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue").inner_text()


def answer(page, text):
    """Type a prediction, apply it (Enter), then press 'Check and reveal' once the rerun has taken the text."""
    box = page.get_by_label("Your answer")
    box.fill(text)
    box.press("Enter")
    page.wait_for_timeout(400)
    wait_for_app(page)
    page.get_by_role("button", name="Check and reveal").click()
    page.wait_for_timeout(400)
    wait_for_app(page)


def test_softmax_page_predict_then_reveal(page, app_url):
    open_page(page, app_url, "softmax", "Softmax and cross-entropy")
    loss = float(metric_value(page, "Loss L"))
    answer(page, f"{loss:.3f}")
    expect(page.get_by_text(re.compile(r"^Right: it is"))).to_be_visible()
    expect(page.get_by_text("1 of 1 right", exact=False)).to_be_visible()
    answer(page, "0.9")
    expect(page.get_by_text(re.compile(r"^Not quite: it is"))).to_be_visible(timeout=15000)
    shots(page, "softmax", [("top", "From the logits to dL/do"), ("predict", "Predict before you reveal"),
                            ("mse", "Why cross-entropy, not a squared error"),
                            ("report", "The course report's derivation, line by line"),
                            ("report2", "5. The quotient rule divided")])
    page.get_by_role("button", name="New numbers").click()
    wait_for_app(page)
    expect(page.get_by_text("attempt 1", exact=False)).to_be_visible()
    expect(page.get_by_text("2. Cross-entropy picks out")).to_have_count(0)  # back to step 1
    k = page.get_by_role("slider", name="Classes K")
    k.focus()
    k.press("End")
    wait_for_app(page)
    page.get_by_text("Show all steps", exact=True).click()
    wait_for_app(page)
    page.get_by_role("heading", name="6. Simplify").wait_for()
    shots(page, "softmax_k10", [("steps", "1. Softmax turns"), ("chain", "5. Chain rule"),
                                ("simplify", "6. Simplify"), ("mse", "Why cross-entropy, not a squared error")])


def test_backprop_page_predict_then_reveal(page, app_url):
    open_page(page, app_url, "backprop", "Backpropagation")
    expect(page.get_by_text("How many of the 2 × 3 hidden activations", exact=False)).to_be_visible()
    answer(page, "0")
    expect(page.get_by_text(re.compile(r"^(Right|Not quite): it is \d+;"))).to_be_visible()
    answer(page, "2 x 3")
    expect(page.get_by_text(re.compile(r"^Right: it is 2 × 3;"))).to_be_visible()
    shots(page, "backprop", [("predict", "Predict before you reveal"), ("momentum", "One step of gradient descent"),
                             ("report", "Where the report differs")])
    page.get_by_text("Show all steps", exact=True).click()
    wait_for_app(page)
    page.get_by_text("9. Hidden-layer gradients").wait_for()
    shots(page, "backprop_all", [("forward", "4. Softmax, row by row"), ("backward", "8. Back through W_o")])


def test_backprop_page_real_letter_rows(page, app_url):
    if not find_data_files():
        pytest.skip("no data set")
    open_page(page, app_url, "backprop", "Backpropagation")
    page.get_by_text("One real letter (784-H-10)").click()
    wait_for_app(page)
    page.get_by_role("heading", name="Logits, probabilities and δ_o").wait_for()
    expect(page.get_by_text("units that fired", exact=False)).to_be_visible()
    shots(page, "backprop_letter", [("output", "Logits, probabilities and δ_o"),
                                    ("backward", "Backward: the shapes")])
