"""The trainer: the report's update, both numeric paths, the stepper, saving mid-run, divergence."""

import io
from dataclasses import replace

import numpy as np
import pytest
from helpers import frozen_split

from mlp.model_io import load_trainer, save_trainer
from mlp.network import forward, init_params, loss_and_grads
from mlp.train import VELOCITY_START, Hyper, Trainer, dead_units_reason, divergence_reason, momentum_step


def make_trainer(split, **hyper):
    h = Hyper(**{"hidden": 16, "epochs": 30, "seed": 3, **hyper})
    return Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, h)


def test_momentum_step_is_the_reports_form():
    w, v, g = np.array([1.0]), np.array([1e-5]), np.array([2.0])
    new_w, new_v = momentum_step(w, v, g, lr=0.1, momentum=0.9)
    assert new_v[0] == pytest.approx(0.9 * 1e-5 + 0.1 * 2.0)
    assert new_w[0] == pytest.approx(1.0 - new_v[0])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_first_epoch_record_and_update_follow_the_report(dtype):
    split = frozen_split(dtype=np.float64)
    trainer = make_trainer(split, dtype=dtype, epochs=1)
    params0 = init_params(784, 16, 10, seed=3)
    record = trainer.step_epoch()
    # metrics come from the forward pass before the update
    fw = forward(params0, split.x_train)
    assert record["train_acc"] == pytest.approx(np.mean(fw.p.argmax(1) == split.y_train))
    loss0, grads = loss_and_grads(params0, split.x_train, split.y_train)
    assert record["train_loss"] == pytest.approx(loss0, rel=1e-5)
    # one update: v = 0.9 * 1e-5 + 0.1 g, w -= v
    tol = 1e-12 if dtype == "float64" else 1e-6
    for name in ("w_h", "b_h", "w_o", "b_o"):
        v = 0.9 * VELOCITY_START + 0.1 * getattr(grads, name)
        np.testing.assert_allclose(getattr(trainer.params, name), getattr(params0, name) - v, atol=tol)
        np.testing.assert_allclose(getattr(trainer.velocity, name), v, atol=tol)


@pytest.mark.parametrize("batch_size", [None, 32])
def test_float32_fast_path_agrees_with_float64_reference_over_30_epochs(batch_size):
    split = frozen_split(n=600)
    ref = make_trainer(split, dtype="float64", batch_size=batch_size)
    fast = make_trainer(split, dtype="float32", batch_size=batch_size)
    ref.run()
    fast.run()
    for key in ("train_loss", "valid_loss"):
        a = np.array([r[key] for r in ref.history])
        b = np.array([r[key] for r in fast.history])
        np.testing.assert_allclose(b, a, rtol=1e-4)
    assert ref.history[-1]["train_acc"] > 0.7  # it learned something (20% of labels are noise)


