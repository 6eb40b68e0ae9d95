"""Softmax and cross-entropy: the derivation of dL/do = p - y, with the user's logits in every line.

Every number comes from ``lab`` (``lab.explain``, ``lab.losses_demo``, which call ``mlp.core``); the mistakes of
the course report are listed in ``lab.report_errors``; this page only lays them out. Notation: one example, so
o, p and y are 1 x K rows drawn as rows under the class letters; i indexes a probability, j a logit, k only sums.
"""

import numpy as np
import pandas as pd
import streamlit as st

from lab.explain import finite_difference_logits, overflow_demo, softmax_ce
from lab.losses_demo import confidently_wrong, mse_vs_ce
from lab.predict import random_logits, softmax_questions
from lab.report_errors import SOFTMAX_MISTAKES
from mlp.core import LETTERS
from ui.charts import draw, gradient_lines, matrix_grid, probability_bars
from ui.latex import aligned, fmt, labelled, num, rows_table, show
from ui.predict import new_numbers_button, problem_id
from ui.reveal import Reveal
from ui.router import ensure_router

ensure_router()

DEFAULT_LOGITS = (2.0, 1.0, 0.1, -1.0, 0.5, -0.5, 1.5, -2.0, 0.0, 0.8)
FD_EPS = 1e-5
UNIT_ROUNDOFF = np.finfo(np.float64).eps / 2  # 1.1e-16: float64 rounds a number x to within this times |x|
SCALES = (1, 10, 100, 1000)
NAIVE, STABLE = "naive: exp(o) / Σ exp(o)", "stable: subtract max(o) first"
STEPS = "sm_steps"  # the Reveal's key
K_KEY, TRUE_KEY, LOGIT_KEY = "sm_k", "sm_true", "sm_logit_{}"  # .format(letter)
TITLES = ["softmax", "cross-entropy loss", "softmax Jacobian", "dL/dp", "chain rule", "simplify to p − y"]
JACOBIAN_LATEX_MAX_K = 6  # above this a K x K matrix of 3-decimal numbers is wider than a 1024-px screen


def new_problem(rng):
    """'New numbers': fresh logits and true class for the current K, and the derivation from step 1."""
    letters = LETTERS[: st.session_state.get(K_KEY, 4)]
    logits, c = random_logits(rng, len(letters))
    for letter, value in zip(letters, logits):
        st.session_state[LOGIT_KEY.format(letter)] = value
    st.session_state[TRUE_KEY] = letters[c]
    Reveal.restart(STEPS)


def inputs():
    """The sidebar: K, the true class and the logits -> (letters, logits, c)."""
    with st.sidebar:
        st.subheader("Logits")
        new_numbers_button("sm", new_problem)
        k = st.slider("Classes K", 2, 10, 4, key=K_KEY)
        letters = LETTERS[:k]
        st.session_state.setdefault(TRUE_KEY, letters[1])
        if st.session_state[TRUE_KEY] not in letters:
            st.session_state[TRUE_KEY] = letters[min(1, k - 1)]
        true_letter = st.selectbox("True class c", list(letters), key=TRUE_KEY)
        logits = []
        for j, letter in enumerate(letters):
            st.session_state.setdefault(LOGIT_KEY.format(letter), DEFAULT_LOGITS[j])
            logits.append(st.slider(f"o_{letter}  (logit of {letter})", -10.0, 10.0, step=0.1,
                                    key=LOGIT_KEY.format(letter)))
    return letters, logits, letters.index(true_letter)


def current_numbers(ex, letters):
    chart_col, metric_col = st.columns([3, 1])
    draw(probability_bars(ex.p, letters, ex.label), chart_col)
    metric_col.metric("Loss L = −log p_c", f"{ex.loss:.4f}")
    metric_col.metric(f"p_{letters[ex.label]} (true class)", f"{ex.p[ex.label]:.4f}")
    metric_col.metric("Predicted", letters[ex.predicted])


