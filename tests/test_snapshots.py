"""lab.snapshots: a run's weights over the epochs and its gradient health, ready to draw."""

import numpy as np
import pytest

from lab import inspect_model as im
from lab import snapshots as sn
from mlp.network import Params
from mlp.train import Hyper


def params_with(w_h):
    h = w_h.shape[1]
    return Params(np.asarray(w_h, np.float32), np.zeros((1, h), np.float32), np.zeros((h, 10), np.float32),
                  np.zeros((1, 10), np.float32))


def three_snapshots(h=3):
    rng = np.random.default_rng(0)
    w0 = rng.normal(0, 0.05, (784, h))
    learned = np.zeros((784, h))
    learned[:392, 0] = 1.0  # unit 0 learns the top half
    return [(0, params_with(w0)), (2, params_with(w0 + 0.5 * learned)), (5, params_with(w0 + learned))]


def test_snapshot_at_takes_the_latest_at_or_before_the_epoch():
    snaps = three_snapshots()
    assert sn.snapshot_epochs(snaps) == [0, 2, 5]
    assert sn.snapshot_at(snaps, 0) is snaps[0][1]
    assert sn.snapshot_at(snaps, 1) is snaps[0][1]
    assert sn.snapshot_at(snaps, 2) is snaps[1][1]
    assert sn.snapshot_at(snaps, 4) is snaps[1][1]
    assert sn.snapshot_at(snaps, 99) is snaps[2][1]
    assert sn.snapshot_at(snaps, -1) is snaps[0][1]
    with pytest.raises(ValueError):
        sn.snapshot_at([], 0)


def test_next_epoch_steps_through_the_kept_epochs_then_stops():
    snaps = three_snapshots()
    assert [sn.next_epoch(snaps, e) for e in (0, 1, 2, 5)] == [2, 2, 5, None]


def test_change_view_is_w_minus_w0_and_zero_at_the_start():
    snaps = three_snapshots()
    change = sn.view_weights(snaps, 5, "change")
    want = snaps[2][1].w_h.astype(np.float64) - snaps[0][1].w_h.astype(np.float64)
    np.testing.assert_array_equal(change, want)
    assert not sn.view_weights(snaps, 0, "change").any()
    np.testing.assert_array_equal(sn.view_weights(snaps, 2, "weights"), snaps[1][1].w_h.astype(np.float64))
    with pytest.raises(ValueError):
        sn.view_weights(snaps, 0, "other")


def test_scales_are_symmetric_limits_of_the_last_snapshot():
    snaps = three_snapshots()
    change_last = sn.view_weights(snaps, 5, "change")
    np.testing.assert_allclose(sn.view_scales(snaps, "change", "unit"), np.abs(change_last).max(axis=0))
    shared = sn.view_scales(snaps, "change", "shared")
    assert np.all(shared == np.percentile(np.abs(change_last), 99.5))
    np.testing.assert_allclose(sn.view_scales(snaps, "weights", "unit"),
                               np.abs(snaps[2][1].w_h.astype(np.float64)).max(axis=0))


def test_change_images_are_white_at_epoch_0_and_grow_with_the_epochs():
    snaps = three_snapshots()
    white = np.array([255, 255, 255], np.uint8)
    start, scales = sn.snapshot_images(snaps, 0, "change", "unit", units=[0])
    assert (start == white).all()  # no change yet: every pixel is zero, drawn white
    mid, _ = sn.snapshot_images(snaps, 2, "change", "unit", units=[0])
    end, _ = sn.snapshot_images(snaps, 5, "change", "unit", units=[0])
    assert scales[0] == pytest.approx(np.abs(sn.view_weights(snaps, 5, "change")[:, 0]).max())
    # the learned top half is red (positive): half-strength at epoch 2, the end colour at epoch 5
    np.testing.assert_array_equal(end[0, 0, 0], im.colourise(1.0, 1.0))
    np.testing.assert_array_equal(mid[0, 0, 0], im.colourise(0.5, 1.0))
    assert end.shape == (1, 28, 28, 3)
    # the untouched bottom half stays white
    assert (end[0, 14:] == white).all()


def test_snapshot_images_pick_and_order_units():
    snaps = three_snapshots()
    tiles, scales = sn.snapshot_images(snaps, 5, "weights", "unit", units=[2, 0])
    all_tiles, all_scales = sn.snapshot_images(snaps, 5, "weights", "unit")
    np.testing.assert_array_equal(tiles, all_tiles[[2, 0]])
    np.testing.assert_array_equal(scales, all_scales[[2, 0]])
    want, _ = im.weight_images(snaps[2][1].w_h, "unit")  # the weights view at the last epoch = the grid's images
    np.testing.assert_array_equal(all_tiles, want)


def test_kept_note_says_how_many_which_epochs_and_the_budget():
    snaps = three_snapshots()
    note = sn.kept_note(snaps, max_snapshots=20, budget_bytes=16 * 2**20)
    nbytes = sn.snapshots_nbytes(snaps)
    assert nbytes == 3 * (784 * 3 + 3 + 3 * 10 + 10) * 4
    assert note.startswith("3 snapshots of the weights, at epochs 0, 2, 5 (")
    assert "at most 20 within 16 MiB" in note
    many = [(e, snaps[0][1]) for e in (0, 1, 2, 4, 6, 8, 10, 12, 14, 30)]
    assert "epochs 0, 1, 2, 4, 6, 8, 10, …, 30 (" in sn.kept_note(many, 20, 16 * 2**20)
    assert "1 snapshot of the weights, at epoch 0 (" in sn.kept_note(snaps[:1], 20, 2**20)


