"""The backpropagation page (AppTest): tiny-network numbers are mlp's, the gradient check passes, the momentum
step and the real-letter mode show what mlp computes."""

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from test_page_softmax import latex_with, parse_matrices

from lab.explain import explain_letter, explain_momentum_step, explain_pass, tiny_problem
from mlp.core import LETTERS
from mlp.data import DATA_DIR_ENV, find_data_files, split_dataset
from mlp.model_io import Model
from mlp.network import init_params
from mlp.train import Hyper
from ui.session import MODEL_KEY, CurrentModel

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "backprop.py")
TOL3, TOL4 = 0.5e-3 + 1e-12, 0.5e-4 + 1e-12
REAL = "One real letter (784-H-10)"


def run(at):
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def app():
    at = run(AppTest.from_file(PAGE, default_timeout=90))
    at.toggle(key="bp_steps_all").set_value(True)
    return run(at)


def last(matrices):
    return matrices[-1]


def check_tiny_numbers(at, sizes, seed):
    params, x, labels = tiny_problem(*sizes, seed=seed)
    ps = explain_pass(params, x, labels)
    (x_shown,) = parse_matrices(latex_with(at, r"\underset{" + f"{sizes[3]}" + r"{\times}" + f"{sizes[0]}" + "}{x} =")[0])
    assert np.allclose(x_shown, x, atol=TOL3)
    z_line = latex_with(at, r"z_h &=")[0]
    assert np.allclose(last(parse_matrices(z_line)), ps.z_h, atol=TOL3)
    assert r"\textcolor" in z_line or np.all(ps.z_h > 0)  # negative z_h are drawn gray
    relu = latex_with(at, r"\mathbf 1[z_h > 0] = \begin")[0] if latex_with(at, r"\mathbf 1[z_h > 0] = \begin") else None
    mats = parse_matrices(relu) if relu else []
    assert any(m.shape == ps.mask.shape and np.array_equal(m, ps.mask) for m in mats)
    assert np.allclose(last(parse_matrices(latex_with(at, r"o &=")[0])), ps.o, atol=TOL3)
    assert f"{ps.loss:.4f}" in latex_with(at, r"L = -\frac{1}{" + str(sizes[3]) + "}")[0]
    assert np.allclose(last(parse_matrices(latex_with(at, r"\delta_o &=")[0])), ps.delta_o, atol=TOL4)
    assert np.allclose(last(parse_matrices(latex_with(at, r"\frac{\partial L}{\partial W_o} &=")[0])), ps.dwo, atol=TOL4)
    assert np.allclose(last(parse_matrices(latex_with(at, r"\frac{\partial L}{\partial b_o} &=")[0])), ps.dbo, atol=TOL4)
    assert np.allclose(last(parse_matrices(latex_with(at, r"\delta_h &=")[0])), ps.delta_h, atol=TOL4)
    assert np.allclose(last(parse_matrices(latex_with(at, r"\frac{\partial L}{\partial W_h} &=")[0])), ps.dwh, atol=TOL4)
    assert np.allclose(last(parse_matrices(latex_with(at, r"\frac{\partial L}{\partial b_h} &=")[0])), ps.dbh, atol=TOL4)
    return ps


def test_tiny_network_numbers_are_mlps_at_the_defaults(app):
    ps = check_tiny_numbers(app, (4, 3, 3, 2), 27)
    assert 0 < ps.mask.sum() < ps.mask.size  # the default shows a mixed ReLU mask
    headings = [m.value for m in app.markdown if m.value.startswith("**")]
    assert sum(h[2].isdigit() for h in headings) == 9  # nine steps, all shown


def test_changing_sizes_and_seed_recomputes_every_number(app):
    before = latex_with(app, r"z_h &=")[0]
    app.slider(key="bp_h").set_value(4)
    app.slider(key="bp_n").set_value(3)
    app.number_input(key="bp_seed").set_value(3)
    run(app)
    assert latex_with(app, r"z_h &=")[0] != before
    check_tiny_numbers(app, (4, 4, 3, 3), 3)


def test_steps_are_revealed_one_by_one():
    at = run(AppTest.from_file(PAGE, default_timeout=90))
    assert not latex_with(at, r"\delta_o &=")  # backward pass not revealed yet
    for _ in range(5):
        at.button(key="bp_steps_next").click()
        run(at)
    assert latex_with(at, r"\delta_o &=") and not latex_with(at, r"\frac{\partial L}{\partial W_o} &=")


def test_gradient_check_reads_below_1e6(app):
    table = app.table[0].value
    assert list(table.index) == ["W_o", "b_o", "W_h", "b_h"]
    errors = [float(v.replace("−", "-")) for v in table["largest relative error"]]
    assert max(errors) < 1e-6
    assert any("agree" in s.value and "below 1e-6" in s.value for s in app.success)


