"""Filtering: near-duplicate faces and junk faces (dingbats, symbols, ornaments) are dropped.

* ``dedup``: a face within RMS ``DUP_RMS`` (0..1 scale, over its ten
  letters) of an earlier kept face is a copy.
* ``junk_scores``: a ``JUNK_FOLDS``-fold cross-validated MLP (``mlp.train``),
  split by font family, counts how many of each face's letters it reads
  right; faces with <= ``JUNK_MAX_RIGHT`` right are junk.
"""

from __future__ import annotations

import os
import time

import numpy as np

from mlp.data import SIDE

DUP_RMS = 0.03  # faces closer than this (0..1 scale, RMS over 10 letters) are copies
JUNK_MAX_RIGHT = 3  # a face with <= 3 of 10 letters right in cross-validation is junk
JUNK_FOLDS = 5


def dedup(images, threshold=DUP_RMS, block=1024):
    """Greedy near-duplicate removal in the given order. images: (M, 10, 28, 28) uint8.

    Returns a boolean keep mask: a face is dropped when a kept earlier face is
    within RMS < threshold (pixels scaled 0..1, over all ten letters).
    """
    m = images.shape[0]
    x = images.reshape(m, -1).astype(np.float32) / 255.0
    d = x.shape[1]
    sq = np.einsum("ij,ij->i", x, x)
    limit = threshold * threshold * d
    near = [[] for _ in range(m)]  # earlier faces within the threshold
    for s in range(0, m, block):
        e = min(m, s + block)
        g = x[s:e] @ x[:e].T
        d2 = sq[s:e, None] + sq[None, :e] - 2 * g
        for r in range(e - s):
            i = s + r
            js = np.nonzero(d2[r, :i] < limit)[0]
            near[i] = js.tolist()
    keep = np.zeros(m, dtype=bool)
    for i in range(m):
        keep[i] = not any(keep[j] for j in near[i])
    return keep


def family_key(family, path):
    f = (family or "").strip().lower()
    if not f:
        f = os.path.splitext(os.path.basename(path))[0].lower()
    return f


def family_folds(families, k=JUNK_FOLDS, seed=0):
    """Fold 0..k-1 for each face, whole families together (deterministic)."""
    uniq = sorted(set(families))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(uniq))
    fold_of = {uniq[j]: int(r % k) for r, j in enumerate(order)}
    return np.array([fold_of[f] for f in families], dtype=np.int64)


def _train_predict(x_tr, y_tr, x_te, epochs, seed):
    """Train the project's MLP (784-1000-10) on x_tr and predict labels of x_te."""
    from mlp.network import predict
    from mlp.train import Hyper, Trainer

    hyper = Hyper(hidden=1000, lr=0.1, momentum=0.9, epochs=epochs, batch_size=128, seed=seed,
                  dtype="float32")
    trainer = Trainer(x_tr, y_tr, x_tr[:0], y_tr[:0], hyper)  # no validation rows needed
    for _ in range(epochs):
        trainer.step_epoch()
    return np.asarray(predict(trainer.params, x_te))


def junk_scores(images, families, epochs=10, seed=0, folds=JUNK_FOLDS, log=print):
    """Per face, how many of its 10 letters a family-split cross-validated model gets right."""
    m = images.shape[0]
    x = images.reshape(m * 10, SIDE * SIDE).astype(np.float32) / 255.0
    y = np.tile(np.arange(10, dtype=np.int64), m)
    fold = family_folds(families, folds, seed)
    right = np.zeros(m, dtype=np.int64)
    for k in range(folds):
        te_faces = np.nonzero(fold == k)[0]
        tr_mask = np.repeat(fold != k, 10)
        te_mask = np.repeat(fold == k, 10)
        t0 = time.time()
        pred = _train_predict(x[tr_mask], y[tr_mask], x[te_mask], epochs, seed + k)
        ok = (pred == y[te_mask]).reshape(-1, 10).sum(axis=1)
        right[te_faces] = ok
        log(f"  junk fold {k}: {len(te_faces)} faces, letter accuracy {ok.sum() / (10 * len(te_faces)):.3f}, "
            f"{time.time() - t0:.0f}s")
    return right

