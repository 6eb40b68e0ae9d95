"""The 784-H-10 network: parameters, initialisation, forward pass, loss and gradients."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .core import average_ce_logits, backpropagation, compute_layer, one_hot, relu, softmax

PARAM_NAMES = ("w_o", "b_o", "w_h", "b_h")  # the report's gradient order


@dataclass
class Params:
    """Weights and biases. w_h: (F, H), b_h: (1, H), w_o: (H, K), b_o: (1, K)."""

    w_h: np.ndarray
    b_h: np.ndarray
    w_o: np.ndarray
    b_o: np.ndarray

    @property
    def sizes(self):
        """(F, H, K): inputs, hidden units, classes."""
        return self.w_h.shape[0], self.w_h.shape[1], self.w_o.shape[1]

    def as_dict(self):
        return {name: getattr(self, name) for name in PARAM_NAMES}

    def copy(self, dtype=None):
        return Params(**{k: np.array(v, dtype=dtype or v.dtype) for k, v in self.as_dict().items()})


def xavier_std(fan_in, fan_out):
    """Xavier (Glorot) normal: std = sqrt(2 / (fan_in + fan_out))."""
    return np.sqrt(2.0 / (fan_in + fan_out))


def init_params(n_in=784, n_hidden=1000, n_out=10, seed=521, dtype=np.float64):
    """Xavier-normal weights and zero biases, drawn as in the report.

    The report draws W_o (H, K) first, then W_h (F, H), from one legacy
    ``np.random`` stream; we do the same from ``RandomState(seed)``.
    """
    rng = np.random.RandomState(seed)
    w_o = rng.normal(0.0, xavier_std(n_hidden, n_out), (n_hidden, n_out))
    w_h = rng.normal(0.0, xavier_std(n_in, n_hidden), (n_in, n_hidden))
    return Params(
        w_h=w_h.astype(dtype),
        b_h=np.zeros((1, n_hidden), dtype),
        w_o=w_o.astype(dtype),
        b_o=np.zeros((1, n_out), dtype),
    )


@dataclass
class Forward:
    """Every intermediate of one forward pass (N rows)."""

    x: np.ndarray  # (N, F) inputs
    z_h: np.ndarray  # (N, H) = x W_h + b_h
    h: np.ndarray  # (N, H) = ReLU(z_h)
    o: np.ndarray  # (N, K) = h W_o + b_o, the logits
    p: np.ndarray  # (N, K) = softmax(o)


def forward(params, x):
    """Forward pass z_h = x W_h + b_h, h = ReLU(z_h), o = h W_o + b_o, p = softmax(o)."""
    z_h = compute_layer(x, params.w_h, params.b_h)
    h = relu(z_h)
    o = compute_layer(h, params.w_o, params.b_o)
    return Forward(x=x, z_h=z_h, h=h, o=o, p=softmax(o))


def predict_proba(params, x, chunk=4096):
    """Class probabilities (N, K) for inputs (N, F), computed in chunks of rows."""
    parts = [forward(params, x[i : i + chunk]).p for i in range(0, x.shape[0], chunk)]
    return np.concatenate(parts) if parts else np.zeros((0, params.sizes[2]))


def predict(params, x):
    """Predicted labels (N,) = argmax_k p_k."""
    return np.argmax(predict_proba(params, x), axis=1)


def loss(params, x, labels):
    """Average cross-entropy of the network on (x (N, F), labels (N,))."""
    fw = forward(params, x)
    return average_ce_logits(one_hot(labels, fw.o.shape[1], fw.o.dtype), fw.o)


def loss_and_grads(params, x, labels):
    """(L, Params of dL/dparam) for a batch x (N, F) with integer labels (N,)."""
    fw = forward(params, x)
    y = one_hot(labels, fw.o.shape[1], fw.o.dtype)
    dwo, dbo, dwh, dbh = backpropagation(fw.p, y, fw.z_h, params.w_o, x)
    return average_ce_logits(y, fw.o), Params(w_h=dwh, b_h=dbh, w_o=dwo, b_o=dbo)
