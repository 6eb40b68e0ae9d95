"""Sweep: the same network trained with several learning rates at once, their curves overlaid."""

import streamlit as st

from ui import sweep as sw
from ui.data_source import page_split
from ui.router import ensure_router

ensure_router()

st.title("A learning-rate sweep")
st.caption("The same 784-H-10 network trained with several learning rates in one go: the same first weights, "
           "the same mini-batches, the networks' weights stacked so that one batched matrix product trains them all.")

data_key, dataset, split = page_split()  # stops the page when there is no data set

sw.settle()  # a sweep that ended in a replaced script thread goes to the history now
sw.begin_requested(data_key, dataset.name, split)
busy = st.session_state.get(sw.LIVE) is not None
hyper, lrs = sw.settings_widgets(len(split.y_train), disabled=busy)
sw.controls(hyper, lrs)
sw.live_panel()
sw.final_panel()
