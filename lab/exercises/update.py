"""Graders of the momentum update and of one whole training epoch.

The reference update is ``mlp.train.momentum_step`` (v' = momentum * v + lr * g, w' = w - v'); the reference
epoch is ``mlp.network.loss_and_grads`` (forward pass, loss, backpropagation) followed by
``mlp.train.momentum_update`` (that step for every block).
"""

from __future__ import annotations

import numpy as np

from mlp.network import Params, loss, loss_and_grads
from mlp.train import momentum_step, momentum_update

from .calls import call
from .compare import LOOSE, as_array, close
from .grading import compare_value, error_check, scalar, unchanged_check
from .net import FIELDS, net_case
from .report import Check


def momentum_cases():
    rng = np.random.default_rng(7)
    arr = lambda shape, dt: rng.normal(size=shape).astype(dt)
    return [("(3, 4) float64, lr 0.1, momentum 0.9", arr((3, 4), np.float64), 0.1, 0.9),
            ("(1, 5) float32 (a bias), lr 0.05, momentum 0.5", arr((1, 5), np.float32), 0.05, 0.5)]


def wrong_updates(w, v, g, lr, mom):
    """Known wrong (w', v') pairs: {diagnosis: (w', v')}."""
    v_new = mom * v + lr * g
    return {"momentum_order": (w - v, v_new), "momentum_order__sgd": (w - lr * g, v_new),
            "lr_on_velocity": (w - lr * (mom * v + g), mom * v + g), "returned_swapped": (v_new, w - v_new),
            "wrong_sign": (w + v_new, v_new)}


def pair_check(name, value, want, dtype, cands):
    """Check a returned (w', v') pair against the reference pair and known wrong pairs."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        return Check("momentum_step", name, False, diagnosis="not_array", message="must return (w_new, v_new)")
    got = [as_array(x) for x in value]
    if any(g is None for g in got):
        return Check("momentum_step", name, False, diagnosis="not_array", message="w_new, v_new must be arrays")
    res = [compare_value(g, w, dtype) for g, w in zip(got, want)]
    if all(r[0] for r in res):
        return Check("momentum_step", name, True, max(r[1] for r in res), max(r[2] for r in res))
    diag = next((d.split("__")[0] for d, pair in cands.items()
                 if all(close(g, np.asarray(p, np.float64), dtype, LOOSE) for g, p in zip(got, pair))), None)
    wrong = [n for n, r in zip(("w_new", "v_new"), res) if not r[0]]
    abs_ = [r[1] for r in res if r[1] is not None]
    return Check("momentum_step", name, False, max(abs_, default=None), None, diag or res[0][3] or res[1][3],
                 "wrong: " + ", ".join(wrong))


def grade_momentum_step(fn):
    checks, outcomes = [], []
    for name, w, lr, mom in momentum_cases():
        v, g = 0.1 * np.ones_like(w) + 0.5 * w[::-1].copy(), (w * 0.7 - 0.2).astype(w.dtype)
        out = call(fn, [("w", w), ("v", v), ("grad", g), ("lr", lr), ("momentum", mom)])
        outcomes.append(out)
        if out.error:
            checks.append(error_check("momentum_step", name, out))
            continue
        want = [np.asarray(a, np.float64) for a in momentum_step(w, v, g, lr, mom)]
        checks.append(pair_check(name, out.value, want, w.dtype.name, wrong_updates(w, v, g, lr, mom)))
    checks.append(_three_steps(fn))
    return checks + [unchanged_check("momentum_step", outcomes)]


def _three_steps(fn):
    """Three updates in a row, each fed the previous result, velocities starting at 1e-5 as in the report."""
    name, w0, lr, mom = momentum_cases()[0]
    w, v, ref_w, ref_v = w0, np.full_like(w0, 1e-5), w0, np.full_like(w0, 1e-5)
    for step in range(3):
        g = np.cos(w0 + step)
        out = call(fn, [("w", w), ("v", v), ("grad", g), ("lr", lr), ("momentum", mom)])
        if out.error or not isinstance(out.value, (tuple, list)) or len(out.value) != 2:
            return error_check("momentum_step", "three steps in a row", out) if out.error else \
                Check("momentum_step", "three steps in a row", False, diagnosis="not_array")
        w, v = (np.asarray(x, np.float64) for x in out.value)
        ref_w, ref_v = momentum_step(ref_w, ref_v, g, lr, mom)
    return pair_check("three steps in a row", (w, v), [ref_w, ref_v], "float64", {})


# ---- one training epoch -----------------------------------------------------------------------------------------
def epoch_cases():
    return [(net_case("N=8 F=6 H=5 K=4 float64", 8, 6, 5, 4, seed=10), 0.1, 0.9),
            (net_case("N=1 F=5 H=3 K=4 float32, N = 1", 1, 5, 3, 4, np.float32, seed=11), 0.05, 0.5)]


def start_velocity(params, seed=12):
    rng = np.random.default_rng(seed)
    return {f: (0.01 * rng.normal(size=w.shape)).astype(w.dtype) for f, w in params.items()}


def reference_epoch(params, velocity, x, target, lr, mom):
    """(new params, new velocity, loss before the update) of one full-batch epoch, all dicts by FIELDS."""
    value, grads = loss_and_grads(Params(**params), x, np.argmax(target, axis=1))
    new_p, new_v = momentum_update(Params(**params), Params(**velocity), grads, lr, mom)
    return new_p.as_dict(), new_v.as_dict(), value


def _epoch_parts(value):
    """The learner's (params, velocity, loss), or None."""
    ok = isinstance(value, (tuple, list)) and len(value) == 3 and all(isinstance(d, dict) for d in value[:2])
    if not ok or any(f not in value[0] or f not in value[1] for f in FIELDS):
        return None
    return value[0], value[1], value[2]


