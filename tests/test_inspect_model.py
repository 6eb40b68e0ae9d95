"""lab.inspect_model: weight images, unit orderings, activations, evaluation, cell members."""

import numpy as np
import pytest

from lab import inspect_model as im
from mlp.metrics import confusion_matrix
from mlp.network import forward, init_params


@pytest.fixture
def params():
    p = init_params(784, 24, 10, seed=3, dtype=np.float32)
    rng = np.random.default_rng(0)
    p.b_h[:] = rng.normal(0, 0.1, p.b_h.shape)
    p.b_o[:] = rng.normal(0, 0.1, p.b_o.shape)
    return p


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    x = rng.random((300, 784), dtype=np.float32)
    y = rng.integers(0, 10, 300)
    return x, y


def test_lut_runs_blue_white_red():
    lut = im.diverging_lut()
    assert lut.shape == (im.LUT_SIZE, 3) and lut.dtype == np.uint8
    assert tuple(lut[im.LUT_SIZE // 2]) == (255, 255, 255)
    assert lut[0, 2] > lut[0, 0]  # negative end is blue
    assert lut[-1, 0] > lut[-1, 2]  # positive end is red
    # brightness falls monotonically away from the white centre on both sides
    bright = lut.astype(int).sum(axis=1)
    mid = im.LUT_SIZE // 2
    assert np.all(np.diff(bright[: mid + 1]) >= 0) and np.all(np.diff(bright[mid:]) <= 0)


def test_colourise_is_symmetric_around_white():
    out = im.colourise(np.array([-2.0, -1.0, 0.0, 1.0, 2.0]), 1.0)
    assert tuple(out[2]) == (255, 255, 255)
    assert np.array_equal(out[0], out[1]) and np.array_equal(out[3], out[4])  # clipped beyond the scale
    assert np.array_equal(out[1], im.diverging_lut()[0]) and np.array_equal(out[3], im.diverging_lut()[-1])
    half = im.colourise(np.array([-0.5, 0.5]), 1.0)
    assert not np.array_equal(half[0], half[1])
    assert tuple(im.colourise(np.array([0.3]), 0.0)[0]) == (255, 255, 255)  # zero scale draws white


def test_weight_images_orientation_and_scales():
    w = np.zeros((784, 3), np.float32)
    w[28 * 5 + 20, 0] = 2.0  # unit 0: one positive weight at row 5, column 20
    w[28 * 27 + 0, 1] = -0.5  # unit 1: one negative weight at the bottom-left
    w[:, 2] = np.linspace(-1, 1, 784)
    tiles, scales = im.weight_images(w, "unit")
    assert tiles.shape == (3, 28, 28, 3) and tiles.dtype == np.uint8
    assert np.allclose(scales, [2.0, 0.5, 1.0])
    lut = im.diverging_lut()
    assert np.array_equal(tiles[0, 5, 20], lut[-1]) and tuple(tiles[0, 0, 0]) == (255, 255, 255)
    assert np.array_equal(tiles[1, 27, 0], lut[0])
    shared, s2 = im.weight_images(w, "shared")
    assert np.all(s2 == s2[0]) and s2[0] == pytest.approx(np.percentile(np.abs(w), 99.5))
    sub, s3 = im.weight_images(w, "unit", units=[2, 0])
    assert np.array_equal(sub[1], tiles[0]) and np.allclose(s3, [1.0, 2.0])
    with pytest.raises(ValueError):
        im.weight_images(np.zeros((100, 2)))


def test_unit_orderings(params):
    h = params.w_h.shape[1]
    assert np.array_equal(im.unit_order(params, "index"), np.arange(h))
    by_norm = im.unit_order(params, "norm")
    norms = np.linalg.norm(params.w_h, axis=0)[by_norm]
    assert sorted(by_norm) == list(range(h)) and np.all(np.diff(norms) <= 0)
    by_c = im.unit_order(params, "letter", "C")
    assert np.array_equal(by_c, im.unit_order(params, "letter", 2))
    assert np.all(np.diff(params.w_o[by_c, 2]) <= 0) and by_c[0] == np.argmax(params.w_o[:, 2])
    with pytest.raises(ValueError):
        im.unit_order(params, "letter", "K")
    with pytest.raises(ValueError):
        im.unit_order(params, "colour")


def test_top_activating_matches_forward(params, data):
    x, _ = data
    h = forward(params, x).h
    for unit in (0, 7, 23):
        rows, acts = im.top_activating(params, x, unit, k=10)
        assert np.allclose(acts, h[rows, unit], rtol=1e-5, atol=1e-6)
        assert np.all(np.diff(acts) <= 0) and np.all(acts > 0)
        assert acts[0] == pytest.approx(h[:, unit].max(), rel=1e-5)
        assert len(rows) == min(10, int((h[:, unit] > 0).sum()))
    silent = params.copy()
    silent.b_h[0, 0] = -1e6  # unit 0 never fires
    rows, acts = im.top_activating(silent, x, 0, k=5)
    assert len(rows) == 0 and len(acts) == 0


def test_unit_stats(params, data):
    x, _ = data
    h = forward(params, x).h
    st = im.unit_stats(params, x, 5, k=4)
    assert st.unit == 5 and len(st.rows) == 4
    assert st.fraction_active == pytest.approx(np.mean(h[:, 5] > 0))
    assert st.norm == pytest.approx(np.linalg.norm(params.w_h[:, 5]))
    assert st.bias == pytest.approx(params.b_h[0, 5]) and np.allclose(st.outgoing, params.w_o[5])
    assert np.allclose(st.activations, h[st.rows, 5], rtol=1e-5, atol=1e-6)


def test_top_hidden_units_for_one_input(params, data):
    x, _ = data
    h = forward(params, x[:1]).h[0]
    assert np.allclose(im.hidden_activations(params, x[0]), h)
    units, acts = im.top_hidden_units(params, x[0], k=5)
    assert np.array_equal(units, np.argsort(-h, kind="stable")[:5][h[np.argsort(-h, kind="stable")[:5]] > 0])
    assert np.allclose(acts, h[units])


def test_evaluate_and_cells(params, data):
    x, y = data
    ev = im.evaluate(params, x, y)
    assert ev.cm.sum() == len(y)
    assert np.array_equal(ev.cm, confusion_matrix(y, np.argmax(forward(params, x).p, axis=1)))
    assert ev.accuracy == pytest.approx(np.trace(ev.cm) / len(y))
    assert np.all(ev.mistakes.true != ev.mistakes.predicted)
    assert len(ev.mistakes) == len(y) - np.trace(ev.cm)
    seen = []
    for t in range(10):
        for p in range(10):
            rows, conf = im.cell_members(ev.probs, y, t, p)
            assert len(rows) == ev.cm[t, p]
            assert np.all(y[rows] == t) and np.all(ev.predicted[rows] == p)
            assert np.all(np.diff(conf) <= 0)
            seen.extend(rows.tolist())
    assert sorted(seen) == list(range(len(y)))


def test_most_confused_and_predict_one(params, data):
    cm = np.diag(np.full(10, 50))
    cm[3, 7], cm[7, 3], cm[2, 1] = 9, 4, 8
    assert im.most_confused(cm) == (3, 7)
    x, _ = data
    assert np.allclose(im.predict_one(params, x[4]), forward(params, x[4:5]).p[0])


def scaled(params, e_h, e_o, dtype=None):
    """The same network with w_h, b_h times 2^e_h and w_o times 2^e_o, b_o times 2^(e_h + e_o): its logits are
    exactly 2^(e_h + e_o) times the original's (ReLU(2^e z) = 2^e ReLU(z))."""
    p = params.copy(dtype)
    return type(p)(w_h=np.ldexp(p.w_h, e_h), b_h=np.ldexp(p.b_h, e_h), w_o=np.ldexp(p.w_o, e_o),
                   b_o=np.ldexp(p.b_o, e_h + e_o))


def test_scaled_logits_are_the_logits(params, data):
    x, _ = data
    o1, t = im.scaled_logits(params, x[:50])
    assert np.allclose(np.ldexp(o1, t), forward(params.copy(np.float64), x[:50].astype(np.float64)).o, atol=1e-6)
    assert np.allclose(im.scaled_softmax(o1, t), forward(params.copy(np.float64), x[:50].astype(np.float64)).p)


def test_huge_float32_weights_give_the_float64_answer(params, data):
    """Weights near float32's largest (3.4e38): the float32 pass overflows; float64 does not, and is the truth."""
    x, y = data
    no_bias = params.copy()
    no_bias.b_o[:] = 0  # b_o would need 2^132, beyond float32
    big = scaled(no_bias, 124, 8)  # |w_h| up to 2^124 * 0.2 = 4e36, h up to 1e38, logits beyond 3.4e38
    assert big.w_h.dtype == np.float32 and all(np.isfinite(a).all() for a in big.as_dict().values())
    with np.errstate(all="ignore"):
        assert not np.isfinite(forward(big, x).o).all()  # the model's own dtype overflows
    truth = forward(big.copy(np.float64), x.astype(np.float64)).p
    probs, rescaled = im.probabilities(big, x)
    assert rescaled > 0 and np.isfinite(probs).all()
    assert np.allclose(probs, truth, atol=1e-9)
    ev = im.evaluate(big, x, y)
    assert ev.rescaled == rescaled and np.array_equal(ev.predicted, np.argmax(truth, axis=1))
    assert np.isfinite(ev.mistakes.confidence).all()
    assert np.allclose(im.predict_one(big, x[3]), truth[3], atol=1e-9)


def test_huge_float64_weights(params, data):
    """Weights near float64's largest: logits of about 1e600 have no float64 value, yet softmax does:
    2^t times the base network's logits, a one-hot of the base network's answer wherever its top two differ."""
    x, _ = data
    no_bias = params.copy(np.float64)
    no_bias.b_o[:] = 0  # b_o would need 2^2000 to scale the logits with the weights
    base = forward(no_bias, x.astype(np.float64)).o
    top2 = np.sort(base, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-3
    huge = scaled(no_bias, 1000, 1000)  # |w| about 1e300
    assert np.isfinite(huge.w_h).all() and np.abs(huge.w_h).max() > 1e299
    probs, rescaled = im.probabilities(huge, x)
    assert rescaled == len(x) and np.isfinite(probs).all()
    assert np.array_equal(np.argmax(probs[clear], axis=1), np.argmax(base[clear], axis=1))
    assert np.all(probs[clear].max(axis=1) == 1.0)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert np.isfinite(im.unit_norms(huge.w_h)).all()
    assert im.unit_order(huge, "norm")[0] == im.unit_order(params, "norm")[0]


def test_hidden_layer_is_exact_for_any_scale(params, data):
    x, _ = data
    h = forward(params, x).h
    assert np.allclose(im.hidden_layer(params, x), h, rtol=1e-6, atol=1e-7)
    big = scaled(params, 120, 0)  # float32 z_h would be near 1e36: still finite, so 2^120 h exactly
    assert np.allclose(im.hidden_layer(big, x), np.ldexp(h.astype(np.float64), 120), rtol=1e-6)
    huge = scaled(params, 1000, 0, np.float64)
    acts = im.unit_activations(huge, x, 3)
    assert np.isfinite(acts).all() and np.allclose(np.ldexp(acts, -1000), h[:, 3], rtol=1e-5, atol=1e-6)


def test_hidden_layer_when_the_sum_overflows_but_h_does_not(params):
    """Unit 0 sums 392 weights of +1e306 and 392 of -1e306: z = b exactly, though a running sum passes 1.8e308."""
    p = params.copy(np.float64)
    p.w_h[:, 0] = np.repeat([1e306, -1e306], 392)
    p.b_h[0, 0] = 5e305
    x = np.ones((2, 784))
    with np.errstate(over="ignore", invalid="ignore"):
        assert not np.isfinite(x @ p.w_h[:, 0]).all()  # the plain product overflows
    assert np.allclose(im.hidden_layer(p, x, [0])[:, 0], 5e305, rtol=1e-10)  # to rounding of the long sum
    assert np.allclose(im.unit_activations(p, x, 0), 5e305, rtol=1e-10)
    probs, rescaled = im.probabilities(p, x)
    assert rescaled == 2 and np.isfinite(probs).all() and np.allclose(probs.sum(axis=1), 1)


def test_all_zero_weights(data):
    x, y = data
    zero = init_params(784, 4, 10, seed=0, dtype=np.float32)
    for a in (zero.w_h, zero.b_h, zero.w_o, zero.b_o):
        a[:] = 0
    ev = im.evaluate(zero, x, y)
    assert np.allclose(ev.probs, 0.1) and ev.rescaled == 0 and np.all(ev.predicted == 0)
    assert np.all(im.unit_norms(zero.w_h) == 0) and len(im.top_hidden_units(zero, x[0])[0]) == 0
    tiles, scales = im.weight_images(zero.w_h, "shared")
    assert np.all(tiles == 255) and np.all(scales == 0)
    assert len(im.unit_stats(zero, x, 0).rows) == 0
    assert np.allclose(im.scaled_softmax(*im.scaled_logits(zero, x[:3])), 0.1)


def test_letter_images_and_upscale():
    x = np.zeros((2, 784), np.float32)
    x[0, 29] = 1.0
    x[1, 0] = 0.5
    imgs = im.letter_images(x)
    assert imgs.shape == (2, 28, 28) and imgs.dtype == np.uint8
    assert imgs[0, 1, 1] == 255 and imgs[1, 0, 0] == 128
    big = im.upscale(imgs[0], 4)
    assert big.shape == (112, 112) and np.all(big[4:8, 4:8] == 255) and big[3, 4] == 0
    many = im.upscale_many(np.stack([imgs[0], imgs[0]])[..., None].repeat(3, axis=3), 3)
    assert many.shape == (2, 84, 84, 3)


def test_framed_keeps_the_image_inside_a_frame():
    imgs = np.full((2, 3, 3), 7, np.uint8)
    out = im.framed(imgs, margin=2, line=1)
    assert out.shape == (2, 9, 9, 3)
    assert np.all(out[:, 3:6, 3:6] == 7)
    assert tuple(out[0, 0, 0]) == (255, 255, 255) and tuple(out[0, 2, 2]) == (150, 150, 150)
    colour = im.framed(np.zeros((1, 4, 4, 3), np.uint8), margin=0, line=2)
    assert colour.shape == (1, 8, 8, 3) and np.all(colour[0, 2:6, 2:6] == 0) and np.all(colour[0, 0] == 150)


def test_colour_bar_has_the_map_and_labels():
    bar = im.colour_bar(0.25, width=400, height=60)
    assert bar.shape == (60, 400, 3) and bar.dtype == np.uint8
    row = bar[8]
    assert row[20, 2] > row[20, 0]  # blue on the left
    assert row[380, 0] > row[380, 2]  # red on the right
    assert np.all(row[200] >= 245)  # white in the middle
    assert (bar[30:] < 100).any()  # dark label text under the strip


def test_pretrain_script_writes_a_loadable_model(tmp_path):
    from helpers import blob_letters

    from lab import pretrain
    from mlp.model_io import load_model
    from mlp.train import Hyper

    images, labels = blob_letters(400)
    np.savez(tmp_path / "letters.npz", images=images, labels=labels)
    hyper = Hyper(hidden=12, lr=0.1, momentum=0.9, epochs=3, batch_size=64, seed=5)
    info = pretrain.pretrain(tmp_path / "letters.npz", tmp_path / "model.npz", hyper, log=lambda _: None,
                             snapshots=3)
    model = load_model(tmp_path / "model.npz")
    assert model.params.sizes == (784, 12, 10) and model.params.w_h.dtype == np.float32
    assert len(model.history) == 3 and model.hyper == hyper
    record = pretrain.trained_on(tmp_path / "model.npz")
    assert record == info and record["data"] == "letters.npz" and record["init_scale"] == 1.0
    # the run's snapshots (thinned to 3, epoch 0 the ordinary Xavier start, rounded to 8 bits) and health
    assert [e for e, _ in model.snapshots] == record["snapshot_epochs"] == [0, 2, 3]
    start = init_params(784, 12, 10, seed=5, dtype=np.float32).w_h
    np.testing.assert_allclose(model.snapshots[0][1].w_h, start, rtol=2**-8, atol=0)
    np.testing.assert_allclose(model.snapshots[-1][1].w_h, model.params.w_h, rtol=2**-8, atol=0)
    assert [r["epoch"] for r in model.health] == [1, 2, 3]
    assert record["split"] == [214, 128, 58] and 0 <= record["valid_acc"] <= 1
    assert pretrain.trained_on(tmp_path / "letters.npz") is None
