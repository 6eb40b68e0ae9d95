"""The training page through Streamlit's AppTest: presets, URL settings, runs equal to the stepper,
pause/step/resume/stop, divergence, history (overlay, delete), loading models.

Runs on a small synthetic data set written by the test (no real images needed).
Each ``at.run()`` is one script run: while a run is active it does one chunk
of training, as one rerun of the page's fragment does in a browser.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import ui.keys as keys
import ui.train_charts as train_charts
import ui.training as training
from lab.settings import hyper_to_query
from mlp.data import load_dataset, split_dataset
from mlp.model_io import load_model, model_bytes
from mlp.train import PRESETS, RECORD_KEYS, Hyper, Trainer

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "train.py")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A 400-image synthetic set (10 random binary patterns plus noise) as the only data set."""
    rng = np.random.default_rng(0)
    labels = np.arange(400) % 10
    templates = (rng.random((10, 28, 28)) < 0.5) * 255
    images = np.clip(templates[labels] * 0.8 + rng.integers(0, 60, (400, 28, 28)), 0, 255).astype(np.uint8)
    np.savez(tmp_path / "letters.npz", images=images, labels=labels.astype(np.uint8))
    monkeypatch.setenv("MLP_LAB_DATA_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def split(data_dir):
    ds = load_dataset(data_dir / "letters.npz")
    return split_dataset(ds.images, ds.labels)


def new_app(query=None):
    at = AppTest.from_file(PAGE, default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def widgets(at):
    s = at.session_state
    return {name: s[key] for name, key in keys.W.items()}


def expected_widgets(hyper, batch_default=128):
    return {"hidden": hyper.hidden, "lr": hyper.lr, "momentum": hyper.momentum, "epochs": hyper.epochs,
            "full": hyper.batch_size is None, "batch": hyper.batch_size or batch_default, "seed": hyper.seed,
            "dtype": hyper.dtype}


def train_to_end(at, limit=500):
    for _ in range(limit):
        if at.session_state[keys.LIVE] is None:
            return at
        at.run()
    raise AssertionError("the run did not end")


def no_exceptions(at):
    assert not at.exception, [e.value for e in at.exception]


def test_page_loads_with_the_quick_demo_settings(data_dir):
    at = new_app()
    no_exceptions(at)
    assert widgets(at) == expected_widgets(PRESETS["quick"])
    assert at.button(key="train_start").disabled is False
    assert at.button(key="train_pause").disabled and at.button(key="train_stop").disabled
    assert {k: query_value(at, k) for k in hyper_to_query(PRESETS["quick"])} == hyper_to_query(PRESETS["quick"])
    assert not at.warning


def test_presets_set_the_controls(data_dir):
    at = new_app()
    at.button(key="train_preset_assignment").click().run()
    no_exceptions(at)
    assert widgets(at) == expected_widgets(PRESETS["assignment"])
    assert at.slider(key=keys.W["hidden"]).value == 1000
    assert at.toggle(key=keys.W["full"]).value is True
    assert at.number_input(key=keys.W["batch"]).disabled  # full batch: no batch size
    at.button(key="train_preset_quick").click().run()
    assert widgets(at) == expected_widgets(PRESETS["quick"])
    assert at.number_input(key=keys.W["batch"]).disabled is False


def query_value(at, key):
    v = at.query_params[key]
    return v[-1] if isinstance(v, list) else v


def test_query_parameters_set_the_controls_and_follow_them(data_dir):
    hyper = Hyper(hidden=77, lr=0.003, momentum=0.5, epochs=12, batch_size=48, seed=9, dtype="float64")
    at = new_app(hyper_to_query(hyper))
    no_exceptions(at)
    assert widgets(at) == expected_widgets(hyper)
    assert at.slider(key=keys.W["hidden"]).value == 77
    assert at.select_slider(key=keys.W["lr"]).value == 0.003
    assert at.radio(key=keys.W["dtype"]).value == "float64"
    assert any("link" in i.value for i in at.info)
    # changing a control rewrites the URL, so the link can be shared
    at.slider(key=keys.W["hidden"]).set_value(300).run()
    at.toggle(key=keys.W["full"]).set_value(True).run()
    assert query_value(at, "hidden") == "300" and query_value(at, "batch") == "full"
    assert query_value(at, "lr") == "0.003"


def test_bad_query_parameters_are_explained(data_dir):
    at = new_app({"hidden": "9999", "lr": "abc", "batch": "100000"})
    no_exceptions(at)
    w = widgets(at)
    assert w["hidden"] == 2048 and w["lr"] == PRESETS["quick"].lr and w["batch"] == 214  # clamped to the training set
    warning = " ".join(x.value for x in at.warning).replace("\\", "")  # the notes are escaped for markdown
    assert "hidden='9999'" in warning and "lr='abc'" in warning and "batch='100000'" in warning


@pytest.mark.parametrize("dtype, batch", [("float32", 32), ("float64", None)])
def test_a_short_run_gives_the_steppers_records(split, dtype, batch):
    hyper = Hyper(hidden=12, lr=0.05, momentum=0.9, epochs=3, batch_size=batch, seed=7, dtype=dtype)
    at = new_app(hyper_to_query(hyper))
    at.button(key="train_start").click().run()
    train_to_end(at)
    no_exceptions(at)
    runs = at.session_state[keys.RUNS]
    assert len(runs) == 1 and runs[0].status == "finished" and runs[0].hyper == hyper
    reference = Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper)
    expected = [reference.step_epoch() for _ in range(hyper.epochs)]
    assert [r["epoch"] for r in runs[0].history] == [1, 2, 3]
    for got, want in zip(runs[0].history, expected):
        for key in RECORD_KEYS[:-1]:
            assert got[key] == want[key], key
    np.testing.assert_array_equal(runs[0].params.w_h, reference.params.w_h)
    # the trained model is the session's current model (the inspection page shows it)
    current = at.session_state["current_model"]
    assert current.origin == "trained" and current.model.hyper == hyper
    np.testing.assert_array_equal(current.model.params.w_o, reference.params.w_o)
    # the page shows the final figures, the test accuracy and the curves
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Test accuracy"]) == pytest.approx(runs[0].test_acc, abs=1e-4)
    assert any("finished" in s.value for s in at.success)
    assert len(at.get("vega_lite_chart")) >= 2


def chart_rows(chart):
    """The rows of a chart element's dataset (Streamlit sends an Altair chart's data as Arrow)."""
    import pyarrow as pa

    (dataset,) = chart.proto.datasets
    return pa.ipc.open_stream(dataset.data.data).read_all().to_pandas()


def test_live_charts_hold_every_epoch_on_an_axis_that_grows_in_steps(data_dir, monkeypatch):
    monkeypatch.setattr(training, "CHUNK_SECONDS", 0.0)  # one epoch per script run (full batch)
    at = new_app(hyper_to_query(Hyper(hidden=8, lr=0.1, momentum=0.9, epochs=40, batch_size=None)))
    at.button(key="train_start").click().run()
    axis_ends = []
    live = at.session_state[keys.LIVE]
    while live.trainer.epoch < 14:
        at.run()
        loss, acc = at.get("vega_lite_chart")[:2]
        for chart, quantity in ((loss, "Cross-entropy loss"), (acc, "Accuracy")):
            rows = chart_rows(chart)
            assert sorted(set(rows["epoch"])) == list(range(1, live.trainer.epoch + 1))
            assert set(rows["set"]) == {"Training", "Validation"}
            spec = json.loads(chart.proto.spec)
            assert spec["encoding"]["y"]["title"] == quantity
        axis_ends.append((live.trainer.epoch, spec["encoding"]["x"]["scale"]["domain"][1]))
    assert axis_ends[-1][0] == 14
    assert all(end == (10 if epoch <= 10 else 20) for epoch, end in axis_ends)  # 1..10, then 1..20


def test_epoch_axis_grows_in_steps():
    ends = [train_charts.epoch_axis_end(done, 500) for done in (0, 10, 11, 20, 21, 50, 51, 101, 201, 500)]
    assert ends == [10, 10, 20, 20, 50, 50, 100, 200, 500, 500]
    assert train_charts.epoch_axis_end(25, 30) == 30 and train_charts.epoch_axis_end(0, 1) == 2


def test_pause_step_resume_stop(data_dir, monkeypatch):
    monkeypatch.setattr(training, "CHUNK_SECONDS", 0.0)  # one step per script run
    hyper = Hyper(hidden=8, lr=0.01, momentum=0.9, epochs=500, batch_size=16, seed=1)
    at = new_app(hyper_to_query(hyper))
    at.button(key="train_start").click().run()
    live = at.session_state[keys.LIVE]
    assert live.active and at.button(key="train_start").disabled
    assert not at.slider  # the settings step aside while a run is on
    while live.trainer.epoch < 2:
        at.run()
    at.button(key="train_pause").click().run()
    assert live.mode == "paused"
    frozen = (live.trainer.epoch, live.trainer.position)
    for _ in range(3):
        at.run()
    assert (live.trainer.epoch, live.trainer.position) == frozen
    assert len(at.get("vega_lite_chart")) == 2  # curves stay on screen while paused
    assert f"epoch {frozen[0]} of 500" in at.get("progress")[0].proto.text
    at.button(key="train_step").click().run()
    for _ in range(100):
        if live.mode == "paused":
            break
        at.run()
    assert live.mode == "paused" and live.trainer.epoch == frozen[0] + 1 and live.trainer.position == 0
    at.button(key="train_pause").click().run()  # the same button, labelled Resume
    at.run()
    assert live.active and live.trainer.epoch >= frozen[0] + 1
    at.button(key="train_stop").click().run()
    no_exceptions(at)
    assert at.session_state[keys.LIVE] is None
    run = at.session_state[keys.RUNS][-1]
    assert run.status == "stopped" and 0 < run.epochs_done < 500
    assert at.slider(key=keys.W["hidden"]).value == 8  # the settings come back unchanged
    assert any("stopped after" in s.value for s in at.success)


def test_step_one_epoch_from_nothing(data_dir):
    at = new_app(hyper_to_query(Hyper(hidden=8, lr=0.01, epochs=50, batch_size=16)))
    at.button(key="train_step").click().run()
    live = at.session_state[keys.LIVE]
    for _ in range(100):
        if live.mode == "paused":
            break
        at.run()
    assert live.trainer.epoch == 1 and live.mode == "paused"
    assert at.button(key="train_pause").label == "Resume" and at.button(key="train_pause").disabled is False


def test_a_click_waits_for_the_chunk_of_the_script_run_it_replaces(data_dir, monkeypatch):
    """A click starts a new script thread while the replaced one may still be inside a training chunk
    (Streamlit's fast reruns); Stop must then wait for that chunk before it evaluates the weights."""
    import threading
    import time

    monkeypatch.setattr(training, "CHUNK_SECONDS", 0.0)
    at = new_app(hyper_to_query(Hyper(hidden=8, lr=0.1, momentum=0.9, epochs=50, batch_size=16)))
    at.button(key="train_start").click().run()
    live = at.session_state[keys.LIVE]
    inside, overlaps = threading.Event(), []
    real_advance, real_record = live.advance, live.to_record

    def slow_chunk(budget):  # the replaced script run's chunk
        inside.set()
        time.sleep(0.5)
        try:
            return real_advance(budget)
        finally:
            inside.clear()

    def record():
        overlaps.append(inside.is_set())
        return real_record()

    monkeypatch.setattr(live, "advance", slow_chunk)
    monkeypatch.setattr(live, "to_record", record)
    old_run = threading.Thread(target=training.advance, args=(live,))
    old_run.start()
    assert inside.wait(5)
    at.button(key="train_stop").click().run()
    old_run.join()
    no_exceptions(at)
    assert overlaps == [False]
    (run,) = at.session_state[keys.RUNS]
    assert run.status == "stopped" and run.epochs_done == live.trainer.epoch


def run_until_it_stops_itself(hyper):
    """Train ``hyper`` on the page; the run must end early as diverged. Returns the app and its error text."""
    at = new_app(hyper_to_query(hyper))
    at.button(key="train_start").click().run()
    train_to_end(at)
    no_exceptions(at)
    run = at.session_state[keys.RUNS][-1]
    assert run.status == "diverged" and run.epochs_done < hyper.epochs
    error = " ".join(e.value for e in at.error)
    assert "stopped by itself" in error and "too high" in error and "Try" in error
    return at, error


def test_a_diverging_learning_rate_ends_in_the_explanation(data_dir):
    at, _ = run_until_it_stops_itself(Hyper(hidden=32, lr=1.0, momentum=0.99, epochs=50, batch_size=None, seed=1))
    assert "current_model" not in at.session_state  # diverged weights are not handed to the inspection page
    # the session keeps working: a sensible learning rate trains normally
    at.select_slider(key=keys.W["lr"]).set_value(0.01).run()
    at.slider(key=keys.W["epochs"]).set_value(3).run()
    at.button(key="train_start").click().run()
    train_to_end(at)
    no_exceptions(at)
    assert [r.status for r in at.session_state[keys.RUNS]] == ["diverged", "finished"]
    assert not at.error


def test_a_run_whose_hidden_units_die_ends_in_the_explanation(data_dir):
    """lr 1 on mini-batches of 16: the loss stays finite near chance, every ReLU dies; the run stops and says so."""
    _, error = run_until_it_stops_itself(Hyper(hidden=32, lr=1.0, momentum=0.9, epochs=50, batch_size=16, seed=521))
    assert "hidden units output 0" in error and "below zero" in error


def test_history_overlay_and_delete(data_dir):
    at = new_app(hyper_to_query(Hyper(hidden=8, lr=0.1, momentum=0.9, epochs=3, batch_size=32)))
    at.button(key="train_start").click().run()
    train_to_end(at)
    at.select_slider(key=keys.W["lr"]).set_value(0.01).run()
    at.button(key="train_start").click().run()
    train_to_end(at)
    no_exceptions(at)
    runs = at.session_state[keys.RUNS]
    assert [r.hyper.lr for r in runs] == [0.1, 0.01]
    overlay = at.multiselect(key="train_overlay")
    assert overlay.value == [runs[0].short_label, runs[1].short_label]
    specs = [json.dumps(c.proto.spec) for c in at.get("vega_lite_chart")]
    assert any("Validation accuracy" in s for s in specs)
    frame = at.dataframe[0].value
    assert list(frame.index) == [1, 2] and list(frame["lr"]) == [0.1, 0.01]
    overlay.set_value([runs[1].short_label]).run()
    at.selectbox(key="train_overlay_metric").set_value("train_loss").run()
    no_exceptions(at)
    at.selectbox(key="train_pick").set_value(runs[0].short_label).run()
    at.button(key="train_delete").click().run()
    no_exceptions(at)
    assert [r.run_id for r in at.session_state[keys.RUNS]] == [2]
    assert list(at.dataframe[0].value.index) == [2]


def test_load_a_saved_model_and_refuse_a_bad_one(split):
    hyper = Hyper(hidden=10, lr=0.05, epochs=2, batch_size=32, seed=4)
    trainer = Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper)
    trainer.run()
    data = model_bytes(trainer.params, hyper, trainer.history)
    at = new_app(hyper_to_query(Hyper(hidden=8, lr=0.1, epochs=2, batch_size=32)))
    at.button(key="train_start").click().run()
    train_to_end(at)  # a run first, so the history and its overlay are on the page
    at.file_uploader(key="train_model_upload").set_value(("bad.npz", b"this is not a model", "application/octet-stream")).run()
    no_exceptions(at)
    assert any("was not loaded" in e.value and "bad\\.npz" in e.value for e in at.error)
    assert len(at.session_state[keys.RUNS]) == 1
    at.file_uploader(key="train_model_upload").set_value(("good.npz", data, "application/octet-stream")).run()
    no_exceptions(at)
    runs = at.session_state[keys.RUNS][1:]
    assert len(runs) == 1 and runs[0].status == "loaded" and runs[0].history == trainer.history
    assert at.multiselect(key="train_overlay").value[-1] == runs[0].short_label
    assert at.session_state["current_model"].origin == "loaded"
    assert any("Loaded good\\.npz" in s.value for s in at.success)  # escaped for markdown
    # what the download button serves is that same file format
    back = load_model(model_bytes(runs[0].params, runs[0].hyper, runs[0].history))
    np.testing.assert_array_equal(back.params.w_h, trainer.params.w_h)
    assert back.hyper == hyper


def test_sessions_are_independent(data_dir):
    a = new_app(hyper_to_query(Hyper(hidden=8, lr=0.1, epochs=2, batch_size=32, seed=1)))
    b = new_app(hyper_to_query(Hyper(hidden=9, lr=0.01, epochs=2, batch_size=32, seed=2)))
    a.button(key="train_start").click().run()
    train_to_end(a)
    assert len(a.session_state[keys.RUNS]) == 1
    b.run()
    assert keys.RUNS not in b.session_state or not b.session_state[keys.RUNS]
    assert b.session_state[keys.SETTINGS].hidden == 9
