"""Real browser: links and file names written to attack the page stay text.

A phishing-style link (``/train?dtype=[claim your grade here](https://…)![t](http://…)``) and
other link values that are markdown, HTML, autolinks, LaTeX or Streamlit directives must not
put an ``<a>``, ``<img>``, formula, icon or emoji from the link into the page, nor make the
browser fetch anything from another host; the page must work (Train) and read cleanly after a
reload. The same for an uploaded data set whose file name is markdown.
"""

import io
import re
from urllib.parse import quote, urlsplit

import numpy as np
import pytest
from conftest import screenshot, wait_for_app
from helpers import blob_letters
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

PHISH = "[claim your grade here](https://example.com)![t](http://127.0.0.2/x.png)"
ATTACKS = {
    "dtype": PHISH,
    "hidden": "<http://127.0.0.2/a>",
    "lr": "www.example.com",
    "momentum": ":red[grade A] :material/home: :smile: $x^2$",
    "epochs": "<img src=http://127.0.0.2/y.png>",
    "seed": "$x^2$ a@b.example.com # Heading **bold**",
}
FOREIGN = ("example.com", "www.example.com", "127.0.0.2", "b.example.com")
NAME = "[grade](https://example.com) $y$ :red[z] :smile:.npz"


def foreign_requests(page):
    """A list that fills with every request the page makes to a host other than the app's."""
    seen = []
    page.on("request", lambda r: seen.append(r.url) if urlsplit(r.url).hostname in FOREIGN else None)
    return seen


USER_TEXT = ("[data-testid='stAlertContainer']", "[data-testid='stCaptionContainer']")


def injected(page):
    """Elements in the page that could only come from the attack text: {kind: count} (empty when none)."""
    inside = lambda tags: ", ".join(f"{box} {t}" for box in USER_TEXT for t in tags)
    found = {}
    for name, selector in {
        "link": "a[href*='example.com'], a[href*='127.0.0.2'], a[href^='mailto:'], " + inside(["a"]),
        "image": "img[src*='127.0.0.2'], img[src*='example.com'], " + inside(["img"]),
        "formula": ".katex, " + inside(["math"]),
        "markup": inside(["h1", "h2", "h3", "em", "code"]) + ", [data-testid='stAlertContainer'] strong",
    }.items():
        n = page.locator(selector).count()
        if n:
            found[name] = n
    return found


def alert_text(page):
    """The text of every alert box, without the invisible word joiners of ``ui.text.plain``."""
    return " ".join(page.get_by_test_id("stAlertContainer").all_inner_texts()).replace("\u2060", "")


def test_phishing_link_stays_text_and_the_page_works(page, app_url):
    seen = foreign_requests(page)
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in ATTACKS.items())
    page.goto(f"{app_url}/train?{query}")
    wait_for_app(page)
    warning = page.get_by_test_id("stAlertContainer").filter(has_text="Link settings")
    expect(warning).to_be_visible(timeout=30_000)
    text = alert_text(page)
    for key in ATTACKS:
        assert f"the link's {key}=" in text
    assert "[claim your grade here](https://example" in text  # shown as the characters it is (cut at 40)
    for literal in (":red[grade A] :material/home: :smile:", "<http://127.0.0.2/a>", "www.example.com",
                    "<img src=http://127.0.0.2/y.png>", "$x^2$ a@b.example.com # Heading"):
        assert literal in text  # every character shown as typed: nothing became markup
    assert "😄" not in text
    assert injected(page) == {}
    screenshot(page, "hostile_link_train_1024x768", size=(1024, 768))
    page.get_by_role("button", name="Train").click()
    expect(page.get_by_text(re.compile(r"Run 1 finished"))).to_be_visible(timeout=180_000)
    page.reload()
    wait_for_app(page)
    expect(page.get_by_role("button", name="Train")).to_be_enabled(timeout=30_000)
    assert "Link settings" not in alert_text(page)  # the URL now holds the clean settings
    assert all(v not in page.url for v in ("example.com", "127.0.0.2"))
    assert injected(page) == {} and seen == []
    screenshot(page, "hostile_link_reloaded_1024x768", size=(1024, 768))


def test_a_markdown_file_name_stays_text(page, app_url, tmp_path):
    seen = foreign_requests(page)
    images, labels = blob_letters(80, seed=5)
    buf = io.BytesIO()
    np.savez(buf, images=images, labels=labels)
    page.goto(app_url)
    wait_for_app(page)
    page.get_by_test_id("stSidebar").locator("input[type=file]").set_input_files(
        {"name": NAME, "mimeType": "application/octet-stream", "buffer": buf.getvalue()})
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("80 images")).to_be_visible(timeout=60_000)
    caption = " ".join(sidebar.get_by_test_id("stCaptionContainer").all_inner_texts()).replace("\u2060", "")
    assert NAME in caption
    assert injected(page) == {} and seen == []
    screenshot(page, "hostile_file_name_home_1024x768", size=(1024, 768))
