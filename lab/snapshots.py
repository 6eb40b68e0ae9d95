"""A run's weights over the epochs and its gradient health, as arrays and sentences ready to draw.

Pure numpy; the inspection page (the time slider over a run's weight snapshots) and the training
page (the gradient-health row) call these.

* Snapshots: a list of ``(epoch, mlp.network.Params)``, epochs increasing, epoch 0 the initial
  weights (``Trainer.snapshots``, or a model file's). ``snapshot_at`` picks one by epoch,
  ``view_weights`` gives W_h at an epoch or its change since the start, W_h(epoch) - W_h(0), and
  ``snapshot_images`` draws hidden units of either view on a diverging scale centred at 0 whose
  symmetric limits come from the *last* snapshot, so that playing the epochs shows the pictures
  grow rather than each epoch stretched to full colour.
* Health: a list of per-epoch dicts of ``mlp.health.HEALTH_KEYS`` (``Trainer.health``):
  ``health_rows`` gives long-form rows for the three charts, ``dead_units_note`` the sentence
  for a run whose ReLUs died.
"""

from __future__ import annotations

import math

import numpy as np

from lab import inspect_model as im

VIEWS = {"weights": "the weights W", "change": "the change since the start W − W₀"}
GRAD_SERIES = {"grad_w_h": "W_h", "grad_b_h": "b_h", "grad_w_o": "W_o", "grad_b_o": "b_o"}  # key -> legend
RATIO_SERIES = {"ratio_w_h": "W_h", "ratio_w_o": "W_o"}
SHARE_SERIES = {"dead_share": "dead", "always_on_share": "always on"}  # h = 0 / h > 0 for every training image
CHARTS = {  # chart -> (series of a health record, drawn on a log axis?)
    "gradient norm": (GRAD_SERIES, True),
    "update ratio": (RATIO_SERIES, True),
    "hidden units": (SHARE_SERIES, False),
}
RATIO_GUIDE = 1e-3  # the usual rule of thumb for ||Δw|| / ||w|| per update
DEAD_ALARM = 0.25  # a dead share at or above this, climbed by at least DEAD_CLIMB, gets a note
DEAD_CLIMB = 0.2


# ----- snapshots -----------------------------------------------------------------------------


def snapshot_epochs(snapshots):
    """The epochs kept, in order (list of int)."""
    return [int(e) for e, _ in snapshots]


def snapshot_at(snapshots, epoch):
    """The Params of the latest snapshot at or before ``epoch`` (the first one for an earlier epoch)."""
    if not snapshots:
        raise ValueError("there are no snapshots")
    chosen = snapshots[0][1]
    for e, params in snapshots:
        if e <= epoch:
            chosen = params
    return chosen


def next_epoch(snapshots, epoch):
    """The kept epoch after ``epoch`` (None at the last one): what Play shows next."""
    later = [e for e in snapshot_epochs(snapshots) if e > epoch]
    return later[0] if later else None


def view_weights(snapshots, epoch, view="weights"):
    """W_h (F, H) at ``epoch``, float64: the weights ("weights") or W_h(epoch) - W_h(0) ("change")."""
    w = np.asarray(snapshot_at(snapshots, epoch).w_h, np.float64)
    if view == "weights":
        return w
    if view == "change":
        return w - np.asarray(snapshots[0][1].w_h, np.float64)
    raise ValueError(f"view must be one of {list(VIEWS)}, got {view!r}")


def view_scales(snapshots, view="weights", mode="unit"):
    """The symmetric colour limits s (H,) of a view, from its last snapshot (``inspect_model.weight_scales``).

    One set of limits for every epoch: W_h(T) (or W_h(T) - W_h(0)) of the last snapshot, each unit its
    own max |w| (mode "unit") or one shared 99.5th percentile (mode "shared").
    """
    return im.weight_scales(view_weights(snapshots, snapshots[-1][0], view), mode)


def snapshot_images(snapshots, epoch, view="weights", mode="unit", units=None):
    """Hidden units' images (n, 28, 28, 3) uint8 of a view at ``epoch`` and their limits (n,).

    ``units`` picks and orders the units (default all). White is 0; values beyond a unit's limit
    get the end colours (an early epoch's change is pale, a late one's full).
    """
    w = view_weights(snapshots, epoch, view)
    scales = view_scales(snapshots, view, mode)
    units = np.arange(w.shape[1]) if units is None else np.asarray(units, np.intp)
    tiles = w[:, units].T.reshape(len(units), im.SIDE, im.SIDE)
    return im.colourise(tiles, scales[units][:, None, None]), scales[units]