def epoch_check(name, value, ref, start, x, target, dtype):
    """The learner's epoch result against the reference: the loss, then every block of weights and velocity."""
    parts = _epoch_parts(value)
    if parts is None:
        return Check("train_epoch", name, False, diagnosis="not_array",
                     message="must return (params, velocity, loss) with params and velocity dicts of "
                             "'w_h', 'b_h', 'w_o', 'b_o'")
    labels = np.argmax(target, axis=1)
    res = {"loss": compare_value(scalar(parts[2]), ref[2], dtype)}
    res.update({f"{f}": compare_value(as_array(parts[0][f]), ref[0][f], dtype) for f in FIELDS})
    res.update({f"v_{f}": compare_value(as_array(parts[1][f]), ref[1][f], dtype) for f in FIELDS})
    wrong = [k for k, r in res.items() if not r[0]]
    abs_ = [r[1] for r in res.values() if r[1] is not None]
    rel = [r[2] for r in res.values() if r[2] is not None]
    if not wrong:
        return Check("train_epoch", name, True, max(abs_), max(rel))
    diag = None
    if wrong == ["loss"] and close(scalar(parts[2]), np.float64(loss(Params(**ref[0]), x, labels)), dtype, LOOSE):
        diag = "loss_after_update"
    elif all(close(as_array(parts[0][f]), np.asarray(start[0][f] - start[1][f], np.float64), dtype, LOOSE)
             for f in FIELDS):
        diag = "momentum_order"
    diag = diag or next((res[k][3] for k in wrong if res[k][3]), None)
    return Check("train_epoch", name, False, max(abs_, default=None), max(rel, default=None), diag,
                 "wrong: " + ", ".join(wrong))


def grade_train_epoch(fn):
    checks, outcomes = [], []
    for c, lr, mom in epoch_cases():
        params = c.params.as_dict()
        velocity = start_velocity(params)
        out = call(fn, [("params", params), ("velocity", velocity), ("x", c.x), ("target", c.y), ("lr", lr),
                        ("momentum", mom)])
        outcomes.append(out)
        if out.error:
            checks.append(error_check("train_epoch", c.name, out))
            continue
        ref = reference_epoch(params, velocity, c.x, c.y, lr, mom)
        checks.append(epoch_check(c.name, out.value, ref, (params, velocity), c.x, c.y, c.x.dtype.name))
    return checks + [unchanged_check("train_epoch", outcomes)]
