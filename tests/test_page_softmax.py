"""The softmax and cross-entropy page (AppTest): its numbers are mlp's, step by step, in the MSE comparison and in
the stability demo; its claims (the report's mistakes, rounding, relative error, notation) are true; predictions
are checked and New numbers draws this session's numbers. Expected values are computed here with numpy."""

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from lab.explain import finite_difference_logits
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


def parse_rows(latex):
    """The rows of a ``ui.latex.rows_table`` (headers of column labels dropped; a table cut into blocks of
    columns is joined again) -> {row label: values}."""
    out = {}
    for body in re.findall(r"\\begin\{array\}\{r\|[^}]*\}(.*?)\\end\{array\}", latex, flags=re.S):
        rows = [r for r in re.split(r"\\\\(?:\[2pt\])?", body.replace(r"\hline", "")) if r.strip()][1:]
        for r in rows:
            label = r.split("&")[0].strip()
            out[label] = np.concatenate([out.get(label, []), [parse_number(c) for c in r.split("&")[1:]]])
    return out


def table_row(at, label, within=None):
    """The values of the row labelled ``label`` (exactly, else the first label starting with it) of the first
    rows_table on the page (that contains ``within``, if given) that has such a row."""
    for el in at.latex:
        if r"\begin{array}{r|" in el.value and (within is None or within in el.value):
            rows = parse_rows(el.value)
            if label in rows:
                return rows[label]
            for name, values in rows.items():
                if name.startswith(label):
                    return values
    raise AssertionError(f"no table row {label!r}")


def latex_with(at, text):
    """The LaTeX sources on the page that contain ``text``."""
    return [el.value for el in at.latex if text in el.value]


def chart_frame(chart):
    """The data of a vega_lite_chart element as a DataFrame."""
    proto = chart.proto
    data = proto.datasets[0].data.data if len(proto.datasets) else proto.data.data
    return pa.ipc.open_stream(data).read_all().to_pandas()


# ---- fixtures ------------------------------------------------------------------------------------


def run(at):
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def app():
    return run(AppTest.from_file(PAGE, default_timeout=60))


def show_all(at):
    at.toggle(key="sm_steps_all").set_value(True)
    return run(at)


def np_softmax(o):
    e = np.exp(np.asarray(o, float) - np.max(o))
    return e / e.sum()


def headings(at):
    return [m.value[4:] for m in at.markdown if re.match(r"### \d+\. ", m.value)]


# ---- the numbers ---------------------------------------------------------------------------------


def test_page_renders_the_probabilities_of_mlp_softmax(app):
    charts = app.get("vega_lite_chart")
    frame = chart_frame(charts[0])
    assert list(frame["class"]) == list("ABCD")
    assert np.array_equal(frame["probability"].to_numpy(), softmax(np.array([DEFAULT_LOGITS]))[0])
    assert list(frame["role"]) == ["other", "true class", "other", "other"]
    spec = json.loads(charts[0].proto.spec)
    assert spec["layer"][0]["encoding"]["color"]["field"] == "role"
    assert float(app.metric[0].value) == pytest.approx(-np.log(np_softmax(DEFAULT_LOGITS)[1]), abs=1e-4)


def test_moving_a_logit_changes_the_probabilities_to_exactly_mlps(app):
    before = chart_frame(app.get("vega_lite_chart")[0])["probability"].to_numpy()
    app.slider(key="sm_logit_C").set_value(4.5)
    run(app)
    after = chart_frame(app.get("vega_lite_chart")[0])["probability"].to_numpy()
    expected = softmax(np.array([[2.0, 1.0, 4.5, -1.0]]))[0]
    assert np.array_equal(after, expected) and not np.allclose(before, after)
    assert app.metric[2].value == "C"  # predicted
    assert np.allclose(table_row(app, r"\mathbf o"), [2.0, 1.0, 4.5, -1.0])
    assert np.allclose(table_row(app, r"\mathbf p"), expected, atol=TOL3)


