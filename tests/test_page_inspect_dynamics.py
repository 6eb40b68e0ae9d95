"""The Inspection page's Learning dynamics tab through AppTest: the hidden-layer map (its points against
lab.hidden_map, the snapshot slider, a picked letter) and the loss landscape (computed on a click, cached,
its numbers against mlp.network.loss); a model without snapshots gets the map of its final weights.

Runs on a small synthetic data set and a model trained here (no shipped or real file needed).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import ui.inspect_dynamics as dyn
from lab import hidden_map as hm
from lab import landscape as ls
from mlp.core import LETTERS
from mlp.data import load_dataset, split_dataset
from mlp.model_io import Model
from mlp.network import loss
from mlp.train import Hyper, Trainer
from ui.session import MODEL_KEY, CurrentModel

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "inspect.py")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dyn")
    rng = np.random.default_rng(0)
    labels = np.arange(600) % 10
    templates = (rng.random((10, 28, 28)) < 0.5) * 255
    images = np.clip(templates[labels] * 0.8 + rng.integers(0, 60, (600, 28, 28)), 0, 255).astype(np.uint8)
    np.savez(tmp / "letters.npz", images=images, labels=labels.astype(np.uint8))
    return tmp


@pytest.fixture(scope="module")
def split(data_dir):
    ds = load_dataset(data_dir / "letters.npz")
    return split_dataset(ds.images, ds.labels)


@pytest.fixture(scope="module")
def trained(split):
    hyper = Hyper(hidden=12, lr=0.1, momentum=0.9, epochs=3, batch_size=32, seed=4)
    t = Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper)
    t.run()
    return Model(t.params, hyper, t.history, snapshots=t.snapshots_with_last())


def new_app(data_dir, model, monkeypatch):
    monkeypatch.setenv("MLP_LAB_DATA_DIR", str(data_dir))
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state[MODEL_KEY] = CurrentModel(model, None, "trained")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def chart_rows(at, column):
    import pyarrow as pa

    for c in at.get("vega_lite_chart"):
        for ds in c.proto.datasets:
            rows = pa.ipc.open_stream(ds.data.data).read_all().to_pylist()
            if rows and column in rows[0]:
                return rows, json.loads(c.proto.spec)
    raise AssertionError(f"no chart with a column {column!r}")


def test_map_points_are_the_projection_and_the_slider_moves_them(data_dir, split, trained, monkeypatch):
    at = new_app(data_dir, trained, monkeypatch)
    rows = hm.sample_indices(len(split.y_valid))
    want = hm.hidden_map(trained.snapshots, split.x_valid, split.y_valid, rows)
    got, _ = chart_rows(at, "pc1")
    assert [r["row"] for r in got] == rows.tolist()
    np.testing.assert_allclose([[r["pc1"], r["pc2"]] for r in got], want.frames[-1].xy, atol=1e-6)
    assert [r["letter"] for r in got] == [LETTERS[t] for t in split.y_valid[rows]]
    assert sum(r["mark"] == "misclassified" for r in got) == int(want.frames[-1].wrong.sum())
    slider = at.select_slider(key=dyn.MAP_EPOCH)
    assert list(slider.options) == [str(e) for e, _ in trained.snapshots]
    slider.set_value(0).run()
    first, _ = chart_rows(at, "pc1")
    np.testing.assert_allclose([[r["pc1"], r["pc2"]] for r in first], want.frames[0].xy, atol=1e-6)
    assert not np.allclose(want.frames[0].xy, want.frames[-1].xy)
    assert any("Click a dot" in i.value for i in at.info)


def test_a_picked_point_shows_its_letter(data_dir, split, trained, monkeypatch):
    at = new_app(data_dir, trained, monkeypatch)
    rows = hm.sample_indices(len(split.y_valid))
    row = int(rows[7])
    assert dyn.picked_row({"selection": {"point": [{"row": row}]}}, rows) == row
    assert dyn.picked_row({"selection": {"point": [{"row": -5}]}}, rows) is None
    assert dyn.picked_row(None, rows) is None
    at.session_state[dyn.MAP_ROW] = row
    at.run()
    pred = LETTERS[int(np.argmax(trained.params.w_o.T @ np.maximum(trained.params.w_h.T @ split.x_valid[row]
                                                                    + trained.params.b_h[0], 0)
                                 + trained.params.b_o[0]))]
    text = " ".join(m.value for m in at.markdown)
    assert f"True letter **{LETTERS[split.y_valid[row]]}**, read as **{pred}**" in text
    assert any(f"validation letter #{row}" in list(image.captions) for image in at.image)


def test_landscape_on_a_click_with_its_numbers(data_dir, split, trained, monkeypatch):
    at = new_app(data_dir, trained, monkeypatch)
    button = at.button(key="dyn_ls_go")
    assert not button.disabled
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.button(key="dyn_ls_go").disabled  # cached for this model
    line, _ = chart_rows(at, "t")
    train = ls.sample_rows(split.x_train, split.y_train)
    first = trained.snapshots[0][1].copy(trained.params.w_h.dtype)
    at0 = [r["loss"] for r in line if r["set"] == "training" and abs(r["t"]) < 1e-9][0]
    at1 = [r["loss"] for r in line if r["set"] == "training" and abs(r["t"] - 1) < 1e-9][0]
    assert at0 == pytest.approx(loss(first, *train), rel=1e-4)
    assert at1 == pytest.approx(loss(trained.params, *train), rel=1e-4)
    grid, _ = chart_rows(at, "log10 loss")
    assert len(grid) == ls.GRID ** 2
    centre = [r["loss"] for r in grid if abs(r["a"]) < 1e-9 and abs(r["b"]) < 1e-9][0]
    assert centre == pytest.approx(loss(trained.params, *train), rel=1e-4)
    path, _ = chart_rows(at, "epoch")
    assert [r["epoch"] for r in path] == [e for e, _ in trained.snapshots]
    assert any(f"Loss at the centre {centre:.3f}" in c.value for c in at.caption)


def test_a_model_without_snapshots(data_dir, split, trained, monkeypatch):
    bare = Model(trained.params, trained.hyper, trained.history)
    at = new_app(data_dir, bare, monkeypatch)
    got, _ = chart_rows(at, "pc1")
    assert len(got) == min(hm.SAMPLE, len(split.y_valid))
    assert not any(s.key == dyn.MAP_EPOCH for s in at.get("select_slider"))
    at.button(key="dyn_ls_go").click().run()
    assert not at.exception
    assert any("no record of its first weights" in i.value for i in at.info)
    grid, _ = chart_rows(at, "log10 loss")
    assert len(grid) == ls.GRID ** 2
