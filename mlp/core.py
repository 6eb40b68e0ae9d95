"""The report's helper functions, done right.

Names follow the course report (``relu``, ``softmax``, ``compute_layer``,
``average_ce``, ``grad_ce``, ``backpropagation``) so each line of the report
maps onto one function here. Unlike the report, no function here changes its
arguments: every result is a new array, unless an ``out`` buffer is passed
(the trainer does, for the (N, H) arrays).

Shapes: N examples, F = 784 input pixels, H hidden units, K = 10 classes.
Rows are examples (``x`` is (N, F)), so a layer is ``x @ W + b``.
"""

from __future__ import annotations

import numpy as np

K_CLASSES = 10
LETTERS = "ABCDEFGHIJ"


def relu(x, out=None):
    """ReLU(x) = max(x, 0), elementwise. Any shape; ``out`` (may be ``x`` itself) receives the result."""
    return np.maximum(x, 0, out=out)


def relu_grad(z, out=None):
    """dReLU/dz = 1[z > 0], elementwise, as a boolean mask (a product with it keeps or zeroes each entry).

    Convention: the derivative at exactly z = 0 is taken as 0 (the report's
    ``o[o >= 0] = 1`` takes it as 1; any value in [0, 1] is a valid
    subgradient, and z = 0 exactly is rare except for all-zero inputs).
    Since ReLU(z) > 0 exactly where z > 0, relu_grad(ReLU(z)) = relu_grad(z).
    ``out``: an optional boolean array of z's shape.
    """
    return np.greater(z, 0, out=out)


def softmax(x):
    """Row-wise softmax, p_k = exp(o_k - m) / sum_j exp(o_j - m), m = max_j o_j.

    x: (N, K) logits -> (N, K) probabilities, rows sum to 1. Subtracting the
    row maximum leaves the result unchanged and keeps exp() from overflowing.
    """
    shifted = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)


def softmax_naive(x):
    """Textbook softmax without the max shift: exp(o_k) / sum_j exp(o_j).

    Shown for contrast only: exp(1000) overflows to inf and inf/inf is nan.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(x)
        return e / np.sum(e, axis=-1, keepdims=True)


def log_softmax(x):
    """Row-wise log p_k = (o_k - m) - log sum_j exp(o_j - m), m = max_j o_j.

    x: (N, K) -> (N, K). Finite for any finite logits, even where p_k
    underflows to 0 (log(softmax(x)) would give -inf there).
    """
    shifted = x - np.max(x, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def compute_layer(x, w, b, out=None):
    """One affine layer, x @ w + b.

    x: (N, F_in), w: (F_in, F_out), b: (1, F_out) -> (N, F_out), written into ``out`` if given.
    """
    z = np.matmul(x, w, out=out)
    z += b
    return z


def one_hot(labels, k=K_CLASSES, dtype=np.float64):
    """Labels (N,) of ints in 0..k-1 -> one-hot targets (N, k): y[n, labels[n]] = 1."""
    labels = np.asarray(labels)
    y = np.zeros((labels.shape[0], k), dtype=dtype)
    y[np.arange(labels.shape[0]), labels] = 1
    return y


def average_ce(target, prediction):
    """Average cross-entropy L = -(1/N) sum_n sum_k y_nk log p_nk.

    target: (N, K) one-hot, prediction: (N, K) probabilities -> scalar.
    A probability that underflowed to 0 is read as ``finfo.tiny``, the smallest
    positive *normal* number of its dtype (smaller subnormals exist), so L stays finite; ``prediction`` is not modified
    (the report overwrote its zeros in place). Prefer ``average_ce_logits``
    when the logits are at hand.
    """
    tiny = np.finfo(np.result_type(prediction, np.float32)).tiny
    logp = np.log(np.maximum(prediction, tiny))
    return -np.sum(target * logp) / target.shape[0]


def average_ce_logits(target, logits):
    """Average cross-entropy from logits, L = -(1/N) sum_n sum_k y_nk log_softmax(o)_nk.

    target: (N, K) one-hot, logits: (N, K) -> scalar. Exact even where a
    probability underflows. Stacked networks (``mlp.sweep``): logits (R, N, K)
    against the shared target -> (R,), one loss a network.
    """
    return -np.sum(target * log_softmax(logits), axis=(-2, -1)) / target.shape[-2]


def grad_ce(target, logits):
    """dL_n/do_n = softmax(o_n) - y_n for one example's loss L_n = -sum_k y_k log p_k.

    target, logits: (N, K) -> (N, K), one row per example (not averaged;
    ``backpropagation`` divides by N).
    """
    return softmax(logits) - target


def backpropagation(prediction, target, z_h, w_o, x):
    """Gradients of the average cross-entropy for the 784-H-10 ReLU network, with the report's arguments.

    prediction: (N, K) softmax output p, target: (N, K) one-hot y,
    z_h: (N, H) hidden pre-activations x W_h + b_h, w_o: (H, K), x: (N, F).
    Returns (dW_o (H, K), db_o (1, K), dW_h (F, H), db_h (1, H)), averaged
    over the batch, in the report's order. The formulas are ``mlp.network.backward``'s
    (the one backward pass of the library, which the trainer calls too):

        delta_o = (p - y) / N                  (N, K)
        dW_o    = h^T delta_o,  h = ReLU(z_h)  (H, K)
        db_o    = 1^T delta_o                  (1, K)
        delta_h = (delta_o W_o^T) * 1[z_h > 0] (N, H)
        dW_h    = x^T delta_h                  (F, H)
        db_h    = 1^T delta_h                  (1, H)
    """
    from . import network  # network builds on this module's functions

    g = network.backward(prediction, target, relu(z_h), w_o, x).grads
    return g.w_o, g.b_o, g.w_h, g.b_h
