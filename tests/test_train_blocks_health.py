"""Row-block epochs, gradient health and weight snapshots of the trainer (mlp.train, mlp.health)."""

from dataclasses import replace

import numpy as np
import pytest
from helpers import frozen_split

from mlp import health, limits
from mlp.network import PARAM_NAMES, Params, forward, init_params, loss_and_grads
from mlp.train import VELOCITY_START, Hyper, Trainer, block_rows_for, momentum_step, start_velocity

SMALL = Hyper(hidden=16, epochs=4, seed=3, lr=0.1, momentum=0.9, dtype="float64")


def make(split, hyper=SMALL, **kw):
    return Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper, **kw)


def params_close(a, b, tol):
    for name in PARAM_NAMES:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=tol, atol=tol)


@pytest.mark.parametrize("block_rows", [7, 64, 100, 10_000])
@pytest.mark.parametrize("batch_size", [None, 32])
def test_row_blocks_give_the_run_without_blocks_to_rounding(block_rows, batch_size):
    split = frozen_split(n=500)
    hyper = replace(SMALL, batch_size=batch_size)
    whole, blocked = make(split, hyper), make(split, hyper, block_rows=block_rows)
    whole.run(), blocked.run()
    for a, b in zip(whole.history, blocked.history):
        for key in ("train_loss", "train_acc", "valid_loss", "valid_acc"):
            assert b[key] == pytest.approx(a[key], rel=1e-11, abs=1e-12)
    params_close(blocked.params, whole.params, 1e-10)


def test_a_full_batch_step_of_one_unit_is_one_block_and_the_last_block_updates():
    split = frozen_split(n=500)
    trainer = make(split, block_rows=50)
    k = len(trainer.engine.blocks)
    assert k > 2 and trainer.units_per_epoch == k
    before = trainer.params
    for i in range(k - 1):
        assert trainer.step(max_batches=1) is None
        assert trainer.epoch_fraction == pytest.approx((i + 1) / k)
        params_close(trainer.params, before, 0)  # the weights move only with the whole gradient
    record = trainer.step(max_batches=1)
    assert record is not None and record["epoch"] == 1 and trainer.epoch_fraction == 0
    loss0, grads = loss_and_grads(init_params(784, 16, 10, seed=3), split.x_train, split.y_train)
    assert record["train_loss"] == pytest.approx(loss0, rel=1e-12)
    v = Params(**{n: 0.9 * VELOCITY_START + 0.1 * getattr(grads, n) for n in PARAM_NAMES})
    params_close(trainer.velocity, v, 1e-12)


def test_block_rows_bound_the_work_of_a_block():
    assert block_rows_for(784, 2048) * 784 * 2048 <= 2**28 < (block_rows_for(784, 2048) + 1) * 784 * 2048
    assert block_rows_for(784, 10**7) == 64  # never fewer rows than 64


def test_stacked_data_is_used_without_a_copy():
    split = frozen_split(n=300)
    x = np.concatenate([split.x_train, split.x_valid]).astype(np.float64)
    x.flags.writeable = False
    labels = np.concatenate([split.y_train, split.y_valid]).astype(np.intp)
    shared = make(split, stacked=(x, labels, len(split.y_train)))
    own = make(split)
    assert np.shares_memory(shared.engine.x, x)
    shared.run(), own.run()
    assert [r["valid_loss"] for r in shared.history] == pytest.approx([r["valid_loss"] for r in own.history])


def test_full_batch_health_is_the_norms_and_ratio_of_the_update_by_hand():
    split = frozen_split(n=400)
    trainer = make(split, replace(SMALL, epochs=1))
    p0 = init_params(784, 16, 10, seed=3)
    trainer.step_epoch()
    _, g = loss_and_grads(p0, split.x_train, split.y_train)
    rec = trainer.health[0]
    assert set(rec) == set(health.HEALTH_KEYS) and rec["epoch"] == 1
    for name in PARAM_NAMES:
        assert rec[f"grad_{name}"] == pytest.approx(np.linalg.norm(getattr(g, name)), rel=1e-10)
    for name in ("w_h", "w_o"):
        w0, v0 = getattr(p0, name), np.full_like(getattr(p0, name), VELOCITY_START)
        w1, v1 = momentum_step(w0, v0, getattr(g, name), 0.1, 0.9)
        assert rec[f"ratio_{name}"] == pytest.approx(np.linalg.norm(v1) / np.linalg.norm(w1), rel=1e-10)


