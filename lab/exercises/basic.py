"""Graders of the helper functions: relu, softmax, compute_layer, average_ce, grad_ce.

Each grader takes the learner's function and returns a list of ``Check``. The reference is ``mlp.core``;
the known wrong results a failure is matched against are built from it where it can (softmax along the
wrong axis is ``softmax(x.T).T``) and written out where the mistake itself is the formula.
"""

from __future__ import annotations

import numpy as np

from mlp import core
from mlp.gradcheck import numeric_gradient

from .calls import call
from .grading import compare_value, error_check, scalar, unchanged_check, value_check
from .report import Check

RNG_SEED = 13


def _rng(k=0):
    return np.random.default_rng(RNG_SEED + k)


def one_hot(n, k, rng, dtype=np.float64):
    return core.one_hot(rng.integers(0, k, n), k, dtype)


def large_logits(dtype=np.float64):
    """(3, 10) logits up to +-1000: a row near +1000, a row near -1000 and an ordinary row."""
    ramp = np.arange(10, dtype=np.float64)
    return np.stack([1000 - ramp, -1000 + ramp, np.linspace(-2, 2, 10)]).astype(dtype)


# ---- relu --------------------------------------------------------------------------------------------------------
def relu_cases():
    rng = _rng(1)
    a = rng.normal(size=(5, 7))
    a[0, :3], a[1, 1] = 0.0, -0.0
    b = np.array([[0.0, -2.5, 3.0]], np.float32)
    return [("(5, 7) float64, inputs exactly 0", a), ("(1, 3) float32, an input exactly 0", b),
            ("(2, 3, 4) float64, any shape", rng.normal(size=(2, 3, 4)))]


def grade_relu(fn):
    checks, outcomes = [], []
    for name, x in relu_cases():
        out = call(fn, [("x", x)])
        outcomes.append(out)
        cands = {"relu_reduces": np.max(x, axis=0), "returned_mask": (x > 0).astype(float)}
        checks.append(value_check("relu", name, out, core.relu(x), x.dtype.name, candidates=cands))
    return checks + [unchanged_check("relu", outcomes)]


# ---- softmax -----------------------------------------------------------------------------------------------------
def softmax_cases():
    rng = _rng(2)
    under = rng.normal(size=(2, 10))
    under[:, 3:6] = -800.0
    return [("(4, 10) float64", 3 * rng.normal(size=(4, 10)), False), ("(1, 10) float32, N = 1",
            rng.normal(size=(1, 10)).astype(np.float32), False),
            ("(5, 5) float64, square", rng.normal(size=(5, 5)), False),
            ("(3, 10) float64, logits up to +-1000", large_logits(), True),
            ("(3, 10) float32, logits up to +-1000", large_logits(np.float32), True),
            ("(2, 10) float64, probabilities that underflow to 0", under, False)]


def softmax_wrong(x):
    """Known wrong softmaxes of x: {diagnosis: result}."""
    with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
        g = np.exp(x - np.max(x))
        r = np.exp(x - np.max(x, axis=1, keepdims=True))
        cands = {"no_max_shift": core.softmax_naive(x), "global_max": g / g.sum(axis=1, keepdims=True),
                 "wrong_axis": core.softmax(x.T).T, "whole_array": r / r.sum(),
                 "whole_array__global": g / g.sum(), "log_softmax": core.log_softmax(x)}
        if x.shape[0] == x.shape[1]:
            cands["no_keepdims"] = r / r.sum(axis=1)
    return cands


def grade_softmax(fn):
    checks, outcomes = [], []
    for name, x, large in softmax_cases():
        out = call(fn, [("x", x)])
        outcomes.append(out)
        check = value_check("softmax", name, out, core.softmax(x), x.dtype.name, candidates=softmax_wrong(x))
        if large and check.diagnosis == "nan_or_inf":
            check.diagnosis = "no_max_shift"
        if check.diagnosis == "broadcast" and "broadcast" in (out.error or ""):
            check.diagnosis = "no_keepdims"
        checks.append(check)
    return checks + [unchanged_check("softmax", outcomes)]


# ---- compute_layer -----------------------------------------------------------------------------------------------
def layer_cases():
    rng = _rng(3)
    return [(f"x {n, f} @ w {f, o} + b {1, o} {dt.__name__}",
             rng.normal(size=(n, f)).astype(dt), rng.normal(size=(f, o)).astype(dt), rng.normal(size=(1, o)).astype(dt))
            for n, f, o, dt in ((5, 4, 3, np.float64), (1, 6, 2, np.float32), (3, 3, 3, np.float64))]


def grade_compute_layer(fn):
    checks, outcomes = [], []
    for name, x, w, b in layer_cases():
        out = call(fn, [("x", x), ("w", w), ("b", b)])
        outcomes.append(out)
        cands = {"no_bias": x @ w}
        if x.shape[0] == w.shape[0] == w.shape[1]:  # square: the transposed products have the right shape
            cands.update(transposed=x @ w.T + b, transposed__wx=w @ x + b)
        checks.append(value_check("compute_layer", name, out, core.compute_layer(x, w, b), x.dtype.name,
                                  candidates=cands))
    return checks + [unchanged_check("compute_layer", outcomes)]


