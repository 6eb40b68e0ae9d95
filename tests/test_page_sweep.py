"""The Sweep page through AppTest: a sweep of 6 learning rates trains in chunks, its curves overlaid; its runs
equal separate Trainer runs and go to the run history; Stop keeps what was learned; a refusal leaves the page working.

Runs on a small synthetic data set written by the test.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import remote_trainers, rerun_until
from streamlit.testing.v1 import AppTest

import ui.keys as keys
import ui.sweep as sw
from lab.budget import MemoryRefused
from mlp.data import load_dataset, split_dataset
from mlp.sweep import log_grid
from mlp.train import RECORD_KEYS, Hyper, Trainer

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "sweep.py")


@pytest.fixture
def split(tmp_path, monkeypatch):
    monkeypatch.setattr(sw, "CHUNK_SECONDS", 0.002)  # a step or so a script run: the tiny network would end in one
    rng = np.random.default_rng(0)
    labels = np.arange(400) % 10
    templates = (rng.random((10, 28, 28)) < 0.5) * 255
    images = np.clip(templates[labels] * 0.8 + rng.integers(0, 60, (400, 28, 28)), 0, 255).astype(np.uint8)
    np.savez(tmp_path / "letters.npz", images=images, labels=labels.astype(np.uint8))
    monkeypatch.setenv("MLP_LAB_DATA_DIR", str(tmp_path))
    # these tests drive the sweep chunk by chunk in the page's thread; the trainer process's are below
    monkeypatch.setenv("MLP_LAB_TRAINER", "inline")
    ds = load_dataset(tmp_path / "letters.npz")
    return split_dataset(ds.images, ds.labels)


def new_app():
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def small(at, epochs=3, hidden=16, batch=32):
    at.slider(key=sw.W["epochs"]).set_value(epochs)
    at.slider(key=sw.W["hidden"]).set_value(hidden)
    at.number_input(key=sw.W["batch"]).set_value(batch)
    return at.run()


def chart_runs(at):
    """{title: set of run labels} of the page's curve charts."""
    import pyarrow as pa

    out = {}
    for c in at.get("vega_lite_chart"):
        spec = json.loads(c.proto.spec)
        title = spec.get("encoding", {}).get("y", {}).get("title")
        rows = pa.ipc.open_stream(c.proto.data.data).read_all().to_pylist() if c.proto.data.data else []
        out[title] = {r.get("run") for r in rows} if rows and "run" in rows[0] else rows
    return out


def sweep_to_end(at, limit=300):
    for _ in range(limit):
        if at.session_state[sw.LIVE] is None:
            return at
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    raise AssertionError("the sweep did not end")


def test_a_sweep_of_six_rates_trains_and_goes_to_the_history(split):
    at = small(new_app())
    assert at.session_state[sw.W["count"]] == 6
    at.button(key="sweep_start").click().run()
    live = at.session_state[sw.LIVE]
    assert live is not None and live.runs == 6
    assert at.button(key="sweep_start").disabled and not at.button(key="sweep_stop").disabled
    for _ in range(100):  # until the first epoch's records are drawn
        at.run()
        if live.epoch >= 1:
            break
    assert at.session_state[sw.LIVE] is live and 1 <= live.epoch < 3
    live_curves = chart_runs(at)
    assert len(live_curves["Validation accuracy"]) == 6 and len(live_curves["Validation loss"]) == 6
    assert sw.EPOCH_NOTE in [c.value for c in at.caption]  # what a curve's point at epoch e is
    sweep_to_end(at)
    runs = at.session_state[keys.RUNS]
    lrs = log_grid(0.01, 0.5, 6)
    assert [r.hyper.lr for r in runs] == pytest.approx(lrs) and len({r.run_id for r in runs}) == 6
    assert all(r.status == "finished" and len(r.history) == 3 for r in runs)
    assert all([h["epoch"] for h in r.health] == [1, 2, 3] for r in runs)  # the history's health row has them
    hyper = Hyper(hidden=16, lr=lrs[3], momentum=0.9, epochs=3, batch_size=32, seed=521, dtype="float32")
    alone = Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper, n_data=len(split.order))
    alone.run()
    for mine, theirs in zip(runs[3].history, alone.history):
        assert [mine[k] for k in RECORD_KEYS[1:-1]] == pytest.approx([theirs[k] for k in RECORD_KEYS[1:-1]], abs=1e-4)
    assert "run history" in at.success[0].value
    final = chart_runs(at)
    assert len(final["Final validation accuracy"]) == 6
    assert [row["lr"] for row in final["Final validation accuracy"]] == pytest.approx(lrs)
    assert not at.button(key="sweep_start").disabled