def test_dead_and_always_on_shares_against_a_direct_count():
    split = frozen_split(n=400)
    p = init_params(784, 16, 10, seed=3)
    b = p.b_h.copy()
    b[0, :3] = -1e6  # off for every image
    b[0, 3:8] = 1e6  # on for every image
    p = Params(w_h=p.w_h, b_h=b, w_o=p.w_o, b_o=p.b_o)
    for batch_size, block_rows in ((None, None), (None, 33), (64, None), (64, 50)):
        trainer = make(split, replace(SMALL, epochs=1, batch_size=batch_size), params=p, block_rows=block_rows)
        trainer.step_epoch()
        h = forward(p, split.x_train).h
        dead, always = np.mean(~np.any(h > 0, axis=0)), np.mean(np.all(h > 0, axis=0))
        assert dead >= 3 / 16 and always >= 5 / 16
        assert trainer.health[0]["dead_share"] == pytest.approx(dead)
        assert trainer.health[0]["always_on_share"] == pytest.approx(always)


def test_mini_batch_health_is_the_mean_over_the_measured_updates():
    split = frozen_split(n=400)
    hyper = replace(SMALL, epochs=1, batch_size=64)
    trainer = make(split, hyper)
    assert 3 <= trainer.batches_per_epoch <= health.SAMPLED_UPDATES  # every update is measured
    assert health.sampled_steps(trainer.batches_per_epoch) == set(range(trainer.batches_per_epoch))
    order = np.random.default_rng(hyper.seed).permutation(len(split.y_train))
    params, velocity, steps = init_params(784, 16, 10, seed=3), None, []
    velocity = start_velocity(params)
    for start in range(0, len(order), 64):
        idx = order[start:start + 64]
        _, g = loss_and_grads(params, split.x_train[idx], split.y_train[idx])
        new = {n: momentum_step(getattr(params, n), getattr(velocity, n), getattr(g, n), 0.1, 0.9) for n in PARAM_NAMES}
        params = Params(**{n: w for n, (w, _) in new.items()})
        velocity = Params(**{n: v for n, (_, v) in new.items()})
        steps.append(health.step_health(g, velocity, params))
    trainer.step_epoch()
    for key in health.HEALTH_KEYS[1:7]:
        assert trainer.health[0][key] == pytest.approx(np.mean([s[key] for s in steps]), rel=1e-9)


def test_sampled_steps_spread_over_the_epoch():
    assert health.sampled_steps(3) == {0, 1, 2}
    chosen = health.sampled_steps(79)
    assert len(chosen) == health.SAMPLED_UPDATES and min(chosen) == 0 and max(chosen) == 78


def test_snapshot_epochs_cover_the_run_densest_at_the_start():
    assert health.snapshot_epochs(5, 20) == [0, 1, 2, 3, 4, 5]
    epochs = health.snapshot_epochs(200, 20)
    assert len(epochs) == 20 and epochs[0] == 0 and epochs[-1] == 200
    assert all(a < b for a, b in zip(epochs, epochs[1:]))
    gaps = np.diff(epochs)
    assert gaps[0] < gaps[-1]
    assert health.snapshot_epochs(1, 2) == [0, 1]
    assert health.snapshot_epochs(3, 2) == [0, 3]


def test_snapshot_budget():
    assert health.snapshot_count((784, 256, 10)) == limits.MAX_SNAPSHOTS
    assert health.snapshot_count((784, 2048, 10)) == 2
    n = health.snapshot_count((784, 1000, 10))
    assert n * health.snapshot_bytes((784, 1000, 10)) <= limits.SNAPSHOT_BYTES < (n + 1) * health.snapshot_bytes(
        (784, 1000, 10))


def test_snapshots_are_the_weights_at_their_epochs():
    split = frozen_split(n=300)
    trainer = make(split, replace(SMALL, epochs=6, batch_size=50))
    seen = {0: trainer.params}
    while not trainer.done:
        trainer.step_epoch()
        seen[trainer.epoch] = trainer.params
    assert [e for e, _ in trainer.snapshots] == [0, 1, 2, 3, 4, 5, 6]
    for epoch, snap in trainer.snapshots:
        assert snap.w_h.dtype == np.float32
        params_close(snap, seen[epoch], 1e-6)
    assert len(trainer.snapshots_with_last()) == 7  # the last epoch is already kept


