"""Real browser: the Sweep page and the Inspection page's Learning dynamics tab.

1. A sweep of 6 learning rates (the Quick demo network, 2 epochs): 6 curves on the live and final charts,
   final validation accuracy against the learning rate, the 6 runs in the Training page's history.
2. The Quick demo trained, then on the Inspection page: the hidden-layer map (a dot clicked shows its letter,
   true and predicted, as the chart's own tooltip says), the snapshot slider, the loss landscape drawn.

Screenshots at 1280x800 and 1024x768 land in artifacts/screenshots/.
"""

from __future__ import annotations

import re

import pytest
from conftest import cut_chart_texts, screenshot, wait_for_app, wait_for_layout
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

SIZES = {"1280x800": (1280, 800), "1024x768": (1024, 768)}
WAIT = 30_000
DOT = re.compile(r"true: ([A-J]); read as: ([A-J]); validation letter #: ([\d,]+)")


def shoot(page, name, anchor):
    """Screenshots at both sizes, ``anchor`` at the top of the view."""
    for label, size in SIZES.items():
        page.set_viewport_size({"width": size[0], "height": size[1]})
        wait_for_layout(page, size[0])
        anchor.evaluate("e => e.scrollIntoView({block: 'start'})")
        wait_for_layout(page, size[0])
        screenshot(page, f"{name}_{label}")
    page.set_viewport_size({"width": 1280, "height": 800})
    wait_for_layout(page, 1280)


def open_page(page, app_url, link):
    page.goto(app_url)
    wait_for_app(page)
    page.get_by_role("link", name=link).click()
    wait_for_app(page)


def set_slider(page, label, target, key="ArrowLeft"):
    thumb = page.locator('[data-testid="stSlider"]', has_text=label).get_by_role("slider").first
    for _ in range(60):
        if thumb.get_attribute("aria-valuetext") == target:
            return
        thumb.focus()
        thumb.press(key)
        page.wait_for_timeout(250)
        wait_for_app(page)
    raise AssertionError(f"{label} did not reach {target}")


def legend_runs(chart):
    """The 'lr …' entries of a chart's legend (its SVG text)."""
    texts = chart.locator("text").evaluate_all("els => els.map(e => e.textContent || '')")
    return sorted({t for t in texts if t.startswith("lr ")})


def test_a_sweep_of_six_rates(page, app_url):
    open_page(page, app_url, "Sweep")
    page.get_by_role("heading", name="A learning-rate sweep").wait_for()
    set_slider(page, "Epochs", "2")
    page.get_by_role("button", name="Train sweep").click()
    live = page.get_by_text(re.compile(r"Sweep: epoch \d+ of 2, 6 of 6 networks training"))
    expect(live).to_be_visible(timeout=WAIT)
    done = page.get_by_text(re.compile(r"The sweep's 6 runs \(runs \d+ to \d+\) are in the run history"))
    expect(done).to_be_visible(timeout=300_000)
    wait_for_app(page)
    charts = page.locator('[data-testid="stVegaLiteChart"]')
    expect(charts).to_have_count(3, timeout=WAIT)  # validation accuracy, validation loss, final accuracy vs lr
    for i in (0, 1):
        assert len(legend_runs(charts.nth(i))) == 6, legend_runs(charts.nth(i))
    final = charts.nth(2)
    expect(final.get_by_text("Learning rate α (log scale)")).to_be_visible()
    marks = final.locator("path[aria-label*='valid_acc']")
    expect(marks.first).to_be_attached(timeout=WAIT)
    labels = marks.evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")
    assert len({re.search(r"lr: ([\d.e-]+)", t).group(1) for t in labels}) == 6, labels  # a dot per rate
    expect(page.get_by_text(re.compile(r"Best: lr [\d.]+, final validation accuracy 0\.\d{4}"))).to_be_visible()
    for width, height in SIZES.values():  # every legend entry whole, on a projector's 1024 px too
        page.set_viewport_size({"width": width, "height": height})
        wait_for_layout(page, width)
        assert cut_chart_texts(page) == [], (width, cut_chart_texts(page))
    page.set_viewport_size({"width": 1280, "height": 800})
    shoot(page, "sweep_done", page.get_by_role("heading", name="A learning-rate sweep"))
    shoot(page, "sweep_charts", page.get_by_role("heading", name="The last sweep"))
    page.get_by_role("link", name="Training").click()
    wait_for_app(page)
    table = page.locator('[data-testid="stDataFrame"]').first
    expect(table).to_be_visible(timeout=WAIT)
    expect(page.get_by_text(re.compile(r"Run \d+ \(lr 0\.5, H 256\)")).first).to_be_attached(timeout=WAIT)
    # the last sweep run is the Training page's last run, with its gradient health row like any run
    last = page.get_by_role("heading", name=re.compile(r"Last run: run \d+ \(finished\)"))
    expect(last).to_be_visible(timeout=WAIT)
    expect(page.get_by_text("Gradient health per epoch", exact=False).first).to_be_visible(timeout=WAIT)
    shoot(page, "sweep_run_in_training", last)