def test_the_substituted_numbers_of_every_step_are_mlps(app):
    show_all(app)
    o = np.array(DEFAULT_LOGITS)
    p, y = np_softmax(o), np.eye(4)[1]
    jac = np.diag(p) - np.outer(p, p)
    assert np.allclose(table_row(app, r"e^{\mathbf o}"), np.exp(o), atol=TOL3)
    assert np.allclose(table_row(app, r"\mathbf p"), p, atol=TOL3)
    assert f"{np.exp(o).sum():.3f}" in latex_with(app, r"\qquad \sum_{k=1}^{K} e^{o_k} = ")[0]
    assert np.array_equal(table_row(app, r"\mathbf y"), y)
    assert f"{-np.log(p[1]):.4f}" in latex_with(app, r"L = -\log p_{\mathrm{B}} = ")[0]
    assert np.allclose(parse_labelled(latex_with(app, r"i \backslash j")[0]), jac, atol=TOL3)
    assert np.allclose(table_row(app, r"\partial L / \partial \mathbf p"), -y / p, atol=TOL3)
    assert np.allclose(table_row(app, r"J_{\mathrm{B}\,j}"), jac[1], atol=TOL3)
    assert np.allclose(table_row(app, r"\partial L / \partial \mathbf o"), p - y, atol=TOL3)
    assert np.allclose(table_row(app, r"k = j"), -y * (1 - p), atol=TOL3)
    assert np.allclose(table_row(app, r"k \neq j"), p * (1 - y), atol=TOL3)
    assert np.allclose(table_row(app, r"\mathbf p - \mathbf y"), p - y, atol=TOL3)


def test_steps_are_revealed_one_at_a_time_or_all_at_once(app):
    assert len(headings(app)) == 1
    app.button(key="sm_steps_next").click()
    run(app)
    assert len(headings(app)) == 2 and headings(app)[1].startswith("2. Cross-entropy")
    show_all(app)
    assert len(headings(app)) == 6
    assert not [b for b in app.button if b.key == "sm_steps_next"]  # nothing left to reveal
    app.button(key="sm_steps_reset").click()
    run(app)
    assert len(headings(app)) == 1 and app.toggle(key="sm_steps_all").value is False


def test_ten_classes_draw_the_jacobian_as_a_grid_with_mlps_numbers(app):
    app.slider(key="sm_k").set_value(10)
    run(app)
    show_all(app)
    cells = next(chart_frame(c) for c in app.get("vega_lite_chart") if "value" in chart_frame(c))
    p = np_softmax([2.0, 1.0, 0.1, -1.0, 0.5, -0.5, 1.5, -2.0, 0.0, 0.8])
    grid = cells.pivot(index="i", columns="j", values="value").loc[list("ABCDEFGHIJ"), list("ABCDEFGHIJ")].to_numpy()
    assert np.allclose(grid, np.diag(p) - np.outer(p, p), rtol=0, atol=1e-15)
    assert not latex_with(app, r"i \backslash j")  # no 10 x 10 LaTeX matrix (it would not fit)
    assert len(table_row(app, r"\mathbf p")) == 10  # o and p stay 1 x 10 rows


# ---- MSE vs cross-entropy ---------------------------------------------------------------------------


def squared_error(o, c):
    return 0.5 * np.sum((np_softmax(o) - np.eye(len(o))[c]) ** 2)


def test_squared_error_gradient_is_shown_beside_p_minus_y_and_vanishes_when_confidently_wrong(app):
    o, eps = np.array(DEFAULT_LOGITS), 1e-6
    numeric = [(squared_error(o + eps * e, 1) - squared_error(o - eps * e, 1)) / (2 * eps) for e in np.eye(4)]
    assert np.allclose(table_row(app, r"\partial L_{\mathrm{SE}}"), numeric, atol=TOL3)
    assert np.allclose(table_row(app, r"\partial L_{\mathrm{CE}}"), np_softmax(o) - np.eye(4)[1], atol=TOL3)
    text = next(m.value for m in app.markdown if "confidently wrong" in m.value)
    far = o.copy()
    far[1] -= 16  # the page's last push
    p_far = np_softmax(far)
    se_far = (squared_error(far + eps * np.eye(4)[1], 1) - squared_error(far - eps * np.eye(4)[1], 1)) / (2 * eps)
    assert f"p_B = {p_far[1]:.1e}" in text and f"{p_far[1] - 1:.5f}" in text
    assert abs(se_far) < 1e-5 and f"{se_far:.1e}" in text and "cross-entropy" in text
    lines = next(chart_frame(c) for c in app.get("vega_lite_chart") if "gradient" in chart_frame(c))
    assert lines["loss"].nunique() == 2


# ---- finite differences: relative error as the code computes it; rounding is relative ------------


