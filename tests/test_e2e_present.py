"""Real browser: presenter mode (``?present=1``) for a projector at 1024x768.

No sidebar, and a button back; → and ← step the math pages' derivations (Streamlit's own button shortcuts, bound
only in presenter mode) and do nothing while the keyboard is in a field, a slider or a radio group; one press is
one step however often the page has rerun; the Training page's buttons and labels are not cut at 1024x768.

Nothing here waits a fixed time as proof. A press is proven to have stepped by the caption and the step headings
it must change; a press is proven NOT to have stepped with a barrier: a later action with a known effect (a click
on the page's own buttons, sent over the same websocket after it) must give exactly the count it would give if
the press did nothing. The messages the browser sends on the websocket are counted too: one rerun per press.
"""

from __future__ import annotations

import re

import pytest
from conftest import screenshot, wait_for_app, wait_for_layout, wait_for_text
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

STEP = re.compile(r"Showing step (\d+) of (\d+)")
MATH = [("softmax", "Softmax and cross-entropy"), ("backprop", "Backpropagation")]
# Revealed steps are headings "<n>. <title>" (ui.reveal.Reveal.step): count them in the page's main block.
HEADINGS_JS = """() => [...document.querySelectorAll('[data-testid="stMain"] :is(h3, h4)')]
  .filter(h => /^\\d+\\. /.test(h.innerText.trim())).length"""


def open_presenting(page, app_url, path, heading):
    """The app's root first (until st.navigation has run once Streamlit serves pages/ without app.py), then the
    page in presenter mode at 1024x768, once its Reveal buttons are drawn (keys pressed earlier have no button)."""
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(app_url)
    wait_for_app(page)
    page.goto(f"{app_url}/{path}?present=1")
    page.get_by_role("heading", name=heading).first.wait_for()
    wait_for_app(page)
    expect(next_button(page)).to_be_enabled()
    page.locator('[data-testid="stSidebar"]').wait_for(state="hidden")


def next_button(page):
    return page.get_by_role("button", name=re.compile("Reveal next step"))


def back_button(page):
    return page.get_by_role("button", name=re.compile("Back one step"))


def sent_frames(page):
    """A list that grows by one for every message the page sends on its websocket (a rerun request each)."""
    sent = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(frame)))
    return sent


def wait_step(page, n):
    """Wait until the caption says step n and exactly n step headings are drawn; return the total steps."""
    total = int(wait_for_text(page, page.get_by_text(STEP).first, rf"Showing step {n} of (\d+)").group(1))
    page.wait_for_function(f"() => ({HEADINGS_JS})() === {n}")
    return total


def shown(page):
    return int(STEP.search(page.get_by_text(STEP).first.inner_text()).group(1))


def press_and_see(page, sent, key, want):
    """Press ``key`` with the focus on the page, see step ``want``, and check the press sent exactly one rerun."""
    before = len(sent)
    page.keyboard.press(key)
    wait_step(page, want)
    wait_for_app(page)
    assert len(sent) - before == 1, f"{key} sent {len(sent) - before} messages: one handler each press, not more"


def barrier_back_to(page, want):
    """Click 'Back one step' with the mouse: sent after every earlier key, so once its rerun shows ``want``
    the server has taken every earlier key into account. Only a step back is a barrier for keys that must not
    step forward: the states a wrong forward step goes through never include ``want``."""
    back_button(page).click()
    wait_step(page, want)
    wait_for_app(page)


@pytest.mark.parametrize(("path", "heading"), MATH)
def test_arrow_keys_step_the_derivation(app_url, page, path, heading):
    sent = sent_frames(page)
    open_presenting(page, app_url, path, heading)
    total = wait_step(page, 1)
    expect(back_button(page)).to_be_disabled()
    for n in (2, 3, 4):
        press_and_see(page, sent, "ArrowRight", n)
    press_and_see(page, sent, "ArrowLeft", 3)
    press_and_see(page, sent, "ArrowRight", 4)
    assert total >= 5
    screenshot(page, f"present_{path}_steps_1024x768")


