"""The backpropagation page's tiny network: every number of a forward and backward pass, a gradient check and
one momentum step. Numbers from ``lab.explain`` (which calls ``mlp``); counts from ``lab.backprop_facts``.

Notation (as on every page): rows are examples, so x is N x F and a layer is x W + b; y is the one-hot N x K
matrix and c_n the class of example n; k sums over classes, n over examples; δ_o and δ_h are error signals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from lab.backprop_facts import changed_entries
from lab.explain import GRADCHECK_EPS, check_gradients, explain_momentum_step, explain_pass, tiny_problem
from lab.predict import backprop_questions, random_seed
from mlp.core import LETTERS
from ui.latex import M, chain, cols, fit, fmt, mat, mat_or_const, num, row_labels, show, sym
from ui.predict import new_numbers_button, problem_id
from ui.reveal import Reveal

PARAM_LABELS = {"w_o": "W_o", "b_o": "b_o", "w_h": "W_h", "b_h": "b_h"}
STEPS = "bp_steps"  # the Reveal's key
SEED_KEY = "bp_seed"
DEFAULT_SEED = 27
UNIT_ROUNDOFF = np.finfo(np.float64).eps / 2  # 1.1e-16
TITLES = ["hidden pre-activations", "ReLU", "logits", "softmax", "loss",
          "output delta", "output-layer gradients", "back through the ReLU", "hidden-layer gradients"]


def new_problem(rng):
    """'New numbers': a fresh seed for the tiny problem (same sizes), and the steps from step 1."""
    st.session_state[SEED_KEY] = random_seed(rng)
    Reveal.restart(STEPS)


def inputs():
    """The sidebar -> (F, H, K, N, seed)."""
    with st.sidebar:
        new_numbers_button("bp", new_problem)
        sizes = (st.slider("Inputs F", 2, 4, 4, key="bp_f"), st.slider("Hidden ReLU units H", 2, 4, 3, key="bp_h"),
                 st.slider("Classes K", 2, 4, 3, key="bp_k"), st.slider("Examples in the batch N", 1, 4, 2, key="bp_n"))
        st.session_state.setdefault(SEED_KEY, DEFAULT_SEED)
        seed = st.number_input("Seed", 0, 9999, key=SEED_KEY)
    return (*sizes, int(seed))


def network_section(params, x, ps, letters):
    ex_rows = row_labels([f"{n + 1}\\,({letters[c]})" for n, c in enumerate(ps.labels)])
    units = row_labels([f"h_{j + 1}" for j in range(ps.h.shape[1])])
    st.header("The network and the batch")
    st.markdown("Examples (rows of x) and their classes c_n: "
                + ", ".join(f"**{n + 1}: {letters[c]}**" for n, c in enumerate(ps.labels)) + ".")
    for line in fit((rf"{ex_rows}\quad {sym('x', x)} = {mat(x)}", cols(x) + 1.5),
                    (rf"{sym('y', ps.y)} = {mat(ps.y, 0)}", cols(ps.y, 0) + 1)):
        show(line)
    for line in fit((rf"{sym('W_h', params.w_h)} = {mat(params.w_h)}", cols(params.w_h) + 1),
                    (rf"{sym('b_h', params.b_h)} = {mat(params.b_h)}", cols(params.b_h) * 0.7 + 1),
                    (rf"{units}\quad {sym('W_o', params.w_o)} = {mat(params.w_o)}", cols(params.w_o) + 1.5),
                    (rf"{sym('b_o', params.b_o)} = {mat(params.b_o)}", cols(params.b_o) * 0.7 + 1)):
        show(line)


def forward_steps(reveal, params, x, ps, ex_rows):
    """Steps 1-5: z_h, the ReLU and its mask, the logits, the softmax, the loss."""
    off, n = ps.mask == 0, x.shape[0]
    st.subheader("Forward pass")
    reveal.step(0, "Hidden pre-activations",
                rf"{sym('z_h', ps.z_h)} = {sym('x', x)}\;{sym('W_h', params.w_h)} + {sym('b_h', params.b_h)}",
                chain("z_h", ("", M(x)), ("", M(params.w_h)), ("+", M(params.b_h)), ("=", M(ps.z_h, gray=off))),
                note="b_h is added to every row (broadcast). Gray: z_h ≤ 0, which the ReLU will switch off.", level=4)
    reveal.step(1, "ReLU, and the mask it leaves behind",
                r"h = \mathrm{ReLU}(z_h) = \max(z_h, 0), \qquad \mathbf 1[z_h > 0] = \text{mask}",
                fit((rf"{ex_rows}\quad {sym('h', ps.h)} = {mat(ps.h, gray=off)}", cols(ps.h) + 1.5),
                    (rf"\mathbf 1[z_h > 0] = {mat(ps.mask, 0, gray=off)}", cols(ps.mask, 0) + 1.5)),
                note=f"{int(ps.mask.sum())} of {ps.mask.size} hidden activations are on. The mask is kept for the "
                     "backward pass.", level=4)
    reveal.step(2, "Logits",
                rf"{sym('o', ps.o)} = {sym('h', ps.h)}\;{sym('W_o', params.w_o)} + {sym('b_o', params.b_o)}",
                chain("o", ("", M(ps.h, gray=off)), ("", M(params.w_o)), ("+", M(params.b_o)), ("=", M(ps.o))),
                level=4)
    reveal.step(3, "Softmax, row by row",
                r"p_{ni} = \frac{e^{o_{ni}}}{\sum_{k=1}^{K} e^{o_{nk}}}",
                fit((rf"{ex_rows}\quad {sym('p', ps.p)} = {mat(ps.p)}", cols(ps.p) + 1.5),
                    (rf"{sym('y', ps.y)} = {mat(ps.y, 0)}", cols(ps.y, 0) + 1)),
                note="Each row sums to 1. y is one-hot: row n has its 1 at the example's class c_n (in brackets on "
                     "the left).", level=4)
    terms = " + ".join(num(v) for v in ps.log_p_true).replace("+ -", "- ")
    reveal.step(4, "Average cross-entropy",
                r"L = -\frac{1}{N}\sum_{n=1}^{N} \sum_{k=1}^{K} y_{nk} \log p_{nk} = -\frac{1}{N}\sum_{n=1}^{N}"
                r" \log p_{n, c_n}",
                rf"{ex_rows}\quad \log p_{{n, c_n}} = {mat(ps.log_p_true[:, None])}",
                rf"L = -\frac{{1}}{{{n}}}\Big({terms}\Big) = {num(ps.loss, 4)}",
                note="log p is computed as log-softmax (mlp.core.average_ce_logits), never as log of a rounded p.",
                level=4)


def backward_steps(reveal, params, x, ps):
    """Steps 6-9: δ_o, the output-layer gradients, δ_h through the ReLU, the hidden-layer gradients."""
    off, n = ps.mask == 0, x.shape[0]
    dl = r"\frac{\partial L}{\partial %s}"
    S = {"do": sym(r"\delta_o", ps.delta_o), "dh": sym(r"\delta_h", ps.delta_h), "hT": sym(r"h^\top", ps.h.T),
         "xT": sym(r"x^\top", x.T), "woT": sym(r"W_o^\top", params.w_o.T)}
    if reveal.visible(5):
        st.subheader("Backward pass")
    reveal.step(5, "Output delta: dL/do for the average loss",
                rf"{S['do']} = \frac{{p - y}}{{N}}",
                chain(r"\delta_o", ("", (rf"\frac{{1}}{{{n}}}\Big({mat(ps.p)}", cols(ps.p) + 0.5)),
                      ("-", (rf"{mat(ps.y, 0)}\Big)", cols(ps.y, 0))), ("=", M(ps.delta_o, 4))),
                note="p − y is the softmax + cross-entropy gradient of the softmax page; 1/N because L is an average.",
                level=4)
    reveal.step(6, "Output-layer gradients",
                rf"{sym(dl % 'W_o', ps.dwo)} = {S['hT']}\;{S['do']}"
                rf"\qquad {sym(dl % 'b_o', ps.dbo)} = \mathbf 1^\top \delta_o",
                chain(dl % "W_o", ("", M(ps.h.T, gray=off.T)), ("", M(ps.delta_o, 4)), ("=", M(ps.dwo, 4))),
                chain(dl % "b_o", ("", (r"\textstyle\sum_n \delta_{o,n}", 1)), ("=", M(ps.dbo, 4))),
                note="Row j of dL/dW_o is zero when hidden unit j was off for every example.", level=4)
    reveal.step(7, "Back through W_o and the ReLU",
                rf"{S['dh']} = \big(\delta_o\;{S['woT']}\big)"
                r"\odot \mathbf 1[z_h > 0]",
                chain(r"\delta_o W_o^\top", ("", M(ps.delta_o, 4)), ("", M(params.w_o.T)), ("=", M(ps.back_h, 4))),
                chain(r"\delta_h", ("", M(ps.back_h, 4)), (r"\odot", M(ps.mask, 0, gray=off)),
                      ("=", M(ps.delta_h, 4, gray=off))),
                note="⊙ is the elementwise product: the mask zeroes the gradient of every unit the ReLU switched off.",
                level=4)
    reveal.step(8, "Hidden-layer gradients",
                rf"{sym(dl % 'W_h', ps.dwh)} = {S['xT']}\;\delta_h"
                rf"\qquad {sym(dl % 'b_h', ps.dbh)} = \mathbf 1^\top \delta_h",
                chain(dl % "W_h", ("", M(x.T)), ("", M(ps.delta_h, 4, gray=off)), ("=", M(ps.dwh, 4))),
                chain(dl % "b_h", ("", (r"\textstyle\sum_n \delta_{h,n}", 1)), ("=", M(ps.dbh, 4))),
                note="These four gradients are exactly what mlp.core.backpropagation returns (dwo, dbo, dwh, dbh).",
                level=4)


def steps_section(params, x, ps, letters, seed):
    st.header("Forward and backward, step by step")
    f, hidden = params.w_h.shape
    reveal = Reveal(STEPS, TITLES, questions=backprop_questions(ps),
                    problem=problem_id(f, hidden, params.w_o.shape[1], x.shape[0], seed))
    reveal.controls()
    ex_rows = row_labels([f"{n + 1}\\,({letters[c]})" for n, c in enumerate(ps.labels)])
    forward_steps(reveal, params, x, ps, ex_rows)
    backward_steps(reveal, params, x, ps)
    reveal.next_button()


def gradient_check_section(params, x, labels, loss):
    st.header("Gradient check")
    rows, worst = check_gradients(params, x, labels, eps=GRADCHECK_EPS)
    show(r"n = \frac{L(w + \varepsilon) - L(w - \varepsilon)}{2\varepsilon} \approx a = \frac{\partial L}{\partial w}"
         rf"\qquad \varepsilon = {num(GRADCHECK_EPS)}")
    show(r"\text{relative error} = \frac{|a - n|}{\max(|a| + |n|,\ 10^{-12})}")
    st.caption("n: central difference of mlp.network.loss, a: mlp.core.backpropagation, for every entry w of every "
               "parameter (mlp.gradcheck.gradient_check; the max in the relative error keeps 0 / 0 away).")
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
        return
    bad = max(rows, key=lambda r: r.max_rel_error)
    noise = UNIT_ROUNDOFF * abs(loss) / GRADCHECK_EPS
    st.warning(
        f"Largest relative error {worst:.1e} is above 1e-6, at {PARAM_LABELS[bad.name]}"
        f"{tuple(i + 1 for i in bad.worst_index)}, whose gradient is only {abs(bad.worst_analytic):.1e} "
        f"(numeric {bad.worst_numeric:.3e}, absolute difference {abs(bad.worst_analytic - bad.worst_numeric):.1e}). "
        f"Rounding is relative: float64 stores the loss L = {loss:.4f} to within about 1.1e-16 × |L|, and each "
        f"operation inside L adds about as much, so a central difference with ε = {GRADCHECK_EPS:g} carries about "
        f"1.1e-16 × |L| / ε = {noise:.1e} of noise, times a few: for an entry this small that is a large relative "
        "error even though the gradient is right. Try another seed to see the usual < 1e-6.")


@st.fragment
def momentum_section(params, x, labels):
    """Its own fragment: moving α, γ or the parameter shown reruns this section only."""
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
    momentum_metrics(step)


def momentum_metrics(step):
    changed = changed_entries(step.params_before, step.params_after)
    moved, total = changed["total"]
    m1, m2, m3 = st.columns(3)
    m1.metric("Loss before the step", f"{step.loss_before:.6f}")
    m2.metric("Loss after the step", f"{step.loss_after:.6f}", delta=f"{step.loss_after - step.loss_before:+.6f}",
              delta_color="inverse")
    m3.metric("Parameters changed", f"{moved} of {total}")
    still = ", ".join(f"{PARAM_LABELS[n]} {total_n - moved_n}" for n, (moved_n, total_n) in changed.items()
                      if n != "total" and moved_n < total_n)
    st.caption("The loss is of the same batch, before and after the update of all four parameters "
               "(mlp.train.momentum_step on each). A large α can make it go up. 'Parameters changed' counts the "
               "entries with W′ ≠ W" + (f"; unchanged: {still} (their gradient is 0 and, with γ = 0, the "
                                         "starting velocity is not carried over)." if still else "."))


def tiny_page():
    n_in, n_hidden, n_out, n_ex, seed = inputs()
    params, x, labels = tiny_problem(n_in, n_hidden, n_out, n_ex, seed)
    ps = explain_pass(params, x, labels)
    letters = LETTERS[:n_out]
    st.caption(
        f"A {n_in}-{n_hidden}-{n_out} ReLU + softmax network, float64: Xavier weights "
        f"(`mlp.network.init_params(seed={seed})`) and small random biases (the report starts them at 0; "
        f"random ones exercise every gradient), and a batch of {n_ex} pixel-like inputs (0..255 / 255) with "
        "random classes (`lab.explain.tiny_problem`). Rows are examples, so a layer is x W + b. "
        "Entries switched off by the ReLU are gray. 'New numbers' in the sidebar draws a fresh seed.")
    network_section(params, x, ps, letters)
    steps_section(params, x, ps, letters, seed)
    gradient_check_section(params, x, labels, ps.loss)
    momentum_section(params, x, labels)
