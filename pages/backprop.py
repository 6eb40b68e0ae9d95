"""Backpropagation: one forward and backward pass with every number on screen, a gradient check and a momentum step.

Two modes: a tiny network (every matrix printed) and one real letter through the full 784-H-10 network.
Every number comes from ``mlp`` (``lab.explain`` calls ``mlp.core``, ``mlp.network``, ``mlp.gradcheck``,
``mlp.train``); this page only lays them out.
"""

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from lab.explain import (
    GRADCHECK_EPS,
    check_gradients,
    explain_letter,
    explain_momentum_step,
    explain_pass,
    report_map,
    tiny_problem,
)
from mlp.core import LETTERS
from mlp.data import DataError
from mlp.network import init_params
from ui.data_source import current_split, data_source_picker
from ui.latex import Reveal, aligned, col, fmt, mat, mat_or_const, num, row_labels, shape, show, sym
from ui.router import ensure_router
from ui.session import current_model

ensure_router()

TINY, REAL = "Tiny network (every number)", "One real letter (784-H-10)"
FRESH, SESSION = "A fresh 784-H-10 network (seed)", "The session's current model"
PARAM_LABELS = {"w_o": "W_o", "b_o": "b_o", "w_h": "W_h", "b_h": "b_h"}

st.title("Backpropagation")

with st.sidebar:
    st.subheader("Backpropagation")
    mode = st.radio("Show", [TINY, REAL], key="bp_mode")


# ================================================================================================
# Tiny network: every number
# ================================================================================================


MAX_COLS = 6.5  # columns of 3-decimal numbers that fit one KaTeX line on a 1024 x 768 screen with the sidebar open


def cols(a, digits=3):
    """How many 'columns' a matrix takes on a line (4-decimal numbers are wider, 0/1 masks narrower)."""
    a = np.asarray(a)
    n = a.shape[1] if a.ndim == 2 else 1
    return n * {0: 0.6, 3: 1.0, 4: 1.2}.get(digits, 1.0)


def M(a, digits=3, gray=None):
    """(LaTeX, width) of a matrix, for ``chain`` and ``fit``."""
    return mat(a, digits, gray), cols(a, digits)


def chain(lhs, *terms, lhs_width=1.0):
    r"""Aligned rows 'lhs = t1 t2 + t3 = t4', broken before any term that would not fit in MAX_COLS.

    terms: (op, (latex, width)) with op '' (product), '+', '-', r'\odot' or '='.
    """
    rows, cur, width, first = [], rf"{lhs} &=", lhs_width, True
    for op, (tex, wd) in terms:
        if not first and width + wd > MAX_COLS:
            rows.append(cur)
            cur, width = ("&=" if op == "=" else r"&\quad " + (op or r"\cdot")), 0.0
        else:
            cur += f" {op}" if op else r"\,"
        cur += f" {tex}"
        width += wd
        first = False
    rows.append(cur)
    return aligned(*rows)


def fit(*items):
    """Pack (latex, width) items into as few LaTeX lines as fit MAX_COLS, side by side with space between."""
    lines, cur, width = [], [], 0.0
    for tex, wd in items:
        if cur and width + wd > MAX_COLS:
            lines.append(r"\qquad ".join(cur))
            cur, width = [], 0.0
        cur.append(tex)
        width += wd
    lines.append(r"\qquad ".join(cur))
    return lines