def test_stop_keeps_what_was_learned_and_another_sweep_follows(split):
    at = small(new_app(), epochs=20)
    at.slider(key=sw.W["count"]).set_value(3).run()
    at.button(key="sweep_start").click().run()
    at.run()
    at.button(key="sweep_stop").click().run()
    assert not at.exception
    assert at.session_state[sw.LIVE] is None
    runs = at.session_state[keys.RUNS]
    assert [r.status for r in runs] == ["stopped"] * 3 and all(len(r.history) < 20 for r in runs)
    at.button(key="sweep_start").click().run()
    assert at.session_state[sw.LIVE] is not None and at.session_state[sw.LIVE].run_ids[0] == runs[-1].run_id + 1


def test_a_memory_refusal_is_a_message(split, monkeypatch):
    import lab.budget

    def refuse(needed, what, free=None):
        raise MemoryRefused(f"Not enough memory on the server to {what}.")

    monkeypatch.setattr(lab.budget, "check_memory", refuse)
    at = small(new_app())
    at.button(key="sweep_start").click().run()
    assert not at.exception and sw.LIVE not in at.session_state
    assert "Not enough memory" in at.error[0].value and "6 networks" in at.error[0].value


# ---------------------------------------------------------------------------
# The default: the sweep is one job of the server's trainer process


@pytest.fixture
def remote(split, monkeypatch):
    """The page with its trainer process (the default): fresh services for this test."""
    yield from remote_trainers(monkeypatch)


def test_a_sweep_in_the_trainer_process_draws_its_curves_and_lands_in_the_history(remote, split, monkeypatch):
    from lab.sweep_run import RemoteSweep

    remote()
    monkeypatch.setattr(sw, "RUN_EVERY", 0.05)
    at = small(new_app(), epochs=4)
    at.button(key="sweep_start").click().run()
    live = at.session_state[sw.LIVE]
    assert isinstance(live, RemoteSweep) and live.runs == 6
    # the epoch arrives on the trainer's thread, maybe after the last script run drew the page: draw once more
    rerun_until(at, lambda: 1 <= live.epoch, what="the first epoch").run()
    if at.session_state[sw.LIVE] is live:  # still training: six curves drawn live, nothing trained in this thread
        assert len(chart_runs(at)["Validation accuracy"]) == 6
        assert "networks training" in at.get("progress")[0].proto.text
    rerun_until(at, lambda: at.session_state[sw.LIVE] is None, what="the sweep's end")
    runs = at.session_state[keys.RUNS]
    lrs = log_grid(0.01, 0.5, 6)
    assert [r.hyper.lr for r in runs] == pytest.approx(lrs)
    assert all(r.status == "finished" and len(r.history) == 4 and r.params is not None for r in runs)
    hyper = Hyper(hidden=16, lr=lrs[2], momentum=0.9, epochs=4, batch_size=32, seed=521, dtype="float32")
    alone = Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper, n_data=len(split.order))
    alone.run()
    for mine, theirs in zip(runs[2].history, alone.history):
        assert [mine[k] for k in RECORD_KEYS[1:-1]] == pytest.approx([theirs[k] for k in RECORD_KEYS[1:-1]], abs=1e-4)
    np.testing.assert_allclose(runs[2].params.w_h, alone.params.w_h, atol=1e-4)
    assert runs[2].test_acc is not None and len(runs[2].snapshots) >= 2
    assert [h["epoch"] for h in runs[2].health] == [1, 2, 3, 4]
    assert runs[2].health[-1]["grad_w_h"] == pytest.approx(alone.health[-1]["grad_w_h"], rel=1e-3)
    assert "run history" in at.success[0].value


def test_stop_of_a_sweep_in_the_trainer_process_keeps_what_was_learned(remote, split):
    from lab.settings import MIN_BATCH

    remote()
    at = small(new_app(), epochs=50, hidden=1024, batch=MIN_BATCH)  # some seconds of training
    at.slider(key=sw.W["count"]).set_value(3).run()
    at.button(key="sweep_start").click().run()
    live = at.session_state[sw.LIVE]
    end = time.monotonic() + 60
    while live.epoch < 1:  # the page's buttons stay as last drawn: Stop enabled
        assert time.monotonic() < end, "no epoch within a minute"
        time.sleep(0.02)
    at.button(key="sweep_stop").click().run()
    rerun_until(at, lambda: at.session_state[sw.LIVE] is None, what="the stopped sweep's records")
    runs = at.session_state[keys.RUNS]
    assert [r.status for r in runs] == ["stopped"] * 3
    assert all(1 <= len(r.history) < 50 and r.params is not None for r in runs)


def test_a_sweep_over_the_trainers_whole_budget_is_refused_with_a_message(remote, split, monkeypatch):
    from lab.budget import TRAINING_BUDGET_ENV

    monkeypatch.setenv(TRAINING_BUDGET_ENV, "1M")
    remote(budget=1 << 20)
    at = small(new_app(), hidden=512)
    at.button(key="sweep_start").click().run()
    assert not at.exception and (sw.LIVE not in at.session_state or at.session_state[sw.LIVE] is None)
    text = at.error[0].value
    assert "This sweep (6 networks, H = 512) needs about" in text and "the server gives all its runs together" in text
