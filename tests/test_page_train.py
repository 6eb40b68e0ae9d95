"""The training page through Streamlit's AppTest: presets, URL settings, runs equal to the stepper,
pause/step/resume/stop, divergence, history (overlay, delete and undo, a full history), loading models,
what the download buttons serve, and a rerun that lands inside a run's last chunk.

Runs on a small synthetic data set written by the test (no real images needed).
Each ``at.run()`` is one script run: while a run is active it does one chunk
of training, as one rerun of the page's fragment does in a browser.
"""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import remote_trainers, rerun_until
from streamlit.testing.v1 import AppTest

import ui.keys as keys
import ui.train_charts as train_charts
import ui.train_history as train_history
import ui.training as training
from lab.settings import hyper_to_query
from mlp.data import load_dataset, split_dataset
from mlp.model_io import load_model, model_bytes
from mlp.train import RECORD_KEYS, Hyper, Trainer

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
    # these tests drive the training chunk by chunk in the page's own thread; the trainer process
    # (the default) has its own tests below and in tests/test_train_service.py
    monkeypatch.setenv("MLP_LAB_TRAINER", "inline")
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


# The presets as the course report and the README state them, written here (not read from PRESETS).
ASSIGNMENT_WIDGETS = {"hidden": 1000, "lr": 0.1, "momentum": 0.9, "epochs": 200, "full": True, "seed": 521}
QUICK_WIDGETS = {"hidden": 256, "lr": 0.1, "momentum": 0.9, "epochs": 5, "full": False, "batch": 128, "seed": 521,
                 "dtype": "float32"}
QUICK_QUERY = {"hidden": "256", "lr": "0.1", "momentum": "0.9", "epochs": "5", "batch": "128", "seed": "521",
               "dtype": "float32"}


@pytest.fixture
def served(monkeypatch):
    """What the page's download buttons serve: {file id or URL: bytes}, recorded as Streamlit registers them.

    A button given a callable (the model) registers it for deferred execution, which Streamlit runs when
    the button is clicked; a button given bytes (the curves) stores them under a media URL.
    """
    from streamlit.runtime.media_file_manager import MediaFileManager

    files = {}
    real_deferred, real_add = MediaFileManager.add_deferred, MediaFileManager.add

    def add_deferred(self, data_callable, *args, **kwargs):
        file_id = real_deferred(self, data_callable, *args, **kwargs)
        files[file_id] = data_callable
        return file_id

    def add(self, data, *args, **kwargs):
        url = real_add(self, data, *args, **kwargs)
        files[url] = data
        return url

    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    monkeypatch.setattr(MediaFileManager, "add", add)
    return files


def download(at, served, key):
    """The bytes the download button ``key`` serves."""
    (button,) = [b for b in at.get("download_button") if b.proto.id.endswith(key)]
    if button.proto.deferred_file_id:
        return served[button.proto.deferred_file_id]()
    data = served[button.proto.url]
    return data.encode() if isinstance(data, str) else data


def control_keys(at):
    """The keys of the first four buttons on the page: the run controls, in order."""
    return [b.key for b in at.button][:4]


def test_page_loads_with_the_quick_demo_settings(data_dir):
    at = new_app()
    no_exceptions(at)
    assert widgets(at) == QUICK_WIDGETS
    assert at.button(key="train_start").disabled is False
    assert at.button(key="train_pause").disabled and at.button(key="train_stop").disabled
    assert {k: query_value(at, k) for k in QUICK_QUERY} == QUICK_QUERY
    assert not at.warning


