"""The hidden layer's map (lab.hidden_map): PCA against np.linalg.svd, fixed signs, one projection for all snapshots."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import frozen_split

from lab import hidden_map as hm
from mlp import network
from mlp.train import Hyper, Trainer


def test_pca_against_svd_on_a_known_matrix():
    # points along (3, 4)/5 with a little spread along (-4, 3)/5, plus a constant third coordinate
    t = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    s = np.array([0.1, -0.2, 0.0, 0.2, -0.1])
    h = np.stack([3 / 5 * t - 4 / 5 * s + 1, 4 / 5 * t + 3 / 5 * s + 2, np.full(5, 7.0)], axis=1)
    pca = hm.fit_pca(h)
    np.testing.assert_allclose(pca.mean, [1, 2, 7], atol=1e-12)
    np.testing.assert_allclose(pca.axes[0], [0.6, 0.8, 0], atol=1e-12)  # largest entry made positive
    np.testing.assert_allclose(pca.axes[1], [0.8, -0.6, 0], atol=1e-12)  # -0.8 is its largest entry: flipped
    np.testing.assert_allclose(pca.project(h), np.stack([t, -s], axis=1), atol=1e-12)
    np.testing.assert_allclose(pca.explained, [np.sum(t ** 2), np.sum(s ** 2)] / np.sum(t ** 2 + s ** 2))


def test_pca_matches_numpy_svd_up_to_the_fixed_sign():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(40, 6)) @ np.diag([5, 3, 1, 0.5, 0.2, 0.1])
    pca = hm.fit_pca(h)
    _, sv, vt = np.linalg.svd(h - h.mean(axis=0), full_matrices=False)
    for i in range(2):
        sign = np.sign(vt[i][np.argmax(np.abs(vt[i]))])
        np.testing.assert_allclose(pca.axes[i], sign * vt[i], atol=1e-12)
        assert pca.axes[i][np.argmax(np.abs(pca.axes[i]))] > 0
    np.testing.assert_allclose(pca.explained, sv[:2] ** 2 / np.sum(sv ** 2))
    np.testing.assert_allclose(hm.fit_pca(-h).axes, pca.axes, atol=1e-12)  # deterministic signs: same axes for -h
    proj = pca.project(h)
    np.testing.assert_allclose(proj.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(np.var(proj, axis=0) * len(h), sv[:2] ** 2, rtol=1e-10)


def test_same_axes_across_snapshots_and_per_point_fields():
    s = frozen_split(400)
    hyper = Hyper(hidden=10, lr=0.1, momentum=0.9, epochs=3, batch_size=40, seed=1, dtype="float64")
    t = Trainer(s.x_train, s.y_train, s.x_valid, s.y_valid, hyper)
    snaps = [(0, t.params)]
    while not t.done:
        t.step_epoch()
        snaps.append((t.epoch, t.params))
    rows = hm.sample_indices(len(s.y_valid), size=50, seed=2)
    assert np.array_equal(rows, hm.sample_indices(len(s.y_valid), size=50, seed=2)) and len(rows) == 50
    m = hm.hidden_map(snaps, s.x_valid, s.y_valid, rows)
    assert m.reference_epoch == 3 and [f.epoch for f in m.frames] == [0, 1, 2, 3]
    ref = hm.fit_pca(network.forward(snaps[-1][1], s.x_valid[rows]).h)
    np.testing.assert_allclose(m.pca.axes, ref.axes)
    for (_, params), frame in zip(snaps, m.frames):
        h = network.forward(params, s.x_valid[rows]).h
        np.testing.assert_allclose(frame.xy, (h - ref.mean) @ ref.axes.T, atol=1e-10)  # the reference's axes and mean
        pred = network.predict(params, s.x_valid[rows])
        np.testing.assert_array_equal(frame.predicted, pred)
        np.testing.assert_array_equal(frame.wrong, pred != s.y_valid[rows])
    np.testing.assert_array_equal(m.true, s.y_valid[rows])
    assert not np.allclose(m.frames[0].xy, m.frames[-1].xy)  # the snapshots differ
    first = hm.hidden_map(snaps, s.x_valid, s.y_valid, rows, reference=0)
    assert not np.allclose(first.pca.axes, m.pca.axes)  # another reference, other axes
    with pytest.raises(IndexError):
        hm.hidden_map(snaps, s.x_valid, s.y_valid, rows, reference=9)


def test_astronomical_or_infinite_activations_still_map():
    rng = np.random.default_rng(3)
    h = rng.normal(size=(30, 5)) * 1e300
    h[0, 0], h[1, 1] = np.inf, np.nan
    pca = hm.fit_pca(h)
    assert pca.scale > 1e200 and np.all(np.isfinite(pca.axes)) and np.all(np.isfinite(pca.project(h)))
    small = hm.fit_pca(h[2:] / pca.scale)  # the same points, scaled: the same axes
    np.testing.assert_allclose(hm.fit_pca(h[2:]).axes, small.axes, atol=1e-10)
    assert hm.fit_pca(np.zeros((4, 3))).explained.tolist() == [0, 0]
