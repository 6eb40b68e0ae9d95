"""The softmax and cross-entropy page (AppTest): its numbers are mlp's, step by step and in the stability demo."""

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from lab.explain import finite_difference_logits, softmax_ce
from mlp.core import log_softmax, softmax

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "softmax.py")
DEFAULT_LOGITS = [2.0, 1.0, 0.1, -1.0]  # the page's first four defaults
TOL3 = 0.5e-3 + 1e-12  # a number shown with 3 decimals


# ---- reading numbers back out of the LaTeX -------------------------------------------------------


def parse_number(cell):
    """One cell of a matrix as KaTeX source -> float (handles gray, a{\\times}10^{e}, inf, NaN, unicode minus)."""
    cell = cell.strip()
    m = re.fullmatch(r"\\textcolor\{[^}]*\}\{(.*)\}", cell)
    if m:
        cell = m.group(1)
    cell = cell.replace("−", "-")
    if cell == r"\infty":
        return float("inf")
    if cell == r"-\infty":
        return float("-inf")
    if cell == r"\mathrm{NaN}":
        return float("nan")
    m = re.fullmatch(r"(-?[\d.]+)\{\\times\}10\^\{(-?\d+)\}", cell)
    if m:
        return float(m.group(1)) * 10.0 ** int(m.group(2))
    return float(cell)


def parse_matrices(latex):
    """Every bmatrix in a LaTeX string, in order, as 2-D float arrays."""
    out = []
    for body in re.findall(r"\\begin\{bmatrix\}(.*?)\\end\{bmatrix\}", latex, flags=re.S):
        rows = [r for r in body.split(r"\\") if r.strip()]
        out.append(np.array([[parse_number(c) for c in r.split("&")] for r in rows]))
    return out


def parse_labelled(latex):
    """The numbers of a labelled KaTeX array (header row and row labels dropped) as a 2-D array."""
    body = re.search(r"\\begin\{array\}\{[^}]*\}(.*?)\\end\{array\}", latex, flags=re.S).group(1)
    rows = [r for r in body.replace(r"\hline", "").split(r"\\") if r.strip()][1:]
    return np.array([[parse_number(c) for c in r.split("&")[1:]] for r in rows])


def latex_with(at, text):
    """The LaTeX sources on the page that contain ``text``."""
    return [el.value for el in at.latex if text in el.value]


def chart_frame(chart):
    """The data of a vega_lite_chart element as a DataFrame."""
    data = chart.proto.datasets[0].data.data
    return pa.ipc.open_stream(data).read_all().to_pandas()


# ---- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def app():
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def show_all(at):
    at.toggle(key="sm_steps_all").set_value(True)
    at.run()
    assert not at.exception, at.exception
    return at


# ---- tests ---------------------------------------------------------------------------------------


def test_page_renders_the_probabilities_of_mlp_softmax(app):
    charts = app.get("vega_lite_chart")
    assert len(charts) == 1
    frame = chart_frame(charts[0])
    assert list(frame["class"]) == list("ABCD")
    assert np.array_equal(frame["probability"].to_numpy(), softmax(np.array([DEFAULT_LOGITS]))[0])
    assert list(frame["role"]) == ["other", "true class", "other", "other"]
    spec = json.loads(charts[0].proto.spec)
    assert spec["layer"][0]["encoding"]["color"]["field"] == "role"
    loss = float(app.metric[0].value)
    assert loss == pytest.approx(-np.log(softmax(np.array([DEFAULT_LOGITS]))[0, 1]), abs=1e-4)


def test_moving_a_logit_changes_the_probabilities_to_exactly_mlps(app):
    before = chart_frame(app.get("vega_lite_chart")[0])["probability"].to_numpy()
    app.slider(key="sm_logit_C").set_value(4.5)
    app.run()
    assert not app.exception
    after = chart_frame(app.get("vega_lite_chart")[0])["probability"].to_numpy()
    expected = softmax(np.array([[2.0, 1.0, 4.5, -1.0]]))[0]
    assert np.array_equal(after, expected)
    assert not np.allclose(before, after)
    assert app.metric[2].value == "C"  # predicted
    # the softmax step's LaTeX shows the same probabilities (3 decimals)
    line = latex_with(app, r"\mathbf p = \frac")[0]
    o, exp_o, p = parse_matrices(line)
    assert np.allclose(o[:, 0], [2.0, 1.0, 4.5, -1.0])
    assert np.allclose(p[:, 0], expected, atol=TOL3)


def test_the_substituted_numbers_of_every_step_are_mlps(app):
    show_all(app)
    ex = softmax_ce(DEFAULT_LOGITS, 1)
    _, exp_o, p = parse_matrices(latex_with(app, r"\mathbf p = \frac")[0])
    assert np.allclose(exp_o[:, 0], ex.exp_o, atol=TOL3) and np.allclose(p[:, 0], ex.p, atol=TOL3)
    assert str(round(ex.sum_exp, 3)) in latex_with(app, r"\mathbf p = \frac")[0]
    (y,) = parse_matrices(latex_with(app, r"\mathbf y = ")[0])
    assert np.array_equal(y[:, 0], ex.y)
    assert f"{ex.loss:.4f}" in latex_with(app, r"L = -\log \underbrace")[0]
    jac = parse_labelled(latex_with(app, r"\begin{array}")[0])
    assert jac.shape == (4, 4) and np.allclose(jac, ex.jacobian, atol=TOL3)
    (dl_dp,) = parse_matrices(latex_with(app, r"\frac{\partial L}{\partial \mathbf p} =")[0])
    assert np.allclose(dl_dp[:, 0], ex.dl_dp, atol=TOL3)
    row_c, chain = parse_matrices(latex_with(app, r"\text{row B of } J")[0])
    assert np.allclose(row_c[:, 0], ex.jacobian[1], atol=TOL3) and np.allclose(chain[:, 0], ex.chain, atol=TOL3)
    diag, off, total = parse_matrices(latex_with(app, r"_{i \neq j} =")[0])
    assert np.allclose(diag[:, 0], ex.diag_term, atol=TOL3) and np.allclose(off[:, 0], ex.off_term, atol=TOL3)
    p2, y2, grad = parse_matrices(latex_with(app, r"_{\mathbf y} =")[0])
    assert np.allclose(grad[:, 0], ex.grad, atol=TOL3) and np.allclose(grad[:, 0], p2[:, 0] - y2[:, 0], atol=2 * TOL3)


