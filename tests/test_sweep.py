"""The learning-rate sweep (mlp.sweep, lab.sweep_run): each stacked network trains exactly as a
separate ``Trainer`` run with its learning rate and seed; a diverging one stops alone."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import frozen_split

from lab.runs import RunRecord
from lab.sweep_run import SweepRun
from mlp import network
from mlp.network import Params
from mlp.sweep import MAX_RATES, Sweep, log_grid, stack, unstack
from mlp.train import RECORD_KEYS, Hyper, Trainer

METRICS = RECORD_KEYS[1:-1]  # everything but epoch and seconds


def data(dtype):
    s = frozen_split(400, dtype=dtype)
    return s.x_train, s.y_train, s.x_valid, s.y_valid


def sweep_and_trainers(hyper, lrs, dtype):
    d = data(dtype)
    sweep = Sweep(*d, hyper, lrs)
    while not sweep.done:
        sweep.step(max_batches=3)  # epochs split into chunks, as the page drives it
    trainers = []
    for lr in lrs:
        t = Trainer(*d, Hyper(**{**hyper.__dict__, "lr": lr}))
        t.run()
        trainers.append(t)
    return sweep, trainers


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-10), ("float32", 1e-4)])
@pytest.mark.parametrize("batch", [8, 32, None])
def test_each_curve_equals_a_separate_run(dtype, tol, batch):
    hyper = Hyper(hidden=24, lr=0.1, momentum=0.9, epochs=4, batch_size=batch, seed=7, dtype=dtype)
    lrs = log_grid(0.01, 0.5 if batch != 8 else 0.1, 5)  # batch 8 (27 updates an epoch, 8 measured): 0.5 diverges
    sweep, trainers = sweep_and_trainers(hyper, lrs, dtype)
    for r, t in enumerate(trainers):
        assert len(sweep.histories[r]) == len(t.history) == 4
        for mine, theirs in zip(sweep.histories[r], t.history):
            assert mine["epoch"] == theirs["epoch"]
            for key in METRICS:
                assert mine[key] == pytest.approx(theirs[key], abs=tol, rel=tol), (r, key)
        final = sweep.params_of(r)
        for name in network.PARAM_NAMES:
            np.testing.assert_allclose(getattr(final, name), getattr(t.params, name), atol=tol * 10, rtol=tol * 10)
        assert sweep.evaluate(r) == pytest.approx(t.evaluate(), abs=tol, rel=tol)
        assert len(sweep.healths[r]) == len(t.health) == 4
        for mine, theirs in zip(sweep.healths[r], t.health):  # the same sampled updates, the same unit shares
            assert mine.keys() == theirs.keys()
            for key, value in theirs.items():
                assert mine[key] == pytest.approx(value, abs=tol, rel=tol * 10), (r, key)
        mine, theirs = sweep.snapshots_with_last(r), t.snapshots_with_last()
        assert [e for e, _ in mine] == [e for e, _ in theirs]
        for (_, a), (_, b) in zip(mine, theirs):
            np.testing.assert_allclose(a.w_h, b.w_h, atol=1e-3, rtol=1e-3)
    # the curves differ from one learning rate to the next: the test compares different runs
    assert len({round(sweep.histories[r][-1]["train_loss"], 6) for r in range(len(lrs))}) == len(lrs)


def test_a_diverging_rate_stops_alone():
    hyper = Hyper(hidden=24, lr=0.1, momentum=0.9, epochs=6, batch_size=32, seed=3, dtype="float64")
    lrs = [0.05, 0.2, 5000.0]
    sweep, trainers = sweep_and_trainers(hyper, lrs, "float64")
    assert sweep.reasons[2] is not None and sweep.reasons[2] == trainers[2].stop_reason()
    assert len(sweep.histories[2]) == len(trainers[2].history) < 6
    assert sweep.slots == [0, 1]
    for r in (0, 1):
        assert sweep.reasons[r] is None and len(sweep.histories[r]) == 6
        for mine, theirs in zip(sweep.histories[r], trainers[r].history):
            assert [mine[k] for k in METRICS] == pytest.approx([theirs[k] for k in METRICS], abs=1e-10)


def test_stack_and_unstack_and_the_grid():
    p = network.init_params(5, 3, 2, seed=1)
    s = stack([p, p.copy()], np.float32)
    assert s.w_h.shape == (2, 5, 3) and s.b_o.shape == (2, 1, 2) and s.w_h.dtype == np.float32
    np.testing.assert_array_equal(unstack(s, 1).w_o, p.w_o.astype(np.float32))
    grid = log_grid(0.001, 1.0, 4)
    assert grid == pytest.approx([0.001, 0.01, 0.1, 1.0])
    with pytest.raises(ValueError):
        log_grid(0.1, 1.0, MAX_RATES + 1)
    with pytest.raises(ValueError):
        Sweep(*data("float64"), Hyper(hidden=4, epochs=1), [])


def test_stacked_backward_equals_one_network_at_a_time():
    """network.backward on stacked (R, ...) arrays gives each network's own gradients."""
    rng = np.random.default_rng(0)
    x, labels = rng.random((9, 6)), rng.integers(0, 4, 9)
    nets = [network.init_params(6, 5, 4, seed=s) for s in range(3)]
    for net in nets:
        net.b_h += rng.normal(0, 0.1, net.b_h.shape)
    stacked = stack(nets, np.float64)
    y = np.eye(4)[labels]
    fw = network.forward(stacked, x)
    grads = network.backward(fw.p, y, fw.h, stacked.w_o, x).grads
    for r, net in enumerate(nets):
        _, own = network.loss_and_grads(net, x, labels)
        for name in network.PARAM_NAMES:
            np.testing.assert_allclose(getattr(grads, name)[r], getattr(own, name), atol=1e-14)


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        self.t += 0.001
        return self.t