def test_a_run_ended_early_keeps_its_last_weights():
    split = frozen_split(n=300)
    trainer = make(split, replace(SMALL, epochs=200, batch_size=50))
    assert health.snapshot_epochs(200, health.snapshot_count(trainer.params.sizes))[:4] == [0, 1, 2, 5]
    for _ in range(3):
        trainer.step_epoch()
    snaps = trainer.snapshots_with_last()  # epoch 3 is not in the plan: the weights at the stop are added
    assert [e for e, _ in snaps] == [0, 1, 2, 3]
    params_close(snaps[-1][1], trainer.params, 1e-6)


@pytest.mark.parametrize("batches", [0, 2])
def test_a_run_stopped_inside_the_epoch_after_a_snapshot_keeps_increasing_epochs(tmp_path, batches):
    """Stopped inside epoch 3 (or at its start) after the plan's snapshot of epoch 2: the file loads."""
    from mlp.model_io import load_model, save_model

    split = frozen_split(n=300)
    trainer = make(split, replace(SMALL, epochs=200, batch_size=50))
    trainer.step_epoch(), trainer.step_epoch()
    at_two = trainer.params
    if batches:
        trainer.step(max_batches=batches)
        assert trainer.position > 0
    snaps = trainer.snapshots_with_last()
    assert [e for e, _ in snaps] == [0, 1, 2]
    params_close(snaps[-1][1], at_two, 1e-6)  # the snapshot is the weights of epoch 2, not those of the stop
    save_model(tmp_path / "m.npz", trainer.params, trainer.hyper, trainer.history, snaps)
    model = load_model(tmp_path / "m.npz")
    assert [e for e, _ in model.snapshots] == [0, 1, 2]



def test_a_model_is_never_written_with_snapshot_epochs_the_loader_refuses(tmp_path):
    from mlp.model_io import save_model

    split = frozen_split(n=300)
    trainer = make(split, replace(SMALL, epochs=2, batch_size=50))
    trainer.step_epoch()
    p = trainer.params
    for epochs in ([0, 1, 1], [0, 2, 1], [-1, 0]):
        with pytest.raises(ValueError, match="snapshot epochs"):
            save_model(tmp_path / "m.npz", p, trainer.hyper, trainer.history, [(e, p) for e in epochs])
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("batch_size, block_rows", [(80, None), (None, 80)], ids=["mini-batch", "full batch, blocks"])
def test_a_run_stopped_at_any_unit_downloads_a_file_that_loads(batch_size, block_rows):
    """Every stop point of a 21-epoch run (each unit of work: a mini-batch, or a row block), saved as the
    Training page's download saves it: the file loads, with increasing snapshot epochs up to the epochs done."""
    from mlp.model_io import load_model, model_bytes

    split = frozen_split(n=300)
    trainer = make(split, replace(SMALL, hidden=4, epochs=21, batch_size=batch_size), block_rows=block_rows)
    assert len(trainer.snapshot_plan) < 22  # some epochs keep no snapshot: both cases of ``with_last`` occur
    stops = 0
    while not trainer.done:
        trainer.step(max_batches=1)
        snaps = trainer.snapshots_with_last()
        model = load_model(model_bytes(trainer.params, trainer.hyper, trainer.history, snaps, trainer.health))
        epochs = [e for e, _ in model.snapshots]
        assert epochs[0] == 0 and epochs[-1] == trainer.epoch, (stops, epochs)
        assert len(model.history) == len(model.health) == trainer.epoch
        stops += 1
    assert stops == 21 * trainer.units_per_epoch >= 42


def test_a_sweep_stopped_at_any_step_downloads_files_that_load():
    from mlp.model_io import load_model, model_bytes
    from mlp.sweep import Sweep

    split = frozen_split(n=300)
    sweep = Sweep(split.x_train, split.y_train, split.x_valid, split.y_valid,
                  replace(SMALL, hidden=4, epochs=21, batch_size=80), [0.02, 0.1])
    assert len(sweep.snapshot_plan) < 22
    while not sweep.done:
        sweep.step(max_batches=1)
        for r in range(2):
            snaps = sweep.snapshots_with_last(r)
            model = load_model(model_bytes(sweep.params_of(r), sweep.hypers[r], sweep.histories[r], snaps))
            assert [e for e, _ in model.snapshots][-1] == len(sweep.histories[r])
