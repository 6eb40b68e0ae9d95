"""Softmax and cross-entropy: the derivation of dL/do = p - y, with the user's logits in every line.

Every number comes from ``lab.explain`` (which calls ``mlp.core``); this page only lays them out.
"""

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from lab.explain import finite_difference_logits, overflow_demo, softmax_ce
from mlp.core import LETTERS
from ui.latex import Reveal, aligned, col, fmt, labelled, num, row_labels, show
from ui.router import ensure_router

ensure_router()

DEFAULT_LOGITS = (2.0, 1.0, 0.1, -1.0, 0.5, -0.5, 1.5, -2.0, 0.0, 0.8)
FD_EPS = 1e-5
SCALES = (1, 10, 100, 1000)
NAIVE, STABLE = "naive: exp(o) / Σ exp(o)", "stable: subtract max(o) first"

JACOBIAN_LATEX_MAX_K = 6  # above this a K x K matrix of 3-decimal numbers is wider than a 1024-px screen


def jacobian_grid(jac, labels):
    """The Jacobian as a grid of coloured cells with their numbers (fits any K); red > 0, blue < 0."""
    cells = pd.DataFrame([{"i": a, "j": b, "value": float(jac[r, q])} for r, a in enumerate(labels) for q, b in enumerate(labels)])
    lim = float(np.max(np.abs(jac))) or 1.0
    base = alt.Chart(cells).encode(x=alt.X("j:N", sort=list(labels), title="j", axis=alt.Axis(orient="top", labelAngle=0)),
                                   y=alt.Y("i:N", sort=list(labels), title="i"))
    rect = base.mark_rect().encode(color=alt.Color("value:Q", scale=alt.Scale(scheme="redblue", domain=[-lim, lim], reverse=True),
                                                   legend=None))
    text = base.mark_text(fontSize=12).encode(text=alt.Text("value:Q", format=".3f"))
    return (rect + text).properties(height=34 * len(labels) + 30)


st.title("Softmax and cross-entropy")
st.caption(
    "Move the logits in the sidebar: every line below is recomputed by `mlp` and shows the formula first, "
    "then your numbers. Classes are the letters A to J."
)

# ---- inputs (sidebar) --------------------------------------------------------------------------
with st.sidebar:
    st.subheader("Logits")
    k = st.slider("Classes K", 2, 10, 4, key="sm_k")
    letters = LETTERS[:k]
    true_letter = st.selectbox("True class c", list(letters), index=1, key="sm_true")
    logits = [
        st.slider(f"o_{c}  (logit of {c})", -10.0, 10.0, DEFAULT_LOGITS[j], 0.1, key=f"sm_logit_{c}")
        for j, c in enumerate(letters)
    ]

c = letters.index(true_letter)
ex = softmax_ce(logits, c)
P = rf"p_{{\mathrm{{{true_letter}}}}}"  # p_c with the letter, for the LaTeX lines
L_ = row_labels(letters)  # the class letters, left of the column vectors

# ---- what the numbers are now ------------------------------------------------------------------
chart_col, metric_col = st.columns([3, 1])
with chart_col:
    frame = pd.DataFrame({"class": list(letters), "probability": ex.p, "logit": ex.o,
                          "role": ["true class" if j == c else "other" for j in range(k)]})
    bars = alt.Chart(frame).mark_bar().encode(
        x=alt.X("class:N", sort=list(letters), title=None, axis=alt.Axis(labelAngle=0, labelFontSize=16)),
        y=alt.Y("probability:Q", scale=alt.Scale(domain=[0, 1]), title="p = softmax(o)"),
        color=alt.Color("role:N", scale=alt.Scale(domain=["true class", "other"], range=["#e8710a", "#1a73e8"]),
                        legend=alt.Legend(title=None, orient="top")),
        tooltip=["class", alt.Tooltip("probability:Q", format=".4f"), alt.Tooltip("logit:Q", format=".2f")],
    )
    text = bars.mark_text(dy=-9, fontSize=14).encode(text=alt.Text("probability:Q", format=".3f"), color=alt.value("#333"))
    st.altair_chart((bars + text).properties(height=240), width="stretch")
with metric_col:
    st.metric("Loss L = −log p_c", f"{ex.loss:.4f}")
    st.metric(f"p_{true_letter} (true class)", f"{ex.p[c]:.4f}")
    st.metric("Predicted", letters[ex.predicted])