def tiny_page():
    with st.sidebar:
        n_in = st.slider("Inputs F", 2, 4, 4, key="bp_f")
        n_hidden = st.slider("Hidden ReLU units H", 2, 4, 3, key="bp_h")
        n_out = st.slider("Classes K", 2, 4, 3, key="bp_k")
        n_ex = st.slider("Examples in the batch N", 1, 4, 2, key="bp_n")
        seed = st.number_input("Seed", 0, 9999, 27, key="bp_seed")
    params, x, labels = tiny_problem(n_in, n_hidden, n_out, n_ex, int(seed))
    ps = explain_pass(params, x, labels)
    letters = LETTERS[:n_out]
    ex_rows = row_labels([f"{n + 1}\\,({letters[c]})" for n, c in enumerate(labels)])  # example n (its class)
    units = row_labels([f"h_{j + 1}" for j in range(n_hidden)])
    off = ps.mask == 0  # gray where the ReLU is off

    st.caption(
        f"A {n_in}-{n_hidden}-{n_out} ReLU + softmax network, float64: Xavier weights "
        f"(`mlp.network.init_params(seed={int(seed)})`) and small random biases (the report starts them at 0; "
        f"random ones exercise every gradient), and a batch of {n_ex} pixel-like inputs (0..255 / 255) with "
        "random classes (`lab.explain.tiny_problem`). Rows are examples, so a layer is x W + b. "
        "Entries switched off by the ReLU are gray."
    )

    st.header("The network and the batch")
    st.markdown("Examples (rows of x) and their classes: "
                + ", ".join(f"**{n + 1}: {letters[c]}**" for n, c in enumerate(labels)) + ".")
    for line in fit((rf"{ex_rows}\quad {sym('x', x)} = {mat(x)}", cols(x) + 1.5),
                    (rf"{sym('y', ps.y)} = {mat(ps.y, 0)}", cols(ps.y, 0) + 1)):
        show(line)
    for line in fit((rf"{sym('W_h', params.w_h)} = {mat(params.w_h)}", cols(params.w_h) + 1),
                    (rf"{sym('b_h', params.b_h)} = {mat(params.b_h)}", cols(params.b_h) * 0.7 + 1),
                    (rf"{units}\quad {sym('W_o', params.w_o)} = {mat(params.w_o)}", cols(params.w_o) + 1.5),
                    (rf"{sym('b_o', params.b_o)} = {mat(params.b_o)}", cols(params.b_o) * 0.7 + 1)):
        show(line)

    st.header("Forward and backward, step by step")
    titles = ["hidden pre-activations", "ReLU", "logits", "softmax", "loss",
              "output delta", "output-layer gradients", "back through the ReLU", "hidden-layer gradients"]
    reveal = Reveal("bp_steps", titles)
    reveal.controls()
    dl = r"\frac{\partial L}{\partial %s}"
    S = {"do": sym(r"\delta_o", ps.delta_o), "dh": sym(r"\delta_h", ps.delta_h), "hT": sym(r"h^\top", ps.h.T),
         "xT": sym(r"x^\top", x.T), "woT": sym(r"W_o^\top", params.w_o.T), "dwo": sym(dl % "W_o", ps.dwo),
         "dbo": sym(dl % "b_o", ps.dbo), "dwh": sym(dl % "W_h", ps.dwh), "dbh": sym(dl % "b_h", ps.dbh)}

    def step(i, heading, *lines, note=None):
        if not reveal.visible(i):
            return
        if i == 0:
            st.subheader("Forward pass")
        if i == 5:
            st.subheader("Backward pass")
        st.markdown(f"**{i + 1}. {heading}**")
        for line in lines:
            for part in [line] if isinstance(line, str) else line:
                show(part)
        if note:
            st.caption(note)

    step(0, "Hidden pre-activations",
         rf"{sym('z_h', ps.z_h)} = {sym('x', x)}\;{sym('W_h', params.w_h)} + {sym('b_h', params.b_h)}",
         chain("z_h", ("", M(x)), ("", M(params.w_h)), ("+", M(params.b_h)), ("=", M(ps.z_h, gray=off))),
         note="b_h is added to every row (broadcast). Gray: z_h ≤ 0, which the ReLU will switch off.")
    step(1, "ReLU, and the mask it leaves behind",
         r"h = \mathrm{ReLU}(z_h) = \max(z_h, 0), \qquad \mathbf 1[z_h > 0] = \text{mask}",
         fit((rf"{ex_rows}\quad {sym('h', ps.h)} = {mat(ps.h, gray=off)}", cols(ps.h) + 1.5),
             (rf"\mathbf 1[z_h > 0] = {mat(ps.mask, 0, gray=off)}", cols(ps.mask, 0) + 1.5)),
         note=f"{int(ps.mask.sum())} of {ps.mask.size} hidden activations are on. The mask is kept for the backward pass.")
    step(2, "Logits",
         rf"{sym('o', ps.o)} = {sym('h', ps.h)}\;{sym('W_o', params.w_o)} + {sym('b_o', params.b_o)}",
         chain("o", ("", M(ps.h, gray=off)), ("", M(params.w_o)), ("+", M(params.b_o)), ("=", M(ps.o))))
    step(3, "Softmax, row by row",
         r"p_{nk} = \frac{e^{o_{nk}}}{\sum_j e^{o_{nj}}}",
         fit((rf"{ex_rows}\quad {sym('p', ps.p)} = {mat(ps.p)}", cols(ps.p) + 1.5),
             (rf"{sym('y', ps.y)} = {mat(ps.y, 0)}", cols(ps.y, 0) + 1)),
         note="Each row sums to 1. y is one-hot: the example's class (in brackets on the left).")
    step(4, "Average cross-entropy",
         r"L = -\frac{1}{N}\sum_{n=1}^{N} \log p_{n, y_n}",
         rf"{ex_rows}\quad \log p_{{n, y_n}} = {col(ps.log_p_true)}",
         (rf"L = -\frac{{1}}{{{n_ex}}}\Big({' + '.join(num(v) for v in ps.log_p_true)}\Big) = {num(ps.loss, 4)}"
          .replace("+ -", "- ")),
         note="log p is computed as log-softmax (mlp.core.average_ce_logits), never as log of a rounded p.")
    step(5, "Output delta: dL/do for the average loss",
         rf"{S['do']} = \frac{{p - y}}{{N}}",
         chain(r"\delta_o", ("", (rf"\frac{{1}}{{{n_ex}}}\Big({mat(ps.p)}", cols(ps.p) + 0.5)),
               ("-", (rf"{mat(ps.y, 0)}\Big)", cols(ps.y, 0))), ("=", M(ps.delta_o, 4))),
         note="p − y is the softmax + cross-entropy gradient of the softmax page; 1/N because L is an average.")
    step(6, "Output-layer gradients",
         rf"{S['dwo']} = {S['hT']}\;{S['do']}"
         rf"\qquad {S['dbo']} = \mathbf 1^\top \delta_o",
         chain(r"\frac{\partial L}{\partial W_o}", ("", M(ps.h.T, gray=off.T)), ("", M(ps.delta_o, 4)), ("=", M(ps.dwo, 4))),
         chain(r"\frac{\partial L}{\partial b_o}", ("", (r"\textstyle\sum_n \delta_{o,n}", 1)), ("=", M(ps.dbo, 4))),
         note="Row j of dL/dW_o is zero when hidden unit j was off for every example.")
    step(7, "Back through W_o and the ReLU",
         rf"{S['dh']} = \big({S['do']}\;{S['woT']}\big)"
         r"\odot \mathbf 1[z_h > 0]",
         chain(r"\delta_o W_o^\top", ("", M(ps.delta_o, 4)), ("", M(params.w_o.T)), ("=", M(ps.back_h, 4))),
         chain(r"\delta_h", ("", M(ps.back_h, 4)), (r"\odot", M(ps.mask, 0, gray=off)), ("=", M(ps.delta_h, 4, gray=off))),
         note="⊙ is the elementwise product: the mask zeroes the gradient of every unit the ReLU switched off.")
    step(8, "Hidden-layer gradients",
         rf"{S['dwh']} = {S['xT']}\;{S['dh']}"
         rf"\qquad {S['dbh']} = \mathbf 1^\top \delta_h",
         chain(r"\frac{\partial L}{\partial W_h}", ("", M(x.T)), ("", M(ps.delta_h, 4, gray=off)), ("=", M(ps.dwh, 4))),
         chain(r"\frac{\partial L}{\partial b_h}", ("", (r"\textstyle\sum_n \delta_{h,n}", 1)), ("=", M(ps.dbh, 4))),
         note="These four gradients are exactly what mlp.core.backpropagation returns (dwo, dbo, dwh, dbh).")
    reveal.next_button()

    gradient_check_section(params, x, labels)
    momentum_section(params, x, labels)
    report_map_section()


