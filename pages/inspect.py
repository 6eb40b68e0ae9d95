"""Inspection: what the network learned (hidden-unit weights), where it is wrong (mistakes, confusion matrix),
and what it makes of a letter you upload."""

import streamlit as st

from ui import inspect_dynamics as dynamics
from ui import inspect_sections as sections
from ui import inspect_view as iv
from ui import keys
from ui.data_source import current_split, data_source_picker
from ui.router import ensure_router
from ui.text import plain

ensure_router()

PARTS = {"valid": "validation", "test": "test"}

st.title("What did it learn? Where is it wrong?")
st.markdown(sections.PAGE_CSS, unsafe_allow_html=True)

dataset = data_source_picker()  # shows its own message when no data set can be read
with st.sidebar:
    st.subheader("Model")
    refusal = iv.model_uploader()
if refusal:
    st.error(f"{refusal} Nothing changed: the page shows the model it showed before.")
if dataset is None:
    st.stop()

data_key, dataset, split = current_split()
model = iv.model_in_use(data_key)
if model is None:
    st.info("No model yet: train one on the Training page, or load a model file (.npz) in the sidebar. "
            "(The shipped model data/pretrained.npz is missing; `python -m lab.pretrain` makes it.)")
    st.stop()
f_in, hidden, k_out = model.params.sizes
if (f_in, k_out) != (784, 10):
    st.error(f"This page shows 784-H-10 networks; this one is {f_in}-{hidden}-{k_out}.")
    st.stop()

part = st.radio("Letters evaluated", list(PARTS), horizontal=True, key=keys.INSPECT_PART,
                format_func=lambda p: f"{PARTS[p].capitalize()} set ({len(split.part(p)[1]):,} letters)")
x_eval, y_eval, _ = split.part(part)
ev = iv.evaluation(model.key, data_key, part, model.params, x_eval, y_eval)
st.markdown(f"Showing {model.caption}. On the **{plain(dataset.name)}** {PARTS[part]} set it reads "
            f"**{ev.accuracy:.1%}** of {len(y_eval):,} letters right ({len(ev.mistakes):,} mistakes).")
if ev.rescaled:
    st.caption(f"Its weights are so large that the forward pass overflows {model.params.w_h.dtype} for "
               f"{ev.rescaled:,} of these letters; their probabilities were computed with each layer scaled by a "
               "power of two, which is exact for a ReLU network: ReLU(2ᵉz) = 2ᵉ ReLU(z).")

tabs = st.tabs(["Hidden units", "Mistakes", "Confusion matrix", "Your own letter", "Learning dynamics"])
with tabs[0]:
    sections.units_section(model, split, data_key)
with tabs[1]:
    sections.mistakes_section(ev, x_eval, PARTS[part])
with tabs[2]:
    sections.confusion_section(ev, x_eval, part, PARTS[part], model.key, data_key)
with tabs[3]:
    sections.your_letter_section(model)
with tabs[4]:
    dynamics.dynamics_section(model, split, data_key)