# ---- the derivation, step by step ---------------------------------------------------------------
st.header("From the logits to dL/do, step by step")
TITLES = ["softmax", "cross-entropy loss", "softmax Jacobian", "dL/dp", "chain rule", "simplify to p − y"]
reveal = Reveal("sm_steps", TITLES)
reveal.controls()


def step(i, title, *lines, note=None, chart=None):
    """Draw step i (title, LaTeX lines, optional chart and note) if it is revealed; return whether it was."""
    if not reveal.visible(i):
        return False
    st.subheader(f"{i + 1}. {title}")
    for line in lines:
        show(line)
    if chart is not None:
        st.altair_chart(chart, width="stretch")
    if note:
        st.caption(note)
    return True




step(0, "Softmax turns the logits into probabilities",
     r"p_k = \frac{e^{o_k}}{\sum_{j=1}^{K} e^{o_j}}",
     rf"{L_}\quad \mathbf o = {col(ex.o, 2)} \quad e^{{\mathbf o}} = {col(ex.exp_o)} \quad "
     rf"\mathbf p = \frac{{e^{{\mathbf o}}}}{{{num(ex.sum_exp)}}} = {col(ex.p)}",
     note=f"Vectors are written as columns, one row per class {letters[0]}..{letters[-1]}. "
          "The denominator is the sum of e^o. mlp.core.softmax subtracts max(o) before exp; "
          "the result is the same (see Numerical stability below).")
step(1, "Cross-entropy picks out the true class",
     rf"L = -\sum_{{k=1}}^{{K}} y_k \log p_k = -\log {P} \qquad (\mathbf y \text{{ one-hot at }} c = \mathrm{{{true_letter}}})",
     rf"{L_}\quad \mathbf y = {col(ex.y, 0)} \qquad L = -\log \underbrace{{{num(ex.p[c])}}}_{{{P}}} = {num(ex.loss, 4)}")
step(2, "The softmax Jacobian: every p_i depends on every o_j",
     r"J_{ij} = \frac{\partial p_i}{\partial o_j} = p_i\,(\delta_{ij} - p_j) = "
     r"\begin{cases} p_i\,(1 - p_i) & i = j \\ -\,p_i\, p_j & i \neq j \end{cases}",
     *([labelled(ex.jacobian, letters, letters, 3, r"i \backslash j", sci=False)] if k <= JACOBIAN_LATEX_MAX_K else []),
     chart=None if k <= JACOBIAN_LATEX_MAX_K else jacobian_grid(ex.jacobian, letters),
     note="J: rows i, columns j. The diagonal is positive, the rest negative; every row sums to 0 because the p_i always sum to 1.")
step(3, "The loss as a function of the probabilities",
     r"\frac{\partial L}{\partial p_i} = -\frac{y_i}{p_i} \qquad (0 \text{ unless } i = c)",
     rf"{L_}\quad \frac{{\partial L}}{{\partial \mathbf p}} = {col(ex.dl_dp)} \qquad "
     rf"\frac{{\partial L}}{{\partial {P}}} = -\frac{{1}}{{{num(ex.p[c])}}} = {num(ex.dl_dp[c])}")
step(4, "Chain rule: add up every path from o_j to L",
     r"\frac{\partial L}{\partial o_j} = \sum_{i=1}^{K} \frac{\partial L}{\partial p_i}\,\frac{\partial p_i}{\partial o_j}"
     rf"= \frac{{\partial L}}{{\partial {P}}}\, J_{{\mathrm{{{true_letter}}}\,j}}",
     rf"{L_}\quad \frac{{\partial L}}{{\partial \mathbf o}} = \underbrace{{{num(ex.dl_dp[c])}}}_{{\partial L/\partial {P}}}"
     rf"\times \underbrace{{{col(ex.jacobian[c])}}}_{{\text{{row {true_letter} of }} J}} = {col(ex.chain)}",
     note="Only row c of J survives, because dL/dp is zero everywhere else.")