def forward_steps(reveal, ex, letters):
    """Steps 1-3: softmax, cross-entropy, the Jacobian."""
    t = letters[ex.label]
    k = len(letters)
    reveal.step(0, "Softmax turns the logits into probabilities",
                rf"p_i = \frac{{e^{{o_i}}}}{{\sum_{{k=1}}^{{K}} e^{{o_k}}}}, \qquad \sum_{{k=1}}^{{K}} e^{{o_k}} = "
                rf"{num(ex.sum_exp)}",
                rows_table([(r"\mathbf o", ex.o, 2), (r"e^{\mathbf o}", ex.exp_o, 3), (r"\mathbf p", ex.p, 3)],
                           letters),
                note=f"One example, so o, p and y are 1 × {k} rows, one column per class (rows are examples on "
                     f"every page of the lab). The denominator is Σ_k e^(o_k) = {ex.sum_exp:.3f}. mlp.core.softmax "
                     "subtracts max(o) before exp; the result is the same (see Numerical stability below).")
    reveal.step(1, "Cross-entropy picks out the true class",
                r"L = -\sum_{k=1}^{K} y_k \log p_k = -\log p_c",
                rows_table([(r"\mathbf y", ex.y, 0)], letters),
                rf"L = -\log p_{{\mathrm{{{t}}}}} = -\log {num(ex.p[ex.label])} = {num(ex.loss, 4)}",
                note=f"The true class is c = {t}; y is its one-hot row (a 1 under {t}, 0 elsewhere).")
    big = k > JACOBIAN_LATEX_MAX_K
    reveal.step(2, "The softmax Jacobian: every p_i depends on every o_j",
                r"J_{ij} = \frac{\partial p_i}{\partial o_j} = p_i\,(\mathbf 1[i = j] - p_j) = "
                r"\begin{cases} p_i\,(1 - p_i) & i = j \\ -\,p_i\, p_j & i \neq j \end{cases}",
                *([] if big else [labelled(ex.jacobian, letters, letters, 3, r"i \backslash j", sci=False)]),
                chart=matrix_grid(ex.jacobian, letters, "i", "j") if big else None,
                note="J: rows i (the probability), columns j (the logit); 1[i = j] is 1 on the diagonal, 0 elsewhere. "
                     "The diagonal is positive, the rest negative; every row sums to 0 because the p_i sum to 1.")


def backward_steps(reveal, ex, letters):
    """Steps 4-6: dL/dp, the chain rule, the simplification to p - y."""
    t = letters[ex.label]
    pc = rf"p_{{\mathrm{{{t}}}}}"
    dc, row = num(ex.dl_dp[ex.label]), rf"J_{{\mathrm{{{t}}}\,j}}"
    reveal.step(3, "The loss as a function of the probabilities",
                r"\frac{\partial L}{\partial p_i} = -\frac{y_i}{p_i} \qquad (0 \text{ unless } i = c)",
                rows_table([(r"\partial L / \partial \mathbf p", ex.dl_dp, 3)], letters),
                rf"\frac{{\partial L}}{{\partial {pc}}} = -\frac{{1}}{{{num(ex.p[ex.label])}}} = {dc}")
    reveal.step(4, "Chain rule: add up every path from o_j to L",
                r"\frac{\partial L}{\partial o_j} = \sum_{k=1}^{K} \frac{\partial L}{\partial p_k}\,"
                rf"\frac{{\partial p_k}}{{\partial o_j}} = \frac{{\partial L}}{{\partial {pc}}}\, {row} = {dc}\,{row}",
                rows_table([(row, ex.jacobian[ex.label], 3), (r"\partial L / \partial \mathbf o", ex.chain, 3)],
                           letters),
                note=f"Only row c = {t} of J survives, because ∂L/∂p is zero everywhere else.")
    reveal.step(5, "Simplify: the terms k = j and k ≠ j",
                aligned(r"\frac{\partial L}{\partial o_j} &= \underbrace{-\frac{y_j}{p_j}\,p_j(1-p_j)}_{k = j}"
                        r" + \underbrace{\sum_{k \neq j} -\frac{y_k}{p_k}\,(-p_k p_j)}_{k \neq j}",
                        r"&= -y_j + y_j p_j + p_j \sum_{k \neq j} y_k",
                        r"&= -y_j + p_j \underbrace{\Big(y_j + \sum_{k \neq j} y_k\Big)}_{=\,\sum_k y_k \,=\, 1}"
                        r" = p_j - y_j"),
                rows_table([(r"k = j \text{ term}", ex.diag_term, 3), (r"k \neq j \text{ terms}", ex.off_term, 3),
                            (r"\text{sum}", ex.chain, 3), (r"\mathbf p", ex.p, 3), (r"\mathbf y", ex.y, 0),
                            (r"\mathbf p - \mathbf y", ex.grad, 3)], letters),
                note=f"The chain-rule sum and p − y (mlp.core.grad_ce) differ by {ex.chain_vs_grad:.1e}: rounding "
                     "only. For a batch of N examples the average loss divides by N, δ_o = (p − y)/N "
                     "(Backpropagation page); here N = 1.")


def derivation(ex, letters, logits):
    st.header("From the logits to dL/do, step by step")
    reveal = Reveal(STEPS, TITLES, questions=softmax_questions(ex, letters),
                    problem=problem_id(tuple(logits), ex.label))
    reveal.controls()
    forward_steps(reveal, ex, letters)
    backward_steps(reveal, ex, letters)
    reveal.next_button()


