"""The session's current model: what the training page trained or loaded, and the inspection page shows.

``st.session_state[MODEL_KEY]`` holds a ``CurrentModel``; each browser session has its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from mlp.model_io import Model

MODEL_KEY = "current_model"


@dataclass
class CurrentModel:
    model: Model  # params, hyper, history
    data_key: str  # ui.data_source key of the data set it was trained on
    origin: str  # "trained", "loaded" or "pretrained", for captions


def set_current_model(model, data_key, origin):
    st.session_state[MODEL_KEY] = CurrentModel(model, data_key, origin)


def current_model():
    """The session's CurrentModel, or None."""
    return st.session_state.get(MODEL_KEY)
