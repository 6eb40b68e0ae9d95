"""The backpropagation page (AppTest): tiny-network numbers are mlp's, the gradient check passes, the momentum
step and the real-letter mode show what mlp computes; its claims (firing units, changed parameters, relative
error, rounding, the ReLU at 0, where the report differs, notation) are true, checked against numpy here."""

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from test_page_softmax import latex_with, parse_matrices, table_row

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
    def shown(prefix):
        return last(parse_matrices(latex_with(at, prefix)[0]))

    x_label = r"\underset{" + f"{sizes[3]}" + r"{\times}" + f"{sizes[0]}" + "}{x} ="
    (x_shown,) = parse_matrices(latex_with(at, x_label)[0])
    assert np.allclose(x_shown, x, atol=TOL3)
    z_line = latex_with(at, r"z_h &=")[0]
    assert np.allclose(last(parse_matrices(z_line)), ps.z_h, atol=TOL3)
    assert r"\textcolor" in z_line or np.all(ps.z_h > 0)  # negative z_h are drawn gray
    relu = latex_with(at, r"\mathbf 1[z_h > 0] = \begin")
    mats = parse_matrices(relu[0]) if relu else []
    assert any(m.shape == ps.mask.shape and np.array_equal(m, ps.mask) for m in mats)
    assert np.allclose(shown(r"o &="), ps.o, atol=TOL3)
    assert f"{ps.loss:.4f}" in latex_with(at, r"L = -\frac{1}{" + str(sizes[3]) + r"}\Big(")[0]
    assert np.allclose(shown(r"\delta_o &="), ps.delta_o, atol=TOL4)
    assert np.allclose(shown(r"\frac{\partial L}{\partial W_o} &="), ps.dwo, atol=TOL4)
    assert np.allclose(shown(r"\frac{\partial L}{\partial b_o} &="), ps.dbo, atol=TOL4)
    assert np.allclose(shown(r"\delta_h &="), ps.delta_h, atol=TOL4)
    assert np.allclose(shown(r"\frac{\partial L}{\partial W_h} &="), ps.dwh, atol=TOL4)
    assert np.allclose(shown(r"\frac{\partial L}{\partial b_h} &="), ps.dbh, atol=TOL4)
    return ps


def test_tiny_network_numbers_are_mlps_at_the_defaults(app):
    ps = check_tiny_numbers(app, (4, 3, 3, 2), 27)
    assert 0 < ps.mask.sum() < ps.mask.size  # the default shows a mixed ReLU mask
    headings = [m.value for m in app.markdown if m.value.startswith("#### ")]
    assert len(headings) == 9 and headings[-1] == "#### 9. Hidden-layer gradients"  # nine steps, all shown


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
    params = init_params(784, 16, 10, seed=521)
    o = np.maximum(split.x_valid[3] @ params.w_h + params.b_h, 0) @ params.w_o + params.b_o
    p = np.exp(o - o.max()) / np.exp(o - o.max()).sum()
    y = np.eye(10)[int(split.y_valid[3])]
    assert np.allclose(table_row(at, "o"), o, atol=TOL3) and np.allclose(table_row(at, "p"), p, atol=TOL3)
    assert np.array_equal(table_row(at, "y"), y[0] if y.ndim == 2 else y)
    assert np.allclose(table_row(at, r"\delta_o = p - y"), p - y, atol=TOL3)  # drawn as 1 x 10 rows
    assert latex_with(at, r"\frac{p - y}{N} = \frac{p - y}{1}")
    assert any("freshly initialised 784-16-10" in c.value for c in at.caption)
    assert any(f"{lp.active} of 16 hidden units fire" in c.value for c in at.caption)
    assert len(at.get("vega_lite_chart")) == 2 and len(at.get("image")) == 1


def test_real_letter_says_dW_o_reaches_only_the_units_that_fired(data_dir):
    at = run(AppTest.from_file(PAGE, default_timeout=90))
    at.radio(key="bp_mode").set_value(REAL)
    run(at)  # the default: a fresh 784-1000-10 network, seed 521, validation image 0
    params, x = init_params(784, 1000, 10, seed=521), real_split().x_valid[0]
    h = np.maximum(x @ params.w_h + params.b_h, 0)
    o = h @ params.w_o + params.b_o
    p = np.exp(o - o.max()) / np.exp(o - o.max()).sum()
    dwo = np.outer(h, p - np.eye(10)[int(real_split().y_valid[0])])
    fired, rows = int(np.count_nonzero(h)), int(np.count_nonzero(np.any(dwo != 0, axis=1)))
    reach = at.table[0].value["hidden units it reaches"]
    assert reach["dL/dW_o"] == f"the {fired} units that fired ({rows} of 1000 rows nonzero)"
    assert fired < 1000 and "(all)" not in reach["dL/dW_o"]
    assert reach["dL/dW_h"] == f"{fired} of 1000 columns nonzero"
    print("units that fired:", fired)


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


def np_loss(params, x, labels):
    z = x @ params.w_h + params.b_h
    o = np.maximum(z, 0) @ params.w_o + params.b_o
    o = o - o.max(axis=1, keepdims=True)
    logp = o - np.log(np.exp(o).sum(axis=1, keepdims=True))
    return -np.mean(logp[np.arange(len(labels)), labels])


