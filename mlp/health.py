"""How a run's training is going, epoch by epoch: gradient norms, update ratios, dead units, weight snapshots.

Per epoch the trainer records (``HEALTH_KEYS``):

* ``grad_w_h`` ... ``grad_b_o``: the norm ||g|| = sqrt(sum g^2) of each parameter block's gradient;
* ``ratio_w_h``, ``ratio_w_o``: the update-to-weight ratio ||Delta w|| / ||w|| of each weight
  matrix, with Delta w = -v the step the momentum update takes (a common guide: about 1e-3;
  much larger and the weights are thrown about, much smaller and they hardly move);
* ``dead_share``: the share of hidden units whose ReLU is off (h = 0) for every training image,
  and ``always_on_share``, on for every one (a unit that is never off is a linear unit).

The norms and ratios are the mean over the epoch's updates: the one update of a full batch, or up
to ``SAMPLED_UPDATES`` updates spread over a mini-batch epoch (measuring every one would cost a few
per cent of the training). The unit shares come from the forward pass over the training set at the
epoch's start, the pass the epoch's metrics come from, so they describe the same weights.

Snapshots: ``snapshot_epochs`` chooses the epochs at which the weights are kept (denser at the
start, where they change most), at most ``mlp.limits.MAX_SNAPSHOTS`` within
``mlp.limits.SNAPSHOT_BYTES`` per run.
"""

from __future__ import annotations

import numpy as np

from . import limits
from .network import PARAM_NAMES

HEALTH_KEYS = ("epoch", "grad_w_h", "grad_b_h", "grad_w_o", "grad_b_o", "ratio_w_h", "ratio_w_o",
               "dead_share", "always_on_share")
SAMPLED_UPDATES = 8  # mini-batch updates per epoch whose gradient norms and ratios are measured


def norm(a):
    """Euclidean (Frobenius) norm sqrt(sum a^2) of an array of any shape, as a float."""
    flat = np.ravel(a)
    return float(np.sqrt(np.dot(flat, flat)))


def step_health(grads, velocity, params):
    """{grad_<name>: ||g||, ratio_w_h / ratio_w_o: ||v|| / ||w||} of one update (after it: w = w_old - v)."""
    out = {f"grad_{name}": norm(getattr(grads, name)) for name in PARAM_NAMES}
    for name in ("w_h", "w_o"):
        w = norm(getattr(params, name))
        out[f"ratio_{name}"] = norm(getattr(velocity, name)) / w if w > 0 else float("inf")
    return out


def sampled_steps(n_updates, count=SAMPLED_UPDATES):
    """Indices (0-based) of the updates of an epoch of ``n_updates`` that are measured: ``count`` spread evenly."""
    if n_updates <= count:
        return set(range(n_updates))
    return {int(i) for i in np.linspace(0, n_updates - 1, count).round()}


def epoch_health(epoch, steps, dead_share, always_on_share):
    """The epoch's record (``HEALTH_KEYS``): the mean of the measured ``steps`` (dicts of ``step_health``)."""
    record = {"epoch": epoch, "dead_share": dead_share, "always_on_share": always_on_share}
    for key in HEALTH_KEYS[1:7]:
        record[key] = float(np.mean([s[key] for s in steps])) if steps else float("nan")
    return record


def snapshot_bytes(sizes, itemsize=4):
    """Bytes of one snapshot of a network of sizes (F, H, K) in float32 (W_h, b_h, W_o, b_o)."""
    f, h, k = sizes
    return (f * h + h + h * k + k) * itemsize


def snapshot_count(sizes):
    """How many snapshots a run keeps: ``MAX_SNAPSHOTS``, or fewer to stay within ``SNAPSHOT_BYTES`` (at least 2)."""
    return int(max(2, min(limits.MAX_SNAPSHOTS, limits.SNAPSHOT_BYTES // snapshot_bytes(sizes))))


def snapshot_epochs(epochs, count):
    """``count`` (or fewer) distinct epochs from 0 (the start) to ``epochs`` (the end), denser at the start.

    Epoch e_i = round(epochs (i / (count - 1))^2), then made strictly increasing: for 200 epochs and
    20 snapshots 0, 1, 2, 5, 9, 14, 20, 27, ... 200; for 5 epochs, every epoch.
    """
    if epochs + 1 <= count:
        return list(range(epochs + 1))
    chosen = []
    for i in range(count):
        e = int(round(epochs * (i / (count - 1)) ** 2))
        chosen.append(max(e, chosen[-1] + 1) if chosen else e)
    return [e for e in chosen if e <= epochs]


def with_last(snapshots, epoch, current):
    """``snapshots`` [(epoch, Params)], plus ``(epoch, current())`` if the last one is older than ``epoch``
    (a run that ended before its plan's last snapshot).

    Epochs stay strictly increasing: a run stopped inside epoch ``epoch + 1`` keeps its exact snapshot of
    epoch ``epoch``; its current weights are the model's own weights.
    """
    snaps = list(snapshots)
    if snaps and snaps[-1][0] >= epoch:
        return snaps
    return [*snaps, (epoch, current())]