def train_quick_demo(page, app_url):
    open_page(page, app_url, "Training")
    page.get_by_role("button", name="Quick demo").click()
    expect(page.get_by_text("Quick demo preset:")).to_be_visible(timeout=WAIT)
    wait_for_app(page)
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text(re.compile(r"Run \d+ finished")).wait_for(timeout=300_000)
    wait_for_app(page)


def click_a_dot(page, chart):
    """Click dots of the map until the side panel shows one; returns (true, predicted, row) of its tooltip."""
    dots = chart.locator("path[aria-label*='validation letter #']")
    expect(dots.first).to_be_attached(timeout=WAIT)
    labels = dots.evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")
    panel = page.get_by_text(re.compile(r"True letter [A-J], read as [A-J] at this snapshot"))
    for i in range(0, len(labels), max(1, len(labels) // 12)):
        true, pred, row = DOT.search(labels[i]).groups()
        box = dots.nth(i).bounding_box()
        if box is None:
            continue
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        try:
            expect(page.get_by_text(f"validation letter #{row.replace(',', '')}", exact=True)).to_be_visible(
                timeout=5_000)
        except AssertionError:
            continue  # another dot lay on top of this one
        wait_for_app(page)
        return true, pred, row.replace(",", ""), panel
    raise AssertionError("no click on the map selected a dot")


def test_map_and_landscape_after_training(page, app_url):
    train_quick_demo(page, app_url)
    page.get_by_role("link", name="Inspection").click()
    wait_for_app(page)
    page.get_by_role("tab", name="Learning dynamics").click()
    tab = page.locator('[data-testid="stTabPanel"]:visible')
    expect(tab.get_by_text("Hidden-layer map")).to_be_visible(timeout=WAIT)
    chart = tab.locator('[data-testid="stVegaLiteChart"]').first
    chart.scroll_into_view_if_needed()
    true, pred, row, panel = click_a_dot(page, chart)
    expect(panel).to_contain_text(f"True letter {true}, read as {pred}")
    shoot(page, "inspect_map", tab.get_by_text("Hidden-layer map"))
    slider = tab.locator('[data-testid="stSlider"]', has_text="Snapshot (epoch)").get_by_role("slider")
    expect(slider).to_have_attribute("aria-valuetext", "5")
    slider.focus()
    slider.press("Home")
    expect(slider).to_have_attribute("aria-valuetext", "0", timeout=WAIT)
    wait_for_app(page)
    expect(tab.get_by_text(re.compile(r"at this snapshot [\d,]+ are misread"))).to_be_visible()
    tab.get_by_role("button", name="Compute the loss landscape").click()
    expect(tab.get_by_text(re.compile(r"Loss at the centre \d+\.\d{3}"))).to_be_visible(timeout=120_000)
    wait_for_app(page)
    expect(tab.get_by_text(re.compile(r"Training loss \d+\.\d{3} at θ₀ and \d+\.\d{3} at θ_T"))).to_be_visible()
    charts = tab.locator('[data-testid="stVegaLiteChart"]')
    expect(charts).to_have_count(3, timeout=WAIT)  # the map, the line, the slice
    expect(charts.nth(2).locator("path[aria-label*='log₁₀ loss']")).to_have_count(21 * 21, timeout=WAIT)
    for width, height in SIZES.values():  # every label whole, on a projector's 1024 px too
        page.set_viewport_size({"width": width, "height": height})
        wait_for_layout(page, width)
        assert cut_chart_texts(tab) == [], (width, cut_chart_texts(tab))  # the map, the line, the slice
    shoot(page, "inspect_landscape", tab.get_by_text("Loss landscape", exact=True))
