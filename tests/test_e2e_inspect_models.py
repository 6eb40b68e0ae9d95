"""Real browser: the inspection page with extreme models loaded in the sidebar, and a refused one.

A one-unit network, then one whose weights are near float32's largest value (its float32 forward
pass overflows), then a file with a NaN weight (refused: the page says so and keeps showing the
model before). Screenshots of each at 1280x800 and 1024x768 land in artifacts/screenshots/.
"""

import io
import re

import numpy as np
import pytest
from conftest import screenshot, wait_for_app, wait_for_layout, wait_for_text
from PIL import Image, ImageDraw, ImageFont
from playwright.sync_api import expect

from mlp.model_io import save_model
from mlp.network import init_params
from mlp.train import Hyper

pytestmark = pytest.mark.e2e

SIZES = {"1280x800": (1280, 800), "1024x768": (1024, 768)}
WAIT = 30_000


def model_file(path, hidden, scale=None, nan=False):
    p = init_params(784, hidden, 10, seed=2, dtype=np.float32)
    if scale is not None:
        p.w_h[:] = np.sign(p.w_h) * np.float32(scale)
        p.w_o[:] = np.sign(p.w_o) * np.float32(scale)
    if nan:
        p.w_o[0, 0] = np.nan
        buf = io.BytesIO()  # the lab's own writer is not asked to write a broken model
        np.savez(buf, hyper=np.array(Hyper(hidden=hidden).to_json()), **p.as_dict())
        path.write_bytes(buf.getvalue())
        return path
    save_model(path, p, Hyper(hidden=hidden))
    return path


def letter_file(tmp_path, ch="B"):
    img = Image.new("RGB", (300, 300), (240, 238, 228))
    ImageDraw.Draw(img).text((60, 10), ch, fill=(20, 20, 50), font=ImageFont.load_default(size=250))
    path = tmp_path / f"letter_{ch}.png"
    img.save(path)
    return path


def shoot(page, name, anchor):
    for label, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        wait_for_layout(page, width)
        anchor.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.mouse.move(width - 5, 5)  # off every element: no hover toolbar over the chart headings
        wait_for_layout(page, width)
        screenshot(page, f"inspect_models_{name}_{label}")
    page.set_viewport_size({"width": 1280, "height": 800})
    wait_for_layout(page, 1280)


def load(page, path):
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.locator('[data-testid="stFileUploader"]', has_text="Load a model file").locator('input[type="file"]') \
        .set_input_files(str(path))


def test_extreme_and_refused_models(page, app_url, tmp_path):
    page.goto(app_url)
    wait_for_app(page)
    page.get_by_role("link", name="Inspection").click()
    expect(page.get_by_text("What did it learn?")).to_be_visible(timeout=WAIT)
    wait_for_app(page)
    title = page.get_by_text("What did it learn?")
    expect(page.get_by_text(re.compile(r"Units ranked 1 to \d+ of \d+"))).to_be_visible(timeout=WAIT)
    wait_for_app(page)
    shoot(page, "shipped", title)  # the shipped model (or the message that it is missing)

    load(page, model_file(tmp_path / "one_unit.npz", 1))
    expect(page.get_by_text("784-1-10 network loaded in this session")).to_be_visible(timeout=WAIT)
    expect(page.get_by_text("Units ranked 1 to 1 of 1")).to_be_visible(timeout=WAIT)
    wait_for_app(page)
    shoot(page, "one_unit", title)
    page.get_by_role("tab", name="Your own letter").click()
    tab = page.locator('[data-testid="stTabPanel"]:visible')
    tab.locator('[data-testid="stFileUploader"]').locator('input[type="file"]').set_input_files(letter_file(tmp_path))
    verdict = re.compile(r"The network reads it as [A-J] \(\d+%\)|The network cannot tell: \d+ letters tie")
    expect(page.get_by_text(verdict)).to_be_visible(timeout=WAIT)
    expect(tab.locator('[data-testid="stVegaLiteChart"]')).to_have_count(1)
    wait_for_app(page)
    shoot(page, "one_unit_letter", tab.locator('[data-testid="stFileUploader"]'))
    page.get_by_role("tab", name="Hidden units").click()

    load(page, model_file(tmp_path / "huge.npz", 24, scale=3e38))
    expect(page.get_by_text("784-24-10 network loaded in this session")).to_be_visible(timeout=WAIT)
    overflow = page.get_by_text(re.compile(r"overflows float32 for [\d,]+ of these letters"))
    expect(overflow).to_be_visible(timeout=WAIT)
    wait_for_app(page)
    body = page.locator('[data-testid="stMain"]')
    text = wait_for_text(page, body, lambda t: "Units ranked" in t)
    assert not re.search(r"\b(nan|inf)\b", text, re.I), text
    shoot(page, "huge", title)
    shoot(page, "huge_unit", page.get_by_text("Unit #0: its input weights"))

    load(page, model_file(tmp_path / "broken.npz", 24, nan=True))
    refusal = page.get_by_text(re.compile(r"The model file was refused: broken\.npz"))
    expect(refusal).to_be_visible(timeout=WAIT)
    expect(refusal).to_contain_text("not finite")
    expect(page.get_by_text("784-24-10 network loaded in this session")).to_be_visible()  # the model before
    expect(overflow).to_be_visible()
    wait_for_app(page)
    shoot(page, "refused", title)