def test_presets_set_the_controls(data_dir):
    at = new_app()
    at.button(key="train_preset_assignment").click().run()
    no_exceptions(at)
    shown = widgets(at)
    assert {k: shown[k] for k in ASSIGNMENT_WIDGETS} == ASSIGNMENT_WIDGETS  # H 1000, 0.1, 0.9, 200 full-batch epochs
    assert at.slider(key=keys.W["hidden"]).value == 1000
    assert at.toggle(key=keys.W["full"]).value is True
    assert at.number_input(key=keys.W["batch"]).disabled  # full batch: no batch size
    at.button(key="train_preset_quick").click().run()
    assert widgets(at) == QUICK_WIDGETS
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
    assert w["hidden"] == 2048 and w["lr"] == 0.1 and w["batch"] == 214  # clamped to the training set
    warning = " ".join(x.value for x in at.warning).replace("\\", "")  # the notes are escaped for markdown
    assert "hidden='9999'" in warning and "lr='abc'" in warning and "batch='100000'" in warning


@pytest.mark.parametrize("dtype, batch", [("float32", 32), ("float64", None)])
def test_a_short_run_gives_the_steppers_records(split, served, dtype, batch):
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
    assert float(metrics["Test accuracy"]) == pytest.approx(accuracy_here(reference.params, split), abs=5e-5)
    assert any("finished" in s.value for s in at.success)
    assert len(at.get("vega_lite_chart")) >= 2
    assert train_charts.EPOCH_NOTE in [c.value for c in at.caption]  # what a point at epoch e is
    # the bytes the download buttons serve: the run's weights and curves
    model = load_model(download(at, served, "train_dl_model_last"))
    assert model.hyper == hyper and [r["epoch"] for r in model.history] == [1, 2, 3]
    for name in ("w_h", "b_h", "w_o", "b_o"):
        np.testing.assert_array_equal(getattr(model.params, name), getattr(reference.params, name))
    rows = download(at, served, "train_dl_csv_last").decode().splitlines()
    assert rows[0].split(",") == list(RECORD_KEYS) and len(rows) == 4
    assert float(rows[-1].split(",")[4]) == expected[-1]["valid_acc"]


def accuracy_here(params, split):
    """Accuracy on the test images, computed here: argmax of relu(x W_h + b_h) W_o + b_o."""
    x = split.x_test.astype(np.float64)
    logits = np.maximum(x @ params.w_h + params.b_h, 0) @ params.w_o + params.b_o
    return float(np.mean(np.argmax(logits, axis=1) == split.y_test))


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


def step_until_paused(at, live, limit=200):
    for _ in range(limit):
        if live.mode == "paused":
            return
        at.run()
    raise AssertionError("the step did not end")


def reference_params(split, hyper, epochs):
    trainer = Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper, n_data=len(split.order))
    for _ in range(epochs):
        trainer.step_epoch()
    return trainer.params


CONTROLS = ["train_start", "train_pause", "train_stop", "train_step"]


