"""lab.runs: chunked runs (pause, step, stop, divergence), run records, CSV and chart rows (URL: test_settings)."""

from __future__ import annotations

import csv
import io
import math
import threading
from dataclasses import replace

import numpy as np
import pytest

from lab.runs import (
    LiveRun,
    RunRecord,
    chance_level_note,
    curve_rows,
    divergence_advice,
    history_csv,
    loaded_record,
    overlay_rows,
    runs_table,
)
from mlp.model_io import Model
from mlp.train import RECORD_KEYS, Hyper, Trainer


def synthetic_split(n=300, seed=0):
    """A learnable toy problem: 10 random binary 784-pixel patterns plus noise, scaled to [0, 1]."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    templates = (rng.random((10, 784)) < 0.5).astype(np.float32)
    x = np.clip(templates[labels] * 0.8 + rng.random((n, 784)).astype(np.float32) * 0.25, 0, 1)
    n_train, n_valid = n // 2, n // 4
    return (x[:n_train], labels[:n_train], x[n_train:n_train + n_valid], labels[n_train:n_train + n_valid],
            x[n_train + n_valid:], labels[n_train + n_valid:])


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class TickingClock(FakeClock):
    """Advances by ``tick`` seconds every time it is read."""

    def __init__(self, tick):
        super().__init__()
        self.tick = tick

    def __call__(self):
        self.now += self.tick
        return self.now


SMALL = Hyper(hidden=8, lr=0.05, momentum=0.9, epochs=4, batch_size=32, seed=3)


def make_trainer(hyper=SMALL, data=None):
    x_tr, y_tr, x_va, y_va, _, _ = data or synthetic_split()
    return Trainer(x_tr, y_tr, x_va, y_va, hyper)


# --- LiveRun --------------------------------------------------------------------


def collect(live, budget=0.01, limit=1000):
    records = []
    for _ in range(limit):
        if not live.active:
            break
        records += live.advance(budget)
    return records


@pytest.mark.parametrize("batch_size", [32, 7, None])
def test_chunked_run_gives_the_steppers_records(batch_size):
    """Chunks of any size (here mostly one batch) give exactly the records of step_epoch."""
    hyper = replace(SMALL, batch_size=batch_size)
    reference = make_trainer(hyper)
    expected = [reference.step_epoch() for _ in range(hyper.epochs)]
    live = LiveRun(make_trainer(hyper), 1, "toy", clock=TickingClock(0.004))
    records = collect(live, budget=0.01)
    assert live.finished and live.reason is None
    assert len(records) == hyper.epochs
    for got, want in zip(records, expected):
        assert got["epoch"] == want["epoch"]
        for key in RECORD_KEYS[1:-1]:
            assert got[key] == want[key], key
    np.testing.assert_array_equal(live.trainer.params.w_h, reference.params.w_h)


def test_advance_stops_at_the_time_budget():
    live = LiveRun(make_trainer(replace(SMALL, batch_size=16, epochs=50)), 1, "toy", clock=TickingClock(0.01))
    live.advance(0.1)
    t = live.trainer
    done = t.epoch * t.batches_per_epoch + t.position // t.batch_size
    assert 1 <= done < t.batches_per_epoch * 50  # bounded work, not the whole run
    assert not live.finished


def test_an_interrupt_from_another_thread_ends_the_chunk_after_its_current_step():
    live = LiveRun(make_trainer(replace(SMALL, batch_size=16, epochs=50)), 1, "toy", clock=FakeClock())
    live.interrupt.set()
    assert live.advance(10.0) == [] and live.trainer.position == 0 and live.trainer.epoch == 0
    live.interrupt.clear()
    real_step, steps = live.trainer.step, []

    def step_then_interrupt(max_batches=None):
        steps.append(max_batches)
        live.interrupt.set()  # as a click's callback in the new script thread would
        return real_step(max_batches)

    live.trainer.step = step_then_interrupt
    live.advance(10.0)  # the fake clock never moves: only the interrupt ends this chunk
    assert len(steps) == 1


def test_mini_batch_steps_are_short_so_an_interrupt_is_seen_soon():
    live = LiveRun(make_trainer(replace(SMALL, batch_size=1)), 1, "toy", clock=FakeClock())  # 150 batches an epoch
    assert live._step_batches(5.0) == 1  # the first step measures the time of a batch
    live._batch_seconds = 0.01
    assert live._step_batches(5.0) == 10  # STEP_SECONDS = 0.1 of work, not half of the 5 s left
    assert live._step_batches(0.08) == 4 and live._step_batches(-1.0) == 1


def test_pause_resume_step_stop():
    live = LiveRun(make_trainer(replace(SMALL, epochs=10)), 1, "toy", clock=TickingClock(0.001))
    live.advance(1e9)  # a huge budget still stops at the end of the run...
    assert live.finished
    live = LiveRun(make_trainer(replace(SMALL, epochs=10)), 2, "toy", clock=TickingClock(0.003))
    while live.trainer.epoch < 2:
        live.advance(0.01)
    live.pause()
    before = (live.trainer.epoch, live.trainer.position, live.trainer.params.w_o.copy())
    assert live.advance(1.0) == [] and not live.active
    assert (live.trainer.epoch, live.trainer.position) == before[:2]
    np.testing.assert_array_equal(live.trainer.params.w_o, before[2])
    live.step()
    assert live.active and live.mode == "stepping"
    records = collect(live)
    assert len(records) == 1 and records[0]["epoch"] == before[0] + 1
    assert live.mode == "paused" and live.trainer.position == 0
    live.resume()
    assert live.active
    live.advance(0.005)
    live.stop()
    assert live.finished and not live.active
    record = live.to_record()
    assert record.status == "stopped" and record.epochs_done == live.trainer.epoch < 10


def test_step_from_a_new_run_trains_one_epoch():
    live = LiveRun(make_trainer(), 1, "toy", mode="stepping", clock=TickingClock(0.001))
    records = collect(live)
    assert [r["epoch"] for r in records] == [1] and live.mode == "paused"


def test_wall_time_leaves_out_pauses_and_long_gaps():
    clock = FakeClock()
    live = LiveRun(make_trainer(replace(SMALL, epochs=100)), 1, "toy", clock=clock)
    clock.now = 0.5  # click -> first chunk
    live.advance(0.0)
    clock.now = 1.0
    live.pause()
    assert live.wall_seconds == pytest.approx(1.0)
    clock.now = 60.0  # paused for a minute
    live.resume()
    clock.now = 61.0
    live.advance(0.0)
    assert live.wall_seconds == pytest.approx(2.0)
    clock.now = 100.0  # the user was on another page: the fragment did not run
    live.advance(0.0)
    assert live.wall_seconds == pytest.approx(2.0)
    left = live.seconds_left()
    done = live.trainer.epoch + live.trainer.epoch_fraction  # row blocks and updates of the epoch so far
    assert 0 < live.trainer.epoch_fraction < 1
    assert left == pytest.approx(2.0 / done * (100 - done))


def test_divergence_stops_the_run_and_explains():
    hyper = Hyper(hidden=32, lr=1.0, momentum=0.99, epochs=30, batch_size=None, seed=1)
    live = LiveRun(make_trainer(hyper), 1, "toy", clock=TickingClock(0.001))
    collect(live)
    assert live.finished and live.reason is not None
    assert live.trainer.epoch < 30
    record = live.to_record()
    assert record.status == "diverged" and record.reason == live.reason
    advice = divergence_advice(hyper, record.reason)
    assert record.reason in advice and "learning rate 1 is too high for full batch" in advice
    assert "0.1" in advice and "momentum" in advice


def test_to_record_has_final_figures_and_test_accuracy():
    x_tr, y_tr, x_va, y_va, x_te, y_te = synthetic_split()

    class Split:
        x_test, y_test = x_te, y_te

    trainer = Trainer(x_tr, y_tr, x_va, y_va, replace(SMALL, lr=0.01))
    live = LiveRun(trainer, 4, "toy", split=Split, clock=TickingClock(0.001))
    collect(live)
    record = live.to_record()
    assert record.status == "finished" and record.run_id == 4 and record.data_name == "toy"
    tl, ta, vl, va = trainer.evaluate()
    assert record.final == {"train_loss": tl, "train_acc": ta, "valid_loss": vl, "valid_acc": va}
    assert record.test_acc == pytest.approx(accuracy_here(record.params, x_te, y_te), abs=1e-12)
    assert record.train_seconds == pytest.approx(sum(r["seconds"] for r in trainer.history))
    assert record.history == trainer.history and record.history is not trainer.history


def accuracy_here(params, x, y):
    """Accuracy computed here, in float64: argmax of relu(x W_h + b_h) W_o + b_o against the labels."""
    w_h, b_h, w_o, b_o = (np.asarray(getattr(params, k), np.float64) for k in ("w_h", "b_h", "w_o", "b_o"))
    logits = np.maximum(np.asarray(x, np.float64) @ w_h + b_h, 0) @ w_o + b_o
    return float(np.mean(np.argmax(logits, axis=1) == y))


# --- a run records its own end --------------------------------------------------


def test_the_call_that_ends_a_run_builds_its_record_once():
    x_tr, y_tr, x_va, y_va, x_te, y_te = synthetic_split()

    class Split:
        x_test, y_test = x_te, y_te

    live = LiveRun(Trainer(x_tr, y_tr, x_va, y_va, SMALL), 1, "toy", split=Split, clock=TickingClock(0.001))
    builds, real = [], live.to_record
    live.to_record = lambda: builds.append(1) or real()
    while not live.finished:
        assert live.record is None and live.final_record() is None  # nothing while the run goes on
        live.advance(0.01)
    record = live.record  # built by the advance that trained the last epoch
    assert builds == [1] and record.status == "finished" and record.epochs_done == SMALL.epochs
    assert live.final_record() is record and live.advance(1.0) == [] and builds == [1]
    np.testing.assert_array_equal(record.params.w_h, live.trainer.params.w_h)
    assert record.test_acc == pytest.approx(accuracy_here(record.params, x_te, y_te), abs=1e-12)
    stopped = LiveRun(make_trainer(replace(SMALL, epochs=50)), 2, "toy", clock=TickingClock(0.001))
    stopped.advance(0.01)
    stopped.stop()  # Stop builds it too
    assert stopped.record.status == "stopped" and stopped.record.epochs_done == stopped.trainer.epoch < 50


def test_a_run_ended_by_a_thread_that_then_dies_is_recorded():
    """The replaced script thread trains the last chunk and is stopped at its next Streamlit call (here:
    it raises); the run is complete anyway, and another thread asking for it waits for the chunk."""
    live = LiveRun(make_trainer(replace(SMALL, epochs=3)), 1, "toy", clock=TickingClock(0.001))
    inside, got = threading.Event(), []
    real_step = live.trainer.step

    def step(max_batches=None):
        inside.set()
        return real_step(max_batches)

    live.trainer.step = step

    class Stopped(Exception):
        """Streamlit's StopException, raised at the replaced thread's next Streamlit call."""

    def next_streamlit_call():
        raise Stopped

    def replaced_thread():
        try:
            with live.lock:
                live.advance(1e9)
            next_streamlit_call()  # finish_run's st.session_state read: the thread ends here
            got.append("the history was written")  # never reached
        except Stopped:
            pass

    old = threading.Thread(target=replaced_thread)
    old.start()
    assert inside.wait(5)
    asker = threading.Thread(target=lambda: got.append(live.final_record()))
    asker.start()
    old.join()
    asker.join()
    assert live.finished and got == [live.record]  # the asker waited for the chunk, then got the record
    assert live.record.status == "finished" and live.record.epochs_done == 3


def test_inside_epoch_and_what_step_does_there():
    live = LiveRun(make_trainer(replace(SMALL, batch_size=16, epochs=10)), 1, "toy", clock=FakeClock())
    assert not live.inside_epoch
    live.advance(0.0)  # one mini-batch
    live.pause()
    assert live.inside_epoch and live.trainer.position == 16
    live.step()
    records = collect(live)
    assert [r["epoch"] for r in records] == [1] and not live.inside_epoch and live.mode == "paused"
    reference = make_trainer(replace(SMALL, batch_size=16, epochs=10))
    reference.step_epoch()
    np.testing.assert_array_equal(live.trainer.params.w_h, reference.params.w_h)  # that epoch finished, no more
    live.step()
    collect(live)
    reference.step_epoch()
    np.testing.assert_array_equal(live.trainer.params.w_h, reference.params.w_h)  # then one whole epoch


def test_chance_level_note():
    chance = {"train_loss": math.log(10) + 0.01, "train_acc": 0.1}
    learning = {"train_loss": 0.8, "train_acc": 0.7}
    assert chance_level_note([learning, chance, chance]) is None  # too few epochs
    assert chance_level_note([learning, learning, chance, chance, chance]) is not None
    assert chance_level_note([chance, chance, learning, chance]) is None


# --- records, tables, CSV, chart rows -------------------------------------------


def fake_history(n, offset=0.0):
    return [dict(epoch=e, train_loss=1.0 / e + offset, train_acc=0.5 + e / 100, valid_loss=1.1 / e,
                 valid_acc=0.4 + e / 100, seconds=0.25) for e in range(1, n + 1)]


def test_history_csv_round_trips():
    history = fake_history(3)
    history[1]["valid_loss"] = float("nan")
    rows = list(csv.DictReader(io.StringIO(history_csv(history))))
    assert list(rows[0]) == list(RECORD_KEYS)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert float(rows[2]["train_loss"]) == history[2]["train_loss"]
    assert math.isnan(float(rows[1]["valid_loss"]))
    assert history_csv([]) == ",".join(RECORD_KEYS) + "\n"


def test_curve_and_overlay_rows_skip_non_finite_values():
    history = fake_history(2)
    history[1]["train_loss"] = float("inf")
    rows = curve_rows(history)
    assert len(rows) == 7
    assert {(r["quantity"], r["set"]) for r in rows} == {("Loss", "Training"), ("Loss", "Validation"),
                                                         ("Accuracy", "Training"), ("Accuracy", "Validation")}
    a = RunRecord(1, replace(SMALL, lr=0.1), fake_history(3), "finished", "toy")
    b = RunRecord(2, replace(SMALL, lr=0.01), fake_history(2), "stopped", "toy")
    rows = overlay_rows([a, b], "valid_acc")
    assert [r["run"] for r in rows] == [a.short_label] * 3 + [b.short_label] * 2
    assert a.short_label != b.short_label and "lr 0.1" in a.short_label


def test_runs_table_and_loaded_record():
    x_tr, y_tr, x_va, y_va, x_te, y_te = synthetic_split()
    trainer = Trainer(x_tr, y_tr, x_va, y_va, SMALL)
    trainer.step_epoch()

    class Split:
        x_test, y_test = x_te, y_te

    model = Model(trainer.params, SMALL, trainer.history)
    loaded = loaded_record(7, model, "m.npz", "toy", Split)
    assert loaded.status == "loaded" and "m.npz" in loaded.label
    assert loaded.test_acc == pytest.approx(accuracy_here(model.params, x_te, y_te), abs=1e-12)
    assert 0.1 < loaded.test_acc < 1  # one epoch of a learnable toy problem: better than chance, not perfect
    run = RunRecord(1, Hyper(batch_size=None), fake_history(2), "finished", "toy",
                    final={"valid_acc": 0.9, "train_acc": 0.95}, test_acc=0.91, wall_seconds=3.21)
    rows = runs_table([run, loaded])
    assert rows[0]["run"] == 1 and rows[0]["batch"] == "full" and rows[0]["valid acc"] == 0.9
    assert rows[0]["test acc"] == 0.91 and rows[0]["seconds"] == 3.21 and rows[0]["epochs"] == 2
    assert rows[1]["run"] == 7 and rows[1]["batch"] == "32" and rows[1]["valid acc"] == trainer.history[-1]["valid_acc"]
