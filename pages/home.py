"""Home: what the lab is and how to use it."""

import streamlit as st

from lab.samples import letter_grid
from mlp.data import DataError
from ui.data_source import current_dataset, data_source_picker
from ui.router import ensure_router
from ui.text import MAX_MESSAGE, plain

ensure_router()

SAMPLES_PER_LETTER = 12


@st.cache_data(max_entries=8, show_spinner=False)
def sample_grid(digest, _images, _labels):
    """``lab.samples.letter_grid`` of the set, cached by ``digest``: the SHA-256 of the set's arrays
    (``ui.data_source.current_dataset``), never a name or size a user can choose, so no session's upload
    can stand in for another set."""
    return letter_grid(_images, _labels, SAMPLES_PER_LETTER)


st.title("The from-scratch MLP lab")
st.markdown(
    """
A 784-H-10 neural network, written in plain numpy, that learns to read the letters **A to J**
drawn in thousands of fonts (the notMNIST task of the University of Toronto ECE421 course).
Every number on these pages comes from the same small library, `mlp/`, that you can read,
import in a notebook, or run from the command line.

**How to use it**
1. Pick a page in the sidebar. The math pages step through softmax, cross-entropy and
   backpropagation with numbers you choose (predict each step before you reveal it); the
   exercises page grades your own versions of the report's functions; the training page trains
   the network in your browser; the inspection page shows what it learned and where it is wrong;
   the class page gathers a whole class's runs on one board.
2. The data set is chosen in the sidebar: the letters that ship with the lab, a real
   notMNIST file found in `data/`, or one you upload.
3. From a terminal: `python -m mlp train --preset assignment` runs the course report's recipe
   from the report's own first weights; `python -m mlp evaluate --model model.npz` scores a saved
   model; `python -m lab check my_solution.py` grades your exercises.
"""
)

try:
    dataset = data_source_picker()
except DataError as exc:
    st.error(plain(exc, MAX_MESSAGE))
    dataset = None

if dataset is not None:
    counts = dataset.class_counts()
    st.subheader("The data set in use")
    cols = st.columns([0.9, 0.8, 1.6])  # "4,307 to 4,307" needs the widest column at 1024 px
    cols[0].metric("Images", f"{len(dataset):,}")
    cols[1].metric("Letters", "A to J")
    cols[2].metric("Per letter", f"{counts.min():,} to {counts.max():,}")
    st.caption(f"The first {SAMPLES_PER_LETTER} images of each letter in **{plain(dataset.name)}** "
               "(28 x 28 pixels, enlarged); one row per letter, A at the top.")
    digest, _ = current_dataset()
    grid = sample_grid(digest, dataset.images, dataset.labels)
    st.image(grid, width=grid.shape[1])