def health(dead, grad=1.0):
    keys = ("grad_w_h", "grad_b_h", "grad_w_o", "grad_b_o", "ratio_w_h", "ratio_w_o")
    return [{"epoch": i + 1, **{k: grad for k in keys}, "dead_share": d, "always_on_share": 0.1}
            for i, d in enumerate(dead)]


def test_health_rows_leave_out_what_a_log_axis_cannot_draw():
    records = health([0.0, 0.5])
    records[1]["grad_w_h"] = 0.0  # every hidden unit dead: no gradient reaches W_h
    records[1]["grad_b_h"] = float("nan")
    rows = sn.health_rows(records, "gradient norm")
    assert {(r["epoch"], r["series"]) for r in rows} == {(1, "W_h"), (1, "b_h"), (1, "W_o"), (1, "b_o"),
                                                          (2, "W_o"), (2, "b_o")}
    shares = sn.health_rows(records, "hidden units")  # a linear axis draws 0
    assert [r["value"] for r in shares if r["series"].startswith("dead")] == [0.0, 0.5]
    assert len(sn.health_rows(records, "update ratio")) == 4


def test_dead_units_note_only_when_the_dead_share_climbs():
    assert sn.dead_units_note([]) is None
    assert sn.dead_units_note(health([0.0, 0.01, 0.02])) is None  # healthy
    assert sn.dead_units_note(health([0.9, 0.9, 0.9])) is None  # dead from the start: it did not climb
    assert sn.dead_units_note(health([0.0, 0.3, 0.1])) is None  # recovered
    note = sn.dead_units_note(health([0.02, 0.4, 0.97]), Hyper(hidden=8, lr=1.0, momentum=0.99))
    assert note.startswith("The share of dead hidden units climbed from 2% at epoch 1 to 97% at epoch 3")
    assert "learning rate 1, momentum 0.99" in note


def test_thin_keeps_the_first_and_the_last_spread_evenly():
    snaps = [(e, None) for e in (0, 1, 2, 3, 6, 9, 13, 18, 24, 30)]
    assert [e for e, _ in sn.thin(snaps, 6)] == [0, 2, 6, 9, 18, 30]
    assert sn.thin(snaps, 20) == snaps
    assert [e for e, _ in sn.thin(snaps, 2)] == [0, 30]


def test_rounded_keeps_8_significant_bits_to_nearest():
    w = np.array([[1.0, 1.0 + 2**-8, 1.0 + 2**-9, 1.0 + 3 * 2**-9, -0.3, 0.0, 1e-30, 3.0e38]], np.float32)
    w_h = np.zeros((784, 8), np.float32)
    w_h[0] = w
    got = sn.rounded(params_with(w_h), bits=8).w_h[0]
    assert got.dtype == np.float32
    assert got[0] == 1.0 and got[1] == 1.0  # 8 bits: steps of 2^-7 at 1; a tie (1 + 2^-8) rounds to even, 1
    assert got[2] == 1.0  # below half a step: down
    assert got[3] == 1.0 + 2**-7  # above half a step: up
    assert abs(got[4] + 0.3) <= 0.3 * 2**-8 and got[5] == 0.0
    assert abs(got[6] - 1e-30) <= 1e-30 * 2**-8
    big = np.float32(np.finfo(np.float32).max)
    w_h[0, 7] = big
    assert sn.rounded(params_with(w_h)).w_h[0, 7] == big  # would round up to inf: kept
    w_h = np.random.default_rng(1).normal(0, 0.05, (784, 8)).astype(np.float32)
    r = sn.rounded(params_with(w_h)).w_h
    assert np.all(np.abs(r - w_h) <= np.abs(w_h) * 2**-8)
    assert not (r.view(np.uint32) & 0xFFFF).any()  # the low 16 bits are zeros


def test_a_run_record_keeps_health_and_snapshots_with_the_last_weights_of_a_stopped_run():
    from helpers import frozen_split

    from lab.runs import LiveRun
    from mlp.model_io import load_model, model_bytes
    from mlp.train import Trainer

    split = frozen_split()
    hyper = Hyper(hidden=8, epochs=6, batch_size=50, dtype="float32")
    live = LiveRun(Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper), 1, "blobs")
    for _ in range(3):
        live.trainer.step_epoch()
    live.stop()
    record = live.record
    assert [r["epoch"] for r in record.health] == [1, 2, 3]
    epochs = sn.snapshot_epochs(record.snapshots)
    assert epochs[0] == 0 and epochs[-1] == 3  # the weights it stopped at are the last snapshot
    np.testing.assert_array_equal(record.snapshots[-1][1].w_h, record.params.w_h.astype(np.float32))
    model = load_model(model_bytes(record.params, record.hyper, record.history, record.snapshots, record.health))
    assert sn.snapshot_epochs(model.snapshots) == epochs and model.health == record.health
