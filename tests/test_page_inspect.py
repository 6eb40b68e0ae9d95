"""AppTest tests of the inspection page with the shipped pretrained model (data/pretrained.npz).

The data set is whatever the app would use (data/letters.npz in CI, or
$MLP_LAB_DATA_DIR); expected numbers are recomputed here with ``mlp`` on the
same split, never hard-coded.
"""

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import IN_CI
from PIL import Image, ImageDraw, ImageFont
from streamlit.testing.v1 import AppTest

from lab.pretrain import pretrained_path
from mlp.core import LETTERS
from mlp.data import default_data_path, load_dataset, split_dataset
from mlp.metrics import confusion_matrix, misclassified
from mlp.model_io import load_model, model_bytes
from mlp.network import predict_proba
from mlp.train import Hyper, Trainer
from ui.inspect_sections import GRID_PAGE

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "inspect.py")
GALLERY = re.compile(r"^([A-J]) read as ([A-J]) (\d+)%$")


@pytest.fixture(scope="module")
def shipped():
    path = pretrained_path()
    if not path.exists():
        if IN_CI:
            pytest.fail(f"{path} is required in CI (python -m lab.pretrain makes it)")
        pytest.skip(f"{path} not present")
    return load_model(path).params


@pytest.fixture(scope="module")
def split():
    dataset = load_dataset(default_data_path())
    return split_dataset(dataset.images, dataset.labels)


@pytest.fixture(scope="module")
def expected(shipped, split):
    probs = predict_proba(shipped, split.x_valid)
    return {"probs": probs, "cm": confusion_matrix(split.y_valid, probs.argmax(1)),
            "mistakes": misclassified(probs, split.y_valid)}


def run_page():
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def charts(at):
    """(spec, rows) of every Vega-Lite chart: Streamlit ships the data as Arrow next to the spec."""
    import pyarrow as pa

    out = []
    for c in at.get("vega_lite_chart"):
        rows = []
        for ds in c.proto.datasets:
            rows += pa.ipc.open_stream(ds.data.data).read_all().to_pylist()
        if c.proto.data.data:  # a chart drawn with its data frame (ui.charts.draw)
            rows += pa.ipc.open_stream(c.proto.data.data).read_all().to_pylist()
        out.append((json.loads(c.proto.spec), rows))
    return out


def chart_with(at, *columns):
    for _spec, rows in charts(at):
        if rows and set(columns) <= set(rows[0]):
            return rows
    raise AssertionError(f"no chart with columns {columns} on the page")


def confusion_values(at):
    return chart_with(at, "true", "predicted", "count")


def captions_matching(at, pattern):
    found = []
    for image in at.image:
        caps = list(image.captions)
        if caps and all(pattern.match(c) for c in caps):
            found.append(caps)
    return found


def markdown_text(at):
    return "\n".join(m.value for m in at.markdown)


def letter_png(ch, fg=0, bg=255, size=(240, 240), font_size=190):
    """A letter drawn with Pillow's own font (Aileron), which is not among the training fonts."""
    img = Image.new("L", size, bg)
    ImageDraw.Draw(img).text((35, 5), ch, fill=fg, font=ImageFont.load_default(size=font_size))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_all_four_sections_render(shipped):
    at = run_page()
    assert [t.label for t in at.tabs] == ["Hidden units", "Mistakes", "Confusion matrix", "Your own letter",
                                          "Learning dynamics"]
    text = markdown_text(at)
    assert "shipped pretrained 784-" in text
    assert f"{shipped.sizes[1]}** hidden units" in text
    # the weight grid: one page of framed, enlarged tiles, captioned with unit numbers
    grids = captions_matching(at, re.compile(r"^#\d+$"))
    assert grids and len(grids[0]) == min(GRID_PAGE, shipped.sizes[1])
    assert captions_matching(at, GALLERY)  # the mistakes gallery
    assert len(charts(at)) == 4  # outgoing weights, confusion matrix, per-class accuracy, the hidden-layer map
    assert at.file_uploader(key="yl_upload") is not None


def test_confusion_matrix_matches_mlp(split, expected):
    at = run_page()
    values = confusion_values(at)
    cm = np.zeros((10, 10), int)
    for v in values:
        cm[LETTERS.index(v["true"]), LETTERS.index(v["predicted"])] = v["count"]
    assert cm.sum() == len(split.y_valid)
    assert np.array_equal(cm, expected["cm"])
    # the per-class accuracy chart agrees with the matrix
    acc = {v["letter"]: v["accuracy"] for v in chart_with(at, "letter", "accuracy")}
    for i, letter in enumerate(LETTERS):
        assert acc[letter] == pytest.approx(cm[i, i] / cm[i].sum())


