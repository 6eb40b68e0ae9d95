"""Real browser: watch it learn. Train the Quick demo, see its gradient-health row, then on the Inspection page
play its weight snapshots (the epoch shown advances to the end) and switch to the change since the start
W − W₀; and a run with learning rate 1 and momentum 0.99 whose ReLUs die, with the note that says so.
Screenshots at 1280x800 and 1024x768 land in artifacts/screenshots/ (dynamics_*).
"""

import dataclasses
import re
from urllib.parse import urlencode

import pytest
from conftest import screenshot, wait_for_app, wait_for_layout, wait_for_text
from playwright.sync_api import expect

from lab.settings import hyper_to_query
from mlp.train import PRESETS

pytestmark = pytest.mark.e2e

SIZES = {"1280x800": (1280, 800), "1024x768": (1024, 768)}
WAIT = 30_000
SHOWN = re.compile(r"Showing (the random start \(epoch 0\)|the weights after epoch (\d+)|the change of each unit's "
                   r"weights from the random start \(epoch 0\) to epoch (\d+))")


# Watches the page from inside the browser: every DOM change, the epoch of the "Showing ..." caption if it changed
SHOWN_JS = r"Showing (?:the random start \(epoch 0\)|the weights after epoch (\d+)|the change of each unit's weights " \
           r"from the random start \(epoch 0\) to epoch (\d+))"