def test_pause_step_resume_stop(split, monkeypatch):
    monkeypatch.setattr(training, "CHUNK_SECONDS", 0.0)  # one step (here one mini-batch) per script run
    hyper = Hyper(hidden=8, lr=0.01, momentum=0.9, epochs=500, batch_size=16, seed=1)
    at = new_app(hyper_to_query(hyper))
    assert control_keys(at) == CONTROLS
    at.button(key="train_start").click().run()
    live = at.session_state[keys.LIVE]
    assert live.active and at.button(key="train_start").disabled
    assert not at.slider  # the settings step aside while a run is on
    assert control_keys(at) == CONTROLS and at.button(key="train_pause").label == "Pause"
    while live.trainer.epoch < 2 or live.trainer.position == 0:
        at.run()
    at.button(key="train_pause").click().run()
    assert live.mode == "paused"
    # one button, one key: Pause became Resume in place (see ui.training: a swapped key made the row jump)
    assert control_keys(at) == CONTROLS and at.button(key="train_pause").label == "Resume"
    frozen = (live.trainer.epoch, live.trainer.position)
    for _ in range(3):
        at.run()
    assert (live.trainer.epoch, live.trainer.position) == frozen
    assert len(at.get("vega_lite_chart")) >= 2  # curves stay on screen while paused (and the health row, if any)
    assert f"epoch {frozen[0]} of 500" in at.get("progress")[0].proto.text
    # inside an epoch, Step says it finishes that epoch, and does exactly that
    assert at.button(key="train_step").label == "Finish this epoch"
    assert f"{frozen[1]:,} of {live.trainer.n_train:,} images into epoch {frozen[0] + 1}" in at.markdown[0].value
    at.button(key="train_step").click().run()
    step_until_paused(at, live)
    assert live.trainer.epoch == frozen[0] + 1 and live.trainer.position == 0
    np.testing.assert_array_equal(live.trainer.params.w_h, reference_params(split, hyper, frozen[0] + 1).w_h)
    # at an epoch boundary, Step trains one whole epoch
    assert at.button(key="train_step").label == "Step one epoch"
    at.button(key="train_step").click().run()
    step_until_paused(at, live)
    assert live.trainer.epoch == frozen[0] + 2 and live.trainer.position == 0
    np.testing.assert_array_equal(live.trainer.params.w_h, reference_params(split, hyper, frozen[0] + 2).w_h)
    at.button(key="train_pause").click().run()  # Resume
    at.run()
    assert live.active and live.trainer.epoch >= frozen[0] + 2
    at.button(key="train_stop").click().run()
    no_exceptions(at)
    assert at.session_state[keys.LIVE] is None and control_keys(at) == CONTROLS
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


def replaced_script_run(live):
    """What the replaced script thread does when a rerun lands during its chunk: it trains the chunk to
    the run's end (``ui.training.advance``, no Streamlit call inside), then Streamlit stops it at its
    next Streamlit call, the ``st.session_state`` read in ``finish_run``: so it never writes the history."""
    with live.lock:
        live.advance(60.0)


def slow_steps(live, seconds=0.005):
    """Make each step of the run's trainer take a little longer, so a chunk lasts a few tens of ms."""
    real = live.trainer.step

    def step(max_batches=None):
        time.sleep(seconds)
        return real(max_batches)

    live.trainer.step = step


def test_a_rerun_inside_the_last_chunk_ends_with_the_run_in_the_history_50_times(data_dir, monkeypatch):
    """The stuck-page race: a rerun lands while the replaced thread trains the last chunk (or just after
    it); the run must reach the history every time, never stay 'Paused ... epoch 2 of 2'."""
    monkeypatch.setattr(train_history, "MAX_RUNS", 100)
    monkeypatch.setattr(training, "CHUNK_SECONDS", 0.0)  # the click's own script run trains one step
    hyper = Hyper(hidden=16, lr=0.05, momentum=0.9, epochs=2, batch_size=64, seed=3)  # 4 batches an epoch
    at = new_app(hyper_to_query(hyper))
    rng, landed_after = random.Random(0), 0
    for i in range(1, 51):
        at.button(key="train_start").click().run()
        live = at.session_state[keys.LIVE]
        assert live.run_id == i and live.active and not live.finished
        slow_steps(live)
        replaced = threading.Thread(target=replaced_script_run, args=(live,))
        replaced.start()
        time.sleep(rng.uniform(0.0, 0.08))  # the rerun lands inside the last chunk, or just after it
        landed_after += live.finished
        at.run()
        replaced.join()
        for _ in range(3):
            if at.session_state[keys.LIVE] is None:
                break
            at.run()
        no_exceptions(at)
        status = [m.value for m in at.markdown if "Paused" in m.value or "Training" in m.value]
        assert at.session_state[keys.LIVE] is None, f"run {i} did not reach the history: {status}"
        last = at.session_state[keys.RUNS][-1]
        assert (last.run_id, last.status, last.epochs_done) == (i, "finished", 2) and not status
    assert run_ids(at) == list(range(1, 51))
    assert 0 < landed_after < 50  # both cases happened: the rerun landed inside the chunk, and after it


