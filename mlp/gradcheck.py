"""Central-difference gradient check of the network's analytic gradients."""

from __future__ import annotations

import numpy as np

from .network import PARAM_NAMES, loss, loss_and_grads


def relative_error(a, b):
    """|a - b| / max(|a| + |b|, 1e-12), elementwise: 0 when equal, 1 when one is 0."""
    return np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-12)


def numeric_gradient(f, w, index, eps=1e-6):
    """(f(w + eps e_i) - f(w - eps e_i)) / (2 eps) for one entry ``index`` of array ``w``; w is restored."""
    old = w[index]
    w[index] = old + eps
    plus = f()
    w[index] = old - eps
    minus = f()
    w[index] = old
    return (plus - minus) / (2 * eps)


def gradient_check(params, x, labels, eps=1e-6, max_entries=None, seed=0):
    """Compare ``loss_and_grads`` with central differences of ``loss``.

    params: Params (float64 recommended), x: (N, F), labels: (N,). Checks every
    entry, or ``max_entries`` random entries per parameter. Returns
    {name: {"analytic": a, "numeric": n, "rel_error": e, "index": idx}} with
    arrays over the checked entries. ``params`` is left unchanged (a copy is probed).
    """
    probe = params.copy()
    _, grads = loss_and_grads(probe, x, labels)
    rng = np.random.default_rng(seed)
    report = {}
    for name in PARAM_NAMES:
        w, g = getattr(probe, name), getattr(grads, name)
        flat = np.arange(w.size)
        if max_entries is not None and w.size > max_entries:
            flat = np.sort(rng.choice(w.size, max_entries, replace=False))
        idx = [np.unravel_index(i, w.shape) for i in flat]
        numeric = np.array([numeric_gradient(lambda: loss(probe, x, labels), w, i, eps) for i in idx])
        analytic = np.array([g[i] for i in idx])
        error = relative_error(analytic, numeric)
        report[name] = {"analytic": analytic, "numeric": numeric, "rel_error": error, "index": idx}
    return report


def max_relative_error(report):
    """The largest relative error over every checked entry of every parameter."""
    return max(float(np.max(r["rel_error"])) for r in report.values())