def mse_section(logits, c, letters):
    """Beside dL/do = p - y: the gradient of a squared error on the softmax output, and where it vanishes."""
    st.header("Why cross-entropy, not a squared error")
    both, wrong = mse_vs_ce(logits, c), confidently_wrong(logits, c)
    show(r"L_{\mathrm{CE}} = -\sum_k y_k \log p_k \quad\Rightarrow\quad \frac{\partial L_{\mathrm{CE}}}{\partial o_j}"
         r" = p_j - y_j")
    show(r"L_{\mathrm{SE}} = \tfrac12 \sum_k (p_k - y_k)^2 \quad\Rightarrow\quad \frac{\partial L_{\mathrm{SE}}}"
         r"{\partial o_j} = \sum_k (p_k - y_k)\, J_{kj}")
    show(rows_table([(r"\partial L_{\mathrm{CE}} / \partial \mathbf o", both.ce_grad, 3),
                     (r"\partial L_{\mathrm{SE}} / \partial \mathbf o", both.mse_grad, 3)], letters))
    t, last = letters[c], -1
    draw(gradient_lines(wrong.drops, {"cross-entropy": wrong.ce_grad_true, "squared error": wrong.mse_grad_true},
                        wrong.p_true, x_title=f"o_{t} pushed down by d", y_title=f"dL/do_{t}"))
    st.markdown(
        f"Push the true logit o_{t} down until the network is confidently wrong: at d = {wrong.drops[last]:g}, "
        f"p_{t} = {wrong.p_true[last]:.1e}. Cross-entropy's gradient on o_{t} is still "
        f"{wrong.ce_grad_true[last]:.5f} (p_{t} − 1), a full push the right way; the squared error's is "
        f"{wrong.mse_grad_true[last]:.1e}. Every entry of the Jacobian J carries a factor p, and when one p is near 1 "
        "and the rest near 0 all of J is near 0: the squared error stops learning exactly when it is most wrong. "
        "The log in cross-entropy cancels that factor, which is why classifiers train with it.")


def fd_section(ex, letters):
    st.header("Check it with finite differences")
    fd = finite_difference_logits(ex.o, ex.label, eps=FD_EPS)
    show(r"n_j = \frac{L(\mathbf o + \varepsilon\,\mathbf e_j) - L(\mathbf o - \varepsilon\,\mathbf e_j)}{2\varepsilon}"
         rf"\approx a_j = p_j - y_j, \qquad \varepsilon = {num(FD_EPS)}")
    show(r"\text{relative error} = \frac{|a_j - n_j|}{\max(|a_j| + |n_j|,\ 10^{-12})}")
    st.table(pd.DataFrame({
        "class": list(letters),
        "analytic a = p_j − y_j": [fmt(v, ".10f") for v in fd.analytic],
        "numeric n (central difference)": [fmt(v, ".10f") for v in fd.numeric],
        "absolute error": [fmt(v, ".1e") for v in fd.abs_error],
        "relative error": [fmt(v, ".1e") for v in fd.rel_error],
    }).set_index("class"))
    noise = UNIT_ROUNDOFF * abs(ex.loss) / FD_EPS
    st.markdown(f"Largest relative error: **{fd.max_rel_error:.1e}** (`mlp.gradcheck.relative_error`; the max "
                "keeps 0 / 0 away when both are 0).")
    st.caption(f"Rounding is relative: float64 stores L = {ex.loss:.4f} to within about 1.1e-16 × |L| = "
               f"{UNIT_ROUNDOFF * abs(ex.loss):.1e}, and each of the few operations inside L adds about as much. "
               f"The central difference divides that by 2ε, so it carries about 1.1e-16 × |L| / ε = {noise:.1e} of "
               "absolute noise, times a few. For an entry near 1e-6 (logits far apart) that is a large relative "
               "error with nothing wrong; the absolute errors show the analytic values are right.")