def gradient_check_section(params, x, labels):
    st.header("Gradient check")
    rows, worst = check_gradients(params, x, labels, eps=GRADCHECK_EPS)
    show(r"n = \frac{L(w + \varepsilon) - L(w - \varepsilon)}{2\varepsilon} \approx a = \frac{\partial L}{\partial w}"
             rf"\qquad \varepsilon = {num(GRADCHECK_EPS)}")
    show(r"\text{relative error} = \frac{|a - n|}{|a| + |n|}")
    st.caption("n: central difference of mlp.network.loss, a: mlp.core.backpropagation, for every entry w of every "
               "parameter (mlp.gradcheck.gradient_check).")
    st.table(pd.DataFrame({
        "parameter": [PARAM_LABELS[r.name] for r in rows],
        "entries checked": [f"{r.entries} ({' × '.join(map(str, r.shape))})" for r in rows],
        "largest relative error": [fmt(r.max_rel_error, ".1e") for r in rows],
        "at entry": [str(tuple(i + 1 for i in r.worst_index)) for r in rows],
        "analytic a there": [fmt(r.worst_analytic, ".4e") for r in rows],
        "numeric n there": [fmt(r.worst_numeric, ".4e") for r in rows],
    }).set_index("parameter"))
    total = sum(r.entries for r in rows)
    if worst < 1e-6:
        st.success(f"All {total} entries agree: largest relative error {worst:.1e} (below 1e-6, float64).")
    else:
        bad = max(rows, key=lambda r: r.max_rel_error)
        st.warning(
            f"Largest relative error {worst:.1e} is above 1e-6, at {PARAM_LABELS[bad.name]}"
            f"{tuple(i + 1 for i in bad.worst_index)}, whose gradient is only {abs(bad.worst_analytic):.1e} "
            f"(numeric {bad.worst_numeric:.3e}, absolute difference {abs(bad.worst_analytic - bad.worst_numeric):.1e}). "
            "float64 rounds the loss to about 1e-16, so a central difference with ε = 1e-5 carries about 1e-11 of "
            "noise: for an entry this small that is a large relative error even though the gradient is right. "
            "Try another seed to see the usual < 1e-6.")


