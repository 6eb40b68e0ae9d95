"""Real browser: presenter mode (``?present=1``) for a projector at 1024x768.

No sidebar, and a button back; → and ← step the math pages' derivations (Streamlit's own button shortcuts, bound
only in presenter mode) and do nothing while the keyboard is in a field, a slider or a radio group; one press is
one step however often the page has rerun. Nothing is cut (no sideways scroll, no LaTeX or chart wider than its
box, no label ending in "…") on the math pages in both modes, on the Class page's board and on the Training page;
screenshots of each go to artifacts/screenshots/ (present_*, normal_*).

Nothing here waits a fixed time as proof. A press is proven to have stepped by the caption and the step headings
it must change; a press is proven NOT to have stepped with a barrier: a later action with a known effect (a click
on the page's own buttons, sent over the same websocket after it) must give exactly the count it would give if
the press did nothing. The messages the browser sends on the websocket are counted too: one rerun per press.
"""

from __future__ import annotations

import math
import os
import re

import pytest
from conftest import screenshot, streamlit_server, wait_for_app, wait_for_layout, wait_for_text
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

WAIT = 30_000  # ms for a rerun to show (a busy machine draws slowly)
STEP = re.compile(r"Showing step (\d+) of (\d+)")
MATH = [("softmax", "Softmax and cross-entropy"), ("backprop", "Backpropagation")]
# What a projector would cut: the page scrolling sideways, a LaTeX block or a chart wider than its box, a label
# ellipsised (Streamlit truncates a button label in a column with "…" rather than wrap it).
CUT_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const seen = (e) => e.checkVisibility({checkOpacity: true, visibilityProperty: true});
  const cut = [];
  main.querySelectorAll('*').forEach(e => {
    if (getComputedStyle(e).textOverflow === 'ellipsis' && e.scrollWidth > e.clientWidth + 1 && seen(e))
      cut.push('label: ' + e.innerText.slice(0, 40));
  });
  main.querySelectorAll('.katex-display').forEach(e => {
    if (e.scrollWidth > e.clientWidth + 1) cut.push('latex: ' + e.innerText.slice(0, 40));
  });
  main.querySelectorAll('[data-testid="stVegaLiteChart"]').forEach(e => {
    const box = e.closest('[data-testid="stColumn"], [data-testid="stMainBlockContainer"]').getBoundingClientRect();
    const r = (e.querySelector('svg, canvas') || e).getBoundingClientRect();
    if (r.left < box.left - 1 || r.right > box.right + 1) cut.push('chart: ' + [r.left, r.right, box.left, box.right]);
  });
  return {page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
          main: main.scrollWidth - main.clientWidth, cut: cut};
}"""
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
    expect(next_button(page)).to_be_enabled(timeout=WAIT)
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
    expect(back_button(page)).to_be_disabled(timeout=WAIT)
    for n in (2, 3, 4):
        press_and_see(page, sent, "ArrowRight", n)
    press_and_see(page, sent, "ArrowLeft", 3)
    press_and_see(page, sent, "ArrowRight", 4)
    assert total >= 5
    fourth = page.locator('[data-testid="stMain"] :is(h3, h4)').filter(has_text=re.compile(r"^4\. "))
    screenshot_at(page, fourth, f"present_{path}_steps_1024x768")


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
    expect(slider).not_to_have_attribute("aria-valuetext", scale, timeout=WAIT)
    radio = page.get_by_role("radiogroup").first
    radio.get_by_role("radio").first.focus()
    page.keyboard.press("ArrowRight")
    expect(radio.get_by_role("radio").nth(1)).to_be_checked(timeout=WAIT)
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
    expect(next_button(page)).to_be_enabled(timeout=WAIT)
    for want in (2, 3):
        press_and_see(page, sent, "ArrowRight", want)
    barrier_back_to(page, 2)  # exactly one step per press, proven after the server has seen every key


def assert_nothing_cut(page, where):
    found = page.evaluate(CUT_JS)
    assert found == {"page": 0, "main": 0, "cut": []}, f"{where}: {found}"


def screenshot_at(page, locator, name):
    """A screenshot of the window (what the projector shows) with ``locator`` at its top."""
    locator.evaluate("e => e.scrollIntoView({block: 'start'})")
    return screenshot(page, name)


@pytest.mark.parametrize(("path", "heading"), MATH)
def test_math_pages_fit_the_projector(app_url, page, path, heading):
    """Presenter mode at 1024x768, then normal mode at 1280x800 and 1024x768: at the first step (the prediction
    box and the Reveal buttons drawn) and with every step shown, nothing is cut; screenshots of each."""
    open_presenting(page, app_url, path, heading)
    wait_for_layout(page, 1024)
    assert_nothing_cut(page, "presenter 1024x768, step 1")
    derivation = page.get_by_role("heading", name=re.compile("step by step")).first
    screenshot_at(page, derivation, f"present_{path}_1024x768")
    page.get_by_text("Show all steps", exact=True).click()
    wait_for_text(page, page.get_by_text(STEP).first, r"Showing step (\d+) of \1\b")
    wait_for_app(page)
    wait_for_layout(page, 1024)
    assert_nothing_cut(page, "presenter 1024x768, all steps")
    page.get_by_role("button", name="Leave presenter mode").click()
    page.locator('[data-testid="stSidebar"]').wait_for(state="visible")
    wait_for_app(page)
    for width, height in ((1280, 800), (1024, 768)):
        page.set_viewport_size({"width": width, "height": height})
        wait_for_layout(page, width)
        assert_nothing_cut(page, f"normal {width}x{height}, all steps")
    page.get_by_text("Show all steps", exact=True).click()
    wait_step(page, 1)
    wait_for_app(page)
    page.set_viewport_size({"width": 1280, "height": 800})
    wait_for_layout(page, 1280)
    assert_nothing_cut(page, "normal 1280x800, step 1")
    screenshot_at(page, derivation, f"normal_{path}_1280x800")


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
    assert_nothing_cut(page, "Training, presenter 1024x768")
    screenshot(page, "present_train_1024x768")


@pytest.fixture(scope="module")
def board_url(tmp_path_factory):
    """A server of its own on a class database of its own, with one experiment and six students' runs, posted
    through the store as the Training page posts them. The curves are made up (a board to look at, not a result)."""
    from lab.class_store import Store

    folder = tmp_path_factory.mktemp("board")
    url = f"sqlite:///{folder / 'class.sqlite'}"
    store = Store.open(url)
    exp, key = store.create_experiment("Which learning rate?", "Each of you trains with another learning rate: "
                                       "what do the curves say?", {"hidden": 64, "epochs": 8}, "lr")
    for i, lr in enumerate((0.003, 0.01, 0.03, 0.1, 0.3, 3.0)):
        _, token = store.join(f"Student {chr(65 + i)}")
        end = 0.12 if lr > 1 else 0.93 - 0.08 * abs(math.log10(lr / 0.1))
        curve = [end * (1 - math.exp(-(e + 1) * min(lr, 1) * 8)) for e in range(8)]
        store.post_run(token, {"uid": f"run-{i}", "status": "diverged" if lr > 1 else "finished",
                               "hyper": {"lr": lr, "hidden": 64, "epochs": 8},
                               "history": [{"epoch": e + 1, "valid_acc": v} for e, v in enumerate(curve)],
                               "valid_acc": curve[-1], "train_acc": curve[-1] + 0.02, "test_acc": curve[-1] - 0.01,
                               "weights": None}, exp.code)
    old = os.environ.get("MLP_LAB_DATABASE_URL")
    os.environ["MLP_LAB_DATABASE_URL"] = url
    try:
        with streamlit_server(folder / "server.log") as served:
            yield served, exp.code, key
    finally:
        os.environ.pop("MLP_LAB_DATABASE_URL") if old is None else os.environ.update(MLP_LAB_DATABASE_URL=old)


def test_class_board_fits_the_projector(board_url, page):
    """The teacher's board in presenter mode at 1024x768 and in normal mode at 1280x800: nothing cut."""
    url, code, key = board_url
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(url)
    wait_for_app(page)
    page.goto(f"{url}/class?class={code}&teacher={key}&present=1")
    page.get_by_role("heading", name="Which learning rate?").wait_for()
    page.locator('[data-testid="stSidebar"]').wait_for(state="hidden")
    counts = page.get_by_test_id("stMetric")
    expect(counts.filter(has_text="Runs").get_by_test_id("stMetricValue")).to_have_text("6", timeout=WAIT)
    charts = page.locator('[data-testid="stVegaLiteChart"] :is(svg.marks, canvas)')
    expect(charts).to_have_count(2, timeout=WAIT)
    wait_for_app(page)
    wait_for_layout(page, 1024)
    assert_nothing_cut(page, "board, presenter 1024x768")
    screenshot_at(page, counts.first, "present_class_board_1024x768")
    screenshot_at(page, page.get_by_test_id("stDataFrame").first, "present_class_board_table_1024x768")
    page.get_by_role("button", name="Leave presenter mode").click()
    page.locator('[data-testid="stSidebar"]').wait_for(state="visible")
    page.set_viewport_size({"width": 1280, "height": 800})
    wait_for_app(page)
    wait_for_layout(page, 1280)
    assert_nothing_cut(page, "board, normal 1280x800")
    screenshot_at(page, counts.first, "normal_class_board_1280x800")
