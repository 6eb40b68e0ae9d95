"""Lanes (mlp.lanes): a block's rows over several threads with a one-thread BLAS, the same run to rounding."""

import threading
from dataclasses import replace

import numpy as np
import pytest
from helpers import frozen_split

from mlp import lanes
from mlp.network import PARAM_NAMES
from mlp.train import Engine, Hyper, Trainer

SMALL = Hyper(hidden=24, epochs=3, seed=5, lr=0.1, momentum=0.9, dtype="float64")


def make(split, hyper=SMALL, **kw):
    return Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper, **kw)


@pytest.mark.parametrize("n_lanes", [2, 3, 5])
@pytest.mark.parametrize("block_rows", [None, 90])
@pytest.mark.parametrize("batch_size", [None, 64])
def test_lanes_and_chunks_give_the_one_lane_run_to_rounding(monkeypatch, n_lanes, block_rows, batch_size):
    split = frozen_split(n=400)
    hyper = replace(SMALL, batch_size=batch_size)
    one = make(split, hyper, lanes=1, block_rows=block_rows)
    one.run()
    monkeypatch.setattr(Engine, "CHUNK_ROWS", 29)  # several chunks a lane, a short last one
    many = make(split, hyper, lanes=n_lanes, block_rows=block_rows)
    many.run()
    for a, b in zip(one.history, many.history):
        for key in ("train_loss", "train_acc", "valid_loss", "valid_acc"):
            assert b[key] == pytest.approx(a[key], rel=1e-11, abs=1e-12)
    for name in PARAM_NAMES:
        np.testing.assert_allclose(getattr(many.params, name), getattr(one.params, name), rtol=1e-10, atol=1e-12)
    assert [h["dead_share"] for h in many.health] == [h["dead_share"] for h in one.health]
    assert [h["always_on_share"] for h in many.health] == [h["always_on_share"] for h in one.health]


def test_lanes_add_in_lane_order_so_two_runs_agree_bit_for_bit(monkeypatch):
    monkeypatch.setattr(Engine, "CHUNK_ROWS", 31)
    split = frozen_split(n=300)
    a, b = make(split, lanes=2), make(split, lanes=2)
    a.run(), b.run()
    for name in PARAM_NAMES:
        assert np.array_equal(getattr(a.params, name), getattr(b.params, name))


def test_each_lane_gets_an_equal_share_of_training_and_validation_rows(monkeypatch):
    monkeypatch.setattr(Engine, "CHUNK_ROWS", 50)
    split = frozen_split(n=300)
    trainer = make(split, lanes=2)
    seen = []
    real = Engine._lane

    def spy(self, j, chunks, backprop):
        seen.append((j, chunks))
        return real(self, j, chunks, backprop)

    monkeypatch.setattr(Engine, "_lane", spy)
    trainer.step_epoch()
    n = trainer.n_train
    rows = {j: (sum(b - a for a, b in c if a < n), sum(b - a for a, b in c if a >= n)) for j, c in seen}
    assert sorted(rows) == [0, 1]
    assert abs(rows[0][0] - rows[1][0]) <= 1 and abs(rows[0][1] - rows[1][1]) <= 1
    assert sum(r[0] for r in rows.values()) == n
    assert all(b - a <= 50 for _, c in seen for a, b in c)


def test_a_block_smaller_than_a_chunk_runs_on_one_lane(monkeypatch):
    import mlp.train as train_module

    split = frozen_split(n=300)
    assert len(split.y_train) + len(split.y_valid) < Engine.CHUNK_ROWS
    trainer = make(split, lanes=4)
    lanes_used, real = [], lanes.run
    monkeypatch.setattr(train_module.lanes_module, "run", lambda fn, n: lanes_used.append(n) or real(fn, n))
    trainer.step_epoch()
    assert lanes_used == [1]


def test_blas_runs_one_thread_inside_the_lanes_and_gets_its_threads_back_after_overlapping_callers():
    before = lanes.blas_threads()
    inside, release, results = [], threading.Event(), []

    def lane(j):
        inside.append(lanes.blas_threads())
        assert lanes._blas()[0].get_num_threads() == 1  # what BLAS itself uses in a lane
        if j == 0:
            release.wait(10)
        return j

    caller = threading.Thread(target=lambda: results.append(lanes.run(lane, 2)))
    caller.start()
    while len(inside) < 2:  # the first caller's lanes are running: a second caller overlaps them
        threading.Event().wait(0.01)
    with lanes.one_blas_thread():
        inside.append(lanes.blas_threads())
        assert lanes._blas()[0].get_num_threads() == 1
    release.set()
    caller.join(10)
    assert results == [[0, 1]]
    assert set(inside) == {before}  # the count given back: an Engine made meanwhile still gets its lanes
    assert lanes.blas_threads() == before
    assert lanes._blas()[0].get_num_threads() == before


def test_an_error_in_a_lane_reaches_the_caller_and_restores_blas():
    before = lanes.blas_threads()

    def lane(j):
        if j == 1:
            raise ValueError("lane 1 failed")
        return j

    with pytest.raises(ValueError, match="lane 1 failed"):
        lanes.run(lane, 2)
    assert lanes.blas_threads() == before


@pytest.mark.parametrize("n, k", [(10, 3), (2, 5), (0, 2), (1024, 2), (7, 1)])
def test_spans_cover_the_rows_once_in_near_equal_contiguous_shares(n, k):
    shares = lanes.spans(n, k)
    assert len(shares) == k and shares[0][0] == 0 and shares[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(shares, shares[1:]))  # contiguous, no overlap, no gap
    sizes = [stop - start for start, stop in shares]
    assert min(sizes) >= 0 and max(sizes) - min(sizes) <= 1
