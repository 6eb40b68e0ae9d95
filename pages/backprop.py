"""Backpropagation: one forward and backward pass with every number on screen, a gradient check and a momentum step.

Two modes: a tiny network (every matrix printed; ``ui.backprop_tiny``: forward steps, backward steps, the check,
the momentum step) and one real letter through the full 784-H-10 network (``ui.backprop_letter``), both followed
by the map to the course report (``ui.backprop_report``). Every number comes from ``mlp`` via ``lab``.
"""

import streamlit as st

from ui.backprop_letter import letter_page
from ui.backprop_report import report_map_section
from ui.backprop_tiny import tiny_page
from ui.router import ensure_router

ensure_router()

TINY, REAL = "Tiny network (every number)", "One real letter (784-H-10)"

st.title("Backpropagation")
with st.sidebar:
    st.subheader("Backpropagation")
    mode = st.radio("Show", [TINY, REAL], key="bp_mode")
if mode == TINY:
    tiny_page()
else:
    letter_page()
report_map_section()