def test_finite_difference_table_agrees_with_the_analytic_gradient(app):
    table = app.table[0].value
    fd = finite_difference_logits(DEFAULT_LOGITS, 1, eps=1e-5)
    rel = np.array([float(v.replace("−", "-")) for v in table["relative error"]])
    assert len(rel) == 4 and np.all(rel < 1e-6)
    numeric = np.array([float(v.replace("−", "-")) for v in table["numeric n (central difference)"]])
    assert np.allclose(numeric, fd.numeric, atol=1e-10)
    analytic = np.array([float(v.replace("−", "-")) for v in table["analytic a = p_j − y_j"]])
    assert np.allclose(analytic, np_softmax(DEFAULT_LOGITS) - np.eye(4)[1], atol=1e-10)
    # the relative error is what mlp.gradcheck.relative_error computes: |a - n| / max(|a| + |n|, 1e-12)
    assert latex_with(app, r"\frac{|a_j - n_j|}{\max(|a_j| + |n_j|,\ 10^{-12})}")
    assert not latex_with(app, r"{|a_j| + |n_j|}")


def test_rounding_is_stated_as_relative_with_this_losss_numbers(app):
    for logits in (DEFAULT_LOGITS, [9.0, 9.0, -9.0, 0.0]):  # the second: p_C near 1e-8, relative error > 1e-6
        for j, v in enumerate(logits):
            app.slider(key=f"sm_logit_{'ABCD'[j]}").set_value(v)
        run(app)
        loss = -np.log(np_softmax(logits)[1])
        text = next(c.value for c in app.caption if c.value.startswith("Rounding is relative"))
        assert f"{2.0 ** -53 * loss:.1e}" in text and f"{2.0 ** -53 * loss / 1e-5:.1e}" in text
        assert "about 1e-16," not in text
    rel = [float(v.replace("−", "-")) for v in app.table[0].value["relative error"]]
    assert max(rel) > 1e-6  # the case the caption explains


# ---- numerical stability ----------------------------------------------------------------------------


def test_overflow_demo_naive_fails_and_stable_does_not(app):
    assert not app.error  # scale 1: the naive softmax is fine
    app.select_slider(key="sm_scale").set_value(1000)
    run(app)
    assert any("Overflow" in e.value for e in app.error)
    assert np.allclose(table_row(app, r"s\,\mathbf o"), 1000 * np.array(DEFAULT_LOGITS))
    e, p = table_row(app, r"e^{s\mathbf o}"), table_row(app, r"\mathbf p", within=r"e^{s\mathbf o}")
    assert np.isinf(e[0]) and np.isnan(p[0])

    app.radio(key="sm_kind").set_value("stable: subtract max(o) first")
    run(app)
    claims = [s.value for s in app.success]
    assert not app.error and any(c.startswith("Cannot overflow, and right to rounding") for c in claims)
    assert not any("Exact at any scale" in c for c in claims)
    assert table_row(app, r"s\,\mathbf o - m").max() == 0
    p = table_row(app, r"\mathbf p", within=r"s\,\mathbf o - m")
    assert np.all(np.isfinite(p)) and np.allclose(p, softmax(1000 * np.array([DEFAULT_LOGITS]))[0], atol=TOL3)
    logs = app.table[1].value
    assert list(logs["loss L"]) == ["NaN", "inf", "1000.0000"]
    expected = log_softmax(1000 * np.array([DEFAULT_LOGITS]))[0, 1]
    assert float(logs["log p_B"].iloc[2].replace("−", "-")) == pytest.approx(expected)
    assert any("underflowed to exactly 0" in w.value for w in app.warning)


# ---- the report's derivation ------------------------------------------------------------------------


def mistakes(at):
    return [el.value for el in at.latex if r"\text{report:}" in el.value]


