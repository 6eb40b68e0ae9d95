"""The inspection page with any model the loader accepts, the refusals of those it does not, and its caches.

Accepted (``mlp.model_io.load_lab_model``): 1 <= H <= 2048, any finite float weights. The page must
work for the extremes (H = 1, H = 2048, all-zero weights, weights near float32's largest value) and show
no NaN or infinity anywhere. Refused (H = 0, inf, NaN, 1-D or 3-D weights): the refusal is shown and
the page keeps the model it had. An uploaded letter or model file is read once per content, not on
every rerun. The data set is a small synthetic one (tests/helpers.py) in a folder of its own, so
every number here is recomputed with ``mlp`` on the page's own split.
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from helpers import blob_letters
from PIL import Image, ImageDraw, ImageFont
from streamlit.testing.v1 import AppTest

from lab.pretrain import PRETRAINED_ENV
from mlp.data import DATA_DIR_ENV, split_dataset
from mlp.model_io import model_bytes
from mlp.network import forward, init_params
from mlp.train import Hyper
from ui import keys

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "inspect.py")
UNIT = re.compile(r"^#\d+$")
NOT_A_NUMBER = re.compile(r"\b(nan|inf|infinity)\b", re.I)


@pytest.fixture
def split(tmp_path, monkeypatch):
    """A 1,200-letter data set as the page's only one, and no shipped model; the split the page uses."""
    images, labels = blob_letters(1200)
    np.savez(tmp_path / "letters.npz", images=images, labels=labels)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(PRETRAINED_ENV, str(tmp_path / "no_shipped_model.npz"))
    return split_dataset(images, labels)


def params(hidden, dtype=np.float32, seed=1):
    return init_params(784, hidden, 10, seed=seed, dtype=dtype)


def file_of(p):
    return model_bytes(p, Hyper(hidden=p.sizes[1]), [])


def raw_file(w_h, b_h, w_o, b_o):
    """A model .npz written by hand, for files the lab would never write itself."""
    buf = io.BytesIO()
    np.savez(buf, w_h=w_h, b_h=b_h, w_o=w_o, b_o=b_o, hyper=np.array(Hyper(hidden=4).to_json()))
    return buf.getvalue()


def run_page():
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def upload_model(at, name, data):
    at.sidebar.file_uploader(key=keys.INSPECT_MODEL_UPLOAD).set_value((name, data, "application/octet-stream")).run()
    assert not at.exception, at.exception
    return at


def upload_letter(at, name, data):
    at.file_uploader(key=keys.YL_UPLOAD).set_value((name, data, "image/png")).run()
    assert not at.exception, at.exception
    return at


def texts(at, kinds=("markdown", "caption", "error", "warning", "info", "success")):
    """Every string the page shows: markdown, captions, messages, image captions, widget labels."""
    out = [e.value for kind in kinds for e in at.get(kind)]
    out += [c for image in at.image for c in image.captions]
    out += [w.label for kind in ("number_input", "selectbox", "radio") for w in at.get(kind)]
    return out


