"""The training page's settings: presets, the hyperparameter widgets, and the link that shares them.

``SETTINGS`` in the session state is the one store of the page's settings; the
widgets write it back in their callbacks, and the URL mirrors it.
"""

from __future__ import annotations

import streamlit as st

from lab.runs import describe
from lab.settings import (
    EPOCHS_RANGE,
    HIDDEN_RANGE,
    LR_GRID,
    MIN_BATCH,
    MOMENTUM_RANGE,
    QUERY_KEYS,
    SEED_RANGE,
    clamp_batch,
    fit_hyper,
    hyper_from_query,
    hyper_to_query,
)
from mlp.train import PRESETS, Hyper
from ui.keys import BATCH_MEMORY, NOTICE, SETTINGS, URL_NOTES, W
from ui.text import plain

PRESET_LABELS = {"assignment": "Assignment", "quick": "Quick demo"}
DTYPE_LABELS = {"float32": "float32 (fast)", "float64": "float64 (reference)"}
MAX_NOTE = 300  # characters of one link note shown (its quoted value is already cut to 40)

# ---------------------------------------------------------------------------
# Settings


def _hyper_to_widgets(hyper, n_train):
    """Write a Hyper, fitted to the widgets' ranges (``lab.settings.fit_hyper``), into the widgets' keys.

    Called before the widgets are drawn. With a full batch the batch field keeps the size last used.
    """
    h, s = fit_hyper(hyper, n_train), st.session_state
    for name in ("hidden", "lr", "momentum", "epochs", "seed", "dtype"):
        s[W[name]] = getattr(h, name)
    s[W["full"]] = h.batch_size is None
    s[W["batch"]] = h.batch_size if h.batch_size is not None else clamp_batch(s.get(BATCH_MEMORY, 128), n_train)


def link_query():
    """{key: [values]} of the link's settings keys (every value of a repeated key; ``first`` takes the first)."""
    return {k: st.query_params.get_all(k) for k in QUERY_KEYS if k in st.query_params}


def init_settings(n_train):
    """The session's settings: from the link on the first visit (else the Quick demo), then kept in SETTINGS.

    SETTINGS is the one store: every widget writes it back in its on_change
    callback, and each run writes it into the widgets' keys before they are
    drawn. So the widgets keep their values across runs that hide them
    (while training) and visits to other pages.
    """
    if SETTINGS not in st.session_state:
        hyper, notes = PRESETS["quick"], []
        query = link_query()
        if query:
            hyper, notes = hyper_from_query(query, PRESETS["quick"], n_train)
            notes.insert(0, "settings taken from the link")
        st.session_state[SETTINGS] = hyper
        st.session_state[URL_NOTES] = notes
    _hyper_to_widgets(st.session_state[SETTINGS], n_train)


def _store_settings():
    """on_change of every settings widget: write the widgets' values into SETTINGS."""
    st.session_state[SETTINGS] = hyper_from_widgets()
    if W["batch"] in st.session_state:
        st.session_state[BATCH_MEMORY] = st.session_state[W["batch"]]


def apply_preset(name):
    st.session_state[SETTINGS] = PRESETS[name]
    st.session_state[NOTICE] = ("info", f"{PRESET_LABELS[name]} preset: {describe(PRESETS[name])}, "
                                        f"{PRESETS[name].epochs} epochs.")


def preset_buttons(n_train, disabled=False):
    cols = st.columns([1.6, 1.5, 2.9], vertical_alignment="center")  # labels whole at 1024 px
    for col, name in zip(cols, ("assignment", "quick")):
        h = PRESETS[name]
        col.button(
            PRESET_LABELS[name], key=f"train_preset_{name}", on_click=apply_preset, args=(name,),
            disabled=disabled, width="stretch", icon=":material/tune:",
            help=f"{describe(h)}, {h.epochs} epochs",
        )
    cols[2].caption("Presets: **Assignment** is the course report's recipe, from its own first weights; "
                    "**Quick demo** passes 0.90 validation accuracy within seconds.")


def settings_widgets(n_train, disabled=False):
    """The hyperparameter widgets; returns the Hyper they describe."""
    kw = {"on_change": _store_settings, "disabled": disabled}
    with st.container(border=True):
        c = st.columns(4, gap="medium")
        c[0].slider("Hidden units H", *HIDDEN_RANGE, key=W["hidden"], **kw,
                    help="Neurons in the hidden ReLU layer (784-H-10 network).")
        c[1].select_slider("Learning rate α (log scale)", options=LR_GRID, key=W["lr"], **kw,
                           format_func=lambda v: f"{v:g}", help="Step size of gradient descent, 1e-4 to 1.")
        c[2].slider("Momentum γ", *MOMENTUM_RANGE, step=0.01, key=W["momentum"], **kw,
                    help="v ← γ·v + α·g; w ← w − v. 0 is plain gradient descent.")
        c[3].slider("Epochs", *EPOCHS_RANGE, key=W["epochs"], **kw, help="Passes over the training set.")
        c = st.columns([1.25, 1, 1, 1.25], gap="medium", vertical_alignment="bottom")
        full = c[0].toggle("Full batch", key=W["full"], **kw,
                           help="On: one update per epoch on all training images (the report). "
                                "Off: mini-batches of the size on the right, shuffled each epoch.")
        c[1].number_input(f"Batch size ({MIN_BATCH} to {n_train:,})", min_value=MIN_BATCH,
                          max_value=max(n_train, MIN_BATCH), step=16, key=W["batch"],
                          on_change=_store_settings, disabled=disabled or full)
        c[2].number_input("Seed", min_value=SEED_RANGE[0], max_value=SEED_RANGE[1], step=1, key=W["seed"], **kw,
                          help="Seeds the initial weights and the mini-batch order.")
        c[3].radio("Numeric path", list(DTYPE_LABELS), format_func=DTYPE_LABELS.get, key=W["dtype"], **kw,
                   horizontal=True,
                   help="Both run the same code (mlp.network's forward and backward). float32 takes half the "
                        "memory and about half the time; float64 is the report's precision.")
    return st.session_state[SETTINGS]


def hyper_from_widgets():
    """The Hyper the widgets' keys describe (the SETTINGS value for any key not set)."""
    s = st.session_state
    base = s.get(SETTINGS, PRESETS["quick"])
    if any(W[k] not in s for k in W):
        return base
    return Hyper(hidden=int(s[W["hidden"]]), lr=float(s[W["lr"]]), momentum=round(float(s[W["momentum"]]), 2),
                 epochs=int(s[W["epochs"]]), batch_size=None if s[W["full"]] else int(s[W["batch"]]),
                 seed=int(s[W["seed"]]), dtype=s[W["dtype"]], init=base.init)  # no widget: kept from the preset or link


def sync_url(hyper):
    """Mirror the settings into the URL query string (so the link can be shared).

    A key given more than once, or with a refused value, is overwritten with the one clean value,
    so a reload of the page reads the settings in use, not the bad value again.
    """
    for key, value in hyper_to_query(hyper).items():
        if st.query_params.get_all(key) != [value]:
            st.query_params[key] = value


def show_url_notes():
    """The notes about the link's settings, once; each note escaped (it quotes text from the link)."""
    notes = st.session_state.pop(URL_NOTES, None)
    if notes and len(notes) > 1:
        text = "; ".join(plain(n, limit=MAX_NOTE) for n in notes[1:])
        st.warning(f"Link settings: {text}.", icon=":material/link:")
    elif notes:
        st.info("The settings below come from the link you opened.", icon=":material/link:")
