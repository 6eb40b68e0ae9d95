"""Real browser: type a wrong softmax into the Exercises page, see the overflow diagnosis, fix it, see it pass.

Screenshots (artifacts/screenshots/): exercises_softmax_wrong_1024.png (the report card),
exercises_softmax_wrong_diagnosis_1024.png (the diagnoses) and exercises_softmax_pass_1024.png.
"""

from __future__ import annotations

import os

import pytest
from conftest import screenshot, wait_for_app, wait_for_text

from lab.exercises import sandbox as sb

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not sb.probe(sb.bwrap_binary())[0] and os.environ.get("CI") != "true",
                                                  reason="bubblewrap not usable")]

WRONG = "import numpy as np\n\n\ndef softmax(x):\n    e = np.exp(x)\n    return e / e.sum(axis=1, keepdims=True)\n"
FIXED = ("import numpy as np\n\n\ndef softmax(x):\n    e = np.exp(x - x.max(axis=1, keepdims=True))\n"
         "    return e / e.sum(axis=1, keepdims=True)\n")


def type_code(page, code):
    """Replace the editor's text by typing it, then commit it (Ctrl+Enter) and wait for the rerun."""
    area = page.get_by_test_id("stTextArea").locator("textarea")
    area.click()
    area.press("Control+a")
    area.press("Delete")
    area.type(code, delay=2)
    area.press("Control+Enter")
    wait_for_app(page)


def test_wrong_softmax_then_fixed(page, app_url):
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(app_url)
    wait_for_app(page)
    page.goto(f"{app_url}/exercises")
    wait_for_app(page)
    page.get_by_role("heading", name="Exercises: write the report's functions").wait_for()
    page.get_by_test_id("stRadio").get_by_text("2. Softmax").click()
    wait_for_app(page)
    type_code(page, WRONG)
    page.get_by_role("button", name="Run", exact=True).click()
    main = page.get_by_test_id("stMain")
    wait_for_text(page, main, r"exp overflowed at logits up to \+-1000")
    wait_for_app(page)
    assert "logits up to +-1000" in main.inner_text()
    page.get_by_role("heading", name="Report card: your softmax").scroll_into_view_if_needed()
    screenshot(page, "exercises_softmax_wrong_1024", (1024, 768))
    page.get_by_text("exp overflowed").first.scroll_into_view_if_needed()
    screenshot(page, "exercises_softmax_wrong_diagnosis_1024", (1024, 768))
    type_code(page, FIXED)
    page.get_by_role("button", name="Run", exact=True).click()
    wait_for_text(page, main, r"7/7 checks passed; exercises passed:\W*1/1")
    wait_for_app(page)
    assert "exp overflowed" not in main.inner_text()
    page.get_by_role("heading", name="Report card: your softmax").scroll_into_view_if_needed()
    screenshot(page, "exercises_softmax_pass_1024", (1024, 768))


def test_course_report_graded_with_the_heatmap(page, app_url):
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(app_url)
    wait_for_app(page)
    page.goto(f"{app_url}/exercises")
    wait_for_app(page)
    page.get_by_role("button", name="Grade the course report's code").click()
    main = page.get_by_test_id("stMain")
    wait_for_text(page, main, r"writes into `o` at course_report\.py line 30")
    wait_for_app(page)
    assert "writes into `prediction` at course_report.py line 18" in main.inner_text()
    chart = page.get_by_test_id("stVegaLiteChart")
    chart.wait_for()
    chart.scroll_into_view_if_needed()
    screenshot(page, "exercises_report_heatmap_1024", (1024, 768))
    page.set_viewport_size({"width": 1280, "height": 800})
    heading = page.get_by_role("heading", name="Report card: the course report's functions as printed")
    heading.scroll_into_view_if_needed()
    screenshot(page, "exercises_report_1280", (1280, 800))