def test_test_set_matrix_sums_to_its_size(split):
    at = run_page()
    at.radio(key="inspect_part").set_value("test").run()
    assert not at.exception
    assert sum(v["count"] for v in confusion_values(at)) == len(split.y_test)


def test_gallery_shows_only_mistakes_and_respects_filters(expected):
    at = run_page()
    mistakes = expected["mistakes"]
    caps = captions_matching(at, GALLERY)[0]
    want = [f"{LETTERS[t]} read as {LETTERS[p]} {c:.0%}" for t, p, c in
            zip(mistakes.true[:24], mistakes.predicted[:24], mistakes.confidence[:24])]
    assert caps == want  # most confident mistakes first, nothing right among them
    assert f"**{len(mistakes):,} misclassified**" in markdown_text(at)

    true_letter = int(np.bincount(mistakes.true, minlength=10).argmax())
    at.selectbox(key="mg_true").set_value(LETTERS[true_letter]).run()
    only_true = mistakes.filter(true=true_letter)
    caps = captions_matching(at, GALLERY)[0]
    assert len(caps) == min(24, len(only_true))
    assert all(GALLERY.match(c).group(1) == LETTERS[true_letter] for c in caps)
    assert f"**{len(only_true):,} misclassified**" in markdown_text(at)

    pred_letter = int(np.bincount(only_true.predicted, minlength=10).argmax())
    at.selectbox(key="mg_pred").set_value(LETTERS[pred_letter]).run()
    both = mistakes.filter(true=true_letter, predicted=pred_letter)
    caps = captions_matching(at, GALLERY)[0]
    assert len(caps) == min(24, len(both)) and len(both) > 0
    assert all(GALLERY.match(c).groups()[:2] == (LETTERS[true_letter], LETTERS[pred_letter]) for c in caps)

    at.selectbox(key="mg_pred").set_value(LETTERS[true_letter]).run()  # true == predicted: never a mistake
    assert not captions_matching(at, GALLERY)
    assert "No mistakes with these filters" in " ".join(i.value for i in at.info)


def test_selecting_a_cell_shows_its_letters(expected):
    at = run_page()
    cm = expected["cm"]
    # a click on the heatmap arrives as the chart's selection state
    t, p = 1, 3
    at.session_state["cm_chart_0"] = {"selection": {"cell": [{"true": LETTERS[t], "predicted": LETTERS[p]}]}}
    at.run()
    assert not at.exception
    assert (at.selectbox(key="cm_true").value, at.selectbox(key="cm_pred").value) == (LETTERS[t], LETTERS[p])
    cell = re.compile(rf"^{LETTERS[t]}→{LETTERS[p]} \d+%$")
    shown = captions_matching(at, cell)
    assert f"**{cm[t, p]:,} letters {LETTERS[t]} misread as {LETTERS[p]}**" in markdown_text(at)
    assert (len(shown[0]) if shown else 0) == min(24, cm[t, p])
    # the pickers choose a cell too, the diagonal included
    at.selectbox(key="cm_pred").set_value(LETTERS[t]).run()
    assert f"**{cm[t, t]:,} letters {LETTERS[t]} read right as {LETTERS[t]}**" in markdown_text(at)
    diag = captions_matching(at, re.compile(rf"^{LETTERS[t]}→{LETTERS[t]} \d+%$"))
    assert len(diag[0]) == min(24, cm[t, t])
    # the highlighted cell in the chart follows
    values = confusion_values(at)
    assert [(v["true"], v["predicted"]) for v in values if v["chosen"]] == [(LETTERS[t], LETTERS[t])]


def test_paging_the_weight_grid(shipped):
    at = run_page()
    first = captions_matching(at, re.compile(r"^#\d+$"))[0]
    assert first[0] == "#0"
    at.button(key="wg_next").click().run()
    second = captions_matching(at, re.compile(r"^#\d+$"))[0]
    assert second[0] == f"#{len(first)}" and at.number_input(key="wg_page").value == 2
    at.radio(key="wg_order").set_value("letter").run()
    at.selectbox(key="wg_letter").set_value("C").run()
    assert at.number_input(key="wg_page").value == 1
    by_c = captions_matching(at, re.compile(r"^#\d+$"))[0]
    assert by_c[0] == f"#{int(np.argmax(shipped.w_o[:, 2]))}"


def probabilities_here(params, x_row):
    """p = softmax(ReLU(x W_h + b_h) W_o + b_o) for one input (784,), written out here in float64, apart from mlp."""
    x = np.asarray(x_row, np.float64)[None, :]
    h = np.maximum(x @ params.w_h.astype(np.float64) + params.b_h, 0.0)
    o = (h @ params.w_o.astype(np.float64) + params.b_o)[0]
    e = np.exp(o - o.max())
    return e / e.sum()


VERDICT = re.compile(r"reads it as \*\*([A-J])\*\* \((\d+)%\)")


