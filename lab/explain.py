"""Every intermediate of the derivations, for pages that show the math with numbers.

The library computes gradients in one go (``grad_ce``, ``backpropagation``);
a student wants to see the pieces: the softmax Jacobian, dL/dp, the
chain-rule product that turns them into dL/do, the deltas of a backward pass,
one momentum step with the loss before and after. This module computes those
pieces by calling ``mlp.core`` / ``mlp.network`` / ``mlp.train`` /
``mlp.gradcheck`` and adds only the few products they do not expose.

Conventions as in ``mlp.core``: rows are examples, N examples, F inputs,
H hidden units, K classes; a layer is ``x @ W + b``. Every function returns
new arrays and leaves its inputs unchanged. Pure numpy, no Streamlit.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlp import core, gradcheck, network, train
from mlp.core import average_ce_logits, log_softmax, one_hot, softmax, softmax_naive
from mlp.gradcheck import gradient_check, max_relative_error, relative_error
from mlp.network import PARAM_NAMES, Params, init_params, loss
from mlp.train import momentum_update, start_velocity

GRADCHECK_EPS = 1e-5  # central-difference step of the backprop page's check (see ``check_gradients``)


# ----------------------------------------------------------------------------------------------
# Softmax and cross-entropy for one example
# ----------------------------------------------------------------------------------------------


def softmax_jacobian(p):
    """Jacobian of the softmax, J[..., i, j] = dp_i/do_j = p_i (delta_ij - p_j).

    p: (K,) or (N, K) probabilities -> (K, K) or (N, K, K). Symmetric; every
    row and column sums to 0 (the probabilities always sum to 1).
    """
    p = np.asarray(p)
    eye = np.eye(p.shape[-1], dtype=p.dtype)
    return p[..., :, None] * (eye - p[..., None, :])


def ce_grad_p(y, p):
    """dL/dp_i = -y_i / p_i for one example's loss L = -sum_i y_i log p_i.

    y, p: (K,) or (N, K) -> same shape. Where y_i = 0 the entry is exactly 0
    (also when p_i = 0, where -y_i/p_i would be 0/0); where y_i > 0 and p_i
    underflowed to 0 it is -inf.
    """
    y, p = np.asarray(y), np.asarray(p)
    out = np.zeros(np.broadcast(y, p).shape, dtype=np.result_type(y, p, np.float32))
    with np.errstate(divide="ignore"):
        np.divide(-y, p, out=out, where=(y != 0))
    return out


def chain_rule(dl_dp, jacobian):
    """dL/do_j = sum_i dL/dp_i * dp_i/do_j, the row vector (dL/dp) times the Jacobian.

    dl_dp: (K,) with jacobian (K, K) -> (K,); or (N, K) with (N, K, K) -> (N, K).
    """
    return np.einsum("...i,...ij->...j", np.asarray(dl_dp), np.asarray(jacobian))


@dataclass(frozen=True)
class SoftmaxCE:
    """Every step from the logits of one example to dL/do. Vectors are (K,), ``jacobian`` (K, K).

    o: logits, label: true class c, y: one-hot target, p = softmax(o),
    loss L = -log p_c, jacobian J_ij = p_i (delta_ij - p_j), dl_dp_i = -y_i/p_i,
    chain = dl_dp @ J, grad = p - y (``mlp.core.grad_ce``), exp_o = e^o and
    sum_exp = sum_j e^{o_j} (unshifted, as the formula reads; finite for |o| < ~709),
    report_result = -y - y (the course report's wrong last line, for contrast), and the two parts
    of the correct simplification of the chain product for each j:
    diag_term_j = (dL/dp_j) J_jj = -y_j (1 - p_j) and
    off_term_j = sum_{i != j} (dL/dp_i) J_ij = p_j sum_{i != j} y_i,
    so that chain = diag_term + off_term = -y_j + p_j sum_i y_i = p_j - y_j.
    """

    o: np.ndarray
    label: int
    y: np.ndarray
    exp_o: np.ndarray
    sum_exp: float
    p: np.ndarray
    loss: float
    jacobian: np.ndarray
    dl_dp: np.ndarray
    chain: np.ndarray
    diag_term: np.ndarray
    off_term: np.ndarray
    grad: np.ndarray
    report_result: np.ndarray

    @property
    def predicted(self):
        """The class with the largest probability."""
        return int(np.argmax(self.p))

    @property
    def chain_vs_grad(self):
        """max_j |chain_j - (p_j - y_j)|: how far the chain-rule product is from p - y (rounding only)."""
        return float(np.max(np.abs(self.chain - self.grad)))


def softmax_ce(logits, label):
    """Explain softmax + cross-entropy for one example: logits (K,), true class ``label`` -> SoftmaxCE.

    Computed in float64 with ``mlp.core`` (softmax, average_ce_logits, grad_ce).
    """
    o = np.array(logits, dtype=np.float64).reshape(-1)
    k = o.shape[0]
    if not 0 <= int(label) < k:
        raise ValueError(f"label must be in 0..{k - 1}, got {label}")
    y = one_hot([int(label)], k)[0]
    p = softmax(o[None, :])[0]
    jac = softmax_jacobian(p)
    dl_dp = ce_grad_p(y, p)
    diag = dl_dp * np.diag(jac)
    off = chain_rule(dl_dp, jac) - diag
    with np.errstate(over="ignore"):
        exp_o = np.exp(o)
    return SoftmaxCE(
        o=o, label=int(label), y=y, exp_o=exp_o, sum_exp=float(np.sum(exp_o)), p=p,
        loss=float(average_ce_logits(y[None, :], o[None, :])),
        jacobian=jac, dl_dp=dl_dp, chain=chain_rule(dl_dp, jac), diag_term=diag, off_term=off,
        grad=core.grad_ce(y[None, :], o[None, :])[0], report_result=-y - y,
    )


@dataclass(frozen=True)
class FiniteDifference:
    """Central differences next to the analytic gradient, all (K,).

    numeric_j = (L(o + eps e_j) - L(o - eps e_j)) / (2 eps).
    """

    eps: float
    analytic: np.ndarray
    numeric: np.ndarray
    rel_error: np.ndarray

    @property
    def max_rel_error(self):
        return float(np.max(self.rel_error))

    @property
    def abs_error(self):
        """|analytic - numeric| per class."""
        return np.abs(self.analytic - self.numeric)


def ce_loss_of_logits(logits, label):
    """L(o) = -log softmax(o)_label for one example, logits (K,) -> float (``mlp.core.average_ce_logits``)."""
    o = np.asarray(logits, dtype=np.float64).reshape(1, -1)
    return float(average_ce_logits(one_hot([int(label)], o.shape[1]), o))


def finite_difference_logits(logits, label, eps=1e-5):
    """Check dL/do = p - y against central differences of L(o) = -log p_label, per class.

    logits (K,) -> FiniteDifference; rel_error is ``mlp.gradcheck.relative_error``.
    float64 rounding of L is relative (about 1.1e-16 * |L| per operation), which limits the numeric value to
    about 1.1e-16 * |L| / eps absolute (times a few), so for a gradient entry below ~1e-5 the relative error
    can exceed 1e-6 with nothing wrong.
    """
    o = np.array(logits, dtype=np.float64).reshape(-1)
    analytic = softmax_ce(o, label).grad
    numeric = np.empty_like(o)
    for j in range(o.shape[0]):
        step = np.zeros_like(o)
        step[j] = eps
        numeric[j] = (ce_loss_of_logits(o + step, label) - ce_loss_of_logits(o - step, label)) / (2 * eps)
    return FiniteDifference(eps=eps, analytic=analytic, numeric=numeric, rel_error=relative_error(analytic, numeric))


@dataclass(frozen=True)
class Overflow:
    """Naive vs max-subtracted softmax on scaled logits s*o, and log p vs log-softmax. Vectors are (K,).

    naive_exp = exp(s o), naive_sum = sum(naive_exp), naive_p = naive_exp / naive_sum;
    shifted = s o - max(s o), stable_exp = exp(shifted), stable_sum, stable_p;
    log_naive_p = log(naive_p), log_stable_p = log(stable_p), log_softmax = log_softmax(s o).
    The *_loss fields are -log p_label from each route (inf or nan where it breaks).
    """

    scale: float
    label: int
    scaled: np.ndarray
    naive_exp: np.ndarray
    naive_sum: float
    naive_p: np.ndarray
    shifted: np.ndarray
    stable_exp: np.ndarray
    stable_sum: float
    stable_p: np.ndarray
    log_naive_p: np.ndarray
    log_stable_p: np.ndarray
    log_softmax: np.ndarray
    naive_loss: float
    stable_log_loss: float
    log_softmax_loss: float

    @property
    def naive_ok(self):
        """True when the naive softmax gave finite probabilities."""
        return bool(np.all(np.isfinite(self.naive_p)))


def overflow_demo(logits, label, scale):
    """Scale the logits (K,) by ``scale`` and push them through ``softmax_naive``, ``softmax`` and ``log_softmax``.

    Returns Overflow. float64: exp overflows past o ~ 709.78, so scale 1000 on
    logits of size ~1 breaks the naive route (inf / inf = nan) while the
    max-subtracted one stays exact; a probability that underflows to 0 makes
    log p = -inf, while log_softmax stays finite.
    """
    s = np.array(logits, dtype=np.float64).reshape(1, -1) * float(scale)
    c = int(label)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        naive_exp = np.exp(s)[0]
        naive_sum = float(np.sum(naive_exp))
        naive_p = softmax_naive(s)[0]
        shifted = (s - np.max(s, axis=1, keepdims=True))[0]
        stable_exp = np.exp(shifted)
        stable_p = softmax(s)[0]
        log_naive = np.log(naive_p)
        log_stable = np.log(stable_p)
    ls = log_softmax(s)[0]
    return Overflow(
        scale=float(scale), label=c, scaled=s[0], naive_exp=naive_exp, naive_sum=naive_sum, naive_p=naive_p,
        shifted=shifted, stable_exp=stable_exp, stable_sum=float(np.sum(stable_exp)), stable_p=stable_p,
        log_naive_p=log_naive, log_stable_p=log_stable, log_softmax=ls,
        naive_loss=float(-log_naive[c]), stable_log_loss=float(-log_stable[c]), log_softmax_loss=float(-ls[c]),
    )


# ----------------------------------------------------------------------------------------------
# Forward and backward pass of the 784-H-10 network (any sizes)
# ----------------------------------------------------------------------------------------------


def tiny_problem(n_in=4, n_hidden=3, n_out=3, n_examples=2, seed=0, bias_std=0.1):
    """A network small enough to print, and a batch for it: (Params float64, x (N, F), labels (N,)).

    The weights are ``mlp.network.init_params(n_in, n_hidden, n_out, seed)`` (Xavier normal, as the
    report). The biases, which the report starts at zero, are drawn from N(0, bias_std^2) as in the
    library's own gradient tests, so that db_o and db_h are exercised: with zero biases a hidden layer
    that is all switched off gives p exactly uniform, and with balanced labels a db_o that is exactly 0,
    whose central difference is pure rounding. The inputs are pixel-like, integers 0..255 divided by
    255 as in the data sets; the labels are uniform over the n_out classes. Everything but the weights
    comes from ``numpy.random.default_rng(seed)``.
    """
    params = init_params(n_in, n_hidden, n_out, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n_examples, n_in)) / 255.0
    labels = rng.integers(0, n_out, n_examples)
    params.b_h[...] = rng.normal(0.0, bias_std, params.b_h.shape)
    params.b_o[...] = rng.normal(0.0, bias_std, params.b_o.shape)
    return params, x, labels


@dataclass(frozen=True)
class Pass:
    """One forward and backward pass, every intermediate (shapes in brackets).

    Forward: x [N, F], z_h = x W_h + b_h [N, H], mask = 1[z_h > 0] [N, H],
    h = ReLU(z_h) [N, H], o = h W_o + b_o [N, K], p = softmax(o) [N, K],
    y one-hot [N, K], log_p_true [N] = log p[n, label_n] (log-softmax), loss L = -mean(log_p_true).
    Backward: delta_o = (p - y)/N [N, K], dwo = h^T delta_o [H, K],
    dbo = 1^T delta_o [1, K], back_h = delta_o W_o^T [N, H],
    delta_h = back_h * mask [N, H], dwh = x^T delta_h [F, H], dbh = 1^T delta_h [1, H].
    The four gradients are those of ``mlp.core.backpropagation``.
    """

    params: Params
    labels: np.ndarray
    x: np.ndarray
    z_h: np.ndarray
    mask: np.ndarray
    h: np.ndarray
    o: np.ndarray
    p: np.ndarray
    y: np.ndarray
    log_p_true: np.ndarray
    loss: float
    delta_o: np.ndarray
    dwo: np.ndarray
    dbo: np.ndarray
    back_h: np.ndarray
    delta_h: np.ndarray
    dwh: np.ndarray
    dbh: np.ndarray

    @property
    def grads(self):
        """The gradients as Params (dL/dW_h, dL/db_h, dL/dW_o, dL/db_o)."""
        return Params(w_h=self.dwh, b_h=self.dbh, w_o=self.dwo, b_o=self.dbo)


def explain_pass(params, x, labels):
    """Forward and backward pass of ``params`` on x (N, F) with integer labels (N,) -> Pass.

    The forward pass is ``mlp.network.forward``, the loss ``average_ce_logits``, the backward pass
    with its intermediates ``mlp.network.backward`` (whose gradients ``mlp.core.backpropagation``
    returns and the trainer applies); the mask is shown as 0/1 in the dtype of z_h.
    """
    labels = np.asarray(labels)
    fw = network.forward(params, x)
    y = one_hot(labels, fw.o.shape[1], fw.o.dtype)
    bw = network.backward(fw.p, y, fw.h, params.w_o, x)
    g = bw.grads
    return Pass(
        params=params, labels=labels, x=x, z_h=fw.z_h, mask=bw.mask.astype(fw.z_h.dtype), h=fw.h, o=fw.o, p=fw.p,
        y=y, log_p_true=log_softmax(fw.o)[np.arange(x.shape[0]), labels], loss=float(average_ce_logits(y, fw.o)),
        delta_o=bw.delta_o, dwo=g.w_o, dbo=g.b_o, back_h=bw.back_h, delta_h=bw.delta_h, dwh=g.w_h, dbh=g.b_h,
    )


@dataclass(frozen=True)
class GradCheckRow:
    """The check of one parameter: its shape, how many entries, the worst relative error and that entry."""

    name: str
    shape: tuple
    entries: int
    max_rel_error: float
    worst_index: tuple
    worst_analytic: float
    worst_numeric: float


def check_gradients(params, x, labels, eps=GRADCHECK_EPS, max_entries=None):
    """Central-difference check of every entry of every parameter (``mlp.gradcheck.gradient_check``).

    Returns (rows: list of GradCheckRow in the report's order w_o, b_o, w_h, b_h,
    max relative error over all of them). Use float64 parameters.

    eps = 1e-5: float64 rounds L(w +- eps) to about 1.1e-16 * |L| (relative), which puts about 1e-11 |L| of noise on a
    central difference; larger steps cross ReLU kinks more often. Over every size the backprop page
    offers (F, H, K in 2..4, N in 1..4) and seeds 0..199 of ``tiny_problem``, the largest relative
    error was below 1e-6 in all but 6 of 21,600 cases (measured); those had a gradient entry of
    1e-7..3e-6, where that noise is a relative error above 1e-6 with nothing wrong.
    """
    report = gradient_check(params, x, labels, eps=eps, max_entries=max_entries)
    rows = []
    for name in PARAM_NAMES:
        r = report[name]
        i = int(np.argmax(r["rel_error"]))
        rows.append(GradCheckRow(
            name=name, shape=tuple(getattr(params, name).shape), entries=len(r["rel_error"]),
            max_rel_error=float(r["rel_error"][i]), worst_index=tuple(int(v) for v in r["index"][i]),
            worst_analytic=float(r["analytic"][i]), worst_numeric=float(r["numeric"][i]),
        ))
    return rows, max_relative_error(report)


@dataclass(frozen=True)
class MomentumStep:
    """One step of gradient descent with momentum, for every parameter w (as Params):

    velocity_after = momentum * velocity_before + lr * grads,
    params_after = params_before - velocity_after   (``mlp.train.momentum_step``),
    and the batch loss before and after the step.
    """

    lr: float
    momentum: float
    params_before: Params
    velocity_before: Params
    grads: Params
    velocity_after: Params
    params_after: Params
    loss_before: float
    loss_after: float


def explain_momentum_step(params, x, labels, lr=0.1, momentum=0.9, velocity=None):
    """Take one momentum step on the batch (x (N, F), labels (N,)) -> MomentumStep.

    ``velocity`` defaults to the report's start, every entry 1e-5
    (``mlp.train.start_velocity``). Neither ``params`` nor ``velocity`` is modified.
    """
    v0 = start_velocity(params) if velocity is None else velocity
    loss_before, grads = network.loss_and_grads(params, x, labels)
    after, v_after = momentum_update(params, v0, grads, lr, momentum)
    return MomentumStep(
        lr=float(lr), momentum=float(momentum), params_before=params, velocity_before=v0, grads=grads,
        velocity_after=v_after, params_after=after,
        loss_before=float(loss_before), loss_after=float(loss(after, x, labels)),
    )


@dataclass(frozen=True)
class LetterPass:
    """One image through the full network. image (28, 28) in [0, 1]; vectors over H hidden units or K classes.

    z_h, h: (H,); top_units: indices of the ``top`` largest h, largest first,
    with top_h their activations; active: how many h > 0; o, p, dl_do = p - y: (K,);
    loss = -log p_label; predicted = argmax p; grads: Params of dL/dparam for
    this one example (shapes as the parameters); delta_h: (H,) = dL/dz_h.
    """

    image: np.ndarray
    label: int
    z_h: np.ndarray
    h: np.ndarray
    top_units: np.ndarray
    top_h: np.ndarray
    active: int
    o: np.ndarray
    p: np.ndarray
    dl_do: np.ndarray
    loss: float
    predicted: int
    delta_h: np.ndarray
    grads: Params

    def grad_norms(self):
        """{name: Frobenius norm of dL/dname} for w_o, b_o, w_h, b_h."""
        return {name: float(np.linalg.norm(getattr(self.grads, name))) for name in PARAM_NAMES}

    def nonzero_grad_columns(self):
        """How many columns (hidden units) of dL/dW_h are not all zero: at most the number of active units."""
        return int(np.count_nonzero(np.any(self.grads.w_h != 0, axis=0)))


def explain_letter(params, x_row, label, top=10):
    """Run one image x_row (784,) (pixels / 255) with true class ``label`` through ``params`` -> LetterPass.

    Computed in the dtype of the parameters (a float32 trained model stays float32).
    """
    x = np.asarray(x_row, dtype=params.w_h.dtype).reshape(1, -1)
    ps = explain_pass(params, x, [int(label)])
    h = ps.h[0]
    order = np.argsort(-h, kind="stable")[: min(int(top), h.shape[0])]
    side = int(round(np.sqrt(x.shape[1])))
    image = x[0].reshape(side, side) if side * side == x.shape[1] else x[0][None, :]
    return LetterPass(
        image=image, label=int(label), z_h=ps.z_h[0], h=h, top_units=order, top_h=h[order],
        active=int(np.sum(ps.mask)), o=ps.o[0], p=ps.p[0], dl_do=ps.delta_o[0], loss=ps.loss,
        predicted=int(np.argmax(ps.p[0])), delta_h=ps.delta_h[0], grads=ps.grads,
    )


# ----------------------------------------------------------------------------------------------
# Where each formula lives: the report's function and the line of mlp
# ----------------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def source_line(obj, needle):
    """'mlp/<file>.py:<line>' of the first line of function/module ``obj`` whose text contains ``needle``.

    ``needle`` may be a tuple of alternatives, tried in order (for a line written in more than one way).
    Raises LookupError when no line matches (so a renamed line cannot go unnoticed).
    """
    lines, start = inspect.getsourcelines(obj)
    path = Path(inspect.getsourcefile(obj)).resolve().relative_to(ROOT).as_posix()
    for alternative in (needle,) if isinstance(needle, str) else needle:
        for offset, text in enumerate(lines):
            if alternative in text:
                return f"{path}:{start + offset if start else offset + 1}"
    raise LookupError(f"{needle!r} not found in {path}")


# (formula in LaTeX, the report's function, the mlp object and a piece of the line that computes it)
_REPORT_MAP = (
    (r"z_h = x W_h + b_h", "compute_layer(x, w, b)", network.forward, "z_h = compute_layer"),
    (r"h = \mathrm{ReLU}(z_h)", "relu(x)", core.relu, "np.maximum(x, 0"),
    (r"o = h W_o + b_o", "compute_layer(x, w, b)", network.forward, "o = compute_layer"),
    (r"p = \mathrm{softmax}(o)", "softmax(x)", core.softmax, "return e / np.sum"),
    (r"L = -\tfrac1N \sum_n \sum_k y_{nk} \log p_{nk}", "average_ce(target, prediction)", core.average_ce_logits,
     "return -np.sum"),
    (r"\partial p_i / \partial o_j = p_i(\mathbf 1[i = j] - p_j)", "(derivation only)", softmax_jacobian, "return p["),
    (r"\partial L / \partial p_i = -y_i / p_i", "(derivation only)", ce_grad_p, "np.divide(-y, p"),
    (r"\partial L / \partial o = p - y", "grad_ce(target, logits)", core.grad_ce, "return softmax(logits) - target"),
    (r"\delta_o = (p - y)/N", "backpropagation(...)", network.backward, "delta_o = (prediction - target)"),
    (r"\partial L / \partial W_o = h^\top \delta_o", "backpropagation(...)", network.backward, "dwo = np.matmul(h.mT"),
    (r"\partial L / \partial b_o = \mathbf 1^\top \delta_o", "backpropagation(...)", network.backward,
     "dbo = np.matmul(ones"),
    (r"\delta_h = (\delta_o W_o^\top) \odot \mathbf 1[z_h > 0]", "backpropagation(...)", network.backward,
     "delta_h = np.multiply(back_h, mask"),
    (r"\mathbf 1[z_h > 0] \text{ (the report: } \mathbf 1[z_h \geq 0])", "backpropagation(...): o[o >= 0] = 1",
     network.backward,
     "mask = relu_grad(h"),
    (r"\partial L / \partial W_h = x^\top \delta_h", "backpropagation(...)", network.backward, "dwh = np.matmul(x.mT"),
    (r"\partial L / \partial b_h = \mathbf 1^\top \delta_h", "backpropagation(...)", network.backward,
     "dbh = np.matmul(ones"),
    (r"v \leftarrow \gamma v + \alpha g", "learning(): vwh = gamma * vwh + alpha * dwh", train.momentum_step,
     "v_new = np.multiply(v, momentum"),
    (r"W \leftarrow W - v", "learning(): wh = wh - vwh", train.momentum_step, "return np.subtract(w, v_new"),
    (r"v_0 = 10^{-5}", "learning(): np.full(..., 1e-5)", train.start_velocity, "np.full_like(v, VELOCITY_START)"),
    (r"\text{central differences}", "(not in the report)", gradcheck.numeric_gradient, "return (plus - minus)"),
)


def report_map():
    """Rows {formula, report, mlp}: each formula (LaTeX), the report's function, and 'mlp/<file>.py:<line>'."""
    return [
        {"formula": formula, "report": report, "mlp": source_line(obj, needle)}
        for formula, report, obj, needle in _REPORT_MAP
    ]
