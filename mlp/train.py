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

Two numeric paths share this interface:

* ``ReferenceEngine`` (float64): mirrors the math line by line with the
  functions of ``mlp.core``; easy to read, allocates freely.
* ``FastEngine`` (float32): buffers allocated once, in-place operations, the
  biases folded into the weight matrices (a column of ones appended to the
  inputs and to the hidden layer), and the training and validation forward
  passes fused into one matrix product.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace

import numpy as np

from .core import average_ce_logits, backpropagation, one_hot
from .network import Params, forward, init_params

VELOCITY_START = 1e-5


@dataclass(frozen=True)
class Hyper:
    """Hyperparameters of one run. ``batch_size=None`` means full batch."""

    hidden: int = 1000
    lr: float = 0.1
    momentum: float = 0.9
    epochs: int = 200
    batch_size: int | None = None
    seed: int = 521
    dtype: str = "float32"

    def __post_init__(self):
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
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
    # The course report: 1000 hidden units, alpha 0.1, gamma 0.9, 200 full-batch epochs.
    "assignment": Hyper(hidden=1000, lr=0.1, momentum=0.9, epochs=200, batch_size=None, seed=521),
    # Reaches 0.90 validation accuracy on the embedded letters in a few seconds.
    "quick": Hyper(hidden=256, lr=0.1, momentum=0.9, epochs=5, batch_size=128, seed=521),
}

RECORD_KEYS = ("epoch", "train_loss", "train_acc", "valid_loss", "valid_acc", "seconds")


def momentum_step(w, v, g, lr, momentum):
    """One update in the report's form: returns (w - v', v') with v' = momentum * v + lr * g."""
    v_new = momentum * v + lr * g
    return w - v_new, v_new


class ReferenceEngine:
    """float64, written to read like the math (allocates new arrays every step)."""

    dtype = np.float64

    def __init__(self, params, velocity, data, lr, momentum):
        x_train, y_train, x_valid, y_valid = data
        self.lr, self.momentum = lr, momentum
        self.params = params.copy(np.float64)
        self.velocity = velocity.copy(np.float64)
        self.x_train = np.asarray(x_train, np.float64)
        self.x_valid = np.asarray(x_valid, np.float64)
        self.y_train, self.y_valid = np.asarray(y_train), np.asarray(y_valid)

    def _metrics(self, x, labels):
        """Forward pass over (x, labels); returns (forward, one-hot y, loss, accuracy)."""
        if len(labels) == 0:
            return None, None, float("nan"), float("nan")
        fw = forward(self.params, x)
        y = one_hot(labels, fw.o.shape[1])
        return fw, y, float(average_ce_logits(y, fw.o)), float(np.mean(np.argmax(fw.o, 1) == labels))

    def _update(self, fw, y):
        grads = backpropagation(fw.p, y, fw.z_h, self.params.w_o, fw.x)
        dwo, dbo, dwh, dbh = grads
        new_p, new_v = {}, {}
        for name, g in zip(("w_o", "b_o", "w_h", "b_h"), (dwo, dbo, dwh, dbh)):
            w, v = getattr(self.params, name), getattr(self.velocity, name)
            new_p[name], new_v[name] = momentum_step(w, v, g, self.lr, self.momentum)
        self.params, self.velocity = Params(**new_p), Params(**new_v)

    def evaluate(self):
        """(train loss, train acc, valid loss, valid acc) of the current weights."""
        _, _, tl, ta = self._metrics(self.x_train, self.y_train)
        _, _, vl, va = self._metrics(self.x_valid, self.y_valid)
        return tl, ta, vl, va

    def full_batch_epoch(self):
        """Metrics of the current weights, then one update on the whole training set."""
        fw, y, tl, ta = self._metrics(self.x_train, self.y_train)
        _, _, vl, va = self._metrics(self.x_valid, self.y_valid)
        self._update(fw, y)
        return tl, ta, vl, va

    def batch_step(self, idx):
        """One update on the training rows ``idx``."""
        fw, y, _, _ = self._metrics(self.x_train[idx], self.y_train[idx])
        self._update(fw, y)

    def get_params(self):
        return self.params.copy()

    def get_velocity(self):
        return self.velocity.copy()


