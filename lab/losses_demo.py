"""Why classifiers train with cross-entropy: its gradient next to a squared error's, on the same softmax output.

For one example with logits o (K,), p = softmax(o) and one-hot y:

    cross-entropy  L_CE  = -sum_k y_k log p_k          dL_CE/do  = p - y
    squared error  L_MSE = 1/2 sum_k (p_k - y_k)^2     dL_MSE/do_j = sum_k (p_k - y_k) J_kj,  J_kj = dp_k/do_j

Every entry of the softmax Jacobian J carries a factor p, so when the network is confidently wrong (p_c near 0
for the true class c, another p near 1) the whole of J is near 0 and the squared error's gradient vanishes,
while p - y stays near -1 at the true class. Computed with ``mlp.core`` and ``lab.explain``; pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lab.explain import chain_rule, softmax_ce, softmax_jacobian
from mlp.core import softmax

DROPS = tuple(float(d) for d in np.arange(0.0, 16.5, 0.5))  # how far the true logit is pushed down


@dataclass(frozen=True)
class MseVsCe:
    """Both losses and their gradients dL/do (K,) for the same logits: ce_grad = p - y, mse_grad = (p - y) J."""

    p: np.ndarray
    y: np.ndarray
    ce_loss: float
    mse_loss: float
    ce_grad: np.ndarray
    mse_grad: np.ndarray


def mse_vs_ce(logits, label):
    """Cross-entropy and squared error on softmax(o) for logits (K,) and true class ``label`` -> MseVsCe."""
    ex = softmax_ce(logits, label)
    residual = ex.p - ex.y
    return MseVsCe(p=ex.p, y=ex.y, ce_loss=ex.loss, mse_loss=float(0.5 * np.sum(residual**2)), ce_grad=ex.grad,
                   mse_grad=chain_rule(residual, softmax_jacobian(ex.p)))


@dataclass(frozen=True)
class ConfidentlyWrong:
    """The true logit o_c pushed down by each of ``drops`` (the other logits kept): p_c and both gradients on o_c."""

    drops: np.ndarray
    p_true: np.ndarray
    ce_grad_true: np.ndarray
    mse_grad_true: np.ndarray


def confidently_wrong(logits, label, drops=DROPS):
    """For d in ``drops``: o' = o - d e_c; p_c(o'), dL_CE/do_c = p_c - 1 and dL_MSE/do_c at o' -> ConfidentlyWrong."""
    o = np.array(logits, dtype=np.float64).reshape(-1)
    c = int(label)
    p_true, ce, mse = [], [], []
    for d in drops:
        shifted = o.copy()
        shifted[c] -= d
        both = mse_vs_ce(shifted, c)
        p_true.append(float(softmax(shifted[None, :])[0, c]))
        ce.append(float(both.ce_grad[c]))
        mse.append(float(both.mse_grad[c]))
    return ConfidentlyWrong(drops=np.asarray(drops, float), p_true=np.array(p_true), ce_grad_true=np.array(ce),
                            mse_grad_true=np.array(mse))
