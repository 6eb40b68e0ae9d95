"""Real browser: the app starts and the home page shows the data set in use: its name, its counts and its letters.

Every expected figure is computed here from the data file the server uses (the first of
``mlp.data.find_data_files()``, as ``ui.data_source`` picks it), never typed in.
"""

import io

import numpy as np
import pytest
from conftest import IN_CI, screenshot, wait_for_app
from PIL import Image
from playwright.sync_api import expect

from mlp.core import LETTERS
from mlp.data import find_data_files, load_dataset

pytestmark = pytest.mark.e2e

WAIT = 30_000  # ms for a rerun to show (machines running CI and other work are busy)

PER_LETTER = 12  # the caption's promise: "The first 12 images of each letter ..., one row per letter, A at the top"
CELL = 2 * (28 + 2)  # a 28x28 image framed by 1 pixel, enlarged 2x


@pytest.fixture(scope="module")
def dataset():
    files = find_data_files()
    if not files:
        if IN_CI:
            pytest.fail("no data set in data/ (letters.npz is required in CI)")
        pytest.skip("no data set")
    return load_dataset(files[0])


def shown_grid(page):
    """The letter grid as the browser received it: (rows, cols) uint8 greyscale."""
    img = page.get_by_test_id("stMain").get_by_test_id("stImage").locator("img")
    expect(img).to_have_count(1, timeout=WAIT)
    response = page.request.get(img.evaluate("e => e.src"))
    assert response.ok, response.status
    return np.asarray(Image.open(io.BytesIO(response.body())).convert("L"))


def test_home_page_shows_the_data_set_in_use(page, app_url, dataset):
    page.goto(app_url)
    wait_for_app(page)
    page.get_by_role("heading", name="The from-scratch MLP lab").wait_for()
    n, counts = len(dataset), np.bincount(dataset.labels, minlength=10)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("In use:")).to_have_text(f"In use: {dataset.name}: {n:,} images", timeout=WAIT)

    def metric(label):
        return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")

    expect(metric("Images")).to_have_text(f"{n:,}", timeout=WAIT)
    expect(metric("Per letter")).to_have_text(f"{counts.min():,} to {counts.max():,}", timeout=WAIT)
    caption = page.get_by_text(f"The first {PER_LETTER} images of each letter in {dataset.name}")
    expect(caption).to_be_visible(timeout=WAIT)

    # the grid: row k holds the first 12 images whose label is k (A at the top). Streamlit sends it as a JPEG,
    # so a cell is compared with its image within JPEG's rounding, and must be nearer to it than to any other.
    grid = shown_grid(page).astype(np.int16)
    assert grid.shape == (len(LETTERS) * CELL, PER_LETTER * CELL)
    firsts = np.stack([dataset.images[dataset.labels == k][:PER_LETTER] for k in range(len(LETTERS))]).astype(np.int16)
    errors = []
    for k in range(len(LETTERS)):
        for i in range(PER_LETTER):
            cell = grid[k * CELL + 2 : (k + 1) * CELL - 2 : 2, i * CELL + 2 : (i + 1) * CELL - 2 : 2]
            distance = np.abs(firsts - cell).mean(axis=(2, 3))  # (10, 12): to every image of the grid
            errors.append(distance[k, i])
            assert np.unravel_index(distance.argmin(), distance.shape) == (k, i), (LETTERS[k], i + 1)
    print(f"grid cells against their images: mean |difference| at most {max(errors):.2f} grey levels")
    assert max(errors) < 2.0
    screenshot(page, "home_1280x800")
    screenshot(page, "home_1024x768", size=(1024, 768))


def test_deep_link_on_a_fresh_server_goes_through_the_router(page, fresh_app_url):
    """The first request a server gets is /softmax: it must still get app.py's navigation and layout."""
    page.goto(f"{fresh_app_url}/softmax")
    wait_for_app(page)
    page.get_by_role("heading", name="Softmax and cross-entropy").first.wait_for()
    nav = page.get_by_test_id("stSidebarNav")
    for title in ("Home", "Softmax and cross-entropy", "Backpropagation", "Training", "Inspection"):
        expect(nav.get_by_text(title, exact=True)).to_be_visible(timeout=WAIT)
    expect(nav.get_by_text("app", exact=True)).to_have_count(0, timeout=WAIT)  # not the file-name navigation
    assert page.title().startswith("MLP lab") or "Softmax" in page.title()
