"""The 784-H-10 network: parameters, initialisation, the forward and the backward pass.

Every formula of the network is written once, here and in ``mlp.core``: the
explanations of the pages (``lab.explain``) and both numeric paths of the
trainer (``mlp.train``, float32 and float64) call these functions. The
training path passes preallocated output buffers (``out=``) for the (N, H)
arrays; everything else allocates new arrays and changes no input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .core import average_ce_logits, compute_layer, one_hot, relu, relu_grad, softmax

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


def init_params(n_in=784, n_hidden=1000, n_out=10, seed=521, dtype=np.float64, shuffled=0):
    """Xavier-normal weights and zero biases: W_o (H, K) drawn first, then W_h (F, H), as in the report.

    The draws come from a private ``RandomState(seed)`` (the global ``np.random`` stream is not
    touched). ``shuffled = N`` first advances it as the report's ``load_data`` advances the global
    stream before the weights are drawn (``np.random.seed(521)``, then ``np.random.shuffle`` of
    ``np.arange(N)``, N = the data set's size), so that seed 521 with N = 18,724 gives the report's
    very weights; ``shuffled = 0`` (or 1) draws nothing first. Drawn in float64, then cast to ``dtype``.
    """
    rng = np.random.RandomState(seed)
    rng.shuffle(np.arange(shuffled))  # the report's load_data shuffle; draws nothing for 0 or 1 rows
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
    z_h: np.ndarray | None  # (N, H) = x W_h + b_h (None when computed in place into h)
    h: np.ndarray  # (N, H) = ReLU(z_h)
    o: np.ndarray  # (N, K) = h W_o + b_o, the logits
    p: np.ndarray  # (N, K) = softmax(o)


def forward(params, x, out=None):
    """Forward pass z_h = x W_h + b_h, h = ReLU(z_h), o = h W_o + b_o, p = softmax(o). x: (N, F) -> Forward.

    out: an optional (N, H) buffer of x's dtype; z_h is written into it and turned into h in place
    (then ``Forward.z_h`` is None: the backward pass needs only h, as 1[z_h > 0] = 1[h > 0]).
    """
    z_h = compute_layer(x, params.w_h, params.b_h, out=out)
    h = relu(z_h, out=out)
    o = compute_layer(h, params.w_o, params.b_o)
    return Forward(x=x, z_h=None if out is not None else z_h, h=h, o=o, p=softmax(o))


@dataclass
class Backward:
    """Every intermediate of one backward pass (N rows); ``grads`` holds dL/dW_o, dL/db_o, dL/dW_h, dL/db_h."""

    delta_o: np.ndarray  # (N, K) = (p - y) / N = dL/do
    mask: np.ndarray  # (N, H) bool = 1[z_h > 0]
    back_h: np.ndarray | None  # (N, H) = delta_o W_o^T (None when masked in place into delta_h)
    delta_h: np.ndarray  # (N, H) = back_h * mask = dL/dz_h
    grads: Params


_NO_BUFFERS = Backward(None, None, None, None, Params(None, None, None, None))  # backward allocates every result


def backward_buffers(n, params):
    """Preallocated outputs for ``backward`` on n rows: delta_h (n, H), mask (n, H) and the four gradients."""
    shape = (n, params.sizes[1])
    grads = Params(**{k: np.empty_like(v) for k, v in params.as_dict().items()})
    return Backward(None, np.empty(shape, bool), None, np.empty(shape, params.w_h.dtype), grads)


def backward(prediction, target, h, w_o, x, out=None, n=None):
    """Gradients of the average cross-entropy of the 784-H-10 ReLU network, in the report's order -> Backward.

    prediction: (N, K) softmax output p, target: (N, K) one-hot y, h: (N, H) = ReLU(z_h),
    w_o: (H, K), x: (N, F). out: optional ``backward_buffers(N, params)``, written in place.
    n: the number of rows the loss averages over (default N). A row block of a larger batch passes
    the batch's size: the batch's gradient is then the sum of its blocks' gradients.

        delta_o = (p - y) / N                      (N, K)
        dW_o    = h^T delta_o                      (H, K)
        db_o    = 1^T delta_o                      (1, K)
        delta_h = (delta_o W_o^T) * 1[z_h > 0]     (N, H)   1[z_h > 0] = 1[h > 0]: relu'(0) = 0
        dW_h    = x^T delta_h                      (F, H)
        db_h    = 1^T delta_h                      (1, H)

    Stacked networks (``mlp.sweep``): prediction, h and w_o may carry a leading axis R of networks
    trained on the same rows ((R, N, K), (R, N, H), (R, H, K); target and x stay (N, K), (N, F));
    the gradients are then stacked too ((R, H, K), (R, 1, K), (R, F, H), (R, 1, H)); ^T is ``.mT`` (last two axes).
    """
    buf = _NO_BUFFERS if out is None else out
    g = buf.grads
    ones = np.ones((1, target.shape[0]), h.dtype)  # 1^T sums the rows, as the report's ``ones``
    delta_o = (prediction - target) / (target.shape[0] if n is None else n)
    dwo = np.matmul(h.mT, delta_o, out=g.w_o)
    dbo = np.matmul(ones, delta_o, out=g.b_o)
    mask = relu_grad(h, out=buf.mask)  # 1[z_h > 0] = 1[h > 0]
    back_h = np.matmul(delta_o, w_o.mT, out=buf.delta_h)
    delta_h = np.multiply(back_h, mask, out=buf.delta_h)
    dwh = np.matmul(x.mT, delta_h, out=g.w_h)
    dbh = np.matmul(ones, delta_h, out=g.b_h)
    grads = Params(w_h=dwh, b_h=dbh, w_o=dwo, b_o=dbo)
    return Backward(delta_o, mask, None if out is not None else back_h, delta_h, grads)


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
    return average_ce_logits(y, fw.o), backward(fw.p, y, fw.h, params.w_o, x).grads