@st.fragment
def stability_section(ex, letters):
    """Its own fragment: moving the scale or the softmax choice reruns this section only."""
    st.header("Numerical stability: large logits")
    ctrl_scale, ctrl_kind = st.columns([1, 1])
    scale = ctrl_scale.select_slider("Scale the logits by s", SCALES, value=1, key="sm_scale")
    kind = ctrl_kind.radio("Softmax to use", [NAIVE, STABLE], key="sm_kind")
    ov = overflow_demo(ex.o, ex.label, scale)
    if kind == NAIVE:
        show(r"p_i = \frac{e^{s o_i}}{\sum_k e^{s o_k}}")
        show(rf"\sum_k e^{{s o_k}} = {num(ov.naive_sum)}")
        show(rows_table([(r"s\,\mathbf o", ov.scaled, 1), (r"e^{s\mathbf o}", ov.naive_exp, 3),
                         (r"\mathbf p", ov.naive_p, 3)], letters))
        if ov.naive_ok:
            st.success("The naive softmax is still fine at this scale: no $e^{so}$ overflowed.")
        else:
            st.error("Overflow: $e^{so}$ is larger than the largest float64 (about 1.8e308) once $so$ passes ~709.8, "
                     "so it becomes inf, and inf / inf = NaN.")
    else:
        show(r"p_i = \frac{e^{s o_i - m}}{\sum_k e^{s o_k - m}}, \qquad m = \max_k s o_k = " + num(ov.scaled.max(), 1)
             + r", \qquad \sum_k e^{s o_k - m} = " + num(ov.stable_sum))
        show(rows_table([(r"s\,\mathbf o", ov.scaled, 1), (r"s\,\mathbf o - m", ov.shifted, 1),
                         (r"e^{s\mathbf o - m}", ov.stable_exp, 3),
                         (r"\mathbf p", ov.stable_p, 3)], letters))
        st.success("Cannot overflow, and right to rounding: the largest exponent is $e^0 = 1$ and the sum is between "
                   "1 and K (multiplying top and bottom by $e^{-m}$ does not change p). A probability far below the "
                   "largest can still underflow to 0: see the log below.")
    log_table(ov, letters[ex.label])


def log_table(ov, t):
    c = ov.label
    st.subheader("And the log: log of a zero probability vs log-softmax")
    show(r"\log p_c = (s o_c - m) - \log \sum_k e^{s o_k - m}\quad\text{(log-softmax, never } \log 0\text{)}")
    st.table(pd.DataFrame({
        "route": ["log(naive softmax)", "log(stable softmax)", "log_softmax (mlp.core.log_softmax)"],
        f"p_{t} first": [fmt(ov.naive_p[c], ".4g"), fmt(ov.stable_p[c], ".4g"), "(not formed)"],
        f"log p_{t}": [fmt(v, ".4f") for v in (ov.log_naive_p[c], ov.log_stable_p[c], ov.log_softmax[c])],
        "loss L": [fmt(v, ".4f") for v in (ov.naive_loss, ov.stable_log_loss, ov.log_softmax_loss)],
    }).set_index("route"))
    if ov.stable_p[c] == 0:
        st.warning(f"p_{t} underflowed to exactly 0, so log p = −inf and the loss is inf; log-softmax gives the "
                   f"finite loss {ov.log_softmax_loss:.1f} (right to rounding). This is why mlp trains with "
                   "average_ce_logits.")
    else:
        st.caption(f"To see log 0: pick a scale of 1000 and a true class whose logit is well below the largest one "
                   f"(now p_{t} = {ov.stable_p[c]:.3g}).")


def mistakes_section(ex, letters):
    st.header("The course report's derivation, line by line")
    st.markdown(f"The report's code is right (`grad_ce` returns `softmax(logits) - target`), and so is its Jacobian "
                f"(p_k(1 − p_k), −p_j p_k), but its written derivation of ∂L/∂o makes {len(SOFTMAX_MISTAKES)} "
                "mistakes on the way. Each: the report's line as printed (its indices kept), then the correct line "
                "in this page's notation (i for a probability, j for a logit, k only to sum over the classes).")
    for n, m in enumerate(SOFTMAX_MISTAKES, 1):
        st.markdown(f"**{n}. {m.title}.** {m.why}")
        show(aligned(rf"\text{{report:}}\quad & {m.report}", rf"\text{{correct:}}\quad & {m.correct}"))
    st.markdown("With your numbers:")
    fd = finite_difference_logits(ex.o, ex.label, eps=FD_EPS)
    show(rows_table([(r"\text{report } {-y_j - y_j}", ex.report_result, 0), (r"\text{correct } p_j - y_j", ex.grad, 3),
                     (r"\text{finite diff.}", fd.numeric, 3)], letters))


def main():
    st.title("Softmax and cross-entropy")
    st.caption("Move the logits in the sidebar, or draw new ones: every line below is recomputed by `mlp` and shows "
               "the formula first, then your numbers. Classes are the letters A to J.")
    letters, logits, c = inputs()
    ex = softmax_ce(logits, c)
    current_numbers(ex, letters)
    derivation(ex, letters, logits)
    mse_section(logits, c, letters)
    fd_section(ex, letters)
    stability_section(ex, letters)
    mistakes_section(ex, letters)


main()
