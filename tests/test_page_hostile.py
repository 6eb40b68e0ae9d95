"""Hostile input on the pages (AppTest): per class of bad input, the message is on the page and the session
works afterwards (Train is clickable and a short run completes).

Classes: link values, markdown file names, bombs through the sidebar uploader, the server's memory
budget (an upload, a run), and a set the server no longer holds. ``ui.text.plain`` is checked here too.
"""

from __future__ import annotations

import io
import re
import string
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import blob_letters
from streamlit.testing.v1 import AppTest

import ui.keys as keys
from lab import budget, train_service
from lab.settings import hyper_to_query
from mlp.train import Hyper
from ui.text import plain

ROOT = Path(__file__).resolve().parent.parent
TRAIN = str(ROOT / "pages" / "train.py")
HOME = str(ROOT / "pages" / "home.py")
SMALL = hyper_to_query(Hyper(hidden=8, lr=0.1, momentum=0.9, epochs=2, batch_size=32, seed=1))
MARKDOWN_NAME = "[grade](https://example.com) ![i](http://127.0.0.2/x.png) $x$ :red[z] <b>w</b> # h.npz"


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    images, labels = blob_letters(400)
    np.savez(tmp_path / "letters.npz", images=images, labels=labels)
    monkeypatch.setenv("MLP_LAB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv(budget.MEMORY_BUDGET_ENV, raising=False)
    return tmp_path


def train_page(query=SMALL):
    at = AppTest.from_file(TRAIN, default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def no_exceptions(at):
    assert not at.exception, [e.value for e in at.exception]


def trains(at, limit=300):
    """Click Train and run the page until the run is in the history: the session is working."""
    runs = lambda: len(at.session_state[keys.RUNS]) if keys.RUNS in at.session_state else 0
    before = runs()
    at.button(key="train_start").click().run()
    for _ in range(limit):
        if at.session_state[keys.LIVE] is None:
            break
        at.run()
    no_exceptions(at)
    assert runs() == before + 1, [e.value for e in at.error]
    assert at.session_state[keys.RUNS][-1].status == "finished"
    return at


def texts(elements):
    """The elements' markdown with the escapes of ``plain`` undone (backslashes, word joiners)."""
    return " ".join(re.sub(r"\\(.)", r"\1", e.value).replace("\u2060", "") for e in elements)


def npz(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def upload(at, name, content):
    at.sidebar.file_uploader(key="data_upload").set_value((name, content, "application/octet-stream"))
    return at.run()


# --- ui.text.plain -------------------------------------------------------------------------------------------------

ATTACKS = ["[a](http://x)", "![t](http://x/i.png)", "http://x", "www.x.com", "<http://x>", "a@b.example.com",
           "$x$", "$$y$$", ":red[x]", ":material/home:", ":smile:", "<b>x</b>", "# head", "1. item", "- item",
           "**b** _i_ `c` ~~s~~", "a\n\n# h", "&amp;", "x|y|z", "\\[x\\]"]


@pytest.mark.parametrize("text", ATTACKS)
def test_plain_leaves_no_markup_character_unescaped(text):
    out = plain(text)
    stripped = re.sub(r"\\.", "", out.replace("\u2060", ""))  # drop every escaped character
    assert not set(stripped) & set(string.punctuation), out
    assert "\n" not in out
    assert re.sub(r"\\(.)", r"\1", out).replace("\u2060", "") == " ".join(text.split())  # reads as typed


def test_plain_breaks_autolinks_and_shortcodes_with_an_invisible_joiner():
    assert plain("http://x") == "http\\:\u2060\\/\\/x"
    assert plain("www.x.com") == "www\u2060\\.x\\.com"
    assert plain("a@b.c") == "a\\@\u2060b\\.c"
    assert plain(":smile:") == "\\:\u2060smile\\:\u2060"
    assert plain("x" * 500).endswith("…") and len(plain("x" * 500)) == 200


# --- bad link values ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [{"hidden": "inf"}, {"epochs": "1e400"}, {"seed": "-1e400"}, {"batch": "inf"},
                                 {"dtype": "[claim your grade here](https://example.com)![t](http://127.0.0.2/x.png)"},
                                 {"lr": "x" * 10_000}, {"momentum": ["nan", "0.5"]}])
def test_a_bad_link_value_is_explained_and_the_session_trains(data_dir, bad):
    at = train_page({**SMALL, **bad})
    no_exceptions(at)
    (key,) = bad
    warning = texts(at.warning)
    assert f"the link's {key}=" in warning
    assert "](" not in " ".join(w.value for w in at.warning).replace("\\]\\(", "")  # no live link syntax
    trains(at)


# --- markdown file names -----------------------------------------------------------------------------------------


def test_a_markdown_file_name_is_shown_as_text_and_the_session_trains(data_dir):
    at = train_page()
    images, labels = blob_letters(300, seed=4)
    upload(at, MARKDOWN_NAME, npz(images=images, labels=labels))
    no_exceptions(at)
    captions = at.sidebar.caption
    assert MARKDOWN_NAME in texts(captions) and "[grade](https" not in " ".join(c.value for c in captions)
    assert at.sidebar.selectbox[0].value == f"Uploaded ({MARKDOWN_NAME})"  # an option: plain text already
    trains(at)
    run = at.session_state[keys.RUNS][-1]
    assert run.data_name == MARKDOWN_NAME and len(run.history) == 2


def test_a_refused_file_name_is_escaped_in_the_refusal(data_dir):
    at = upload(train_page(), MARKDOWN_NAME, b"PK\x03\x04 not really")
    no_exceptions(at)
    raw = " ".join(e.value for e in at.sidebar.error)
    assert "The upload was refused" in raw and "[grade](https" not in raw
    trains(at)


# --- bombs through the sidebar uploader --------------------------------------------------------------------------


def declared_bomb(n_images=10**8):
    """A .npz whose 'images' header declares ``n_images`` 28x28 images (73 GiB at 10^8) and holds none."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for key, shape in (("images", (n_images, 28, 28)), ("labels", (n_images,))):
            with zf.open(f"{key}.npy", "w") as f:
                np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": shape})
    return buf.getvalue()


def zip_bomb():
    """A small .npz whose images inflate to 157 MB (zeros compress about 1000 times): the loader's ratio check."""
    buf = io.BytesIO()
    header = {"descr": "|u1", "fortran_order": False, "shape": (200_000, 28, 28)}
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("images.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, header)
            block = bytes(28 * 28 * 10_000)
            for _ in range(20):
                f.write(block)
        with zf.open("labels.npy", "w") as f:
            np.save(f, np.zeros(200_000, np.uint8))
    return buf.getvalue()


@pytest.mark.parametrize("make, words", [(declared_bomb, r"images|memory|limit"), (zip_bomb, r"inflates .* times")])
def test_a_bomb_upload_is_refused_before_decoding_and_the_session_trains(data_dir, make, words):
    at = upload(train_page(), "bomb.npz", make())
    no_exceptions(at)
    error = texts(at.sidebar.error)
    assert "The upload was refused" in error and re.search(words, error), error
    assert "In use: **letters.npz**" in texts(at.sidebar.caption)
    trains(at)


# --- the server's memory budget -----------------------------------------------------------------------------------


def test_an_upload_over_the_memory_budget_is_refused_with_the_numbers(data_dir, monkeypatch):
    at = train_page()
    monkeypatch.setenv(budget.MEMORY_BUDGET_ENV, str(budget.rss_bytes() + 20 * 2**20))
    free_bytes = budget.free_bytes
    monkeypatch.setattr(budget, "free_bytes", lambda: 20 * 2**20)  # fixed: the suite's RSS moves as it frees memory
    images, labels = blob_letters(20_000, seed=9)  # 79 MiB once split: over what is left
    upload(at, "big.npz", npz(images=images, labels=labels))
    no_exceptions(at)
    error = texts(at.sidebar.error)
    assert "Not enough memory on the server to decode this upload: it needs about" in error
    assert "is free" in error and budget.MEMORY_BUDGET_ENV in error
    monkeypatch.delenv(budget.MEMORY_BUDGET_ENV)
    monkeypatch.setattr(budget, "free_bytes", free_bytes)
    trains(at)


def test_a_run_over_the_memory_budget_is_refused_and_the_next_one_trains(data_dir, monkeypatch):
    """Training in the server process (``$MLP_LAB_TRAINER=inline``): a run that does not fit in what is free."""
    monkeypatch.setenv(train_service.MODE_ENV, "inline")
    at = train_page(hyper_to_query(Hyper(hidden=2048, lr=0.1, epochs=2, batch_size=None, dtype="float64")))
    monkeypatch.setenv(budget.MEMORY_BUDGET_ENV, str(budget.rss_bytes() + 2 * 2**20))
    free_bytes = budget.free_bytes
    monkeypatch.setattr(budget, "free_bytes", lambda: 2 * 2**20)  # fixed: the suite's RSS moves as it frees memory
    at.button(key="train_start").click().run()
    no_exceptions(at)
    assert keys.LIVE not in at.session_state or at.session_state[keys.LIVE] is None  # no run started
    assert "Not enough memory on the server to start this run (H = 2048, float64" in texts(at.error)
    monkeypatch.delenv(budget.MEMORY_BUDGET_ENV)
    monkeypatch.setattr(budget, "free_bytes", free_bytes)
    trains(at)


def test_a_run_larger_than_the_trainers_whole_budget_is_refused_and_the_next_one_trains(data_dir, monkeypatch):
    """The trainer process (the default): a run that fits waits for memory; one larger than all of it is refused."""
    monkeypatch.delenv(train_service.MODE_ENV, raising=False)
    at = train_page(hyper_to_query(Hyper(hidden=2048, lr=0.1, epochs=2, batch_size=None, dtype="float64")))
    monkeypatch.setenv(budget.TRAINING_BUDGET_ENV, str(4 * 2**20))
    at.button(key="train_start").click().run()
    no_exceptions(at)
    assert keys.LIVE not in at.session_state or at.session_state[keys.LIVE] is None  # no run started
    assert "more than the 4.0 MiB the server gives all its runs together" in texts(at.error)
    monkeypatch.delenv(budget.TRAINING_BUDGET_ENV)
    trains(at)


def test_a_set_the_server_no_longer_holds_asks_for_the_upload_again(data_dir):
    from ui.budget import STORE
    from ui.data_source import UPLOAD_KEY

    at = train_page()
    images, labels = blob_letters(200, seed=8)
    upload(at, "gone.npz", npz(images=images, labels=labels))
    key = at.session_state[UPLOAD_KEY]["key"]
    with STORE._lock:  # as if the store had been emptied (a claimed set is never evicted)
        del STORE._sets[key]
    at.run()
    no_exceptions(at)
    assert "no longer holds your upload gone.npz; upload it again" in texts(at.sidebar.warning)
    assert "In use: **letters.npz**" in texts(at.sidebar.caption)
    trains(at)
