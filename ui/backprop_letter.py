"""The backpropagation page's real-letter mode: one image through a full 784-H-10 network, where the gradient goes.

Numbers from ``lab.explain.explain_letter``; which rows and columns of the gradients are nonzero from
``lab.backprop_facts``. One example, so N = 1 and x, z_h, h, o, p, y are 1 x (size) rows, drawn as rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from lab.backprop_facts import nonzero_columns, nonzero_rows
from lab.explain import explain_letter
from mlp.core import LETTERS
from mlp.network import init_params
from ui.charts import bars, draw, probability_bars
from ui.data_source import current_split, data_source_picker
from ui.latex import aligned, fmt, rows_table, show
from ui.session import current_model

FRESH, SESSION = "A fresh 784-H-10 network (seed)", "The session's current model"


@st.cache_resource(max_entries=4, show_spinner="Initialising the network…")
def fresh_network(n_hidden, seed):
    """A fresh Xavier-initialised 784-H-10 network (float64), shared read-only by the sessions."""
    return init_params(784, n_hidden, 10, seed=seed, dtype=np.float64)


def choose_network():
    """The sidebar's network choice -> (Params, caption) or None when there is no data set."""
    with st.sidebar:
        dataset = data_source_picker()
        model = current_model()
        source = st.radio("Network", [FRESH, SESSION] if model is not None else [FRESH], key="bp_net")
        if source == FRESH:
            n_hidden = st.select_slider("Hidden units H", [16, 64, 256, 1000], value=1000, key="bp_real_h")
            seed = st.number_input("Seed", 0, 9999, 521, key="bp_real_seed")
    if dataset is None:
        return None
    if source == FRESH:
        return fresh_network(int(n_hidden), int(seed)), (
            f"The network: **a freshly initialised 784-{n_hidden}-10 network** (Xavier weights, zero biases, "
            f"seed {int(seed)}), untrained, so its guesses are near chance. Train one on the training page "
            "and choose 'The session's current model' to see a trained network.")
    params = model.model.params
    f, h, k = params.sizes
    return params, f"The network: **the session's current model** ({f}-{h}-{k}, {model.origin}, {params.w_h.dtype})."


def choose_letter():
    """The sidebar's image choice -> (part, index, x_row, label)."""
    _, _, split = current_split()
    with st.sidebar:
        part = st.selectbox("From the set", ["valid", "test", "train"], key="bp_part")
        xs, ys, _ = split.part(part)
        index = int(st.number_input(f"Image number (0..{len(ys) - 1})", 0, max(len(ys) - 1, 0), 0, key="bp_index"))
    return part, index, xs[index], int(ys[index])


def summary(lp, part, index):
    n_hidden = lp.h.shape[0]
    left, right = st.columns([1, 2], gap="medium")
    with left:  # 28 x 28 pixels blown up 8 x (nearest neighbour), then fitted to the column
        st.image(np.kron(lp.image, np.ones((8, 8))), caption=f"{part} image {index}: the letter {LETTERS[lp.label]}",
                 width="stretch", clamp=True)
    with right:
        m1, m2, m3 = st.columns(3)
        m1.metric("True letter", LETTERS[lp.label])
        m2.metric("Predicted", LETTERS[lp.predicted])
        m3.metric("Loss −log p_true", f"{lp.loss:.4f}")
        show(rf"\underset{{1\times 784}}{{x}} \to \underset{{1\times {n_hidden}}}{{z_h}} \to "
             rf"\underset{{1\times {n_hidden}}}{{h}} \to \underset{{1\times 10}}{{o}} \to \underset{{1\times 10}}{{p}}")
        st.caption(f"{lp.active} of {n_hidden} hidden units fire (h > 0); the others are masked out of the backward "
                   "pass. One example: every vector is a 1-row matrix (rows are examples), so N = 1.")


def top_units(lp):
    st.header("The hidden units that fire most")
    draw(bars([f"#{u}" for u in lp.top_units], lp.top_h, "hidden unit", "activation h = ReLU(z_h)"))


def output_layer(lp):
    letters = LETTERS[: lp.o.shape[0]]
    st.header("Logits, probabilities and δ_o")
    show(r"o = h W_o + b_o, \qquad p = \mathrm{softmax}(o), \qquad \delta_o = \frac{\partial L}{\partial o}"
         r" = \frac{p - y}{N} = \frac{p - y}{1}")
    show(rows_table([(r"o", lp.o, 3), (r"p", lp.p, 3), (r"y", np.eye(len(letters))[lp.label], 0),
                     (r"\delta_o = p - y", lp.dl_do, 3)], letters))
    draw(probability_bars(lp.p, letters, lp.label, role="true letter", height=200, title="p"))


def backward_shapes(lp):
    st.header("Backward: the shapes, and where the gradient goes")
    n_hidden = lp.h.shape[0]
    show(aligned(
        r"\delta_o &= (p - y)/N & &1{\times}10",
        rf"\partial L/\partial W_o &= h^\top \delta_o & &{n_hidden}{{\times}}10",
        rf"\delta_h &= (\delta_o W_o^\top) \odot \mathbf 1[z_h > 0] & &1{{\times}}{n_hidden}",
        rf"\partial L/\partial W_h &= x^\top \delta_h & &784{{\times}}{n_hidden}",
    ))
    norms, g = lp.grad_norms(), lp.grads
    rows_o, cols_h = nonzero_rows(g.w_o), nonzero_columns(g.w_h)
    st.table(pd.DataFrame({
        "gradient": ["dL/dW_o", "dL/db_o", "dL/dW_h", "dL/db_h"],
        "shape": [" × ".join(map(str, getattr(g, n).shape)) for n in ("w_o", "b_o", "w_h", "b_h")],
        "norm": [fmt(norms[n], ".4f") for n in ("w_o", "b_o", "w_h", "b_h")],
        "hidden units it reaches": [f"the {lp.active} units that fired ({rows_o} of {n_hidden} rows nonzero)", "—",
                                    f"{cols_h} of {n_hidden} columns nonzero",
                                    f"{nonzero_columns(g.b_h)} of {n_hidden} entries nonzero"],
    }).set_index("gradient"))
    st.caption("With one example N = 1. dL/dW_o = h^T δ_o has a zero row for every unit that did not fire (h = 0); "
               "dL/dW_h = x^T δ_h has a zero column for it, and within a column only the pixels that are not 0 "
               "are nonzero (both are outer products).")


def letter_page():
    chosen = choose_network()
    if chosen is None:
        st.error("No data set to take a letter from: add one in the sidebar.")
        return
    params, caption = chosen
    part, index, x_row, label = choose_letter()
    st.caption(caption)
    lp = explain_letter(params, x_row, label, top=10)
    summary(lp, part, index)
    top_units(lp)
    output_layer(lp)
    backward_shapes(lp)
