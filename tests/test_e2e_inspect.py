"""Real browser: the inspection page after a short training run on the Training page.

Trains with the Training page's "Quick demo" preset and downloads the model, opens Inspection, pages
through the weight grid, clicks a confusion-matrix cell and checks its letters, uploads a letter
rendered with Pillow's own font (Aileron, not among the training fonts), and loads a model file in
the sidebar. What the page shows (accuracy, confusion matrix, the letter it reads) is checked
against the model's own outputs, computed here with numpy from the model file.
Screenshots at 1280x800 and 1024x768 land in artifacts/screenshots/.
"""

import re

import numpy as np
import pytest
from conftest import screenshot, wait_for_app, wait_for_layout
from PIL import Image, ImageDraw, ImageFont
from playwright.sync_api import expect

from lab.your_letter import prepare_letter
from mlp.core import LETTERS
from mlp.data import find_data_files, load_dataset, split_dataset
from mlp.model_io import load_model
from ui.inspect_sections import GRID_PAGE as N

pytestmark = pytest.mark.e2e

SIZES = {"1280x800": (1280, 800), "1024x768": (1024, 768)}
WAIT = 20_000  # ms for a rerun to show (CI machines are busy)


def letter_file(tmp_path, ch="E", size=(360, 300)):
    img = Image.new("RGB", size, (245, 242, 230))  # dark ink on off-white paper, like a photo
    ImageDraw.Draw(img).text((80, 10), ch, fill=(25, 25, 60), font=ImageFont.load_default(size=260))
    path = tmp_path / f"my_letter_{ch}.png"
    img.save(path)
    return path


@pytest.fixture(scope="module")
def split():
    """The split the server shows: the report's split of the first data set in data/."""
    dataset = load_dataset(find_data_files()[0])
    return split_dataset(dataset.images, dataset.labels)


def logits_here(params, x):
    """o = ReLU(x W_h + b_h) W_o + b_o, written out with numpy in the model's dtype (apart from mlp)."""
    x = np.asarray(x, params.w_h.dtype).reshape(-1, params.w_h.shape[0])
    return np.maximum(x @ params.w_h + params.b_h, 0) @ params.w_o + params.b_o


def predicted_here(params, x):
    """(argmax of the logits (N,), near ties (N,) bool: top two within 1e-5, where rounding may pick either)."""
    o = logits_here(params, x).astype(np.float64)
    top2 = np.sort(o, axis=1)[:, -2:]
    return o.argmax(axis=1), top2[:, 1] - top2[:, 0] <= 1e-5 * np.maximum(1.0, np.abs(top2[:, 1]))


def check_accuracy_shown(page, params, split):
    """The page's "it reads X% of N letters right (M mistakes)" against the model's answers on the validation set."""
    pred, ties = predicted_here(params, split.x_valid)
    wrong = int(np.sum(pred != split.y_valid))
    text = page.get_by_text(re.compile(r"it reads \d+\.\d% of [\d,]+ letters right")).inner_text()
    m = re.search(r"it reads (\d+\.\d)% of ([\d,]+) letters right \(([\d,]+) mistakes\)", text)
    assert m, text
    assert int(m.group(2).replace(",", "")) == len(split.y_valid)
    assert abs(int(m.group(3).replace(",", "")) - wrong) <= ties.sum(), (text, wrong, ties.sum())
    assert abs(float(m.group(1)) - 100 * (1 - wrong / len(split.y_valid))) <= 0.05 + 100 * ties.mean(), text
    return pred, ties


def check_verdict(page, params, path):
    """The letter the page reads for an upload is the model's most probable letter for that input."""
    verdict = page.get_by_text(re.compile(r"The network reads it as [A-J] \(\d+%\)"))
    verdict.wait_for(timeout=30_000)
    x = prepare_letter(path.read_bytes()).x
    pred, ties = predicted_here(params, x)
    shown = re.search(r"reads it as ([A-J])", verdict.inner_text()).group(1)
    assert not ties[0], "the upload is a near tie: choose another letter for the test"
    assert shown == LETTERS[int(pred[0])], (shown, np.round(logits_here(params, x), 1))
    return verdict


def visible_tab(page):
    return page.locator('[data-testid="stTabPanel"]:visible')