def test_momentum_step_shows_mlps_update_and_losses(app):
    params, x, labels = tiny_problem(4, 3, 3, 2, seed=27)
    step = explain_momentum_step(params, x, labels, lr=0.1, momentum=0.9)
    metrics = {m.label: m.value for m in app.metric}
    assert float(metrics["Loss before the step"]) == pytest.approx(step.loss_before, abs=1e-6)
    assert float(metrics["Loss after the step"]) == pytest.approx(step.loss_after, abs=1e-6)
    assert np.allclose(last(parse_matrices(latex_with(app, r"v_{W_o}' &=")[0])), step.velocity_after.w_o, atol=TOL4)
    assert np.allclose(last(parse_matrices(latex_with(app, r"W_o' &=")[0])), step.params_after.w_o, atol=TOL3)
    app.slider(key="bp_lr").set_value(1.5)
    app.selectbox(key="bp_param").set_value("w_h")
    run(app)
    step = explain_momentum_step(params, x, labels, lr=1.5, momentum=0.9)
    metrics = {m.label: m.value for m in app.metric}
    assert float(metrics["Loss after the step"]) == pytest.approx(step.loss_after, abs=1e-6)
    assert np.allclose(last(parse_matrices(latex_with(app, r"W_h' &=")[0])), step.params_after.w_h, atol=TOL3)


def test_map_to_the_report_names_mlp_lines(app):
    table = next(m.value for m in app.markdown if m.value.startswith("| formula"))
    assert "`mlp/core.py:" in table and "`backpropagation(...)`" in table and "`mlp/train.py:" in table
    assert table.count("\n") >= 16


# ---- one real letter -------------------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """The configured data set (data/letters.npz in CI, MLP_LAB_DATA_DIR locally); a small random one if none."""
    if find_data_files():
        return None
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "letters.npz", images=rng.integers(0, 256, (60, 28, 28), dtype=np.uint8),
             labels=np.arange(60, dtype=np.uint8) % 10)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    return tmp_path


def real_split():
    from mlp.data import load_dataset

    ds = load_dataset(find_data_files()[0])
    return split_dataset(ds.images, ds.labels)


def test_real_letter_with_a_fresh_network(data_dir):
    at = run(AppTest.from_file(PAGE, default_timeout=90))
    at.radio(key="bp_mode").set_value(REAL)
    run(at)
    at.select_slider(key="bp_real_h").set_value(16)
    at.number_input(key="bp_index").set_value(3)
    run(at)
    split = real_split()
    lp = explain_letter(init_params(784, 16, 10, seed=521), split.x_valid[3], int(split.y_valid[3]))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["True letter"] == LETTERS[lp.label]
    assert metrics["Predicted"] == LETTERS[lp.predicted]
    assert float(metrics["Loss −log p_true"]) == pytest.approx(lp.loss, abs=1e-4)
    o, p, dl_do = parse_matrices(latex_with(at, r"p - y = ")[0])
    assert np.allclose(o[:, 0], lp.o, atol=TOL3) and np.allclose(p[:, 0], lp.p, atol=TOL3)
    assert np.allclose(dl_do[:, 0], lp.dl_do, atol=TOL3)
    assert any("freshly initialised 784-16-10" in c.value for c in at.caption)
    assert any(f"{lp.active} of 16 hidden units fire" in c.value for c in at.caption)
    assert len(at.get("vega_lite_chart")) == 2 and len(at.get("image")) == 1


def test_real_letter_with_the_sessions_model(data_dir):
    params = init_params(784, 8, 10, seed=7, dtype=np.float32)
    at = AppTest.from_file(PAGE, default_timeout=90)
    at.session_state[MODEL_KEY] = CurrentModel(Model(params, Hyper(hidden=8, epochs=1), []), "test", "trained")
    run(at)
    at.radio(key="bp_mode").set_value(REAL)
    run(at)
    at.radio(key="bp_net").set_value("The session's current model")
    run(at)
    split = real_split()
    lp = explain_letter(params, split.x_valid[0], int(split.y_valid[0]))
    assert any("the session's current model" in c.value and "784-8-10" in c.value for c in at.caption)
    assert float({m.label: m.value for m in at.metric}["Loss −log p_true"]) == pytest.approx(lp.loss, abs=1e-4)


def test_gradient_check_explains_a_reading_above_1e6():
    at = run(AppTest.from_file(PAGE, default_timeout=90))
    at.slider(key="bp_k").set_value(2)
    at.number_input(key="bp_seed").set_value(136)
    run(at)
    assert not at.success or not any("agree" in s.value for s in at.success)
    assert any("above 1e-6" in w.value and "float64 rounds the loss" in w.value for w in at.warning)
