"""The loss landscape (lab.landscape): the line's ends, the slice's centre and points, the directions' norms,
the path's projection; every loss against mlp.network.loss."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import frozen_split

from lab import landscape as ls
from mlp import network
from mlp.train import Hyper, Trainer


@pytest.fixture(scope="module")
def trained():
    s = frozen_split(400)
    hyper = Hyper(hidden=12, lr=0.1, momentum=0.9, epochs=4, batch_size=40, seed=5, dtype="float64")
    t = Trainer(s.x_train, s.y_train, s.x_valid, s.y_valid, hyper)
    first = t.params
    snaps = [(0, first)]
    while not t.done:
        t.step_epoch()
        snaps.append((t.epoch, t.params))
    return s, first, t.params, snaps


def test_line_ends_are_the_first_and_trained_losses(trained):
    s, first, final, _ = trained
    train, valid = (s.x_train, s.y_train), (s.x_valid, s.y_valid)
    line = ls.line_losses(first, final, train, valid)
    assert len(line.t) == ls.LINE_POINTS and line.t[0] == -0.25 and line.t[-1] == 1.25
    i0, i1 = np.argmin(abs(line.t)), np.argmin(abs(line.t - 1))
    assert line.t[i0] == pytest.approx(0) and line.t[i1] == pytest.approx(1)
    assert line.train[i0] == pytest.approx(network.loss(first, *train), abs=1e-10)
    assert line.train[i1] == pytest.approx(network.loss(final, *train), abs=1e-10)
    assert line.valid[i1] == pytest.approx(network.loss(final, *valid), abs=1e-10)
    mid = ls.combine(first, [ls.combine(final, [first], [-1.0])], [line.t[5]])
    assert line.valid[5] == pytest.approx(network.loss(mid, *valid), abs=1e-10)
    assert line.train[i1] < line.train[i0]  # training went downhill


def test_slice_centre_and_a_corner_are_the_network_loss(trained):
    s, _, final, snaps = trained
    train = (s.x_train, s.y_train)
    seen = []
    sl = ls.slice_losses(final, train, grid=5, seed=3, snapshots=snaps, progress=seen.append)
    assert sl.loss.shape == (5, 5) and seen[-1] == 1.0
    assert sl.loss[2, 2] == pytest.approx(network.loss(final, *train), abs=1e-10)
    corner = ls.combine(final, sl.directions, [sl.a[4], sl.b[0]])  # loss[i, j] is at (a[j], b[i])
    assert sl.loss[0, 4] == pytest.approx(network.loss(corner, *train), abs=1e-10)
    assert not np.allclose(sl.loss, sl.loss[2, 2])  # the slice is not flat
    assert sl.path.shape == (len(snaps), 2) and sl.path_epochs == [e for e, _ in snaps]
    np.testing.assert_allclose(sl.path[-1], 0, atol=1e-12)  # theta_T sits at the centre


def test_float32_slice_centre(trained):
    s, _, final, _ = trained
    f32 = final.copy(np.float32)
    train = (s.x_train.astype(np.float32), s.y_train)
    sl = ls.slice_losses(f32, train, grid=3)
    assert sl.loss[1, 1] == pytest.approx(network.loss(f32, *train), rel=1e-5)


def test_directions_have_the_unit_norms_of_theta(trained):
    _, _, final, _ = trained
    d = ls.filter_normalised(final, np.random.default_rng(0))
    for mine, theirs in zip(ls.unit_norms(d), ls.unit_norms(final)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12)
    assert not np.allclose(d.w_h, final.w_h)
    # by hand for hidden unit 3: column 3 of W_h with b_h[3]
    norm = np.sqrt(np.sum(d.w_h[:, 3] ** 2) + d.b_h[0, 3] ** 2)
    assert norm == pytest.approx(np.sqrt(np.sum(final.w_h[:, 3] ** 2) + final.b_h[0, 3] ** 2))


def test_path_projection_recovers_known_coordinates(trained):
    _, _, final, _ = trained
    rng = np.random.default_rng(1)
    dirs = [ls.filter_normalised(final, rng) for _ in range(2)]
    points = [ls.combine(final, dirs, [0.3, -0.7]), ls.combine(final, dirs, [-1.5, 0.25])]
    np.testing.assert_allclose(ls.project_path(points, final, dirs), [[0.3, -0.7], [-1.5, 0.25]], atol=1e-10)


def test_sample_rows_is_fixed_and_bounded():
    x, y = np.arange(50).reshape(25, 2), np.arange(25)
    a, b = ls.sample_rows(x, y, rows=10, seed=4), ls.sample_rows(x, y, rows=10, seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    assert len(a[1]) == 10 and np.all(np.diff(a[1]) > 0)
    assert len(ls.sample_rows(x, y, rows=100)[1]) == 25