def test_arrow_keys_in_fields_sliders_and_radios_do_not_step(app_url, page):
    """The prediction box (a text input), a number input, the scale slider and the softmax radio keep their keys."""
    sent = sent_frames(page)
    open_presenting(page, app_url, "softmax", "Softmax and cross-entropy")
    press_and_see(page, sent, "ArrowRight", 2)
    box = page.get_by_label("Your answer")
    box.click()
    box.type("0.25")
    for key in ("ArrowLeft", "ArrowLeft", "ArrowRight", "Home"):
        page.keyboard.press(key)
    assert box.evaluate("e => [e.value, e.selectionStart]") == ["0.25", 0], "the keys went to the field"
    # The math pages' number inputs are in the sidebar, hidden here: a plain number input added to the page
    # stands in for one (Streamlit decides by the event's target, whatever drew the field).
    page.evaluate("""() => { const i = document.createElement('input'); i.type = 'number'; i.value = '5';
      i.id = 'probe-number'; i.style = 'position: fixed; top: 4px; left: 4px; z-index: 999999';
      document.body.appendChild(i); }""")
    number = page.locator("#probe-number")
    number.click()
    for key in ("ArrowRight", "ArrowLeft", "ArrowUp"):
        page.keyboard.press(key)
    assert number.input_value() == "6"
    slider = page.get_by_role("slider").first
    scale = slider.get_attribute("aria-valuetext")
    slider.focus()
    page.keyboard.press("ArrowRight")
    expect(slider).not_to_have_attribute("aria-valuetext", scale)
    radio = page.get_by_role("radiogroup").first
    radio.get_by_role("radio").first.focus()
    page.keyboard.press("ArrowRight")
    expect(radio.get_by_role("radio").nth(1)).to_be_checked()
    wait_for_app(page)
    barrier_back_to(page, 1)  # had any of those keys stepped, 'Back one step' would land on 2 or more
    page.get_by_role("heading", name="Softmax and cross-entropy").first.click()  # the focus back on the page
    press_and_see(page, sent, "ArrowRight", 2)


def test_one_press_is_one_step_after_reruns(app_url, page):
    """Reruns (Start over, Show all steps on and off, the slider's fragment, presenter mode off and on again)
    leave one binding per key: a press sends one rerun request and reveals one step."""
    sent = sent_frames(page)
    open_presenting(page, app_url, "backprop", "Backpropagation")
    press_and_see(page, sent, "ArrowRight", 2)
    page.get_by_role("button", name=re.compile("Start over")).click()
    wait_step(page, 1)
    toggle = page.get_by_text("Show all steps", exact=True)
    for _ in range(2):
        toggle.click()
        wait_for_app(page)
    wait_step(page, 1)
    slider = page.get_by_role("slider").first
    slider.focus()
    page.keyboard.press("ArrowRight")
    wait_for_app(page)
    page.get_by_role("button", name="Leave presenter mode").click()
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.wait_for(state="visible")
    wait_for_app(page)
    next_button(page).click()
    wait_step(page, 2)
    wait_for_app(page)
    page.keyboard.press("ArrowRight")  # presenter mode is off: no shortcut
    barrier_back_to(page, 1)  # had the key stepped, 'Back one step' would land on 2
    sidebar.get_by_text("Presenter mode", exact=True).click()
    sidebar.wait_for(state="hidden")
    wait_for_app(page)
    expect(next_button(page)).to_be_enabled()
    for want in (2, 3):
        press_and_see(page, sent, "ArrowRight", want)
    barrier_back_to(page, 2)  # exactly one step per press, proven after the server has seen every key


def test_presenter_mode_hides_the_sidebar_and_offers_the_way_back(app_url, page):
    open_presenting(page, app_url, "softmax", "Softmax and cross-entropy")
    page.get_by_text(STEP).first.wait_for()
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
    wait_for_layout(page, 1024)
    for name in ("Train", "Pause", "Stop", "Step one epoch", "Assignment", "Quick demo"):
        button = page.get_by_role("button", name=name, exact=True)
        assert button.evaluate("b => b.scrollWidth <= b.clientWidth + 1"), f"{name} is cut"
        text = button.inner_text()
        assert "…" not in text and name in text, text
    full = page.get_by_text("Full batch", exact=True)
    assert full.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    screenshot(page, "present_train_1024x768")