def shoot_all(page, name, anchor):
    """Screenshots at both sizes with ``anchor`` at the top of the view, once every image has loaded."""
    for label, size in SIZES.items():
        page.set_viewport_size({"width": size[0], "height": size[1]})
        wait_for_layout(page, size[0])
        anchor.evaluate("e => e.scrollIntoView({block: 'start'})")
        wait_for_layout(page, size[0])
        screenshot(page, f"inspect_{name}_{label}")
    page.set_viewport_size({"width": 1280, "height": 800})


def train_quick_run(page, app_url, tmp_path):
    """Train the Quick demo on the Training page; returns the run's model, downloaded from the page."""
    page.goto(app_url)
    wait_for_app(page)
    page.get_by_role("link", name="Training").click()
    page.get_by_role("button", name="Quick demo").wait_for()
    wait_for_app(page)
    page.get_by_role("button", name="Quick demo").click()
    expect(page.get_by_text("Quick demo preset:")).to_be_visible(timeout=WAIT)
    wait_for_app(page)
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text(re.compile(r"Run \d+ finished")).wait_for(timeout=180_000)
    wait_for_app(page)
    with page.expect_download() as info:
        page.get_by_role("button", name="Model (.npz)").first.click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    return load_model(path)


def test_inspection_after_training(page, app_url, tmp_path, split):
    model = train_quick_run(page, app_url, tmp_path)
    hidden = model.params.sizes[1]
    page.get_by_role("link", name="Inspection").click()
    expect(page.get_by_text(f"784-{hidden}-10 network trained in this session")).to_be_visible(timeout=WAIT)
    wait_for_app(page)
    pred, ties = check_accuracy_shown(page, model.params, split)

    # --- the weight grid: page through it
    caption = page.get_by_text(re.compile(r"Units ranked \d+ to \d+ of \d+"))
    expect(caption).to_contain_text(f"Units ranked 1 to {N}")
    grid_first = visible_tab(page).locator('[data-testid="stImageCaption"]').first
    expect(grid_first).to_have_text("#0")
    shoot_all(page, "units", page.get_by_text("Order units by"))
    for first in (N + 1, 2 * N + 1):
        page.get_by_role("button", name="Next ▶").click()
        expect(caption).to_contain_text(f"Units ranked {first} to {first + N - 1}", timeout=WAIT)
        wait_for_app(page)
    expect(grid_first).to_have_text(f"#{2 * N}")
    page.get_by_role("button", name="◀ Previous").click()
    expect(caption).to_contain_text(f"Units ranked {N + 1} to {2 * N}", timeout=WAIT)
    wait_for_app(page)
    shoot_all(page, "units_detail", page.get_by_text("Look closer at unit"))

    # --- the confusion matrix: click a cell, see its letters
    page.get_by_role("tab", name="Confusion matrix").click()
    chart = visible_tab(page).locator('[data-testid="stVegaLiteChart"]').first
    chart.scroll_into_view_if_needed()
    cells = chart.locator("path[aria-label*='; true: ']")
    expect(cells).to_have_count(100, timeout=WAIT)
    labels = cells.evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")
    parsed = [(re.search(r"; true: ([A-J]);", s).group(1), re.search(r"predicted as: ([A-J]);", s).group(1),
               int(re.search(r"; letters: (\d+);", s).group(1))) for s in labels]
    cm_shown = np.zeros((10, 10), int)
    for t_, p_, n_ in parsed:
        cm_shown[LETTERS.index(t_), LETTERS.index(p_)] = n_
    cm_here = np.zeros((10, 10), int)
    np.add.at(cm_here, (split.y_valid, pred), 1)
    assert np.abs(cm_shown - cm_here).sum() <= 2 * ties.sum(), (cm_shown, cm_here)  # near ties may go either way
    current = page.get_by_text(re.compile(r"^\d+ letters [A-J] (misread|read right) as [A-J]"))
    before = current.inner_text()
    off = sorted(((n, t, p) for t, p, n in parsed if t != p), reverse=True)
    n, t, p = next(c for c in off if f"letters {c[1]} misread as {c[2]}" not in before)
    cell = chart.locator(f"path[aria-label*='; true: {t};'][aria-label*='predicted as: {p};']")
    box = cell.bounding_box()
    page.mouse.click(box["x"] + 5, box["y"] + 5)  # a corner of the cell, off its number
    wait_for_app(page)
    expect(current).to_have_text(re.compile(rf"^{n:,} letters {t} misread as {p}"), timeout=WAIT)
    shown = visible_tab(page).locator('[data-testid="stImageCaption"]', has_text=re.compile(rf"^{t}→{p} \d+%$"))
    expect(shown).to_have_count(min(n, 24), timeout=WAIT)
    shoot_all(page, "confusion", visible_tab(page).get_by_text("Show", exact=True))

    # --- mistakes gallery
    page.get_by_role("tab", name="Mistakes").click()
    mistake = re.compile(r"^[A-J] read as [A-J] \d+%$")
    gallery = visible_tab(page).locator('[data-testid="stImageCaption"]', has_text=mistake)
    expect(gallery.first).to_be_visible(timeout=WAIT)
    texts = gallery.all_inner_texts()
    assert all(m.group(1) != m.group(2) for m in (re.match(r"^([A-J]) read as ([A-J])", s) for s in texts))
    confidences = [int(re.search(r"(\d+)%$", s).group(1)) for s in texts]
    assert confidences == sorted(confidences, reverse=True)
    shoot_all(page, "mistakes_gallery", visible_tab(page).get_by_text("True letter"))

    # --- your own letter
    page.get_by_role("tab", name="Your own letter").click()
    uploader = visible_tab(page).locator('[data-testid="stFileUploader"]')
    letter = letter_file(tmp_path)
    uploader.locator('input[type="file"]').set_input_files(str(letter))
    verdict = check_verdict(page, model.params, letter)
    wait_for_app(page)
    for step in ("Greyscale", "Light on dark", "Ink box", "28x28 input"):
        caption = visible_tab(page).locator('[data-testid="stImageCaption"]', has_text=step)
        expect(caption).to_have_count(1, timeout=WAIT)
    expect(visible_tab(page).locator('[data-testid="stVegaLiteChart"]')).to_have_count(1, timeout=WAIT)
    shoot_all(page, "your_letter", visible_tab(page).locator('[data-testid="stFileUploader"]'))
    shoot_all(page, "your_letter_verdict", verdict)

    # a text file is refused with a clear message
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture at all\n")
    uploader.locator('input[type="file"]').set_input_files(str(bad))
    expect(page.get_by_text(re.compile(r"is not an image that can be read"))).to_be_visible(timeout=30_000)