def test_steps_are_revealed_one_at_a_time_or_all_at_once(app):
    def shown():
        return [s.value for s in app.subheader if s.value[:2] in {f"{i}." for i in range(1, 7)}]

    assert len(shown()) == 1
    app.button(key="sm_steps_next").click()
    app.run()
    assert len(shown()) == 2 and shown()[1].startswith("2. Cross-entropy")
    app.button(key="sm_steps_next").click()
    app.run()
    assert len(shown()) == 3
    show_all(app)
    assert len(shown()) == 6
    assert not [b for b in app.button if b.key == "sm_steps_next"]  # nothing left to reveal
    app.button(key="sm_steps_reset").click()
    app.run()
    assert len(shown()) == 1 and app.toggle(key="sm_steps_all").value is False


def test_ten_classes_draw_the_jacobian_as_a_grid_with_mlps_numbers(app):
    app.slider(key="sm_k").set_value(10)
    app.run()
    show_all(app)
    charts = app.get("vega_lite_chart")
    assert len(charts) == 2
    cells = chart_frame(charts[1])
    logits = [2.0, 1.0, 0.1, -1.0, 0.5, -0.5, 1.5, -2.0, 0.0, 0.8]
    jac = softmax_ce(logits, 1).jacobian
    grid = cells.pivot(index="i", columns="j", values="value").loc[list("ABCDEFGHIJ"), list("ABCDEFGHIJ")].to_numpy()
    assert np.allclose(grid, jac, rtol=0, atol=1e-15)
    assert not latex_with(app, r"\begin{array}")  # no 10 x 10 LaTeX matrix (it would not fit)


def test_finite_difference_table_agrees_with_the_analytic_gradient(app):
    table = app.table[0].value
    fd = finite_difference_logits(DEFAULT_LOGITS, 1, eps=1e-5)
    rel = np.array([float(v.replace("−", "-")) for v in table["relative error"]])
    assert len(rel) == 4 and np.all(rel < 1e-6)
    numeric = np.array([float(v.replace("−", "-")) for v in table["numeric (central difference)"]])
    assert np.allclose(numeric, fd.numeric, atol=1e-10)
    analytic = np.array([float(v.replace("−", "-")) for v in table["analytic p_j − y_j"]])
    assert np.allclose(analytic, softmax(np.array([DEFAULT_LOGITS]))[0] - np.eye(4)[1], atol=1e-10)


def test_overflow_demo_naive_fails_and_stable_does_not(app):
    assert not app.error  # scale 1: the naive softmax is fine
    app.select_slider(key="sm_scale").set_value(1000)
    app.run()
    assert not app.exception
    assert any("Overflow" in e.value for e in app.error)
    naive = latex_with(app, r"e^{s\mathbf o} =")[0]
    scaled, e, p = parse_matrices(naive)
    assert np.allclose(scaled[:, 0], 1000 * np.array(DEFAULT_LOGITS))
    assert np.isinf(e[0, 0]) and np.isnan(p[0, 0])

    app.radio(key="sm_kind").set_value("stable: subtract max(o) first")
    app.run()
    assert not app.error and any("Exact at any scale" in s.value for s in app.success)
    _, shifted, e, p = parse_matrices(latex_with(app, r"s\,\mathbf o - m =")[0])
    expected = softmax(1000 * np.array([DEFAULT_LOGITS]))[0]
    assert np.all(np.isfinite(p)) and np.allclose(p[:, 0], expected, atol=TOL3)
    assert shifted.max() == 0

    logs = app.table[1].value
    assert list(logs["loss L"]) == ["NaN", "inf", "1000.0000"]
    assert float(logs["log p_B"].iloc[2].replace("−", "-")) == pytest.approx(log_softmax(1000 * np.array([DEFAULT_LOGITS]))[0, 1])
    assert any("underflowed to exactly 0" in w.value for w in app.warning)


def test_common_mistakes_name_the_reports_errors_and_show_the_correct_line(app):
    mistakes = [el.value for el in app.latex if r"\text{report:}" in el.value]
    assert len(mistakes) == 4
    assert any(r"= -y_j - y_j" in m and r"= p_j - y_j" in m for m in mistakes)
    assert any(r"k \neq j" in m and r"i \neq j" in m for m in mistakes)
    last = latex_with(app, r"\text{finite differences}")[0]
    report, correct, numeric = parse_matrices(last)
    ex = softmax_ce(DEFAULT_LOGITS, 1)
    assert np.array_equal(report[:, 0], -2 * ex.y)
    assert np.allclose(correct[:, 0], ex.grad, atol=TOL3) and np.allclose(numeric[:, 0], ex.grad, atol=TOL3)