def test_every_mistake_of_the_reports_derivation_has_the_report_line_and_the_correct_one(app):
    found = mistakes(app)
    titles = [m.value for m in app.markdown if re.match(r"\*\*\d+\. ", m.value)]
    assert len(found) == len(titles) == 10
    assert any("10 mistakes" in m.value for m in app.markdown)
    assert not any("four places" in m.value or "Only one path" in m.value for m in app.markdown)
    want = {  # title -> (in the report's line, in the correct line)
        "written with one path": (r"\frac{\partial p_k}{\partial o_k}", r"\sum_{k=1}^{K}"),
        "A sum inside": (r"-\sum_{k=1}^{K} \frac{y_k}{p_k}", r"= -\frac{y_i}{p_i}"),
        "where ∂p_k/∂o_j is meant": (r"\frac{\partial p_k}{\partial o_k}", r"\frac{\partial p_i}{\partial o_j}"),
        "quotient rule divided by ∂o_k": (r"}{\partial o_k}", r"\big(\sum_{k=1}^{K} e^{o_k}\big)^2"),
        "A dropped y_k/p_k": (r"\sum_{k \neq j} \frac{\partial p_k}{\partial o_j}",
                              r"\frac{y_k}{p_k}\frac{\partial p_k}"),
        "A dropped 1/p_k": (r"y_k\,(-p_k p_j)", r"\frac{y_k}{p_k}\,(-p_k p_j)"),
        "The last line": (r"= -y_j - y_j", r"= p_j - y_j"),
    }
    for key, (wrong, right) in want.items():
        i = next(n for n, t in enumerate(titles) if key in t)
        report, correct = found[i].split(r"\text{correct:}")
        assert wrong in report and right in correct, key
    assert "later" in next(t for t in titles if "one path" in t)  # the report does sum, later
    report, correct, numeric = (table_row(app, r"\text{report"), table_row(app, r"\text{correct"),
                                table_row(app, r"\text{finite"))
    p = np_softmax(DEFAULT_LOGITS)
    assert np.array_equal(report, -2 * np.eye(4)[1])
    assert np.allclose(correct, p - np.eye(4)[1], atol=TOL3) and np.allclose(numeric, correct, atol=TOL3)


def test_one_notation_per_symbol(app):
    show_all(app)
    everything = " ".join(el.value for el in app.latex)
    assert r"\delta_{ij}" not in everything and r"\mathbf 1[i = j]" in everything  # δ is kept for error signals
    assert set(re.findall(r"\\sum_\{(\w)", everything)) == {"k"}  # k is the only summation index
    assert r"\begin{bmatrix}" not in everything  # o, p, y are drawn as rows, never as K-row columns
    note = next(c.value for c in app.caption if "δ_o = (p − y)/N" in c.value)
    assert "N = 1" in note


# ---- predict, then reveal ---------------------------------------------------------------------------


def predict(at, text):
    at.text_input[0].set_value(text)
    at.button(key="sm_steps_check").click()
    return run(at)


def test_a_prediction_is_checked_with_the_steps_explanation_and_scored(app):
    p = np_softmax(DEFAULT_LOGITS)
    assert "What is the loss" in next(m.value for m in app.markdown if "Predict before you reveal" in m.value)
    predict(app, f"{-np.log(p[1]):.2f}")
    assert len(headings(app)) == 2
    assert any(s.value.startswith("Right: it is") and "−log p_B" in s.value for s in app.success)
    assert any("1 of 1 right" in c.value for c in app.caption)
    predict(app, "0.5")  # J_BB = p_B (1 - p_B) = 0.180: wrong
    assert len(headings(app)) == 3
    assert any(e.value.startswith("Not quite: it is " + f"{p[1] * (1 - p[1]):.4f}") for e in app.error)
    assert any("1 of 2 right" in c.value for c in app.caption)
    predict(app, "minus four")  # unreadable: counted as wrong, with the answer
    assert any("Could not read" in e.value and f"{-1 / p[1]:.4f}".replace("-", "−") in e.value for e in app.error)
    assert any("1 of 3 right" in c.value for c in app.caption)


def test_new_numbers_draw_this_sessions_problem_and_start_over(app):
    from lab.predict import problem_rng, random_logits

    app.button(key="sm_steps_next").click()
    run(app)
    app.button(key="sm_new_numbers").click()
    run(app)
    seed = app.session_state["predict_seed"]
    logits, c = random_logits(problem_rng(seed, 1), 4)
    assert [app.slider(key=f"sm_logit_{x}").value for x in "ABCD"] == logits
    assert app.selectbox(key="sm_true").value == "ABCD"[c]
    assert len(headings(app)) == 1  # from step 1 again
    assert np.allclose(chart_frame(app.get("vega_lite_chart")[0])["probability"], np_softmax(logits))
    assert any(f"seed {seed}, attempt 1" in c.value for c in app.caption)
    app.button(key="sm_new_numbers").click()
    run(app)
    assert [app.slider(key=f"sm_logit_{x}").value for x in "ABCD"] == random_logits(problem_rng(seed, 2), 4)[0]
    other = run(AppTest.from_file(PAGE, default_timeout=60))
    other.button(key="sm_new_numbers").click()
    run(other)
    assert other.session_state["predict_seed"] != seed  # another session, other numbers