def momentum_section(params, x, labels):
    st.header("One step of gradient descent with momentum")
    c1, c2, c3 = st.columns(3)
    lr = c1.slider("Learning rate α", 0.01, 2.0, 0.1, 0.01, key="bp_lr")
    momentum = c2.slider("Momentum γ", 0.0, 0.99, 0.9, 0.01, key="bp_momentum")
    name = c3.selectbox("Parameter to show", list(PARAM_LABELS), index=0, format_func=PARAM_LABELS.get, key="bp_param")
    step = explain_momentum_step(params, x, labels, lr=lr, momentum=momentum)
    s = PARAM_LABELS[name]
    w, v, g = (getattr(step.params_before, name), getattr(step.velocity_before, name), getattr(step.grads, name))
    v2, w2 = getattr(step.velocity_after, name), getattr(step.params_after, name)
    show(r"v \leftarrow \gamma\, v + \alpha\, \frac{\partial L}{\partial W}, \qquad W \leftarrow W - v")
    st.caption("The velocity v starts at 1e-5 in every entry, as in the report (mlp.train.start_velocity).")
    show(chain(rf"v_{{{s}}}'", ("", (rf"\gamma\, v_{{{s}}} + \alpha\, \partial L / \partial {s}", 4)),
                   ("=", (rf"{num(momentum, 2)} \cdot {mat_or_const(v)}", 3 if np.all(v == v.flat[0]) else cols(v) + 1)),
                   ("+", (rf"{num(lr, 2)} \cdot {mat(g, 4)}", cols(g, 4) + 1)), ("=", M(v2, 4))))
    show(chain(rf"{s}'", ("", (rf"{s} - v_{{{s}}}'", 2.5)), ("=", M(w)), ("-", M(v2, 4)), ("=", M(w2))))
    m1, m2, m3 = st.columns(3)
    m1.metric("Loss before the step", f"{step.loss_before:.6f}")
    m2.metric("Loss after the step", f"{step.loss_after:.6f}", delta=f"{step.loss_after - step.loss_before:+.6f}",
              delta_color="inverse")
    m3.metric("Parameters changed", f"{sum(getattr(step.params_before, n).size for n in PARAM_LABELS)}")
    st.caption("The loss is of the same batch, before and after the update of all four parameters "
               "(mlp.train.momentum_step on each). A large α can make it go up.")