WATCH_JS = """(pattern) => {
  const re = new RegExp(pattern);
  window.__shown = [];
  const look = () => {
    const el = Array.from(document.querySelectorAll('[data-testid="stCaptionContainer"]'))
      .find(e => re.test(e.innerText));
    if (!el) return;
    const m = el.innerText.match(re);
    const epoch = Number(m[1] || m[2] || 0);
    if (window.__shown.at(-1) !== epoch) window.__shown.push(epoch);
  };
  look();
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def shoot_all(page, name, anchor, block="start"):
    """Screenshots at both sizes with ``anchor`` at the top (or ``block`` "end": the bottom) of the view, once the
    layout holds still."""
    for label, size in SIZES.items():
        page.set_viewport_size({"width": size[0], "height": size[1]})
        wait_for_layout(page, size[0])
        anchor.evaluate(f"e => e.scrollIntoView({{block: '{block}'}})")
        wait_for_layout(page, size[0])
        screenshot(page, f"dynamics_{name}_{label}")
    page.set_viewport_size({"width": 1280, "height": 800})


def train_with_link(page, app_url, hyper, ended):
    """Open the Training page with ``hyper`` in its link, press Train and wait for ``ended`` (a regex) to show."""
    page.goto(f"{app_url.rstrip('/')}/train?{urlencode(hyper_to_query(hyper))}")
    wait_for_app(page)
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text(ended).first.wait_for(timeout=180_000)
    wait_for_app(page)


def shown_epoch(match):
    """The epoch a SHOWN match names."""
    return 0 if match.group(1).startswith("the random start") else int(match.group(2) or match.group(3))


def test_watch_the_quick_demo_learn(page, app_url):
    quick = PRESETS["quick"]
    train_with_link(page, app_url, quick, re.compile(r"Run \d+ finished"))
    row = page.get_by_text("Gradient health per epoch")
    expect(row).to_be_visible(timeout=WAIT)
    wait_for_app(page)
    charts = page.locator('[data-testid="stVegaLiteChart"]').count()
    assert charts >= 6, charts  # the last run's loss and accuracy, the three health charts, the history's overlay
    shoot_all(page, "train_health", page.get_by_text(re.compile(r"^Last run: run \d+")))
    shoot_all(page, "train_health_row", row, block="end")

    page.get_by_role("link", name="Inspection").click()
    expect(page.get_by_text(f"784-{quick.hidden}-10 network trained in this session")).to_be_visible(timeout=WAIT)
    wait_for_app(page)
    kept = page.get_by_text(re.compile(r"^\d+ snapshots of the weights, at epochs 0, 1, 2, 3, 4, 5 \("))
    expect(kept).to_be_visible(timeout=WAIT)
    caption = page.get_by_text(SHOWN)
    assert shown_epoch(wait_for_text(page, caption, SHOWN)) == quick.epochs

    # Play: from the last epoch it starts again at 0 and steps through every snapshot to the end
    page.evaluate(WATCH_JS, SHOWN_JS)  # note every epoch the page shows, as the browser draws it
    page.get_by_role("button", name="Play").click()
    page.wait_for_function(f"() => window.__shown.length > 1 && window.__shown.at(-1) === {quick.epochs}",
                           timeout=60_000)
    seen = page.evaluate("() => window.__shown")
    # it went back to the start and advanced, epoch by epoch, to the end
    assert seen[0] == quick.epochs and seen[1] == 0 and seen[1:] == sorted(seen[1:]), seen
    assert len(seen) >= 4 and seen[-1] == quick.epochs, seen
    expect(page.get_by_role("button", name="Play")).to_be_visible(timeout=WAIT)  # Play ended by itself
    wait_for_app(page)

    # the change since the start is shown first; the toggle shows the weights W themselves
    assert "the change of each unit's weights" in caption.inner_text()
    expect(page.get_by_text(f"Unit #0 at epoch {quick.epochs}: its change since the start W − W₀")).to_be_visible(
        timeout=WAIT)
    shoot_all(page, "snapshots_change", page.get_by_text("Order units by"))
    shoot_all(page, "snapshots_change_detail", page.get_by_text("Look closer at unit"))
    page.get_by_text("Change since the start (W − W₀)", exact=False).first.click()
    wait_for_text(page, caption, f"Showing the weights after epoch {quick.epochs}")
    expect(page.get_by_text(f"Unit #0 at epoch {quick.epochs}: its input weights")).to_be_visible(timeout=WAIT)
    wait_for_app(page)
    shoot_all(page, "snapshots_weights", page.get_by_text("Order units by"))


def test_a_run_that_kills_its_relus_says_so(page, app_url):
    hyper = dataclasses.replace(PRESETS["quick"], lr=1.0, momentum=0.99)
    train_with_link(page, app_url, hyper, re.compile(r"Training stopped by itself"))
    note = page.get_by_text(re.compile(r"The share of dead hidden units climbed from \d+% at epoch \d+ to \d+%"))
    expect(note).to_be_visible(timeout=WAIT)
    assert "learning rate 1, momentum 0.99" in note.inner_text()
    shoot_all(page, "train_dead_units", note, block="end")


def test_the_shipped_model_plays_its_snapshots_too(page, app_url):
    """Before any training the shipped model (data/pretrained.npz, from an ordinary Xavier start) shows its run."""
    from lab.pretrain import pretrained_path
    from mlp.model_io import load_model

    shipped = load_model(pretrained_path())
    epochs = [e for e, _ in shipped.snapshots]
    page.goto(f"{app_url.rstrip('/')}/inspect")
    wait_for_app(page)
    expect(page.get_by_text("the shipped pretrained 784-")).to_be_visible(timeout=WAIT)
    listed = ", ".join(str(e) for e in epochs)
    expect(page.get_by_text(f"{len(epochs)} snapshots of the weights, at epochs {listed} (")).to_be_visible(
        timeout=WAIT)
    caption = page.get_by_text(SHOWN)
    wait_for_text(page, caption, f"the change of each unit's weights from the random start \\(epoch 0\\) to epoch "
                                 f"{epochs[-1]}:")
    shoot_all(page, "shipped_change", page.get_by_text("Order units by"))
    page.get_by_text("Change since the start (W − W₀)", exact=False).first.click()
    wait_for_text(page, caption, f"Showing the weights after epoch {epochs[-1]}")
    wait_for_app(page)
    shoot_all(page, "shipped_weights", page.get_by_text("Order units by"))