def test_a_script_run_stopped_halfway_through_moving_a_run_leaves_it_once_in_the_history(data_dir, monkeypatch):
    """Streamlit stops a replaced script thread at any Streamlit call: here right after the run went into the
    history, before the live run was cleared. The next script run finishes the move; the run is there once."""
    from streamlit.runtime.scriptrunner_utils.exceptions import StopException

    monkeypatch.setattr(training, "CHUNK_SECONDS", 0.0)  # the click's script run trains one step
    at = new_app(hyper_to_query(Hyper(hidden=8, lr=0.1, momentum=0.9, epochs=2, batch_size=32)))
    at.button(key="train_start").click().run()
    live = at.session_state[keys.LIVE]
    with live.lock:
        live.advance(60.0)  # the run's last chunk, as a replaced thread trains it
    real, calls = train_history.admit, []

    def stopped_here(*args):
        calls.append(1)
        kept = real(*args)
        if len(calls) == 1:
            raise StopException()  # the first script run ends here: the run is in, LIVE not yet cleared
        return kept

    monkeypatch.setattr(train_history, "admit", stopped_here)
    at.run()
    assert run_ids(at) == [1] and at.session_state[keys.LIVE] is live  # halfway
    at.run()
    no_exceptions(at)
    assert run_ids(at) == [1] and at.session_state[keys.LIVE] is None and len(calls) == 2


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
    # Undo puts the very run back where it was, and it stays undoable across other actions
    at.selectbox(key="train_overlay_metric").set_value("valid_acc").run()
    assert "Undo: restore run 1" in at.button(key="train_undo").label
    at.button(key="train_undo").click().run()
    no_exceptions(at)
    restored = at.session_state[keys.RUNS]
    assert [r.run_id for r in restored] == [1, 2] and restored[0] is runs[0]
    assert list(at.dataframe[0].value.index) == [1, 2]
    assert runs[0].short_label in at.multiselect(key="train_overlay").options
    assert not [b for b in at.button if b.key == "train_undo"]  # nothing left to undo
    # deleting every run still offers the undo
    for run_id in (1, 2):
        at.selectbox(key="train_pick").set_value(restored[run_id - 1].short_label).run()
        at.button(key="train_delete").click().run()
    assert at.session_state[keys.RUNS] == [] and "restore run 2" in at.button(key="train_undo").label
    at.button(key="train_undo").click().run()
    assert [r.run_id for r in at.session_state[keys.RUNS]] == [2]


def train_runs(at, n, lr=0.1):
    for _ in range(n):
        at.button(key="train_start").click().run()
        train_to_end(at)
    no_exceptions(at)


def run_ids(at, key=keys.RUNS):
    return [r.run_id for r in at.session_state[key] or []]


def test_a_full_history_drops_nothing_the_user_chooses(data_dir, monkeypatch):
    monkeypatch.setattr(train_history, "MAX_RUNS", 2)
    at = new_app(hyper_to_query(Hyper(hidden=8, lr=0.1, momentum=0.9, epochs=2, batch_size=32)))
    train_runs(at, 3)
    # run 3 waits outside the full history; nothing was dropped; the page says so and asks
    assert run_ids(at) == [1, 2] and run_ids(at, keys.PENDING) == [3]
    assert at.session_state["current_model"].model.params is at.session_state[keys.PENDING][0].params
    text = " ".join(w.value for w in at.warning)
    assert "history is full (2 runs)" in text and "run 3" in text
    options = at.selectbox(key=keys.PENDING_DROP).options
    assert len(options) == 2 and options[0].startswith("Run 1 (") and options[1].startswith("Run 2 (")
    # the user removes run 1 for it (undoable)
    at.selectbox(key=keys.PENDING_DROP).set_value(1).run()
    at.button(key="train_pending_keep").click().run()
    no_exceptions(at)
    assert run_ids(at) == [2, 3] and not at.session_state[keys.PENDING]
    assert at.session_state[keys.DELETED][1].run_id == 1
    # Undo brings run 1 back; the history is full again, so run 1 is the one that waits
    at.button(key="train_undo").click().run()
    assert run_ids(at) == [2, 3] and run_ids(at, keys.PENDING) == [1]
    # discarding is the user's explicit choice
    at.button(key="train_pending_discard").click().run()
    no_exceptions(at)
    assert run_ids(at) == [2, 3] and not at.session_state[keys.PENDING]
    assert any("Run 1 discarded" in i.value for i in at.info)
    # two more runs both wait, in order
    train_runs(at, 2)
    assert run_ids(at) == [2, 3] and run_ids(at, keys.PENDING) == [4, 5]
    at.selectbox(key=keys.PENDING_DROP).set_value(3).run()
    at.button(key="train_pending_keep").click().run()
    assert run_ids(at) == [2, 4] and run_ids(at, keys.PENDING) == [5]


