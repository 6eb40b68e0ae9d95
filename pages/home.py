"""Home: what the lab is and how to use it."""

import streamlit as st

from mlp.data import DataError
from ui.data_source import data_source_picker

st.title("The from-scratch MLP lab")
st.markdown(
    """
A 784-H-10 neural network, written in plain numpy, that learns to read the letters **A to J**
drawn in thousands of fonts (the notMNIST task of the University of Toronto ECE421 course).
Every number on these pages comes from the same small library, `mlp/`, that you can read,
import in a notebook, or run from the command line.

**How to use it**
1. Pick a page in the sidebar. The math pages step through softmax, cross-entropy and
   backpropagation with numbers you choose; the training page trains the network in your
   browser; the inspection page shows what it learned and where it is wrong.
2. The data set is chosen in the sidebar: the letters that ship with the lab, a real
   notMNIST file found in `data/`, or one you upload.
3. From a terminal: `python -m mlp train --preset assignment` reproduces the course
   report's run; `python -m mlp evaluate --model model.npz` scores a saved model.
"""
)

try:
    dataset = data_source_picker()
except DataError as exc:
    st.error(str(exc))
    dataset = None

if dataset is not None:
    counts = dataset.class_counts()
    st.subheader("The data set in use")
    cols = st.columns(2)
    cols[0].metric("Images", f"{len(dataset):,}")
    cols[1].metric("Classes", "A to J", help="Images per letter: " + ", ".join(f"{c} {n}" for c, n in zip("ABCDEFGHIJ", counts)))
