"""Graders of backpropagation: per case the four gradient blocks against ``mlp.core.backpropagation`` and,
on one case, against central differences of ``mlp.network.loss``; a heatmap of each block's relative error.

Accepted signatures: mlp's ``backpropagation(prediction, target, z_h, w_o, x)`` and the course report's
``backpropagation(prediction, target, o, wh, wo, x, b)`` (its ``o`` is the hidden pre-activation z_h).
Both return (dW_o, db_o, dW_h, db_h).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np

from mlp import core
from mlp.gradcheck import numeric_gradient
from mlp.network import Params, loss

from .calls import call
from .compare import LOOSE, as_array, close, errors
from .grading import compare_value, error_check, unchanged_check
from .report import Check

BLOCKS = ("W_o", "b_o", "W_h", "b_h")  # the report's order of the gradients
FIELDS = ("w_o", "b_o", "w_h", "b_h")


@dataclass
class NetCase:
    """A small network and one batch: x (N, F), one-hot y (N, K), weights, and the forward pass."""

    name: str
    x: np.ndarray
    y: np.ndarray
    params: Params
    fd: bool = False  # also checked against central differences
    zeros: bool = False  # some pre-activations are exactly 0

    @property
    def z_h(self):
        return core.compute_layer(self.x, self.params.w_h, self.params.b_h)

    @property
    def p(self):
        o = core.compute_layer(core.relu(self.z_h), self.params.w_o, self.params.b_o)
        return core.softmax(o)

    @property
    def n(self):
        return self.x.shape[0]


def net_case(name, n, f, h, k, dtype=np.float64, seed=0, fd=False, zeros=False):
    rng = np.random.default_rng(100 + seed)
    x = rng.normal(size=(n, f))
    p = Params(w_h=rng.normal(size=(f, h)), b_h=0.3 * rng.normal(size=(1, h)),
               w_o=rng.normal(size=(h, k)), b_o=0.3 * rng.normal(size=(1, k)))
    if zeros:  # a zero input row and zero biases: z_h = 0 exactly there
        x[0], p.b_h[0, : h // 2] = 0.0, 0.0
    y = core.one_hot(rng.integers(0, k, n), k, dtype)
    return NetCase(name, x.astype(dtype), y, p.copy(dtype), fd, zeros)


def backprop_cases():
    return [net_case("N=6 F=5 H=4 K=3 float64", 6, 5, 4, 3, fd=True),
            net_case("N=1 F=4 H=3 K=5 float64, N = 1", 1, 4, 3, 5, seed=1),
            net_case("N=8 F=6 H=5 K=5 float64, H = K", 8, 6, 5, 5, seed=2),
            net_case("N=7 F=5 H=4 K=3 float32", 7, 5, 4, 3, np.float32, seed=3),
            net_case("N=5 F=4 H=6 K=3 float64, z_h exactly 0", 5, 4, 6, 3, seed=4, zeros=True),
            net_case("N=32 F=12 H=16 K=10 float64", 32, 12, 16, 10, seed=5)]


def backprop_args(fn, c):
    """The arguments in the order of the learner's signature (mlp's 5 or the report's 7), or None."""
    try:
        params = [q for q in inspect.signature(fn).parameters.values()
                  if q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return None
    required = sum(q.default is q.empty for q in params)
    count = 5 if required <= 5 <= len(params) else 7 if required <= 7 <= len(params) else None
    if count == 7:
        return [("prediction", c.p), ("target", c.y), ("o", c.z_h), ("wh", c.params.w_h), ("wo", c.params.w_o),
                ("x", c.x), ("b", c.params.b_h)]
    if count == 5:
        return [("prediction", c.p), ("target", c.y), ("z_h", c.z_h), ("w_o", c.params.w_o), ("x", c.x)]
    return None


def reference(c, at_zero_one=False):
    """mlp's gradients; with at_zero_one the ReLU's derivative at exactly 0 is taken as 1 (the report's >= 0)."""
    z = c.z_h
    if at_zero_one:
        z = np.where(z == 0, np.finfo(z.dtype).smallest_subnormal, z)
    return [np.asarray(g, np.float64) for g in core.backpropagation(c.p, c.y, z, c.params.w_o, c.x)]


def wrong_backprops(c):
    """Known wrong gradients: {diagnosis: (dW_o, db_o, dW_h, db_h)}."""
    d_o = (c.p - c.y) / c.n
    z, h, w_o = c.z_h, core.relu(c.z_h), c.params.w_o
    back = d_o @ w_o.T
    good_dwo = h.T @ d_o
    grads = lambda dwo, d_h: (dwo, d_o.sum(0, keepdims=True), c.x.T @ d_h, d_h.sum(0, keepdims=True))
    cands = {"pre_for_post": grads(z.T @ d_o, back * (z > 0)), "post_for_mask": grads(good_dwo, back * h),
             "post_for_mask__z": grads(good_dwo, back * z), "mask_wrong_array": grads(good_dwo, back),
             "mask_wrong_array__delta": grads(good_dwo, back * (back > 0))}
    if w_o.shape[0] == w_o.shape[1]:
        cands["dropped_transpose"] = grads(good_dwo, (d_o @ w_o) * (z > 0))
    return cands


def bias_shape_hint(n, m):
    """A diagnosis for a bias gradient of the wrong shape (expected (1, m))."""
    def hint(shape):
        if shape == (m,):
            return "bias_shape"
        if shape == (n, m) and n > 1:
            return "bias_not_summed"
        if shape in ((n, 1), (1, n), (n,)) and n != m:
            return "bias_wrong_axis"
        return None
    return hint


def whole_diagnosis(got, want, cands, dtype, n):
    """A diagnosis that fits all four blocks at once, or None."""
    generic = {"not_averaged": [w * n for w in want] if n > 1 else None, "wrong_sign": [-w for w in want]}
    for diag, blocks in {**generic, **cands}.items():
        if blocks is not None and all(close(g, np.asarray(b, np.float64), dtype, LOOSE) for g, b in zip(got, blocks)):
            return diag.split("__")[0]
    return None


def unpack(value, want):
    """The learner's four blocks as float arrays, or (None, diagnosis, message)."""
    if not isinstance(value, (tuple, list)) or len(value) != 4:
        return None, "not_array", "must return 4 arrays (dW_o, db_o, dW_h, db_h)"
    got = [as_array(g) for g in value]
    if any(g is None for g in got):
        return None, "not_array", "each of the 4 results must be a numeric array"
    shapes, wanted = [g.shape for g in got], [w.shape for w in want]
    if shapes != wanted and sorted(shapes) == sorted(wanted):
        return None, "wrong_order", f"shapes {shapes}, expected {wanted}"
    return got, None, ""


def block_results(got, want, c):
    """Per block: (passed, max_abs, max_rel, diagnosis, message)."""
    dtype = c.x.dtype.name
    h, k = c.params.w_o.shape
    hints = (None, bias_shape_hint(c.n, k), None, bias_shape_hint(c.n, h))
    return [compare_value(g, w, dtype, c.n, shape_hint=s) for g, w, s in zip(got, want, hints)]


def heat_cells(case_name, got, want, results):
    """Per block: the normwise relative error max|g - w| / max|w| (None when its shape is wrong) and whether
    the block passed its check."""
    cells = []
    for block, g, w, r in zip(BLOCKS, got, want, results):
        rel = None
        if g.shape == w.shape:
            rel = errors(g, w)[0] / max(float(np.max(np.abs(w), initial=0.0)), 1e-300)
        cells.append({"case": case_name, "block": block, "rel_error": rel, "passed": bool(r[0])})
    return cells


def _summary_check(c, results, whole):
    """One check of a case from its four block results and a whole-tuple diagnosis."""
    wrong = [f"{b} ({r[3]})" if r[3] and r[3] != whole else b for b, r in zip(BLOCKS, results) if not r[0]]
    abs_ = [r[1] for r in results if r[1] is not None]
    rel = [r[2] for r in results if r[2] is not None]
    passed = not wrong
    diag = None if passed else whole or next((r[3] for r in results if not r[0] and r[3]), None)
    msg = "" if passed else "wrong: " + ", ".join(wrong) + "; " + "; ".join(r[4] for r in results if r[4])
    return Check("backpropagation", c.name, passed, max(abs_, default=None), max(rel, default=None), diag,
                 msg.rstrip("; "))


def grade_case(fn, c):
    """(check, heatmap cells, outcome) of one case."""
    args = backprop_args(fn, c)
    if args is None:
        return Check("backpropagation", c.name, False, diagnosis="signature",
                     message="expected backpropagation(prediction, target, z_h, w_o, x) or the report's "
                             "backpropagation(prediction, target, o, wh, wo, x, b)"), [], None
    out = call(fn, args)
    if out.error:
        return error_check("backpropagation", c.name, out), [], out
    want = reference(c)
    got, diag, msg = unpack(out.value, want)
    if got is None:
        return Check("backpropagation", c.name, False, diagnosis=diag, message=msg), [], out
    results = block_results(got, want, c)
    if c.zeros and not all(r[0] for r in results):  # at z_h = 0 exactly, either derivative is right
        other = reference(c, at_zero_one=True)
        alt = block_results(got, other, c)
        results, want = (alt, other) if all(r[0] for r in alt) else (results, want)
    whole = whole_diagnosis(got, want, wrong_backprops(c), c.x.dtype.name, c.n)
    return _summary_check(c, results, whole), heat_cells(c.name, got, want, results), out


def central_differences(c, eps=1e-6):
    """dL/dparam of mlp.network.loss at the case's weights by central differences, in the report's order."""
    probe = c.params.copy(np.float64)
    labels = np.argmax(c.y, axis=1)
    f = lambda: loss(probe, c.x.astype(np.float64), labels)
    grads = []
    for name in FIELDS:
        w = getattr(probe, name)
        grads.append(np.array([numeric_gradient(f, w, i, eps) for i in np.ndindex(w.shape)]).reshape(w.shape))
    return grads


def fd_check(fn, c, out):
    """The learner's gradients of case c against central differences (not against mlp)."""
    name = "against central differences (float64)"
    if out is None or out.error:
        return Check("backpropagation", name, False, diagnosis="error", message="the call failed (see above)")
    fd = central_differences(c)
    got, diag, msg = unpack(out.value, fd)
    if got is None:
        return Check("backpropagation", name, False, diagnosis=diag, message=msg)
    results = [compare_value(g, w, "fd", c.n) for g, w in zip(got, fd)]
    check = _summary_check(c, results, None)
    check.name = name
    return check


def grade_backpropagation(fn):
    """Checks and the heatmap of the backpropagation exercise."""
    checks, heat, outcomes = [], [], []
    for c in backprop_cases():
        check, cells, out = grade_case(fn, c)
        checks.append(check)
        heat.extend(cells)
        outcomes.append(out)
        if c.fd:
            checks.append(fd_check(fn, c, out))
    checks.append(unchanged_check("backpropagation", [o for o in outcomes if o is not None]))
    return checks, heat