def upload(at, name, data):
    at.file_uploader(key="train_model_upload").set_value((name, data, "application/octet-stream")).run()
    no_exceptions(at)


def test_load_a_saved_model_and_refuse_a_bad_one(split, served):
    hyper = Hyper(hidden=10, lr=0.05, epochs=2, batch_size=32, seed=4)
    trainer = Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper)
    trainer.run()
    data = model_bytes(trainer.params, hyper, trainer.history)
    at = new_app(hyper_to_query(Hyper(hidden=8, lr=0.1, epochs=2, batch_size=32)))
    train_runs(at, 1)  # a run first, so the history, its overlay and a current model are on the page
    trained = at.session_state["current_model"]
    upload(at, "bad.npz", b"this is not a model")
    assert any("was not loaded" in e.value and "bad\\.npz" in e.value for e in at.error)
    assert len(at.session_state[keys.RUNS]) == 1 and at.session_state["current_model"] is trained
    upload(at, "good.npz", data)
    runs = at.session_state[keys.RUNS][1:]
    assert len(runs) == 1 and runs[0].status == "loaded" and runs[0].history == trainer.history
    assert at.multiselect(key="train_overlay").value[-1] == runs[0].short_label
    assert at.session_state["current_model"].origin == "loaded"
    # the message names the model it replaced, and a button goes back to it
    (message,) = [m.value for m in at.success if "Loaded good\\.npz" in m.value]  # escaped for markdown
    assert "in place of run 1's model" in message
    at.button(key="train_back_model").click().run()
    no_exceptions(at)
    assert at.session_state["current_model"].model.params is trained.model.params
    assert any("run 1's model" in i.value and "again" in i.value for i in at.info)
    assert not [b for b in at.button if b.key == "train_back_model"]
    # the loaded run's download serves the loaded weights
    back = load_model(download(at, served, "train_dl_model_last"))
    np.testing.assert_array_equal(back.params.w_h, trainer.params.w_h)
    assert back.hyper == hyper


def test_a_model_loaded_into_a_full_history_waits_and_a_first_load_says_what_it_replaces(split, monkeypatch):
    monkeypatch.setattr(train_history, "MAX_RUNS", 1)
    trainer = Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, Hyper(hidden=6, epochs=1))
    trainer.run()
    data = model_bytes(trainer.params, trainer.hyper, trainer.history)
    at = new_app()
    upload(at, "first.npz", data)
    assert any("in place of the shipped pretrained model" in m.value for m in at.success)
    upload(at, "second.npz", data)
    assert run_ids(at) == [1] and run_ids(at, keys.PENDING) == [2]  # nothing dropped
    assert any("history is full" in w.value for w in at.warning)
    at.button(key="train_back_model").click().run()  # back to the first file's model
    assert at.session_state["current_model"].model.params is at.session_state[keys.RUNS][0].params