# ---- average_ce --------------------------------------------------------------------------------------------------
def ce_cases():
    """(name, target, prediction, has underflowed zeros)."""
    rng = _rng(4)
    cases = []
    for name, n, dt, under in (("(5, 10) float64", 5, np.float64, False),
                               ("(1, 10) float32, N = 1", 1, np.float32, False),
                               ("(6, 10) float64, probabilities that underflow to 0", 6, np.float64, True),
                               ("(4, 10) float32, probabilities that underflow to 0", 4, np.float32, True)):
        y = one_hot(n, 10, rng, dt)
        logits = 2 * rng.normal(size=(n, 10))
        if under:
            logits = np.where(y > 0, logits, np.where(rng.random((n, 10)) < 0.5, -900.0, logits))
        cases.append((name, y, core.softmax(logits.astype(dt)), under))
    return cases


def _true_class_zero_check(fn):
    """A probability of the true class that underflowed to 0: the loss must stay finite and large."""
    rng = _rng(5)
    y = one_hot(3, 10, rng)
    p = core.softmax(rng.normal(size=(3, 10)))
    p[0] = np.where(y[0] > 0, 0.0, p[0] / np.sum(p[0] * (1 - y[0])))
    name = "true-class probability 0: finite and large"
    out = call(fn, [("target", y), ("prediction", p)])
    if out.error:
        return error_check("average_ce", name, out), out
    value = np.asarray(out.value, np.float64).reshape(-1)[:1]
    bound = core.average_ce(y, np.where(p == 0, 1e-6, p))
    ok = value.size == 1 and bool(np.isfinite(value[0])) and value[0] >= bound
    diag = None if ok else ("log_zero" if value.size and not np.isfinite(value[0]) else None)
    msg = "" if ok else f"loss {value[0] if value.size else value!r}; expected finite and at least {bound:.3g}"
    return Check("average_ce", name, ok, diagnosis=diag, message=msg), out


def _ce_shape_hint(shape):
    return "not_reduced" if len(shape) >= 1 else None


def grade_average_ce(fn):
    checks, outcomes = [], []
    for name, y, p, under in ce_cases():
        out = call(fn, [("target", y), ("prediction", p)])
        outcomes.append(out)
        want = core.average_ce(y, p)
        got = None if out.error else scalar(out.value)
        if out.error:
            checks.append(error_check("average_ce", name, out))
            continue
        res = compare_value(got, want, p.dtype.name, n=y.shape[0], candidates={"mean_over_classes": want / 10},
                            shape_hint=_ce_shape_hint)
        passed, max_abs, max_rel, diag, msg = res
        if under and diag == "nan_or_inf":
            diag = "log_zero"
        checks.append(Check("average_ce", name, passed, max_abs, max_rel, diag, msg))
    zero_check, out = _true_class_zero_check(fn)
    return checks + [zero_check, unchanged_check("average_ce", outcomes + [out])]


# ---- grad_ce -----------------------------------------------------------------------------------------------------
def grad_ce_cases():
    rng = _rng(6)
    return [("(5, 10) float64", one_hot(5, 10, rng), 2 * rng.normal(size=(5, 10)), False),
            ("(1, 10) float32, N = 1", one_hot(1, 10, rng, np.float32),
             rng.normal(size=(1, 10)).astype(np.float32), False),
            ("(3, 10) float64, logits up to +-1000", one_hot(3, 10, rng), large_logits(), True)]


def central_differences_logits(target, logits, eps=1e-6):
    """d/do of sum_n L_n(o_n), L_n = -sum_k y_nk log softmax(o_n)_k, by central differences (float64)."""
    o = np.array(logits, np.float64)
    f = lambda: -np.sum(target * core.log_softmax(o))
    return np.array([[numeric_gradient(f, o, (i, j), eps) for j in range(o.shape[1])] for i in range(o.shape[0])])


def grad_ce_wrong(y, o):
    return {"logits_for_probs": o - y, "missing_target": core.softmax(o)}


def grade_grad_ce(fn):
    checks, outcomes = [], []
    for name, y, o, large in grad_ce_cases():
        out = call(fn, [("target", y), ("logits", o)])
        outcomes.append(out)
        check = value_check("grad_ce", name, out, core.grad_ce(y, o), o.dtype.name, n=y.shape[0],
                            candidates=grad_ce_wrong(y, o))
        if large and check.diagnosis == "nan_or_inf":
            check.diagnosis = "no_max_shift"
        checks.append(check)
    name, y, o, _ = grad_ce_cases()[0]
    out = call(fn, [("target", y), ("logits", o)])
    fd = central_differences_logits(y, o)
    checks.append(value_check("grad_ce", "against central differences (float64)", out, fd, "fd", n=y.shape[0],
                              candidates=grad_ce_wrong(y, o)))
    return checks + [unchanged_check("grad_ce", outcomes)]
