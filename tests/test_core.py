"""The report's helpers: values, numerical stability, and no input mutation."""

import numpy as np
import pytest

from mlp import core


def frozen(a):
    a = np.array(a, dtype=float)
    a.flags.writeable = False
    return a


def test_relu_and_its_derivative_convention():
    z = frozen([[-2.0, 0.0, 3.0]])
    assert core.relu(z).tolist() == [[0.0, 0.0, 3.0]]
    assert core.relu_grad(z).tolist() == [[False, False, True]]  # derivative at exactly 0 is 0
    assert core.relu_grad(core.relu(z)).tolist() == [[False, False, True]]  # the same mask from h = ReLU(z)


def test_softmax_rows_sum_to_one_and_match_definition():
    o = frozen(np.random.default_rng(0).normal(size=(5, 10)))
    p = core.softmax(o)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(p, np.exp(o) / np.exp(o).sum(axis=1, keepdims=True), rtol=1e-12)


def test_softmax_is_stable_for_huge_logits():
    o = frozen([[1000.0, 0.0, -1000.0]])
    p = core.softmax(o)
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p, [[1.0, 0.0, 0.0]], atol=1e-300)
    assert np.isnan(core.softmax_naive(o)).any()  # the textbook form overflows


def test_log_softmax_is_finite_where_softmax_underflows():
    o = frozen([[1000.0, 0.0, -1000.0]])
    logp = core.log_softmax(o)
    np.testing.assert_allclose(logp, [[0.0, -1000.0, -2000.0]])
    with np.errstate(divide="ignore"):
        assert np.isneginf(np.log(core.softmax(o))).any()


def test_average_ce_finite_when_probability_is_zero_and_input_untouched():
    y = frozen([[0, 1.0, 0]])
    p = frozen([[1.0, 0.0, 0.0]])
    loss = core.average_ce(y, p)
    assert np.isfinite(loss) and loss == pytest.approx(-np.log(np.finfo(np.float64).tiny))  # about 708.4
    assert p[0, 1] == 0.0


def test_average_ce_equals_logit_form():
    rng = np.random.default_rng(1)
    o = frozen(rng.normal(size=(7, 10)))
    y = frozen(core.one_hot(rng.integers(0, 10, 7)))
    assert core.average_ce(y, core.softmax(o)) == pytest.approx(core.average_ce_logits(y, o), rel=1e-12)
    # average over N of -log p_true
    p = core.softmax(o)
    assert core.average_ce(y, p) == pytest.approx(-np.mean(np.log(p[y.astype(bool)])), rel=1e-12)


def test_grad_ce_is_p_minus_y_and_matches_finite_differences():
    rng = np.random.default_rng(2)
    o = rng.normal(size=(1, 10))
    y = core.one_hot([3])
    g = core.grad_ce(frozen(y), frozen(o))
    eps = 1e-6
    for k in range(10):
        plus, minus = o.copy(), o.copy()
        plus[0, k] += eps
        minus[0, k] -= eps
        numeric = (core.average_ce_logits(y, plus) - core.average_ce_logits(y, minus)) / (2 * eps)
        assert g[0, k] == pytest.approx(numeric, rel=1e-6, abs=1e-10)


def test_one_hot():
    assert core.one_hot(np.array([2, 0]), 3).tolist() == [[0, 0, 1], [1, 0, 0]]


def test_compute_layer():
    x, w, b = frozen([[1.0, 2.0]]), frozen([[1.0, 0.0], [0.0, 1.0]]), frozen([[0.5, -0.5]])
    assert core.compute_layer(x, w, b).tolist() == [[1.5, 1.5]]


def test_backpropagation_does_not_mutate_and_has_report_shapes():
    rng = np.random.default_rng(3)
    n, f, h, k = 6, 5, 4, 10
    x, z_h, w_o = frozen(rng.normal(size=(n, f))), frozen(rng.normal(size=(n, h))), frozen(rng.normal(size=(h, k)))
    y = frozen(core.one_hot(rng.integers(0, k, n)))
    p = frozen(core.softmax(rng.normal(size=(n, k))))
    before = z_h.copy()
    dwo, dbo, dwh, dbh = core.backpropagation(p, y, z_h, w_o, x)
    assert (dwo.shape, dbo.shape, dwh.shape, dbh.shape) == ((h, k), (1, k), (f, h), (1, h))
    np.testing.assert_array_equal(z_h, before)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_and_backward_into_buffers_equal_the_allocating_calls(dtype):
    """The training path's buffered calls (out=) give bit for bit what the explanations' calls give."""
    from mlp.network import backward, backward_buffers, forward, init_params

    rng = np.random.default_rng(4)
    params = init_params(12, 7, 10, seed=2, dtype=dtype)
    params.b_h[...] = rng.normal(0, 0.1, params.b_h.shape)
    x = rng.random((9, 12)).astype(dtype)
    y = core.one_hot(rng.integers(0, 10, 9), 10, dtype)
    plain = forward(params, x)
    buffered = forward(params, x, out=np.empty((9, 7), dtype))
    assert buffered.z_h is None and np.array_equal(buffered.h, plain.h) and np.array_equal(buffered.p, plain.p)
    np.testing.assert_array_equal(plain.h, core.relu(plain.z_h))
    a = backward(plain.p, y, plain.h, params.w_o, x)
    out = backward_buffers(9, params)
    b = backward(plain.p, y, plain.h, params.w_o, x, out=out)
    assert b.delta_h is out.delta_h and b.grads.w_h is out.grads.w_h  # written where it was asked to
    np.testing.assert_array_equal(a.back_h * a.mask, a.delta_h)
    for name in ("w_o", "b_o", "w_h", "b_h"):
        np.testing.assert_array_equal(getattr(a.grads, name), getattr(b.grads, name))
        assert getattr(b.grads, name).dtype == dtype
    np.testing.assert_array_equal(a.mask, plain.z_h > 0)