def test_sessions_are_independent(data_dir):
    a = new_app(hyper_to_query(Hyper(hidden=8, lr=0.1, epochs=2, batch_size=32, seed=1)))
    b = new_app(hyper_to_query(Hyper(hidden=9, lr=0.01, epochs=2, batch_size=32, seed=2)))
    a.button(key="train_start").click().run()
    train_to_end(a)
    assert len(a.session_state[keys.RUNS]) == 1
    b.run()
    assert keys.RUNS not in b.session_state or not b.session_state[keys.RUNS]
    assert b.session_state[keys.SETTINGS].hidden == 9


# ---------------------------------------------------------------------------
# The default: runs train in the server's trainer process (lab.train_service)


@pytest.fixture
def remote(data_dir, monkeypatch):
    """The page with its trainer process (the default): fresh services for this test."""
    yield from remote_trainers(monkeypatch)


def test_a_run_trains_in_the_trainer_process_and_lands_in_the_history(remote, split):
    from lab.train_service import RemoteRun

    remote()
    hyper = Hyper(hidden=8, lr=0.01, momentum=0.9, epochs=3, batch_size=16, seed=1, dtype="float64")
    at = new_app(hyper_to_query(hyper))
    at.button(key="train_start").click().run()
    live = at.session_state[keys.LIVE]
    assert isinstance(live, RemoteRun) and training.redraw_every(live) == training.REMOTE_EVERY
    assert f"**Training** run {live.run_id}" in at.markdown[0].value and control_keys(at) == CONTROLS
    rerun_until(at, lambda: at.session_state[keys.LIVE] is None, what="the run's end")
    no_exceptions(at)
    run = at.session_state[keys.RUNS][-1]
    assert run.status == "finished" and run.epochs_done == 3
    np.testing.assert_allclose(run.params.w_h, reference_params(split, hyper, 3).w_h, rtol=1e-9, atol=1e-12)
    assert any("finished" in s.value for s in at.success)


def test_a_waiting_run_shows_its_place_and_an_estimate_then_trains(remote, split):
    from lab.budget import estimate_run_bytes

    hyper = Hyper(hidden=8, lr=0.01, momentum=0.9, epochs=2, batch_size=16, seed=1)
    blocker_hyper = Hyper(hidden=8, lr=0.01, epochs=10_000, batch_size=2, seed=2)
    svc = remote(budget=int(1.5 * estimate_run_bytes(blocker_hyper, len(split.y_train), len(split.y_valid),
                                                     shared_inputs=True)))  # room for one run at a time
    blocker = svc.start_run(blocker_hyper, 99, "x", "other data", split, browser="another browser")
    at = new_app(hyper_to_query(hyper))
    at.button(key="train_start").click().run()
    live = at.session_state[keys.LIVE]
    rerun_until(at, lambda: live.wait_seconds is not None, what="the estimate").run()  # drawn with it
    text = at.get("progress")[0].proto.text
    assert text.startswith(f"Run {live.run_id} waits for memory on the server: yours is next, ") and " s" in text
    assert live.queued and training.redraw_every(live) == training.WAIT_EVERY  # redrawn slowly while waiting
    assert at.button(key="train_pause").label == "Pause" and not at.button(key="train_stop").disabled
    blocker.stop()
    rerun_until(at, lambda: at.session_state[keys.LIVE] is None, what="the waiting run's end")
    no_exceptions(at)
    assert at.session_state[keys.RUNS][-1].status == "finished"


def test_a_trainer_that_cannot_start_a_run_is_explained(remote, monkeypatch):
    from lab import train_service

    svc = remote()

    def refuse(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(svc, "start_run", refuse)
    at = new_app(hyper_to_query(Hyper(hidden=8, lr=0.01, epochs=2, batch_size=16)))
    at.button(key="train_start").click().run()
    no_exceptions(at)
    assert keys.LIVE not in at.session_state and not at.button(key="train_start").disabled
    assert any("could not start this run" in e.value and "No space left" in e.value for e in at.error)
    assert train_service.service() is svc