step(5, "Simplify: the two cases i = j and i ≠ j",
     aligned(r"\frac{\partial L}{\partial o_j} &= \underbrace{-\frac{y_j}{p_j}\,p_j(1-p_j)}_{i = j}"
             r" + \underbrace{\sum_{i \neq j} -\frac{y_i}{p_i}\,(-p_i p_j)}_{i \neq j}",
             r"&= -y_j + y_j p_j + p_j \sum_{i \neq j} y_i",
             r"&= -y_j + p_j \underbrace{\Big(y_j + \sum_{i \neq j} y_i\Big)}_{=\,\sum_i y_i \,=\, 1} = p_j - y_j"),
     rf"{L_}\quad \underbrace{{{col(ex.diag_term)}}}_{{i = j}} + \underbrace{{{col(ex.off_term)}}}_{{i \neq j}} = {col(ex.chain)}",
     rf"{L_}\quad \underbrace{{{col(ex.p)}}}_{{\mathbf p}} - \underbrace{{{col(ex.y, 0)}}}_{{\mathbf y}} = {col(ex.grad)}",
     note=f"The chain-rule product and p − y (mlp.core.grad_ce) differ by {ex.chain_vs_grad:.1e}: rounding only.")
reveal.next_button()

# ---- finite differences -------------------------------------------------------------------------
st.header("Check it with finite differences")
fd = finite_difference_logits(ex.o, c, eps=FD_EPS)
show(r"\frac{\partial L}{\partial o_j} \approx \frac{L(\mathbf o + \varepsilon\,\mathbf e_j) - L(\mathbf o - \varepsilon\,\mathbf e_j)}{2\varepsilon},"
         rf"\qquad \varepsilon = {num(FD_EPS)}")
st.table(pd.DataFrame({
    "class": list(letters),
    "analytic p_j − y_j": [fmt(v, ".10f") for v in fd.analytic],
    "numeric (central difference)": [fmt(v, ".10f") for v in fd.numeric],
    "absolute error": [fmt(v, ".1e") for v in fd.abs_error],
    "relative error": [fmt(v, ".1e") for v in fd.rel_error],
}).set_index("class"))
st.markdown(f"Largest relative error: **{fd.max_rel_error:.1e}**, where relative error = |a − n| / (|a| + |n|).")
if fd.max_rel_error >= 1e-6:
    st.caption("Some gradient entries are tiny (the logits are far apart): float64 rounds L to about 1e-16, so a central "
               f"difference with ε = {FD_EPS:g} is only good to about 1e-11 absolute, and for an entry near 1e-6 that is a "
               "large relative error. The absolute errors show the analytic values are right.")

# ---- numerical stability ------------------------------------------------------------------------
st.header("Numerical stability: large logits")
ctrl_scale, ctrl_kind = st.columns([1, 1])
scale = ctrl_scale.select_slider("Scale the logits by s", SCALES, value=1, key="sm_scale")
kind = ctrl_kind.radio("Softmax to use", [NAIVE, STABLE], key="sm_kind")
ov = overflow_demo(ex.o, c, scale)
if kind == NAIVE:
    show(r"p_k = \frac{e^{s o_k}}{\sum_j e^{s o_j}}")
    show(rf"{L_}\quad s\,\mathbf o = {col(ov.scaled, 1)} \quad e^{{s\mathbf o}} = {col(ov.naive_exp)} \quad "
             rf"\mathbf p = \frac{{e^{{s\mathbf o}}}}{{{num(ov.naive_sum)}}} = {col(ov.naive_p)}")
    if ov.naive_ok:
        st.success("The naive softmax is still fine at this scale: no $e^{so}$ overflowed.")
    else:
        st.error("Overflow: $e^{so}$ is larger than the largest float64 (about 1.8e308) once $so$ passes ~709.8, "
                 "so it becomes inf, and inf / inf = NaN.")
else:
    show(r"p_k = \frac{e^{s o_k - m}}{\sum_j e^{s o_j - m}}, \qquad m = \max_j s o_j = " + num(ov.scaled.max(), 1))
    show(rf"{L_}\quad s\,\mathbf o = {col(ov.scaled, 1)} \quad s\,\mathbf o - m = {col(ov.shifted, 1)} \quad "
             rf"e^{{s\mathbf o - m}} = {col(ov.stable_exp)} \quad \mathbf p = \frac{{e^{{s\mathbf o - m}}}}{{{num(ov.stable_sum)}}}"
             rf" = {col(ov.stable_p)}")
    st.success("Exact at any scale: the largest exponent is $e^0 = 1$, so nothing overflows "
               "(multiplying top and bottom by $e^{-m}$ does not change p).")