def test_full_batch_training_reduces_loss():
    split = frozen_split()
    t = make_trainer(split, dtype="float32")
    t.run()
    assert t.history[-1]["train_loss"] < 0.5 * t.history[0]["train_loss"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_chunked_steps_equal_whole_epochs(dtype):
    split = frozen_split()
    a = make_trainer(split, dtype=dtype, batch_size=20, epochs=3)
    b = make_trainer(split, dtype=dtype, batch_size=20, epochs=3)
    a.run()
    records = []
    while not b.done:
        r = b.step(max_batches=3)
        assert r is None or r["epoch"] == len(records) + 1
        records += [r] if r else []
    for ra, rb in zip(a.history, records):
        assert ra["train_loss"] == rb["train_loss"] and ra["valid_acc"] == rb["valid_acc"]
    np.testing.assert_array_equal(a.params.w_h, b.params.w_h)


def test_minibatch_order_depends_on_seed_only():
    split = frozen_split()
    runs = [make_trainer(split, batch_size=16, epochs=3, seed=s) for s in (1, 1, 2)]
    for t in runs:
        t.run()
    assert runs[0].history[-1]["train_loss"] == runs[1].history[-1]["train_loss"]
    assert runs[0].history[-1]["train_loss"] != runs[2].history[-1]["train_loss"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("stop_batches", [0, 7])
def test_save_mid_run_and_resume_gives_the_same_run(dtype, stop_batches):
    split = frozen_split()
    straight = make_trainer(split, dtype=dtype, batch_size=20, epochs=5)
    straight.run()
    first = make_trainer(split, dtype=dtype, batch_size=20, epochs=5)
    for _ in range(2):
        first.step_epoch()
    if stop_batches:
        assert first.step(max_batches=stop_batches) is None  # paused inside epoch 3
    buf = io.BytesIO()
    save_trainer(buf, first)
    resumed = load_trainer(buf.getvalue(), split.x_train, split.y_train, split.x_valid, split.y_valid)
    resumed.run()
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in straight.history]
    np.testing.assert_array_equal(resumed.params.w_o, straight.params.w_o)


def test_divergence_is_detected_and_stops_the_run():
    split = frozen_split()
    t = make_trainer(split, lr=50.0, momentum=0.9, batch_size=None, hidden=64, epochs=200)
    t.run()
    assert divergence_reason(t.history) is not None
    assert t.epoch < 200


def test_divergence_reason_messages():
    assert divergence_reason([]) is None
    ok = [{"epoch": 1, "train_loss": 2.3}, {"epoch": 2, "train_loss": 1.0}]
    assert divergence_reason(ok) is None
    assert "nan" in divergence_reason(ok + [{"epoch": 3, "train_loss": float("nan")}])
    assert "exploded" in divergence_reason(ok + [{"epoch": 3, "train_loss": 80.0}])


def test_trainer_leaves_its_inputs_unchanged():
    split = frozen_split()
    x = np.array(split.x_train)  # writeable copies, checked after
    y = np.array(split.y_train)
    before = x.copy(), y.copy()
    for dtype in ("float64", "float32"):
        t = Trainer(x, y, split.x_valid, split.y_valid, Hyper(hidden=8, epochs=2, dtype=dtype, batch_size=50))
        t.run()
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(y, before[1])


def test_hyper_validation():
    with pytest.raises(ValueError):
        Hyper(dtype="float16")
    with pytest.raises(ValueError):
        Hyper(batch_size=0)
    assert Hyper.from_json(Hyper(lr=0.3).to_json()) == Hyper(lr=0.3)


def test_a_run_whose_relus_all_die_is_stopped():
    """lr 1 with mini-batches of 16 switches every hidden unit off in the first epoch: the loss stays
    finite and near chance, so only the dead-unit check can stop the run."""
    split = frozen_split()
    t = make_trainer(split, lr=1.0, momentum=0.9, batch_size=16, hidden=32, epochs=50)
    t.run()
    assert t.epoch < 50 and divergence_reason(t.history) is None
    reason = t.stop_reason()
    assert "all 32 hidden units output 0" in reason
    z = split.x_train @ t.params.w_h + t.params.b_h
    assert np.all(z <= 0)  # what the sentence says


def test_dead_units_reason_needs_both_chance_level_and_dead_units():
    split = frozen_split()
    params = make_trainer(split, hidden=8).params
    at_chance = [{"epoch": 1, "train_loss": 2.31}, {"epoch": 2, "train_loss": 2.35}]
    learning = [{"epoch": 1, "train_loss": 2.31}, {"epoch": 2, "train_loss": 1.2}]
    assert dead_units_reason(at_chance, params, split.x_train) is None  # fresh units are alive
    dead = replace(params, b_h=np.full_like(params.b_h, -1e3))
    assert "all 8 hidden units output 0" in dead_units_reason(at_chance, dead, split.x_train)
    assert dead_units_reason(learning, dead, split.x_train) is None  # only checked at chance level
    assert dead_units_reason(at_chance[:1], dead, split.x_train) is None  # after two epochs there
    one_alive = replace(dead, b_h=dead.b_h.copy())
    one_alive.b_h[0, 3] = 1.0
    assert dead_units_reason(at_chance, one_alive, split.x_train) is None
