"""Analytic gradients of the network against central differences (float64)."""

import numpy as np
import pytest

from mlp.gradcheck import gradient_check, max_relative_error
from mlp.network import init_params, loss_and_grads


def random_problem(n, f, h, k=10, seed=0):
    rng = np.random.default_rng(seed)
    params = init_params(f, h, k, seed=seed)
    params.b_h[...] = rng.normal(0, 0.1, params.b_h.shape)  # non-zero biases exercise db_h fully
    params.b_o[...] = rng.normal(0, 0.1, params.b_o.shape)
    x = rng.random((n, f))
    labels = rng.integers(0, k, n)
    for a in (*params.as_dict().values(), x, labels):
        a.flags.writeable = False
    return params, x, labels


@pytest.mark.parametrize("n,f,h", [(1, 4, 3), (16, 4, 3), (50, 20, 8), (200, 30, 25), (1, 784, 12)])
def test_all_four_gradients_match_central_differences(n, f, h):
    params, x, labels = random_problem(n, f, h, seed=n + f + h)
    report = gradient_check(params, x, labels, eps=1e-6, max_entries=60)
    assert set(report) == {"w_o", "b_o", "w_h", "b_h"}
    assert max_relative_error(report) < 1e-6, {k: float(r["rel_error"].max()) for k, r in report.items()}


def test_gradcheck_catches_a_wrong_gradient(monkeypatch):
    """The check can fail: break db_h (report-style mistake: forget the ReLU mask) and it must notice."""
    import mlp.gradcheck as gc
    from mlp.network import Params

    def broken(params, x, labels):
        value, g = loss_and_grads(params, x, labels)
        return value, Params(w_h=g.w_h, b_h=g.b_h * 2, w_o=g.w_o, b_o=g.b_o)

    monkeypatch.setattr(gc, "loss_and_grads", broken)
    params, x, labels = random_problem(8, 5, 4)
    report = gc.gradient_check(params, x, labels)
    assert report["b_h"]["rel_error"].max() > 0.1
    assert report["w_h"]["rel_error"].max() < 1e-6


def test_gradient_check_leaves_params_unchanged():
    params, x, labels = random_problem(4, 3, 2)
    before = {k: v.copy() for k, v in params.as_dict().items()}
    gradient_check(params, x, labels)
    for k, v in params.as_dict().items():
        np.testing.assert_array_equal(v, before[k])