def shown(markdown):
    """The text a reader sees of markdown source that went through ui.text.plain (escapes undone)."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


def unit_grid(at):
    return next(list(image.captions) for image in at.image if image.captions and all(map(UNIT.match, image.captions)))


def letter_png(ch="A", size=(200, 200)):
    img = Image.new("L", size, 255)
    ImageDraw.Draw(img).text((30, 5), ch, fill=0, font=ImageFont.load_default(size=170))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def assert_sane(at):
    """No exception and no NaN or infinity in any text of the page (a refusal may name them: not counted)."""
    assert not at.exception, at.exception
    bad = [t for t in texts(at, ("markdown", "caption", "warning", "info", "success")) if NOT_A_NUMBER.search(t)]
    assert not bad, bad


def shown_accuracy(at):
    found = [re.search(r"reads \*\*([\d.]+)%\*\* of ([\d,]+) letters", t) for t in texts(at)]
    found = [f for f in found if f]
    assert len(found) == 1
    return float(found[0].group(1)) / 100, int(found[0].group(2).replace(",", ""))


def test_one_hidden_unit(split):
    at = upload_model(run_page(), "h1.npz", file_of(params(1)))
    assert_sane(at)
    assert not at.error
    assert any("784-1-10 network loaded in this session" in t for t in texts(at))
    assert unit_grid(at) == ["#0"]
    assert at.number_input(key=keys.WG_PAGE).label == "Page (of 1)"
    assert at.button(key=keys.WG_NEXT).disabled and at.button(key=keys.WG_PREV).disabled
    at = upload_letter(at, "a.png", letter_png("A"))
    assert_sane(at)
    assert any("reads it as" in t for t in texts(at))


def test_2048_hidden_units(split):
    p = params(2048)
    at = upload_model(run_page(), "h2048.npz", file_of(p))
    assert_sane(at)
    assert unit_grid(at) == [f"#{u}" for u in range(32)]
    assert at.number_input(key=keys.WG_PAGE).label == "Page (of 64)"
    at.number_input(key=keys.WG_PAGE).set_value(64).run()
    assert_sane(at)
    assert unit_grid(at) == [f"#{u}" for u in range(2016, 2048)] and at.button(key=keys.WG_NEXT).disabled
    acc, n = shown_accuracy(at)
    want = np.mean(np.argmax(forward(p, split.x_valid).p, axis=1) == split.y_valid)
    assert n == len(split.y_valid) and acc == pytest.approx(want, abs=0.0005)


def test_all_zero_weights(split):
    p = params(8)
    for a in p.as_dict().values():
        a[:] = 0
    at = upload_model(run_page(), "zero.npz", file_of(p))
    assert_sane(at)
    # every letter gets p = 1/10 for each class; argmax is the first, A
    acc, _ = shown_accuracy(at)
    assert acc == pytest.approx(np.mean(split.y_valid == 0), abs=0.0005)
    mistakes = [c for image in at.image for c in image.captions if " read as " in c]
    assert mistakes and all(re.fullmatch(r"[B-J] read as A 10%", c) for c in mistakes)
    assert any("never fires" in i.value for i in at.info)
    at = upload_letter(at, "a.png", letter_png("A"))
    assert_sane(at)
    assert any("No hidden unit fires" in i.value for i in at.info)
    assert any("cannot tell: 10 letters tie at 10%" in t for t in texts(at))
    (bars,) = [c for c in at.get("vega_lite_chart") if c.proto.data.data]  # the probability bars
    rows = pa.ipc.open_stream(bars.proto.data.data).read_all().to_pylist()
    assert [r["class"] for r in rows] == list("ABCDEFGHIJ") and all(r["role"] == "other letters" for r in rows)
    assert np.allclose([r["probability"] for r in rows], 0.1)


def test_weights_near_the_largest_float32(split):
    """|w| up to 3e38, the largest float32 is 3.4e38: the float32 pass overflows; the page is still right."""
    base = params(16)
    huge = base.copy()
    huge.w_h[:] = np.sign(base.w_h) * np.float32(3e38)
    huge.w_o[:] = np.sign(base.w_o) * np.float32(3e38)
    at = upload_model(run_page(), "huge.npz", file_of(huge))
    assert_sane(at)
    assert any("overflows float32" in c.value for c in at.caption)
    truth = forward(huge.copy(np.float64), split.x_valid.astype(np.float64)).p  # float64 holds these logits
    acc, _ = shown_accuracy(at)
    assert acc == pytest.approx(np.mean(np.argmax(truth, axis=1) == split.y_valid), abs=0.0005)
    cells = sum(1 for image in at.image for c in image.captions if re.fullmatch(r"[A-J] read as [A-J] \d+%", c))
    assert cells > 0
    at = upload_letter(at, "a.png", letter_png("A"))
    assert_sane(at)
    assert any(re.search(r"reads it as \*\*[A-J]\*\* \(\d+%\)", t) for t in texts(at))


def test_weights_near_the_largest_float64(split):
    """|w| = 1e307: logits near 1e614 exist in no float type; the answers are those of the signs of the weights
    (with zero biases a ReLU network's argmax does not change when its weights are scaled)."""
    base = params(16, np.float64)
    signs = base.copy()
    signs.w_h[:], signs.w_o[:] = np.sign(base.w_h), np.sign(base.w_o)
    huge = signs.copy()
    huge.w_h *= 1e307
    huge.w_o *= 1e307
    at = upload_model(run_page(), "huge64.npz", file_of(huge))
    assert_sane(at)
    assert any("overflows float64" in c.value for c in at.caption)
    assert any("‖w‖ = > 1.8e308" in c.value for c in at.caption)  # 28 x 1e307 has no float64 value either
    o = forward(signs, split.x_valid.astype(np.float64)).o
    acc, _ = shown_accuracy(at)
    assert acc == pytest.approx(np.mean(np.argmax(o, axis=1) == split.y_valid), abs=0.0005)


def bad_files():
    r = np.random.default_rng(0)
    w_h, b_h, w_o, b_o = r.normal(size=(784, 4)), np.zeros((1, 4)), r.normal(size=(4, 10)), np.zeros((1, 10))
    inf, nan = w_h.copy(), w_o.copy()
    inf[3, 2], nan[1, 1] = np.inf, np.nan
    return {
        "no hidden units": (raw_file(np.zeros((784, 0)), np.zeros((1, 0)), np.zeros((0, 10)), b_o), "0 hidden units"),
        "an infinite weight": (raw_file(inf, b_h, w_o, b_o), "not finite"),
        "a NaN weight": (raw_file(w_h, b_h, nan, b_o), "not finite"),
        "1-D weights": (raw_file(w_h[:, 0], b_h, w_o, b_o), "2-D"),
        "3-D weights": (raw_file(w_h[None], b_h, w_o, b_o), "2-D"),
    }


@pytest.mark.parametrize("case", list(bad_files()))
def test_a_refused_model_leaves_the_previous_one(split, case, monkeypatch):
    from ui import inspect_view

    data, words = bad_files()[case]
    reads = []
    real_loader = inspect_view.load_lab_model
    monkeypatch.setattr(inspect_view, "load_lab_model", lambda b, n: reads.append(n) or real_loader(b, n))
    at = upload_model(run_page(), "good.npz", file_of(params(3)))
    assert any("784-3-10 network loaded in this session" in t for t in texts(at))
    at = upload_model(at, "bad.npz", data)
    refusal = [shown(e.value) for e in at.error if "model file was refused" in e.value]
    assert len(refusal) == 1 and "bad.npz:" in refusal[0] and words in refusal[0], refusal
    assert "the page shows the model it showed before" in refusal[0]
    assert any("784-3-10 network loaded in this session" in t for t in texts(at))  # still the good model
    assert unit_grid(at) == ["#0", "#1", "#2"]
    at.radio(key=keys.INSPECT_PART).set_value("test").run()  # a rerun: the refusal stays, the file is not read again
    assert_sane(at)
    assert [shown(e.value) for e in at.error if "model file was refused" in e.value] == refusal
    assert reads == ["good.npz", "bad.npz"]


def test_the_same_model_file_again_is_the_current_model_again(split):
    first, second = file_of(params(3)), file_of(params(4))
    at = upload_model(upload_model(run_page(), "a.npz", first), "b.npz", second)
    assert any("784-4-10 network loaded in this session" in t for t in texts(at))
    at = upload_model(at, "a_again.npz", first)
    assert any("784-3-10 network loaded in this session" in t for t in texts(at))
    assert at.session_state[keys.INSPECT_MODEL_FILE].value is None  # the session's current model holds it, once


def test_a_refused_model_with_no_model_before(split):
    at = upload_model(run_page(), "bad.npz", bad_files()["a NaN weight"][0])
    assert any("model file was refused" in e.value for e in at.error)
    assert any("No model yet" in i.value for i in at.info)


def test_your_letter_is_prepared_once_per_content(split, monkeypatch):
    from ui import inspect_sections

    calls = []
    real = inspect_sections.prepare_letter
    monkeypatch.setattr(inspect_sections, "prepare_letter", lambda b, n: calls.append(n) or real(b, n))
    at = upload_model(run_page(), "m.npz", file_of(params(6)))
    png = letter_png("C")
    at = upload_letter(at, "c.png", png)
    assert calls == ["c.png"] and any("reads it as" in t for t in texts(at))
    memo = at.session_state[keys.YL_PREPARED]
    assert memo.sha256 == hashlib.sha256(png).hexdigest() and memo.error is None
    at.radio(key=keys.WG_ORDER).set_value("norm").run()  # reruns
    at.radio(key=keys.INSPECT_PART).set_value("test").run()
    assert calls == ["c.png"] and any("reads it as" in t for t in texts(at))
    at = upload_letter(at, "same_bytes.png", png)  # a new upload of the same bytes is not prepared again
    assert calls == ["c.png"]
    at = upload_letter(at, "notes.png", b"not an image at all")
    assert calls == ["c.png", "notes.png"] and any("not an image" in e.value for e in at.error)
    at.radio(key=keys.WG_ORDER).set_value("index").run()  # the refusal is remembered too
    assert calls == ["c.png", "notes.png"] and any("not an image" in e.value for e in at.error)
    at = upload_letter(at, "d.png", letter_png("D"))
    assert calls == ["c.png", "notes.png", "d.png"] and not at.error


def test_a_diverged_session_model_is_not_shown(split):
    from mlp.model_io import Model
    from ui.session import MODEL_KEY, CurrentModel

    p = params(5)
    p.w_o[0, 0] = np.nan
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state[MODEL_KEY] = CurrentModel(Model(p, Hyper(hidden=5), []), None, "trained")
    at.run()
    assert not at.exception
    assert any("NaN or infinite weights" in w.value for w in at.warning)
    assert any("No model yet" in i.value for i in at.info)  # no shipped model in this test's data folder
    assert not at.tabs  # the page stops before its sections