def report_map_section():
    st.header("Map to the report")
    lines = ["| formula | the report's function | the line of mlp that computes it |", "|---|---|---|"]
    for row in report_map():
        lines.append(f"| ${row['formula']}$ | `{row['report']}` | `{row['mlp']}` |")
    st.markdown("\n".join(lines))
    st.markdown(
        "**Where the report differs.** Its `backpropagation` overwrites its argument `o` (the hidden "
        "pre-activations, not the logits) with the mask `o[o >= 0] = 1`, so the derivative of ReLU at exactly 0 is "
        "taken as 1; mlp returns new arrays and uses 1[z_h > 0]. Its written derivation uses a column convention "
        "(o = w_o h + b_o) while the code uses rows (x W), and its dL/db_o line carries the W_h terms "
        "(p − y) w_o ∂h/∂w_h; the correct one is the column sum of δ_o above."
    )


# ================================================================================================
# One real letter through the full network
# ================================================================================================


@st.cache_resource(max_entries=4, show_spinner="Initialising the network…")
def fresh_network(n_hidden, seed):
    """A fresh Xavier-initialised 784-H-10 network (float64), shared read-only by the sessions."""
    return init_params(784, n_hidden, 10, seed=seed, dtype=np.float64)


def real_page():
    with st.sidebar:
        try:
            dataset = data_source_picker()
        except DataError as exc:
            st.error(str(exc))
            dataset = None
        model = current_model()
        choices = [FRESH, SESSION] if model is not None else [FRESH]
        source = st.radio("Network", choices, key="bp_net")
        if source == FRESH:
            n_hidden = st.select_slider("Hidden units H", [16, 64, 256, 1000], value=1000, key="bp_real_h")
            seed = st.number_input("Seed", 0, 9999, 521, key="bp_real_seed")
    if dataset is None:
        st.error("No data set to take a letter from: add one in the sidebar.")
        return
    _, _, split = current_split()
    with st.sidebar:
        part = st.selectbox("From the set", ["valid", "test", "train"], key="bp_part")
        xs, ys, _ = split.part(part)
        index = st.number_input(f"Image number (0..{len(ys) - 1})", 0, max(len(ys) - 1, 0), 0, key="bp_index")
    if source == FRESH:
        params = fresh_network(int(n_hidden), int(seed))
        st.caption(f"The network: **a freshly initialised 784-{n_hidden}-10 network** (Xavier weights, zero biases, "
                   f"seed {int(seed)}), untrained, so its guesses are near chance. Train one on the training page "
                   "and choose 'The session's current model' to see a trained network.")
    else:
        params = model.model.params
        f, h, k = params.sizes
        st.caption(f"The network: **the session's current model** ({f}-{h}-{k}, {model.origin}, "
                   f"{params.w_h.dtype}).")
    lp = explain_letter(params, xs[int(index)], int(ys[int(index)]), top=10)
    n_hidden = lp.h.shape[0]

    left, right = st.columns([1, 2], gap="medium")
    with left:  # 28 x 28 pixels blown up 8 x (nearest neighbour), then fitted to the column
        st.image(np.kron(lp.image, np.ones((8, 8))), caption=f"{part} image {int(index)}: the letter {LETTERS[lp.label]}",
                 width="stretch", clamp=True)
    with right:
        m1, m2, m3 = st.columns(3)
        m1.metric("True letter", LETTERS[lp.label])
        m2.metric("Predicted", LETTERS[lp.predicted])
        m3.metric("Loss −log p_true", f"{lp.loss:.4f}")
        show(rf"\underset{{1\times 784}}{{x}} \to \underset{{1\times {n_hidden}}}{{z_h}} \to "
                 rf"\underset{{1\times {n_hidden}}}{{h}} \to \underset{{1\times 10}}{{o}} \to \underset{{1\times 10}}{{p}}")
        st.caption(f"{lp.active} of {n_hidden} hidden units fire (h > 0); the others are masked out of the backward pass.")

    st.header("The hidden units that fire most")
    top = pd.DataFrame({"unit": [f"#{u}" for u in lp.top_units], "h": lp.top_h, "rank": range(len(lp.top_units))})
    st.altair_chart(
        alt.Chart(top).mark_bar(color="#1a73e8").encode(
            x=alt.X("unit:N", sort=list(top["unit"]), title="hidden unit", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("h:Q", title="activation h = ReLU(z_h)"),
            tooltip=["unit", alt.Tooltip("h:Q", format=".4f")]).properties(height=220),
        width="stretch")

    st.header("Logits, probabilities and dL/do")
    labels10 = row_labels(LETTERS[: lp.o.shape[0]])
    show(r"o = h W_o + b_o, \qquad p = \mathrm{softmax}(o), \qquad \frac{\partial L}{\partial o} = p - y")
    show(rf"{labels10}\quad o = {col(lp.o)} \quad p = {col(lp.p)} \quad p - y = {col(lp.dl_do)}")
    probs = pd.DataFrame({"letter": list(LETTERS[: lp.p.shape[0]]), "p": lp.p,
                          "role": ["true letter" if j == lp.label else "other" for j in range(lp.p.shape[0])]})
    st.altair_chart(
        alt.Chart(probs).mark_bar().encode(
            x=alt.X("letter:N", sort=list(LETTERS), title=None, axis=alt.Axis(labelAngle=0, labelFontSize=14)),
            y=alt.Y("p:Q", title="p", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("role:N", scale=alt.Scale(domain=["true letter", "other"], range=["#e8710a", "#1a73e8"]),
                            legend=alt.Legend(title=None, orient="top"))).properties(height=200),
        width="stretch")

    st.header("Backward: the shapes, and where the gradient goes")
    norms = lp.grad_norms()
    show(aligned(
        rf"\delta_o &= p - y & &{shape(lp.dl_do)}",
        rf"\partial L/\partial W_o &= h^\top \delta_o & &{n_hidden}{{\times}}10",
        rf"\delta_h &= (\delta_o W_o^\top) \odot \mathbf 1[z_h > 0] & &1{{\times}}{n_hidden}",
        rf"\partial L/\partial W_h &= x^\top \delta_h & &784{{\times}}{n_hidden}",
    ))
    st.table(pd.DataFrame({
        "gradient": ["dL/dW_o", "dL/db_o", "dL/dW_h", "dL/db_h"],
        "shape": [" × ".join(map(str, getattr(lp.grads, n).shape)) for n in ("w_o", "b_o", "w_h", "b_h")],
        "norm": [fmt(norms[n], ".4f") for n in ("w_o", "b_o", "w_h", "b_h")],
        "hidden units it reaches": [f"{n_hidden} (all)", "—", f"{lp.nonzero_grad_columns()} of {n_hidden} columns nonzero",
                                    f"{lp.nonzero_grad_columns()} of {n_hidden} entries nonzero"],
    }).set_index("gradient"))
    st.caption("With one example N = 1. Only the columns of dL/dW_h that belong to firing units are nonzero, and "
               "within a column only the pixels that are not 0 (x^T δ_h is an outer product).")
    report_map_section()


if mode == TINY:
    tiny_page()
else:
    real_page()