def test_your_letter_is_classified_and_shown(shipped):
    at = run_page()
    at.file_uploader(key="yl_upload").set_value(("my_letter.png", letter_png("A"), "image/png")).run()
    assert not at.exception and not at.error
    steps = [c for image in at.image for c in image.captions]
    for title in ("Your image", "Greyscale", "Light on dark", "Ink box", "28x28 input"):
        assert any(c.startswith(title) for c in steps), (title, steps)
    heading = [m.value for m in at.markdown if "reads it as" in m.value]
    assert len(heading) == 1 and VERDICT.search(heading[0])
    assert sum(v["probability"] for v in chart_with(at, "class", "probability")) == pytest.approx(1.0, abs=1e-5)
    assert captions_matching(at, re.compile(r"^#\d+ h=\d+\.\d\d$"))  # the units that fired most


@pytest.mark.parametrize("ch, fg, bg", [("A", 0, 255), ("C", 0, 255), ("F", 255, 0), ("J", 0, 255)])
def test_your_letter_verdict_is_the_most_probable_letter(shipped, ch, fg, bg):
    """The letter the page names, its percentage and the chart's bars are the model's own probabilities for the
    upload (computed here): the most probable letter, not any other."""
    from lab.your_letter import prepare_letter

    png = letter_png(ch, fg, bg)
    p = probabilities_here(shipped, prepare_letter(png).x)
    best = int(np.argmax(p))
    at = run_page()
    at.file_uploader(key="yl_upload").set_value((f"{ch}.png", png, "image/png")).run()
    assert not at.exception and not at.error
    (verdict,) = [VERDICT.search(m.value) for m in at.markdown if "reads it as" in m.value]
    assert verdict.group(1) == LETTERS[best], (verdict.group(0), np.round(p, 3))
    assert abs(int(verdict.group(2)) - 100 * p[best]) <= 0.51, (verdict.group(0), p[best])
    bars = {v["class"]: v for v in chart_with(at, "class", "probability")}  # ui.charts.probability_bars
    assert [bars[c]["probability"] for c in LETTERS] == pytest.approx(p, abs=1e-5)
    assert [c for c in LETTERS if bars[c]["role"] == "its answer"] == [LETTERS[best]]  # the highlighted bar


def test_a_text_file_gets_a_clear_message():
    at = run_page()
    at.file_uploader(key="yl_upload").set_value(("notes.png", b"shopping list: eggs, milk\n", "image/png")).run()
    assert not at.exception
    assert any("not an image" in e.value for e in at.error)
    assert not [m.value for m in at.markdown if "reads it as" in m.value]


def test_session_model_and_model_upload(split, shipped):
    from ui.session import MODEL_KEY, CurrentModel

    hyper = Hyper(hidden=16, lr=0.1, momentum=0.9, epochs=1, batch_size=256, seed=1)
    trainer = Trainer(split.x_train[:2000], split.y_train[:2000], split.x_valid[:200], split.y_valid[:200], hyper)
    trainer.run()
    from mlp.model_io import Model

    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state[MODEL_KEY] = CurrentModel(Model(trainer.params, hyper, trainer.history), None, "trained")
    at.run()
    assert not at.exception
    assert "784-16-10 network trained in this session" in markdown_text(at)
    assert len(captions_matching(at, re.compile(r"^#\d+$"))[0]) == 16
    at.radio(key="inspect_model_choice").set_value("shipped").run()
    assert "shipped pretrained" in markdown_text(at)

    # a model file loaded in the sidebar becomes the session's model
    at2 = run_page()
    data = model_bytes(trainer.params, hyper, trainer.history)
    upload = at2.sidebar.file_uploader(key="inspect_model_upload")
    upload.set_value(("small.npz", data, "application/octet-stream")).run()
    assert not at2.exception
    assert "784-16-10 network loaded in this session" in markdown_text(at2)
    at3 = run_page()
    upload = at3.sidebar.file_uploader(key="inspect_model_upload")
    upload.set_value(("junk.npz", b"not a zip", "application/octet-stream")).run()
    assert any("model file was refused" in e.value for e in at3.error)


def test_letters_in_an_unseen_font_are_read_right(shipped):
    """The upload pipeline makes inputs like the training letters: Aileron (Pillow's font, not a training
    font) letters, dark on light and light on dark, are read right by the shipped model."""
    from lab.inspect_model import predict_one
    from lab.your_letter import prepare_letter

    for fg, bg in ((0, 255), (255, 0)):
        xs = [prepare_letter(letter_png(ch, fg, bg)).x for ch in LETTERS]
        read = [LETTERS[int(np.argmax(predict_one(shipped, x)))] for x in xs]
        right = sum(a == b for a, b in zip(read, LETTERS))
        assert right >= 8, f"read {''.join(read)} for {LETTERS} ({'dark on light' if fg == 0 else 'light on dark'})"
