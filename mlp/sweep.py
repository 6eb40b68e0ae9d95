"""A learning-rate sweep in one go: R networks trained together, their weights stacked.

The R networks share everything but the learning rate: the same first weights (same seed), the
same mini-batches in the same order (one ``default_rng(seed)`` permutation per epoch, as
``mlp.train.Trainer`` draws it), the same momentum. Their parameters are stacked along a leading
axis, W_h (R, F, H), b_h (R, 1, H), W_o (R, H, K), b_o (R, 1, K), and one call of the library's
own ``mlp.network.forward`` / ``backward`` and ``mlp.train.momentum_update`` trains all of them
on a mini-batch: ``np.matmul`` broadcasts the shared batch x (B, F) against the stacked weights,
and the learning rates are an (R, 1, 1) array, so every formula is the one a single run uses:

    v_r <- momentum v_r + lr_r g_r,   w_r <- w_r - v_r     (velocities start at 1e-5)

Per-epoch records are ``Trainer``'s (``RECORD_KEYS``; the metrics of the weights at the epoch's
start, computed by the trainer's ``Engine`` for the whole stack at once). A network whose run should
stop (``Trainer.stop_reason``'s rules: a NaN, infinite or exploding loss, or every hidden unit
dead) is marked diverged and taken out of the stack; the others go on unchanged.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from . import health, lanes, network
from .network import Params
from .train import (
    RECORD_KEYS,
    Engine,
    at_or_above_chance,
    dead_units_reason,
    divergence_reason,
    first_params,
    momentum_update,
    start_velocity,
)

MAX_RATES = 8  # networks in one sweep


def log_grid(low, high, count):
    """``count`` learning rates from ``low`` to ``high``, evenly spaced in log10, as Python floats."""
    if not (0 < low <= high) or not 1 <= count <= MAX_RATES:
        raise ValueError(f"need 0 < low <= high and 1 <= count <= {MAX_RATES}")
    if count == 1:
        return [float(low)]
    return [float(v) for v in np.geomspace(low, high, count)]


def stack(params_list, dtype):
    """Params of R networks -> one Params of stacked arrays (R, ...) in ``dtype``."""
    return Params(**{name: np.stack([getattr(p, name) for p in params_list]).astype(dtype)
                     for name in network.PARAM_NAMES})


def unstack(stacked, r):
    """The r-th network of stacked Params (a copy)."""
    return Params(**{name: np.array(getattr(stacked, name)[r]) for name in network.PARAM_NAMES})


def _rows(stacked, a, b):
    """Networks a..b of stacked Params, as views (writing them writes the stack)."""
    return Params(**{name: getattr(stacked, name)[a:b] for name in network.PARAM_NAMES})


def take(stacked, slots):
    """The networks ``slots`` (a list of indices) of stacked Params, as new stacked Params."""
    return Params(**{name: np.ascontiguousarray(getattr(stacked, name)[slots]) for name in network.PARAM_NAMES})


class Sweep:
    """R runs of one ``Hyper`` that differ only in the learning rate, trained as one stacked network.

    ``step(max_batches)`` does up to ``max_batches`` mini-batch updates of every live network (None: to
    the end of the epoch) and returns ``{r: record}`` when the call completes an epoch, else None.
    ``histories[r]``: run r's records; ``reasons[r]``: why run r stopped (None while it learns);
    ``hypers[r]``: run r's Hyper (``hyper`` with lr = ``lrs[r]``); ``snapshots[r]``: its weights at the epochs
    a ``Trainer`` keeps (``mlp.health.snapshot_epochs``), float32; ``healths[r]``: its gradient health, a
    ``Trainer``'s records (``mlp.health``: the same sampled updates, the unit shares of the epoch's first pass).
    stacked: the training and validation rows stacked already, shared (see ``mlp.train.Engine``).
    """

    def __init__(self, x_train, y_train, x_valid, y_valid, hyper, lrs, n_data=None, stacked=None):
        if not 1 <= len(lrs) <= MAX_RATES:
            raise ValueError(f"a sweep trains 1 to {MAX_RATES} learning rates, got {len(lrs)}")
        self.hypers = [replace(hyper, lr=float(lr)) for lr in lrs]  # each checks its lr
        self.hyper, self.dtype = hyper, np.dtype(hyper.dtype)
        first = first_params(hyper, np.shape(x_train)[1], n_data)
        self.engine = Engine(first, start_velocity(first), (x_train, y_train, x_valid, y_valid), hyper.lr,
                             hyper.momentum, hyper.dtype, stacked=stacked)  # holds the stacked data; evaluates
        self.x_train, self.n_train = x_train, len(x_train)
        r = len(lrs)
        self.params = stack([first] * r, self.dtype)
        self.velocity = stack([start_velocity(first)] * r, self.dtype)
        self.slots = list(range(r))  # slot i of the stack is run slots[i]
        self.lr = np.array(lrs, self.dtype).reshape(r, 1, 1)
        self.histories = [[] for _ in range(r)]
        self.reasons = [None] * r
        self.final_params = [None] * r  # the weights of a run taken out of the stack
        self.snapshot_plan = set(health.snapshot_epochs(hyper.epochs, health.snapshot_count(first.sizes)))
        start = first.copy(np.float32)  # the same first weights for every run: one array
        self.snapshots = [[(0, start)] for _ in range(r)]  # (epoch, Params float32), as Trainer.snapshots
        self.healths = [[] for _ in range(r)]  # per epoch, as Trainer.health
        self._steps, self._measured, self._shares = {}, set(), None  # this epoch's health so far
        self.batch_rng = np.random.default_rng(hyper.seed)
        self.order, self.position, self.epoch_metrics, self.epoch_seconds = np.zeros(0, np.intp), 0, None, 0.0
        self._buffers = {}

    @property
    def runs(self):
        return len(self.hypers)

    @property
    def live(self):
        """The runs still training (not stopped), in order."""
        return list(self.slots)

    @property
    def epoch(self):
        """Epochs completed by the sweep (the live runs all have this many records)."""
        return max(len(h) for h in self.histories)

    @property
    def done(self):
        return not self.slots or self.epoch >= self.hyper.epochs

    @property
    def batch_size(self):
        b = self.hyper.batch_size
        return self.n_train if b is None else min(b, self.n_train)

    @property
    def batches_per_epoch(self):
        return -(-self.n_train // self.batch_size)

    @property
    def full_batch(self):
        return self.hyper.batch_size is None or self.batch_size >= self.n_train

    def step(self, max_batches=None):
        """Up to ``max_batches`` updates of every live network; ``{r: record}`` if this call ended an epoch."""
        if self.done:
            return None
        t0 = time.perf_counter()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if self.position == 0:
                self.epoch_metrics = self.metrics()
                self._steps, self._measured = {r: [] for r in self.slots}, health.sampled_steps(self.batches_per_epoch)
                if not self.full_batch:
                    self.order = self.batch_rng.permutation(self.n_train)
            if self.full_batch:
                self._updates([np.arange(self.n_train)])
                self.position = self.n_train
            else:
                self._mini_batches(max_batches)
        self.epoch_seconds += time.perf_counter() - t0
        return self._finish_epoch() if self.position >= self.n_train else None

    def _mini_batches(self, max_batches):
        budget = self.batches_per_epoch if max_batches is None else max_batches
        stops = range(self.position, min(self.n_train, self.position + budget * self.batch_size), self.batch_size)
        if not stops:
            return
        self._updates([self.order[p : p + self.batch_size] for p in stops])
        self.position = min(self.n_train, stops[-1] + self.batch_size)

    def _updates(self, batches):
        """Updates of every live network on the training rows of each of ``batches`` in turn, over lanes.

        Lane j (``mlp.lanes``) takes the j-th share of the stacked networks through all the batches:
        the networks do not interact, so the lanes meet once a call, not once an update. A share is
        views of the stack, written in place, so the lanes touch disjoint parts of every array.
        """
        shares = lanes.spans(len(self.slots), min(self.engine.lanes, len(self.slots)))
        first = self.position // self.batch_size  # the epoch's index of the first of ``batches``
        steps = [[] for _ in shares]  # lane j: [(slot, step_health)] of its measured updates

        def lane(j):
            for i, idx in enumerate(batches):
                x, y, h, bw = self._batch_buffers(len(idx), j)
                if self.full_batch:  # the training rows in order: the stacked rows themselves, no copy
                    x, y = self.engine.x[: self.n_train], self.engine.y[: self.n_train]
                else:
                    np.take(self.engine.x, idx, axis=0, out=x)
                    np.take(self.engine.y, idx, axis=0, out=y)
                self._update_share(*shares[j], x, y, h, bw)
                if first + i in self._measured:
                    steps[j] += [(a, self._step_health(a, bw.grads)) for a in range(*shares[j])]

        for size in {len(idx) for idx in batches}:
            self._batch_buffers(size, 0)  # made here, before the lanes share them
        with lanes.one_blas_thread(self.engine.lanes > 1):  # also for one lane: no BLAS thread left spinning
            lanes.run(lane, len(shares))
        for slot, record in (pair for lane_steps in steps for pair in lane_steps):
            self._steps[self.slots[slot]].append(record)

    def _step_health(self, slot, grads):
        """``health.step_health`` of the network in ``slot`` after its update (grads: the whole stack's buffer)."""
        views = [_rows(p, slot, slot + 1) for p in (grads, self.velocity, self.params)]
        return health.step_health(*views)

    def _update_share(self, a, b, x, y, h, bw):
        """Forward, backward and momentum of stacked networks a..b on the batch (x, y), into their buffers."""
        params, velocity, grads = (_rows(p, a, b) for p in (self.params, self.velocity, bw.grads))
        fw = network.forward(params, x, out=h[a:b])  # (r, B, H), (r, B, K)
        out = network.Backward(None, bw.mask[a:b], None, bw.delta_h[a:b], grads)
        bw = network.backward(fw.p, y, fw.h, params.w_o, x, out=out)
        momentum_update(params, velocity, bw.grads, self.lr[a:b], self.hyper.momentum, out=(params, velocity))

    def _batch_buffers(self, b, lane):
        """(x (b, F), y (b, K)) of ``lane`` (None in full batch), and the stack's h (R, b, H) and backward buffers."""
        key = (b, len(self.slots))
        if key not in self._buffers:
            r, (f, k) = len(self.slots), (self.engine.x.shape[1], self.engine.y.shape[1])
            hidden = self.params.w_h.shape[2]
            grads = Params(**{n: np.empty_like(v) for n, v in self.params.as_dict().items()})
            bw = network.Backward(None, np.empty((r, b, hidden), bool), None, np.empty((r, b, hidden), self.dtype),
                                  grads)
            lanes = 0 if self.full_batch else self.engine.lanes  # a full batch reads the stacked rows
            rows = [(np.empty((b, f), self.dtype), np.empty((b, k), self.dtype)) for _ in range(lanes)]
            self._buffers[key] = (rows, np.empty((r, b, hidden), self.dtype), bw)
        rows, h, bw = self._buffers[key]
        return (*(rows[lane] if rows else (None, None)), h, bw)

    def metrics(self):
        """(train loss, train acc, valid loss, valid acc) of every live network, a tuple a slot.

        The trainer's ``Engine.evaluate`` on the stacked weights: one forward pass a chunk of rows for all.
        """
        self.engine.params = self.params
        columns, self._shares = self.engine.evaluate(units=True)  # and the unit shares, (R,) each
        return [tuple(float(c[slot]) for c in columns) for slot in range(len(self.slots))]

    def _finish_epoch(self):
        seconds = self.epoch_seconds / max(len(self.slots), 1)  # each run's share of the epoch's time
        out = {}
        for slot, r in enumerate(self.slots):
            record = dict(zip(RECORD_KEYS, (len(self.histories[r]) + 1, *self.epoch_metrics[slot], seconds)))
            self.histories[r].append(record)
            out[r] = record
            shares = (float(self._shares[0][slot]), float(self._shares[1][slot]))
            self.healths[r].append(health.epoch_health(record["epoch"], self._steps[r], *shares))
            if record["epoch"] in self.snapshot_plan:
                self.snapshots[r].append((record["epoch"], unstack(self.params, slot).copy(np.float32)))
        self.position, self.epoch_seconds, self.epoch_metrics = 0, 0.0, None
        self._stop_runs()
        return out

    def stop_reason(self, r):
        """Why run r should stop (``Trainer.stop_reason``'s sentence), else None; r must be live."""
        history = self.histories[r]
        reason = divergence_reason(history)
        if reason is None and at_or_above_chance(history):
            reason = dead_units_reason(history, unstack(self.params, self.slots.index(r)), self.x_train)
        return reason

    def _stop_runs(self):
        """Take every run that should stop out of the stack (its weights are kept in ``final_params``)."""
        stopping = [r for r in self.slots if self.stop_reason(r) is not None]
        if not stopping:
            return
        for r in stopping:
            self.reasons[r] = self.stop_reason(r)
            self.final_params[r] = unstack(self.params, self.slots.index(r))
        keep = [i for i, r in enumerate(self.slots) if r not in stopping]
        self.params, self.velocity = take(self.params, keep), take(self.velocity, keep)
        self.lr = self.lr[keep]
        self.slots = [self.slots[i] for i in keep]
        self._buffers = {}

    def params_of(self, r):
        """Run r's current weights (a copy): from the stack while it trains, else those it stopped with."""
        if r in self.slots:
            return unstack(self.params, self.slots.index(r))
        return self.final_params[r].copy()

    def snapshots_with_last(self, r):
        """Run r's snapshots, plus its current weights if the last snapshot is older (a run that ended early)."""
        return health.with_last(self.snapshots[r], len(self.histories[r]),
                                lambda: self.params_of(r).copy(np.float32))

    def evaluate(self, r):
        """(train loss, train acc, valid loss, valid acc) of run r's current weights."""
        self.engine.params = self.params_of(r)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self.engine.evaluate()