def test_gradient_check_explains_a_reading_above_1e6_with_relative_rounding():
    at = run(AppTest.from_file(PAGE, default_timeout=90))
    at.slider(key="bp_k").set_value(2)
    at.number_input(key="bp_seed").set_value(136)
    run(at)
    assert not at.success or not any("agree" in s.value for s in at.success)
    text = next(w.value for w in at.warning if "above 1e-6" in w.value)
    loss = np_loss(*tiny_problem(4, 3, 2, 2, seed=136))
    assert "Rounding is relative" in text and "1.1e-16 × |L|" in text and f"L = {loss:.4f}" in text
    assert f"{2.0 ** -53 * loss / 1e-5:.1e} of noise" in text and "about 1e-16, so" not in text


def test_relative_error_is_shown_as_the_code_computes_it(app):
    assert latex_with(app, r"\text{relative error} = \frac{|a - n|}{\max(|a| + |n|,\ 10^{-12})}")
    rows = app.table[0].value
    params, x, labels = tiny_problem(4, 3, 3, 2, seed=27)
    assert [int(v.split()[0]) for v in rows["entries checked"]] == [9, 3, 12, 3]


def test_parameters_changed_counts_the_entries_that_moved():
    at = run(AppTest.from_file(PAGE, default_timeout=90))
    at.number_input(key="bp_seed").set_value(1)
    at.slider(key="bp_momentum").set_value(0.0)
    run(at)
    params, x, labels = tiny_problem(4, 3, 3, 2, seed=1)
    z = x @ params.w_h + params.b_h
    p = np.exp(np.maximum(z, 0) @ params.w_o + params.b_o)
    p /= p.sum(axis=1, keepdims=True)
    delta_o = (p - np.eye(3)[labels]) / 2
    delta_h = (delta_o @ params.w_o.T) * (z > 0)
    grads = [np.maximum(z, 0).T @ delta_o, delta_o.sum(0), x.T @ delta_h, delta_h.sum(0)]
    moved = sum(int(np.count_nonzero(g)) for g in grads)  # momentum 0: an entry moves iff its gradient is not 0
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Parameters changed"] == f"{moved} of 27" == "11 of 27"
    assert any("unchanged:" in c.value and "γ = 0" in c.value for c in at.caption)
    at.slider(key="bp_momentum").set_value(0.9)  # the starting velocity 1e-5 moves every entry
    run(at)
    assert {m.label: m.value for m in at.metric}["Parameters changed"] == "27 of 27"


def test_the_map_says_the_reports_mask_is_1_z_ge_0(app):
    table = next(m.value for m in app.markdown if m.value.startswith("| formula"))
    row = next(r for r in table.splitlines() if "o[o >= 0] = 1" in r)
    assert r"\mathbf 1[z_h \geq 0]" in row and r"\mathbf 1[z_h > 0]" in row
    assert r"\delta_{ij}" not in table and r"\mathbf 1[i = j]" in table


def test_where_the_report_differs_lists_each_difference_with_the_correct_line(app):
    found = [el.value for el in app.latex if r"\text{report:}" in el.value]
    titles = [m.value for m in app.markdown if re.match(r"\*\*\d+\. ", m.value)]
    assert len(found) == len(titles) == 5
    want = {  # title -> (in the report's line, in the correct line)
        "No 1/N": (r"p_j - y_j", r"\frac{p - y}{N}"),
        "outer product": (r"(p_j - y_j)\,h", r"h^\top \delta_o"),
        "without the transpose": (r"(p_j - y_j)\,w_o", r"w_o^\top (p - y)"),
        "No ∂L/∂w_h derivation": (r"\frac{\partial h}{\partial w_h}",
                                  r"\frac{\partial L}{\partial W_h}= x^\top \delta_h"),
        "ReLU's derivative at 0": (r"\mathbf 1[z_h \geq 0]", r"\mathbf 1[z_h > 0]"),
    }
    for key, (wrong, right) in want.items():
        i = next(n for n, t in enumerate(titles) if key in t)
        report, correct = found[i].split(r"\text{correct:}")
        assert wrong in report and right in correct, key
    assert "target.shape[0]" in titles[0]  # the code has the 1/N its derivation lacks


def test_one_notation_per_symbol(app):
    everything = " ".join(el.value for el in app.latex)
    assert r"\delta_{ij}" not in everything and "y_n" not in everything and r"p_{n, c_n}" in everything
    assert set(re.findall(r"\\sum_\{(\w)", everything)) <= {"k", "n"}  # k over classes, n over examples
    assert latex_with(app, r"\frac{p - y}{N}")  # δ_o with its N


def predict(at, text):
    at.text_input[0].set_value(text)
    at.button(key="bp_steps_check").click()
    return run(at)


def test_predictions_of_a_count_and_a_shape():
    at = run(AppTest.from_file(PAGE, default_timeout=90))
    params, x, labels = tiny_problem(4, 3, 3, 2, seed=27)
    on = int(((x @ params.w_h + params.b_h) > 0).sum())
    predict(at, str(on))
    assert any(s.value.startswith(f"Right: it is {on};") for s in at.success)
    predict(at, "3 x 2")  # o is N x K = 2 x 3
    assert any(e.value.startswith("Not quite: it is 2 × 3;") for e in at.error)
    assert any("1 of 2 right" in c.value for c in at.caption)


def test_new_numbers_draw_a_seed_of_this_session():
    from lab.predict import problem_rng, random_seed

    at = run(AppTest.from_file(PAGE, default_timeout=90))
    at.button(key="bp_new_numbers").click()
    run(at)
    seed = random_seed(problem_rng(at.session_state["predict_seed"], 1))
    assert at.number_input(key="bp_seed").value == seed
    assert not latex_with(at, r"o &=")  # back to step 1
    at.toggle(key="bp_steps_all").set_value(True)
    check_tiny_numbers(run(at), (4, 3, 3, 2), seed)