st.subheader("And the log: log of a zero probability vs log-softmax")
show(r"\log p_c = (s o_c - m) - \log \sum_j e^{s o_j - m}\quad\text{(log-softmax, never } \log 0\text{)}")
st.table(pd.DataFrame({
    "route": ["log(naive softmax)", "log(stable softmax)", "log_softmax (mlp.core.log_softmax)"],
    f"p_{true_letter} first": [fmt(ov.naive_p[c], ".4g"), fmt(ov.stable_p[c], ".4g"), "(not formed)"],
    f"log p_{true_letter}": [fmt(v, ".4f") for v in (ov.log_naive_p[c], ov.log_stable_p[c], ov.log_softmax[c])],
    "loss L": [fmt(v, ".4f") for v in (ov.naive_loss, ov.stable_log_loss, ov.log_softmax_loss)],
}).set_index("route"))
if ov.stable_p[c] == 0:
    st.warning(f"p_{true_letter} underflowed to exactly 0, so log p = −inf and the loss is inf; log-softmax gives the "
               f"exact, finite loss {ov.log_softmax_loss:.1f}. This is why mlp trains with average_ce_logits.")
else:
    st.caption(f"To see log 0: pick a scale of 1000 and a true class whose logit is well below the largest one "
               f"(now p_{true_letter} = {ov.stable_p[c]:.3g}).")

# ---- common mistakes ----------------------------------------------------------------------------
st.header("Common mistakes (in the course report's derivation)")
st.markdown("The report's code is right (`grad_ce` returns `softmax(logits) - target`), but its written "
            "derivation goes wrong in four places. The report's line first, then the correct one.")
MISTAKES = [
    ("Only one path from o to L",
     r"\frac{\partial L}{\partial o_k} = \frac{\partial L}{\partial p_k}\frac{\partial p_k}{\partial o_k}",
     r"\frac{\partial L}{\partial o_j} = \sum_{i=1}^{K} \frac{\partial L}{\partial p_i}\frac{\partial p_i}{\partial o_j}",
     "Every p_i depends on o_j through the denominator, so the chain rule sums over i."),
    ("A sum inside dL/dp",
     r"\frac{\partial L}{\partial p_k} = -\sum_{k=1}^{K} \frac{y_k}{p_k}",
     r"\frac{\partial L}{\partial p_i} = -\frac{y_i}{p_i}",
     "Differentiating with respect to one p_i leaves one term (and the summation index clashes with the free k)."),
    ("The k = j and k ≠ j cases mixed up",
     r"\frac{\partial p_k}{\partial o_k} = \begin{cases} \frac{\partial}{\partial o_k}\Big(\frac{e^{o_k}}{\sum_{k=1}^K e^{o_k}}\Big)"
     r" & k = j \\ \frac{\partial}{\partial o_k}\Big(\frac{e^{o_k}}{\sum_{k=1}^K e^{o_k}}\Big) & k \neq j \end{cases}",
     r"\frac{\partial p_i}{\partial o_j} = \begin{cases} p_i(1 - p_i) & i = j \\ -p_i p_j & i \neq j \end{cases}",
     "Both cases differentiate p_k by the same o_k, so the k ≠ j case (p_k by another logit o_j) never appears; "
     "the next line labels both cases 'k ≠ j' and squares the fraction."),
    ("The last line",
     r"-y_j + p_j\Big(y_j + \sum_{k \neq j} y_k\Big) = -y_j - y_j",
     r"-y_j + p_j\Big(y_j + \sum_{k \neq j} y_k\Big) = -y_j + p_j \cdot 1 = p_j - y_j",
     "The bracket is the sum of all y_k, which is 1 for a one-hot (or any probability) target."),
]
for title, wrong, right, why in MISTAKES:
    st.markdown(f"**{title}.** {why}")
    show(aligned(rf"\text{{report:}}\quad & {wrong}", rf"\text{{correct:}}\quad & {right}"))
st.markdown("With your numbers:")
show(rf"{L_}\quad \underbrace{{{col(ex.report_result, 0)}}}_{{\text{{report: }} -y_j - y_j}} \qquad "
         rf"\underbrace{{{col(ex.grad)}}}_{{\text{{correct: }} p_j - y_j}} \qquad "
         rf"\underbrace{{{col(fd.numeric)}}}_{{\text{{finite differences}}}}")
