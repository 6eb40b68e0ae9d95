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
``momentum_update`` below: it passes them (N, H) buffers allocated once, and
stacks the training and validation sets so that their forward passes are one
matrix product.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import numpy as np

from . import network
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
    v_new = np.add(momentum * v, lr * g, out=v_out)
    return np.subtract(w, v_new, out=w_out), v_new


def momentum_update(params, velocity, grads, lr, momentum, out=None):
    """``momentum_step`` for every parameter: (new Params, new velocity Params); out=(params, velocity) in place."""
    new_w, new_v = {}, {}
    for name in network.PARAM_NAMES:
        w, v, g = (getattr(p, name) for p in (params, velocity, grads))
        dest = None if out is None else (getattr(out[0], name), getattr(out[1], name))
        new_w[name], new_v[name] = momentum_step(w, v, g, lr, momentum, out=dest)
    return Params(**new_w), Params(**new_v)


class Engine:
    """The training arithmetic in one dtype: ``network.forward``, ``network.backward``, ``momentum_update``.

    The training rows and then the validation rows are stacked into one (N_train + N_valid, F)
    array, so one ``forward`` over it gives both sets' metrics (and the training rows' h and p for
    the full-batch update). The (rows, H) arrays are buffers kept between steps.
    """

    def __init__(self, params, velocity, data, lr, momentum, dtype, stacked=None):
        x_train, y_train, x_valid, y_valid = data
        self.dtype, self.lr, self.momentum = np.dtype(dtype), lr, momentum
        self.params = params.copy(self.dtype)
        self.velocity = velocity.copy(self.dtype)
        self.n_train, k = len(x_train), params.sizes[2]
        if stacked is not None:  # (x (N, F) in dtype, labels (N,), n_train): used as is, not copied (read-only is fine)
            self.x, self.labels = np.asarray(stacked[0], self.dtype), np.asarray(stacked[1])
        else:
            self.x = np.concatenate([np.asarray(x_train), np.asarray(x_valid)], dtype=self.dtype)
            self.labels = np.concatenate([np.asarray(y_train), np.asarray(y_valid)]).astype(np.intp)
        self.y = one_hot(self.labels, k, self.dtype)
        self.h = np.empty((len(self.labels), params.sizes[1]), self.dtype)
        self._buffers = {}

    @staticmethod
    def _stats(fw, y, labels):
        """(loss, accuracy) of a forward pass's rows against one-hot y and labels (nan for no rows)."""
        if len(labels) == 0:
            return float("nan"), float("nan")
        return float(average_ce_logits(y, fw.o)), float(np.mean(np.argmax(fw.o, axis=1) == labels))

    def _forward_all(self):
        """One forward pass over the stacked rows -> (Forward, (train loss, train acc, valid loss, valid acc))."""
        fw = network.forward(self.params, self.x, out=self.h)
        n = self.n_train
        train = network.Forward(x=self.x[:n], z_h=None, h=fw.h[:n], o=fw.o[:n], p=fw.p[:n])
        valid = network.Forward(x=self.x[n:], z_h=None, h=fw.h[n:], o=fw.o[n:], p=fw.p[n:])
        metrics = self._stats(train, self.y[:n], self.labels[:n]) + self._stats(valid, self.y[n:], self.labels[n:])
        return train, metrics

    def evaluate(self):
        """(train loss, train acc, valid loss, valid acc) of the current weights."""
        return self._forward_all()[1]

    def full_batch_epoch(self):
        """Metrics of the current weights (one forward pass for both sets), then one full-batch update."""
        train, metrics = self._forward_all()
        self._update(train, self.y[: self.n_train])
        return metrics

    def batch_step(self, idx):
        """One update on the training rows ``idx``."""
        b = len(idx)
        x = np.take(self.x, idx, axis=0, out=self._buffer("x", (b, self.x.shape[1])))
        fw = network.forward(self.params, x, out=self._buffer("h", (b, self.h.shape[1])))
        self._update(fw, self.y[idx])

    def _update(self, fw, y):
        """network.backward on the rows of ``fw``, then the momentum step, in place."""
        n = len(y)
        out = self._buffers.get("backward")
        if out is None or out.delta_h.shape[0] < n:
            out = self._buffers["backward"] = network.backward_buffers(n, self.params)
        out = network.Backward(None, out.mask[:n], None, out.delta_h[:n], out.grads)
        bw = network.backward(fw.p, y, fw.h, self.params.w_o, fw.x, out=out)
        momentum_update(self.params, self.velocity, bw.grads, self.lr, self.momentum, out=(self.params, self.velocity))

    def _buffer(self, name, shape):
        """A scratch array kept between steps (reallocated only when more rows are needed)."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape[0] < shape[0]:
            buf = self._buffers[name] = np.empty(shape, self.dtype)
        return buf[: shape[0]]

    def get_params(self):
        return self.params.copy()

    def get_velocity(self):
        return self.velocity.copy()


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
    """Drives one training run an epoch, or a chunk of mini-batches, at a time.

    x_train: (N, F) floats scaled to [0, 1], y_train: (N,) labels 0..K-1;
    likewise the validation set. ``step`` does a bounded amount of work and
    returns the epoch's record once the epoch is complete; ``history`` keeps
    every record (keys ``RECORD_KEYS``). Pause by not calling ``step``;
    ``mlp.model_io.save_trainer`` / ``load_trainer`` save and resume mid-run.
    n_data: the size of the whole data set the split was cut from (``len(split.order)``), needed
    only to draw the first weights with ``hyper.init == "report"``.
    stacked: optional (x, labels, n_train), the training then validation rows already stacked in the
    run's dtype (a shared read-only segment, ``lab.train_service``): the engine uses them without a copy.
    """

    def __init__(self, x_train, y_train, x_valid, y_valid, hyper, params=None, velocity=None, n_data=None,
                 stacked=None):
        self.hyper = hyper
        self.n_train = len(x_train)
        self.x_train = x_train  # a reference, for ``stop_reason``
        if params is None:
            params = first_params(hyper, np.shape(x_train)[1], n_data)
        velocity = start_velocity(params) if velocity is None else velocity
        data = (x_train, y_train, x_valid, y_valid)
        self.engine = Engine(params, velocity, data, hyper.lr, hyper.momentum, hyper.dtype, stacked=stacked)
        self.history = []
        self.batch_rng = np.random.default_rng(hyper.seed)
        self.order = np.zeros(0, np.intp)  # this epoch's mini-batch order
        self.position = 0  # next row of ``order``
        self.epoch_metrics = None  # metrics at the start of the current epoch
        self.epoch_seconds = 0.0

    @property
    def epoch(self):
        """Epochs completed."""
        return len(self.history)

    @property
    def done(self):
        return self.epoch >= self.hyper.epochs

    @property
    def batch_size(self):
        b = self.hyper.batch_size
        return self.n_train if b is None else min(b, self.n_train)

    @property
    def batches_per_epoch(self):
        return -(-self.n_train // self.batch_size)

    def step(self, max_batches=None):
        """Run up to ``max_batches`` updates (None: to the end of the epoch).

        Returns the epoch's record when this call completes an epoch, else None.
        """
        t0 = time.perf_counter()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if self.hyper.batch_size is None or self.batch_size >= self.n_train and self.position == 0:
                self.epoch_metrics = self.engine.full_batch_epoch()
                self.position = self.n_train
            else:
                self._mini_batches(max_batches)
        self.epoch_seconds += time.perf_counter() - t0
        return self._finish_epoch() if self.position >= self.n_train else None

    def _mini_batches(self, max_batches):
        if self.position == 0:
            self.epoch_metrics = self.engine.evaluate()
            self.order = self.batch_rng.permutation(self.n_train)
        budget = self.batches_per_epoch if max_batches is None else max_batches
        while budget > 0 and self.position < self.n_train:
            self.engine.batch_step(self.order[self.position : self.position + self.batch_size])
            self.position += self.batch_size
            budget -= 1

    def _finish_epoch(self):
        tl, ta, vl, va = self.epoch_metrics
        record = dict(zip(RECORD_KEYS, (self.epoch + 1, tl, ta, vl, va, self.epoch_seconds)))
        self.history.append(record)
        self.position, self.epoch_seconds, self.epoch_metrics = 0, 0.0, None
        return record

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