def test_sweep_run_advances_pauses_and_records():
    d = frozen_split(400)
    hyper = Hyper(hidden=16, lr=0.1, momentum=0.9, epochs=3, batch_size=50, seed=2, dtype="float64")
    lrs = [0.01, 0.1, 1e4]
    run = SweepRun(Sweep(d.x_train, d.y_train, d.x_valid, d.y_valid, hyper, lrs), [11, 12, 13], "blobs", split=d)
    assert run.active and not run.finished and run.progress == 0
    run.pause()
    assert run.advance(1.0) == [] and not run.active
    run.resume()
    seen = []
    while run.active:
        seen += run.advance(0.05)
    assert run.finished and run.progress == 1.0
    assert {r for r, _ in seen} == {0, 1, 2}
    records = run.final_records()
    assert [type(rec) for rec in records] == [RunRecord] * 3
    assert [rec.run_id for rec in records] == [11, 12, 13]
    assert [rec.hyper.lr for rec in records] == lrs
    assert [rec.status for rec in records] == ["finished", "finished", "diverged"]
    assert records[2].reason and records[0].reason is None
    assert records[0].history == run.histories[0] and len(records[0].history) == 3
    assert records[1].final["valid_acc"] == pytest.approx(run.sweep.evaluate(1)[3])
    assert 0 <= records[1].test_acc <= 1 and isinstance(records[1].params, Params)
    assert [e for e, _ in records[0].snapshots] == [0, 1, 2, 3]
    assert records[2].snapshots[-1][0] == len(records[2].history)  # the diverged run's last weights
    for rec, healths in zip(records, run.sweep.healths):  # each run's gradient health, as a Trainer's run keeps
        assert rec.health == healths and [h["epoch"] for h in rec.health] == [h["epoch"] for h in rec.history]


def test_sweep_run_stop_keeps_what_was_learned():
    d = frozen_split(400)
    hyper = Hyper(hidden=8, epochs=5, batch_size=20, seed=1, dtype="float64")
    run = SweepRun(Sweep(d.x_train, d.y_train, d.x_valid, d.y_valid, hyper, [0.05, 0.1]), [1, 2], "blobs")
    run.advance(0.01)
    run.stop()
    assert run.finished and not run.active
    records = run.final_records()
    assert [rec.status for rec in records] == ["stopped", "stopped"]
    assert run.advance(1.0) == []


def test_a_sweep_stopped_inside_an_epoch_keeps_increasing_snapshot_epochs():
    """Two epochs done (both in the snapshot plan), then two mini-batches of the third: each rate's
    snapshots stay 0, 1, 2 (the exact weights of epoch 2), as a ``Trainer``'s do."""
    hyper = Hyper(hidden=16, lr=0.1, momentum=0.9, epochs=200, batch_size=50, seed=7, dtype="float64")
    sweep = Sweep(*data("float64"), hyper, [0.05, 0.2])
    while len(sweep.histories[0]) < 2:
        sweep.step(max_batches=3)
    at_two = [sweep.params_of(r) for r in range(2)]
    sweep.step(max_batches=2)
    assert sweep.position > 0
    for r in range(2):
        snaps = sweep.snapshots_with_last(r)
        assert [e for e, _ in snaps] == [0, 1, 2]
        np.testing.assert_allclose(snaps[-1][1].w_h, at_two[r].w_h, rtol=1e-6, atol=1e-7)
