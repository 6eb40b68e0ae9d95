"""Gradient descent with momentum, as a stepper a UI or a CLI can drive.

The update is the report's, for every parameter w with gradient g:

    v <- gamma * v + alpha * g        (gamma = momentum, alpha = learning rate)
    w <- w - v                        (velocities start at 1e-5, not 0)

Per-epoch metrics follow the report: the record of epoch e holds the loss
and accuracy of the forward pass over the whole training and validation sets
with the weights *before* epoch e's update. In full-batch training that is the
very forward pass whose gradient makes the update; with mini-batches it is one
extra forward pass at the start of the epoch. The metrics of the final
weights come from ``Trainer.evaluate``.

One ``Engine`` does the arithmetic in the run's dtype (float32 or float64) with
the library's own functions, ``mlp.network.forward`` / ``backward`` and
``momentum_update`` below: it stacks the training and validation sets, goes
over them in chunks of rows with buffers allocated once, and splits a full
batch's chunks over the cores (``mlp.lanes``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import numpy as np

from . import health, network
from . import lanes as lanes_module
from .core import average_ce_logits, one_hot
from .network import Params, init_params

VELOCITY_START = 1e-5
INITS = ("seed", "report")  # Hyper.init: a fresh RandomState(seed), or the report's stream (see Hyper)


@dataclass(frozen=True)
class Hyper:
    """Hyperparameters of one run. ``batch_size=None`` means full batch.

    init: how the first weights are drawn (``mlp.network.init_params``). "seed": from a fresh
    ``RandomState(seed)``. "report": from ``RandomState(seed)`` advanced first by the shuffle of the
    data set's rows, as the report's ``load_data`` advances the global stream, so seed 521 on the
    18,724 images of notMNIST_small gives the report's very initial weights (drawn in float64 as the
    report's; a float32 run starts from their float32 rounding). The Trainer then needs ``n_data``,
    the data set's size. The arithmetic after that is the report's formulas, not its code: float64
    runs agree with the report's to rounding, not bit for bit.
    """

    hidden: int = 1000
    lr: float = 0.1
    momentum: float = 0.9
    epochs: int = 200
    batch_size: int | None = None
    seed: int = 521
    dtype: str = "float32"
    init: str = "seed"

    def __post_init__(self):
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
        if self.hidden < 1 or self.epochs < 1:
            raise ValueError("hidden units and epochs must be at least 1")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError("batch size must be at least 1 (or None for full batch)")
        if not (self.lr > 0 and 0 <= self.momentum < 1):
            raise ValueError("need lr > 0 and 0 <= momentum < 1")

    def to_json(self):
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text):
        return cls(**json.loads(text))


PRESETS = {
    # The course report's recipe (1000 hidden units, alpha 0.1, gamma 0.9, 200 full-batch epochs) from its
    # initial weights; in float32 (the report computed in float64: dtype="float64" for its precision).
    "assignment": Hyper(hidden=1000, lr=0.1, momentum=0.9, epochs=200, batch_size=None, seed=521, init="report"),
    # Reaches 0.90 validation accuracy on the embedded letters in a few seconds.
    "quick": Hyper(hidden=256, lr=0.1, momentum=0.9, epochs=5, batch_size=128, seed=521),
}

RECORD_KEYS = ("epoch", "train_loss", "train_acc", "valid_loss", "valid_acc", "seconds")


def momentum_step(w, v, g, lr, momentum, out=None):
    """One update in the report's form: returns (w - v', v') with v' = momentum * v + lr * g.

    out: optional (w_out, v_out) arrays for the results (they may be w and v: an update in place).
    """
    w_out, v_out = (None, None) if out is None else out
    v_new = np.multiply(v, momentum, out=v_out)  # momentum * v (a new array unless out is given)
    v_new += lr * g
    return np.subtract(w, v_new, out=w_out), v_new


def momentum_update(params, velocity, grads, lr, momentum, out=None):
    """``momentum_step`` for every parameter: (new Params, new velocity Params); out=(params, velocity) in place."""
    new_w, new_v = {}, {}
    for name in network.PARAM_NAMES:
        w, v, g = (getattr(p, name) for p in (params, velocity, grads))
        dest = None if out is None else (getattr(out[0], name), getattr(out[1], name))
        new_w[name], new_v[name] = momentum_step(w, v, g, lr, momentum, out=dest)
    return Params(**new_w), Params(**new_v)


BLOCK_MACS = 2**28  # multiply-adds of a row block's x W_h product (``block_rows_for``): ~0.1 s fwd + bwd on one core


def block_rows_for(n_in, hidden, macs=BLOCK_MACS):
    """Rows of a block whose x W_h product takes about ``macs`` multiply-adds: macs / (F H), at least 64."""
    return max(64, macs // max(1, n_in * hidden))


class Engine:
    """The training arithmetic in one dtype: ``network.forward``, ``network.backward``, ``momentum_update``.

    The training rows and then the validation rows are stacked into one (N_train + N_valid, F) array
    (or ``stacked``, an array stacked so already, shared and read, never copied). An epoch's forward
    passes, and a full batch's backward pass, go over ``blocks`` row blocks: block i holds the i-th
    slice of the training rows and of the validation rows. The full-batch gradient is the sum of the
    blocks' gradients, each ``backward`` of its rows averaged over all N_train rows, so a block can be
    a bounded piece of work (``block_rows``, default: one block for the whole set, the fastest) and
    the result does not depend on the blocks but for float rounding.

    Inside a block the rows go in chunks of ``CHUNK_ROWS`` to ``lanes`` threads (``mlp.lanes``;
    default: as many as the process has BLAS threads); lane j takes the j-th share of the block's training
    rows and of its validation rows, goes over them a chunk at a time with buffers of one chunk's
    size, kept between steps, and adds the chunks' gradients; the lanes' sums are added in lane order.
    """

    CHUNK_ROWS = 1024  # rows of one chunk: its x rows and (rows, H) arrays stay in a core's cache

    def __init__(self, params, velocity, data, lr, momentum, dtype, block_rows=None, stacked=None, lanes=None):
        self.dtype, self.lr, self.momentum = np.dtype(dtype), lr, momentum
        self.params = params.copy(self.dtype)
        self.velocity = velocity.copy(self.dtype)
        if stacked is None:
            x_train, y_train, x_valid, y_valid = data
            x = np.concatenate([np.asarray(x_train), np.asarray(x_valid)], dtype=self.dtype)
            stacked = (x, np.concatenate([np.asarray(y_train), np.asarray(y_valid)]).astype(np.intp), len(x_train))
        self.x, self.labels, self.n_train = stacked
        self.n_valid = len(self.labels) - self.n_train
        self.y = one_hot(self.labels, params.sizes[2], self.dtype)
        k = max(1, -(-len(self.labels) // block_rows)) if block_rows else 1
        self.blocks = list(zip(lanes_module.spans(self.n_train, k), lanes_module.spans(self.n_valid, k)))
        self.lanes = lanes_module.blas_threads() if lanes is None else max(1, lanes)
        self._buffers = [{} for _ in range(self.lanes)]  # a dict of scratch arrays a lane
        self.sums = None  # this epoch's sums over blocks (``begin_epoch``)

    def begin_epoch(self):
        """Reset the sums an epoch's blocks add to: losses, correct counts, unit activity, the gradient."""
        stats, units = self._sum_shapes()
        self.sums = {"stats": np.zeros(stats), "alive": np.zeros(units, bool), "always": np.ones(units, bool),
                     "grads": None}

    def _sum_shapes(self):
        """Shapes of the loss/correct sums (4,) and of a unit mask (H,); (R, 4) and (R, H) for R stacked networks.

        ``evaluate`` takes stacked Params (``mlp.sweep``) as well: one forward pass a chunk for all R.
        """
        lead = self.params.w_h.shape[:-2]
        return lead + (4,), lead + (self.params.w_h.shape[-1],)

    def block(self, i, backprop):
        """Forward pass over block i (its training and validation rows); with ``backprop``, add its gradient."""
        (t0, t1), (v0, v1) = self.blocks[i]
        lanes = max(1, min(self.lanes, -(-(t1 - t0 + v1 - v0) // self.CHUNK_ROWS)))
        # lane j: an equal share of the training rows and of the validation rows
        shares = zip(lanes_module.spans(t1 - t0, lanes), lanes_module.spans(v1 - v0, lanes))
        chunks = [self._chunks(t0 + a, t0 + b) + self._chunks(self.n_train + v0 + c, self.n_train + v0 + d)
                  for (a, b), (c, d) in shares]
        parts = lanes_module.run(lambda j: self._lane(j, chunks[j], backprop), lanes)
        s = self.sums
        for stats, alive, always, grads in parts:
            s["stats"] += stats
            np.logical_or(s["alive"], alive, out=s["alive"])
            np.logical_and(s["always"], always, out=s["always"])
            if grads is None:
                continue
            if s["grads"] is None:  # a lane's own sum: free until the next block, which comes after the update
                s["grads"] = grads if len(self.blocks) == 1 else grads.copy()
            else:
                _add(s["grads"], grads)

    def _chunks(self, start, stop):
        """Rows start..stop as (a, b) ranges of at most ``CHUNK_ROWS`` rows."""
        return [(a, min(a + self.CHUNK_ROWS, stop)) for a in range(start, stop, self.CHUNK_ROWS)]

    def _lane(self, j, chunks, backprop):
        """Lane j's chunks: (loss and correct sums, units on for some / every training row, gradient sum or None)."""
        stats_shape, units = self._sum_shapes()
        stats, alive, always, grads = np.zeros(stats_shape), np.zeros(units, bool), np.ones(units, bool), None
        for a, b in chunks:
            h = self._buffer(j, "h", units[:-1] + (b - a, units[-1]))  # (rows, H), or (R, rows, H)
            fw = network.forward(self.params, self.x[a:b], out=h)
            stats += self._sums(fw, a, b)
            if a >= self.n_train:
                continue
            if backprop:
                bw = self._backward(j, fw, self.y[a:b], self.n_train, first=grads is None)
                grads = bw.grads if grads is None else _add(grads, bw.grads)
                on = bw.mask  # = 1[h > 0], made by the backward pass anyway
                np.logical_or(alive, np.any(on, axis=-2), out=alive)
                np.logical_and(always, np.all(on, axis=-2), out=always)
            else:
                np.logical_or(alive, np.max(fw.h, axis=-2) > 0, out=alive)
                np.logical_and(always, np.min(fw.h, axis=-2) > 0, out=always)
        return stats, alive, always, grads

    def _sums(self, fw, start, stop):
        """(sum of losses, correct count) of a forward pass's rows, placed in the train or valid slots (..., 4)."""
        out = np.zeros(self._sum_shapes()[0])
        part = slice(0, 2) if start < self.n_train else slice(2, 4)
        out[..., part.start] = average_ce_logits(self.y[start:stop], fw.o) * (stop - start)
        out[..., part.start + 1] = np.count_nonzero(np.argmax(fw.o, axis=-1) == self.labels[start:stop], axis=-1)
        return out

    def epoch_metrics(self):
        """(train loss, train acc, valid loss, valid acc) from this epoch's sums (nan for a set of no rows)."""
        tl, tc, vl, vc = np.moveaxis(self.sums["stats"], -1, 0)  # floats, or (R,) arrays for stacked networks
        nt, nv = self.n_train or float("nan"), self.n_valid or float("nan")
        return tl / nt, tc / nt, vl / nv, vc / nv

    def unit_shares(self):
        """(dead, always on): shares of hidden units off for every training row / on for every one, this epoch
        (floats; (R,) arrays for R stacked networks)."""
        s = self.sums
        dead, always = 1.0 - np.mean(s["alive"], axis=-1), np.mean(s["always"], axis=-1)
        return (float(dead), float(always)) if np.ndim(dead) == 0 else (dead, always)

    def evaluate(self, units=False):
        """(train loss, train acc, valid loss, valid acc) of the current weights (all blocks, no update);
        with ``units``, (those metrics, ``unit_shares()`` of the same pass)."""
        saved = self.sums
        self.begin_epoch()
        for i in range(len(self.blocks)):
            self.block(i, backprop=False)
        metrics, shares, self.sums = self.epoch_metrics(), self.unit_shares(), saved
        return (metrics, shares) if units else metrics

    def full_batch_update(self):
        """The momentum step with the gradient summed over the epoch's blocks -> that gradient (None: no rows)."""
        grads = self.sums["grads"]
        if grads is None:  # no training rows
            return None
        momentum_update(self.params, self.velocity, grads, self.lr, self.momentum, out=(self.params, self.velocity))
        return grads

    def batch_step(self, idx):
        """One update on the training rows ``idx`` -> its gradient (Params, a buffer reused by the next step)."""
        b = len(idx)
        x = np.take(self.x, idx, axis=0, out=self._buffer(0, "x", (b, self.x.shape[1])))
        fw = network.forward(self.params, x, out=self._buffer(0, "h", (b, self.params.sizes[1])))
        bw = self._backward(0, fw, self.y[idx], b)
        momentum_update(self.params, self.velocity, bw.grads, self.lr, self.momentum, out=(self.params, self.velocity))
        return bw.grads

    def _backward(self, j, fw, y, n, first=True):
        """network.backward on the rows of ``fw``, averaged over n rows, into lane j's buffers.

        first: the gradients go to the lane's sum (the first chunk of a block), else to a scratch
        set that the caller adds to the sum.
        """
        rows, bufs = len(y), self._buffers[j]
        out = bufs.get("backward")
        if out is None or out.delta_h.shape[0] < rows:
            out = bufs["backward"] = network.backward_buffers(rows, self.params)
        if "sum" not in bufs:
            bufs["sum"] = network.backward_buffers(0, self.params).grads
        grads = bufs["sum"] if first else out.grads
        out = network.Backward(None, out.mask[:rows], None, out.delta_h[:rows], grads)
        return network.backward(fw.p, y, fw.h, self.params.w_o, fw.x, out=out, n=n)

    def _buffer(self, j, name, shape):
        """Lane j's scratch array ``name``, rows on axis -2 (reallocated for more rows or another shape)."""
        bufs = self._buffers[j]
        buf = bufs.get(name)
        if buf is None or buf.shape[:-2] + buf.shape[-1:] != shape[:-2] + shape[-1:] or buf.shape[-2] < shape[-2]:
            buf = bufs[name] = np.empty(shape, self.dtype)
        return buf[..., : shape[-2], :]

    def get_params(self):
        return self.params.copy()

    def get_velocity(self):
        return self.velocity.copy()


def _add(a, b):
    """a + b for every parameter, into a's arrays (a is the engine's own running sum)."""
    for name in network.PARAM_NAMES:
        np.add(getattr(a, name), getattr(b, name), out=getattr(a, name))
    return a


def first_params(hyper, n_in, n_data=None):
    """The run's initial weights (float64): ``init_params`` with ``hyper``'s sizes, seed and init mode."""
    if hyper.init == "report" and n_data is None:
        raise ValueError("init='report' replays the report's shuffle of the whole data set: pass n_data")
    shuffled = n_data if hyper.init == "report" else 0
    return init_params(n_in, hyper.hidden, 10, seed=hyper.seed, shuffled=shuffled)


def start_velocity(params):
    """Velocities of the report: every entry 1e-5, shaped like the parameters."""
    return Params(**{k: np.full_like(v, VELOCITY_START) for k, v in params.as_dict().items()})


def divergence_reason(history):
    """Why training should stop (a sentence), or None while the loss behaves.

    Stops when the training loss is NaN or infinite, or has grown past
    10x its first value (and above 10: chance level is log 10 = 2.3).
    """
    if not history:
        return None
    last = history[-1]["train_loss"]
    if not np.isfinite(last):
        return f"the training loss became {last} at epoch {history[-1]['epoch']}"
    first = history[0]["train_loss"]
    if last > 10 and last > 10 * first:
        return f"the training loss exploded from {first:.3g} to {last:.3g} by epoch {history[-1]['epoch']}"
    return None


DEAD_UNITS = "hidden units output 0"  # the words of ``dead_units_reason`` that name the case


def at_or_above_chance(history, window=2):
    """True when the last ``window`` epochs' training loss is at or above chance level (ln 10, less 0.1).

    A network whose output ignores the image cannot beat the entropy of the
    labels (ln 10 if they are balanced).
    """
    last = history[-window:]
    return len(last) == window and all(r["train_loss"] > np.log(10) - 0.1 for r in last)


def dead_units_reason(history, params, x_train, window=2, rows=2000):
    """Why training should stop when every hidden ReLU is off for every training image, else None.

    Then z = x W_h + b_h <= 0 everywhere, relu'(z) = 0, and no gradient reaches
    W_h or b_h again: the network gives every image the same probabilities and
    sits at chance level (loss about ln 10 = 2.30) for good. A learning rate
    too high for the batch size does this without the loss ever showing NaN or
    an explosion at an epoch's start. Checked only after ``window`` epochs at
    or above chance level, so a run that learns pays nothing.
    params: ``Params``; x_train: (N, F), scanned ``rows`` at a time.
    """
    if not at_or_above_chance(history, window):
        return None
    for start in range(0, len(x_train), rows):
        if np.any(x_train[start:start + rows] @ params.w_h + params.b_h > 0):
            return None
    return (f"all {params.sizes[1]} {DEAD_UNITS} for every training image at epoch "
            f"{history[-1]['epoch']} (their ReLUs died, and no gradient can bring them back), so the "
            "network is stuck at chance level")


class Trainer:
    """Drives one training run a bounded amount of work at a time.

    x_train: (N, F) floats scaled to [0, 1], y_train: (N,) labels 0..K-1; likewise the validation
    set. ``step(max_batches)`` does at most ``max_batches`` units of work, a unit being one row
    block of the epoch's forward pass (with its backward pass in full batch; see ``Engine``) or one
    mini-batch update, and returns the epoch's record once the epoch is complete; ``history`` keeps
    every record (keys ``RECORD_KEYS``), ``health`` the epoch's gradient health
    (``mlp.health.HEALTH_KEYS``), ``snapshots`` the weights at chosen epochs, ``(epoch, Params)`` in
    float32 (``mlp.health.snapshot_epochs``). Pause by not calling ``step``;
    ``mlp.model_io.save_trainer`` / ``load_trainer`` save and resume mid-run.
    n_data: the size of the whole data set the split was cut from (``len(split.order)``), needed
    only to draw the first weights with ``hyper.init == "report"``. block_rows: rows of a block
    (None: one block, the fastest; ``block_rows_for`` bounds a block's time). stacked, lanes: see ``Engine``.
    """

    def __init__(self, x_train, y_train, x_valid, y_valid, hyper, params=None, velocity=None, n_data=None,
                 block_rows=None, stacked=None, lanes=None):
        self.hyper = hyper
        self.n_train = len(x_train)
        self.x_train = x_train  # a reference, for ``stop_reason``
        if params is None:
            params = first_params(hyper, np.shape(x_train)[1], n_data)
        velocity = start_velocity(params) if velocity is None else velocity
        data = (x_train, y_train, x_valid, y_valid)
        self.engine = Engine(params, velocity, data, hyper.lr, hyper.momentum, hyper.dtype, block_rows, stacked,
                             lanes)
        self.history, self.health = [], []
        self.batch_rng = np.random.default_rng(hyper.seed)
        self.order = np.zeros(0, np.intp)  # this epoch's mini-batch order
        self.position = 0  # next row of ``order`` (the training rows updated on this epoch)
        self.block = 0  # row blocks of this epoch's forward pass done
        self.epoch_metrics = None  # metrics at the start of the current epoch (None until its blocks are done)
        self.epoch_seconds = 0.0
        self.units_done = 0  # blocks and updates since the trainer was made (for callers that time a unit)
        self._steps, self._measured, self._shares = [], set(), (float("nan"), float("nan"))
        self.snapshot_plan = set(health.snapshot_epochs(hyper.epochs, health.snapshot_count(params.sizes)))
        self.snapshots = []  # the first step adds the weights it starts from (epoch 0, or a resumed run's epoch)

    @property
    def epoch(self):
        """Epochs completed."""
        return len(self.history)

    @property
    def done(self):
        return self.epoch >= self.hyper.epochs

    @property
    def full_batch(self):
        return self.hyper.batch_size is None or self.hyper.batch_size >= self.n_train

    @property
    def batch_size(self):
        b = self.hyper.batch_size
        return self.n_train if b is None else min(b, self.n_train)

    @property
    def batches_per_epoch(self):
        """Updates per epoch (1 in full batch)."""
        return -(-self.n_train // self.batch_size)

    @property
    def units_per_epoch(self):
        """Units of work (see ``step``) of an epoch: its row blocks that count, plus its mini-batch updates."""
        return len(self.engine.blocks) * self._block_counts + (0 if self.full_batch else self.batches_per_epoch)

    @property
    def _block_counts(self):
        """1 if a block is a unit of ``step``'s budget: in full batch, or with several blocks (else it is free,
        the single forward pass a mini-batch epoch starts with going with its first update, as it always has)."""
        return 1 if self.full_batch or len(self.engine.blocks) > 1 else 0

    @property
    def epoch_fraction(self):
        """Share of the current epoch's units done (0 at an epoch boundary)."""
        blocks = (self.block if self.epoch_metrics is None else len(self.engine.blocks)) * self._block_counts
        return (blocks + (0 if self.full_batch else self.position // self.batch_size)) / self.units_per_epoch

    def step(self, max_batches=None):
        """Run up to ``max_batches`` units of work (None: to the end of the epoch).

        Returns the epoch's record when this call completes an epoch, else None.
        """
        t0 = time.perf_counter()
        if not self.snapshots:
            self.snapshots.append((self.epoch, self.engine.params.copy(np.float32)))
        budget = float("inf") if max_batches is None else max(1, max_batches)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            while budget > 0 and self.position < self.n_train:
                if self.epoch_metrics is None:
                    self._next_block()
                    budget -= self._block_counts
                else:
                    self._next_batch()
                    budget -= 1
                self.units_done += 1
        self.epoch_seconds += time.perf_counter() - t0
        return self._finish_epoch() if self.position >= self.n_train else None

    def _next_block(self):
        """One row block of the epoch's forward pass (in full batch with its backward pass; the last one updates)."""
        if self.block == 0:
            self.engine.begin_epoch()
            self._steps, self._measured = [], health.sampled_steps(self.batches_per_epoch)
            if not self.full_batch:
                self.order = self.batch_rng.permutation(self.n_train)
        self.engine.block(self.block, backprop=self.full_batch)
        self.block += 1
        if self.block < len(self.engine.blocks):
            return
        self.epoch_metrics, self._shares = self.engine.epoch_metrics(), self.engine.unit_shares()
        if self.full_batch:
            with lanes_module.one_blas_thread(self.engine.lanes > 1):  # see ``mlp.lanes.one_blas_thread``
                grads = self.engine.full_batch_update()
                if grads is not None:
                    self._steps.append(health.step_health(grads, self.engine.velocity, self.engine.params))
            self.position = self.n_train

    def _next_batch(self):
        """One mini-batch update (its gradient norms measured if it is one of the epoch's sampled updates)."""
        index = self.position // self.batch_size
        grads = self.engine.batch_step(self.order[self.position : self.position + self.batch_size])
        if index in self._measured:
            self._steps.append(health.step_health(grads, self.engine.velocity, self.engine.params))
        self.position += self.batch_size

    def _finish_epoch(self):
        tl, ta, vl, va = self.epoch_metrics
        record = dict(zip(RECORD_KEYS, (self.epoch + 1, tl, ta, vl, va, self.epoch_seconds)))
        self.history.append(record)
        self.health.append(health.epoch_health(record["epoch"], self._steps, *self._shares))
        if record["epoch"] in self.snapshot_plan:
            self.snapshots.append((record["epoch"], self.engine.params.copy(np.float32)))
        self.position, self.block, self.epoch_seconds, self.epoch_metrics = 0, 0, 0.0, None
        self._steps, self._shares = [], (float("nan"), float("nan"))
        return record

    def snapshots_with_last(self):
        """``snapshots``, plus the current weights (at ``epoch``) if the last snapshot is older (a run ended early;
        see ``mlp.health.with_last``)."""
        return health.with_last(self.snapshots, self.epoch, lambda: self.engine.params.copy(np.float32))

    def step_epoch(self):
        """Run one whole epoch and return its record."""
        record = None
        while record is None:
            record = self.step()
        return record

    def run(self, callback=None):
        """Train to ``hyper.epochs`` (or until divergence); call ``callback(record)`` per epoch."""
        while not self.done:
            record = self.step_epoch()
            if callback:
                callback(record)
            if self.stop_reason():
                break
        return self.history

    def stop_reason(self):
        """Why this run should stop early (a sentence: diverged, or every hidden unit dead), else None."""
        reason = divergence_reason(self.history)
        if reason is None and at_or_above_chance(self.history):  # before copying the weights
            reason = dead_units_reason(self.history, self.params, self.x_train)
        return reason

    def evaluate(self):
        """(train loss, train acc, valid loss, valid acc) of the current weights."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self.engine.evaluate()

    @property
    def params(self):
        """A copy of the current weights (engine dtype)."""
        return self.engine.get_params()

    @property
    def velocity(self):
        return self.engine.get_velocity()