class FastEngine:
    """float32 with preallocated buffers, folded biases and a fused train+valid forward pass.

    Layout: x1 = [x, 1] (N, F+1), W1 = [W_h; b_h] (F+1, H), h1 = [ReLU(x1 W1), 1] (N, H+1),
    W2 = [W_o; b_o] (H+1, K). Rows 0..n_train-1 of the stacked inputs are the
    training set, the rest the validation set.
    """

    dtype = np.float32

    def __init__(self, params, velocity, data, lr, momentum):
        x_train, y_train, x_valid, y_valid = data
        self.lr, self.momentum = lr, momentum
        dt = self.dtype
        (f, h, k), n_tr, n_va = params.sizes, len(x_train), len(x_valid)
        self.n_train, self.sizes = n_tr, (f, h, k)
        self.x1 = np.empty((n_tr + n_va, f + 1), dt)
        self.x1[:n_tr, :f], self.x1[n_tr:, :f], self.x1[:, f] = x_train, x_valid, 1
        self.labels = np.concatenate([np.asarray(y_train), np.asarray(y_valid)]).astype(np.intp)
        self.w1, self.w2 = self._fold(params.w_h, params.b_h), self._fold(params.w_o, params.b_o)
        self.v1, self.v2 = self._fold(velocity.w_h, velocity.b_h), self._fold(velocity.w_o, velocity.b_o)
        self.g1, self.g2 = np.empty_like(self.w1), np.empty_like(self.w2)
        self.h1 = np.empty((n_tr + n_va, h + 1), dt)
        self.h1[:, h] = 1
        self.o = np.empty((n_tr + n_va, k), dt)
        self._batch_buffers = {}

    def _fold(self, w, b):
        return np.ascontiguousarray(np.vstack([w, b]), dtype=self.dtype)

    def _forward(self, x1, h1, o):
        """h1[:, :H] = ReLU(x1 W1) and o = h1 W2 (the logits), written into the given buffers."""
        h = self.sizes[1]
        np.matmul(x1, self.w1, out=h1[:, :h])
        np.maximum(h1[:, :h], 0, out=h1[:, :h])
        np.matmul(h1, self.w2, out=o)

    def evaluate(self):
        """(train loss, train acc, valid loss, valid acc) of the current weights: one fused forward pass
        over the stacked train+valid rows; afterwards ``self.o`` holds the probabilities."""
        n = self.n_train
        self._forward(self.x1, self.h1, self.o)
        return self._softmax_stats(self.o[:n], self.labels[:n]) + self._softmax_stats(self.o[n:], self.labels[n:])

    @staticmethod
    def _softmax_stats(o, labels):
        """Turn logits o (n, K) into probabilities in place; return (loss, accuracy)."""
        if len(labels) == 0:
            return float("nan"), float("nan")
        o -= o.max(axis=1, keepdims=True)
        correct = np.argmax(o, axis=1) == labels
        true_logit = o[np.arange(len(labels)), labels]
        np.exp(o, out=o)
        total = o.sum(axis=1, keepdims=True)
        o /= total
        return float(np.mean(np.log(total[:, 0]) - true_logit)), float(np.mean(correct))

    def _backward_and_update(self, x1, h1, p, labels, dh):
        """delta_o = (p - y)/n, the folded gradients, then the momentum step. Overwrites p and dh.

        g2 = h1^T delta_o (H+1, K); dh = (delta_o W_o^T) * 1[h > 0] (n, H); g1 = x1^T dh (F+1, H).
        """
        n, h = len(labels), self.sizes[1]
        p[np.arange(n), labels] -= 1
        p /= n
        np.matmul(h1.T, p, out=self.g2)
        np.matmul(p, self.w2[:h].T, out=dh)
        mask = self._buffer("mask", (n, h), bool)
        np.greater(h1[:, :h], 0, out=mask)  # 1[z_h > 0] = 1[h > 0]
        np.multiply(dh, mask, out=dh)
        np.matmul(x1.T, dh, out=self.g1)
        for w, v, g in ((self.w1, self.v1, self.g1), (self.w2, self.v2, self.g2)):
            v *= self.momentum
            g *= self.lr
            v += g
            w -= v

    def full_batch_epoch(self):
        """Metrics of the current weights (fused forward), then one full-batch update."""
        metrics = self.evaluate()
        n = self.n_train
        dh = self._buffer("dh_full", (n, self.sizes[1]))
        self._backward_and_update(self.x1[:n], self.h1[:n], self.o[:n], self.labels[:n], dh)
        return metrics

    def _buffer(self, name, shape, dtype=None):
        """A scratch array kept between steps (reallocated only when more rows are needed)."""
        buf = self._batch_buffers.get(name)
        if buf is None or buf.shape[0] < shape[0]:
            buf = self._batch_buffers[name] = np.empty(shape, dtype or self.dtype)
        return buf[: shape[0]]

    def batch_step(self, idx):
        (f, h, k), b = self.sizes, len(idx)
        x1 = self._buffer("x1", (b, f + 1))
        np.take(self.x1, idx, axis=0, out=x1)
        h1 = self._buffer("h1", (b, h + 1))
        h1[:, h] = 1
        o = self._buffer("o", (b, k))
        self._forward(x1, h1, o)
        labels = self.labels[idx]
        self._softmax_stats(o, labels)
        self._backward_and_update(x1, h1, o, labels, self._buffer("dh", (b, h)))

    def get_params(self):
        f, h, _ = self.sizes
        return Params(w_h=self.w1[:f].copy(), b_h=self.w1[f:].copy(), w_o=self.w2[:h].copy(), b_o=self.w2[h:].copy())

    def get_velocity(self):
        f, h, _ = self.sizes
        return Params(w_h=self.v1[:f].copy(), b_h=self.v1[f:].copy(), w_o=self.v2[:h].copy(), b_o=self.v2[h:].copy())


ENGINES = {"float64": ReferenceEngine, "float32": FastEngine}


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
    """

    def __init__(self, x_train, y_train, x_valid, y_valid, hyper, params=None, velocity=None):
        self.hyper = hyper
        self.n_train = len(x_train)
        self.x_train = x_train  # a reference, for ``stop_reason``
        if params is None:
            params = init_params(np.shape(x_train)[1], hyper.hidden, 10, seed=hyper.seed)
        velocity = start_velocity(params) if velocity is None else velocity
        engine = ENGINES[hyper.dtype]
        self.engine = engine(params, velocity, (x_train, y_train, x_valid, y_valid), hyper.lr, hyper.momentum)
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

    def with_hyper(self, **changes):
        """The hyperparameters of this run with some changed (for a continued run)."""
        return replace(self.hyper, **changes)