def thin(snapshots, count):
    """At most ``count`` (>= 2) of the snapshots, spread evenly over the list, the first and the last kept."""
    if len(snapshots) <= count:
        return list(snapshots)
    picks = sorted({int(i) for i in np.linspace(0, len(snapshots) - 1, max(count, 2)).round()})
    return [snapshots[i] for i in picks]


def rounded(params, bits=8):
    """Params in float32 with each number rounded to ``bits`` significant bits (round half to even), for a file.

    The cut mantissa bits are zeros, which a compressed .npz stores in almost no space; 8 bits (bfloat16's
    precision) move a number by at most 2^-8 of itself, under one step of a weight picture's 255 colours. A
    number that would round up beyond float32's range keeps its value (a model file holds finite numbers only).
    """
    drop = 24 - bits
    if not 0 < drop < 24:
        raise ValueError(f"bits must be 1..23, got {bits}")
    out = {}
    for name, a in params.as_dict().items():
        u = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
        half = (1 << (drop - 1)) - 1 + ((u >> drop) & 1)
        r = ((u + half) >> drop << drop).astype(np.uint32).view(np.float32)  # a carry into the exponent is right
        out[name] = np.where(np.isfinite(r), r, np.asarray(a, np.float32))  # one rounded up to inf keeps its value
    return type(params)(**out)


def snapshots_nbytes(snapshots):
    """Bytes the snapshots' arrays take."""
    return sum(a.nbytes for _, p in snapshots for a in p.as_dict().values())


def _epoch_list(epochs, shown=8):
    """'0, 1, 2, 4' or, for many, '0, 1, 2, 4, 8, …, 30' (the first ones, an ellipsis, the last)."""
    if len(epochs) <= shown:
        return ", ".join(str(e) for e in epochs)
    return ", ".join(str(e) for e in epochs[: shown - 1]) + f", …, {epochs[-1]}"


def kept_note(snapshots, max_snapshots=None, budget_bytes=None):
    """What is kept, for the page: '6 snapshots of the weights, at epochs 0, 1, 2, 3, 4, 5 (4.7 MiB; a run
    keeps at most 20 within 16 MiB).' The limits are mlp.limits.MAX_SNAPSHOTS and SNAPSHOT_BYTES by default."""
    from mlp import limits

    max_snapshots = limits.MAX_SNAPSHOTS if max_snapshots is None else max_snapshots
    budget_bytes = limits.SNAPSHOT_BYTES if budget_bytes is None else budget_bytes
    epochs = snapshot_epochs(snapshots)
    what = "snapshot" if len(epochs) == 1 else "snapshots"
    where = "epoch" if len(epochs) == 1 else "epochs"
    return (f"{len(epochs)} {what} of the weights, at {where} {_epoch_list(epochs)} "
            f"({snapshots_nbytes(snapshots) / 2**20:.1f} MiB; a run keeps at most {max_snapshots} "
            f"within {budget_bytes / 2**20:g} MiB, spaced to cover it).")


# ----- gradient health -----------------------------------------------------------------------


def health_rows(health, chart):
    """Long-form rows {epoch, series, value} of one chart of ``CHARTS`` over the epochs' health records.

    Values that are not finite are left out; on the log charts, so are values <= 0 (a gradient of
    exactly 0: every hidden unit dead).
    """
    series, log = CHARTS[chart]
    rows = []
    for record in health:
        for key, label in series.items():
            v = float(record[key])
            if math.isfinite(v) and (v > 0 or not log):
                rows.append({"epoch": int(record["epoch"]), "series": label, "value": v})
    return rows


def dead_units_note(health, hyper=None):
    """A sentence when the share of dead hidden units climbed (to >= DEAD_ALARM, by >= DEAD_CLIMB), else None.

    A dead ReLU unit outputs 0 for every training image, so every gradient through it is 0 and it
    never learns again; ``hyper`` (the run's settings), if given, names its step size.
    """
    shares = [(int(r["epoch"]), float(r["dead_share"])) for r in health if math.isfinite(float(r["dead_share"]))]
    if not shares:
        return None
    low_epoch, low = min(shares, key=lambda s: (s[1], s[0]))
    last_epoch, last = shares[-1]
    if last < DEAD_ALARM or last - low < DEAD_CLIMB or last_epoch <= low_epoch:
        return None
    step = "" if hyper is None else f" (learning rate {hyper.lr:g}, momentum {hyper.momentum:g})"
    return (f"The share of dead hidden units climbed from {low:.0%} at epoch {low_epoch} to {last:.0%} at epoch "
            f"{last_epoch}: a dead ReLU unit outputs 0 for every training image, so no gradient reaches its "
            f"weights and it never learns again. Updates too large{step} pushed these units' inputs below "
            "zero for good; a smaller learning rate or less momentum keeps them alive.")