def test_model_file_loaded_in_the_sidebar(page, app_url, tmp_path, split):
    from mlp.model_io import save_model
    from mlp.train import Hyper, Trainer

    hyper = Hyper(hidden=48, lr=0.1, momentum=0.9, epochs=2, batch_size=128, seed=7)
    trainer = Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper)
    trainer.run()
    path = tmp_path / "small_model.npz"
    save_model(path, trainer.params, hyper, trainer.history)
    params = load_model(path).params  # what the page reads from the file

    page.goto(app_url)
    wait_for_app(page)
    page.get_by_role("link", name="Inspection").click()
    expect(page.get_by_text("What did it learn?")).to_be_visible(timeout=WAIT)
    wait_for_app(page)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.locator('[data-testid="stFileUploader"]', has_text="Load a model file").locator('input[type="file"]') \
        .set_input_files(str(path))
    expect(page.get_by_text("784-48-10 network loaded in this session")).to_be_visible(timeout=30_000)
    expect(page.get_by_text(f"Units ranked 1 to {N} of 48")).to_be_visible(timeout=WAIT)
    wait_for_app(page)
    check_accuracy_shown(page, params, split)  # the page evaluates the loaded model, not the one it had
    page.get_by_role("button", name="Next ▶").click()
    expect(page.get_by_text(f"Units ranked {N + 1} to 48 of 48")).to_be_visible(timeout=WAIT)
    wait_for_app(page)

    # the loaded model reads an uploaded letter: its most probable letter, for two letters
    page.get_by_role("tab", name="Your own letter").click()
    uploader = visible_tab(page).locator('[data-testid="stFileUploader"]').locator('input[type="file"]')
    for ch, (w, h) in (("A", (360, 300)), ("J", (330, 290))):
        letter = letter_file(tmp_path, ch, (w, h))
        uploader.set_input_files(str(letter))
        # the step under "Your image" gives the upload's size: this upload's, once the page has processed it
        expect(visible_tab(page).get_by_text(f"{w}x{h} pixels", exact=True)).to_be_visible(timeout=WAIT)
        wait_for_app(page)
        check_verdict(page, params, letter)
