"""Streamlit glue for the inspection page: which model, cached per-model results, and the charts.

The numbers come from ``lab.inspect_model`` / ``lab.your_letter``; this file
only picks the model, caches results per (model, data set) and builds Altair
charts.

Caching: a model is known by a digest of its weights (cheap: a few MB of
bytes hashed per run). Heavy per-model results (predictions over the
evaluated set, the colour images of all hidden units) are kept with
``st.cache_resource`` and shared read-only between sessions, so that two
students looking at the shipped model share them; small ones (one unit's
statistics) with ``st.cache_data``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from lab import inspect_model as im
from lab import snapshots as sn
from lab.pretrain import pretrained_path, trained_on
from mlp.core import LETTERS
from mlp.data import DataError, read_only
from mlp.model_io import load_lab_model, load_model
from ui import keys
from ui.session import current_model, set_current_model
from ui.text import MAX_MESSAGE, plain

POSITIVE, NEGATIVE = im.DIVERGING_ANCHORS[-3], im.DIVERGING_ANCHORS[2]  # bar colours matching the weight images
AXIS = dict(labelFontSize=15, titleFontSize=15)


@dataclass
class ModelInUse:
    params: object  # mlp.network.Params
    key: str  # digest of the weights
    origin: str  # "trained", "loaded" or "pretrained"
    caption: str  # one line for the page: where it comes from and what it was trained on
    data_key: str | None  # ui.data_source key of the data set it was trained on, if known
    snapshots: list = field(default_factory=list)  # (epoch, Params) of its run, epoch 0 the initial weights


@dataclass(frozen=True)
class UploadMemo:
    """What one uploaded file gave, kept in the session so a rerun does not read the file again."""

    file_id: str  # Streamlit's id of the upload (a new one for every upload, even of the same file)
    sha256: str  # of the file's bytes
    value: object  # what the file was read into, or None if it was refused
    error: str | None  # the refusal (a DataError's message), or None


def read_once(key, upload, read, keep=True):
    """``read(bytes, name)`` of an uploaded file, once per content per session: (UploadMemo, new upload?).

    ``st.session_state[key]`` keeps the last result with the SHA-256 of the file's bytes: a rerun with the
    same upload (same file_id) hashes nothing; another upload of the same bytes is not read again. A
    DataError from ``read`` is kept as the refusal, so a refused file is not parsed again on every rerun.
    ``keep=False`` keeps only the digest and the refusal, not the value (the caller takes it on a new
    upload; the same bytes uploaded again are then read again).
    """
    memo = st.session_state.get(key)
    if memo is not None and memo.file_id == upload.file_id:
        return memo, False
    data = upload.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    if memo is not None and memo.sha256 == digest and (keep or memo.error is not None):
        memo = replace(memo, file_id=upload.file_id)
    else:
        try:
            memo = UploadMemo(upload.file_id, digest, read(data, upload.name), None)
        except DataError as exc:
            memo = UploadMemo(upload.file_id, digest, None, str(exc))
    st.session_state[key] = memo if keep else replace(memo, value=None)
    return memo, True


def params_digest(params):
    """A short stable key for a model's weights (BLAKE2b of the four arrays)."""
    h = hashlib.blake2b(digest_size=16)
    for name in ("w_h", "b_h", "w_o", "b_o"):
        a = np.ascontiguousarray(getattr(params, name))
        h.update(f"{name}{a.shape}{a.dtype}".encode())
        h.update(a.data)
    return h.hexdigest()


@st.cache_resource(show_spinner="Loading the shipped model…", max_entries=2)
def pretrained_model(path: str, mtime: float):
    """The shipped model, once per server; None if the file is missing."""
    model = load_model(path, Path(path).name)
    return model, trained_on(path), params_digest(model.params)


def shipped_model():
    """(Model, trained_on, digest) of data/pretrained.npz, or None if it is not there."""
    path = pretrained_path()
    if not path.exists():
        return None
    return pretrained_model(str(path), path.stat().st_mtime)


def model_uploader():
    """An uploader for a model .npz; a newly accepted file becomes the session's current model (origin "loaded").

    Returns the refusal of the file in the uploader (a message for the page, user text escaped), or None.
    A refused file changes nothing: the session keeps the model it had.
    """
    uploaded = st.file_uploader("Load a model file (.npz saved by the training page or `python -m mlp`)",
                                type=["npz"], key=keys.INSPECT_MODEL_UPLOAD)
    if uploaded is None:
        return None
    memo, new = read_once(keys.INSPECT_MODEL_FILE, uploaded, load_lab_model, keep=False)  # the session holds it
    if memo.error is not None:
        st.error("Refused: see the message on the page.")
        return f"The model file was refused: {plain(memo.error, MAX_MESSAGE)}"
    if new:
        set_current_model(memo.value, None, "loaded")
        st.session_state[keys.INSPECT_MODEL_CHOICE] = "session"
    return None


def all_finite(params):
    return all(np.isfinite(a).all() for a in params.as_dict().values())


def model_in_use(data_key):
    """The model the page shows: the session's (trained or loaded) if there is one and it is chosen, else the shipped.

    A session model with NaN or infinite weights (a run that diverged) is not shown: a warning says so.
    """
    session = current_model()
    if session is not None and not all_finite(session.model.params):
        st.warning("This session's model has NaN or infinite weights (its training diverged), so it cannot be "
                   "inspected; the shipped model is shown instead.")
        session = None
    shipped = shipped_model()
    choice = "session" if session is not None else "shipped"
    if session is not None and shipped is not None:
        labels = {"session": f"This session's model ({session.origin})", "shipped": "The shipped pretrained model"}
        choice = st.radio("Model", list(labels), format_func=labels.get, horizontal=True, key=keys.INSPECT_MODEL_CHOICE)
    if choice == "session":
        return session_model_in_use(session, data_key)
    return None if shipped is None else shipped_model_in_use(*shipped)


def session_model_in_use(session, data_key):
    params = session.model.params
    where = "trained in this session" if session.origin == "trained" else f"{session.origin} in this session"
    caption = f"784-{params.sizes[1]}-10 network {where}"
    if session.data_key is not None and session.data_key != data_key:
        caption += (" (on another data set than the one in use: validation and test letters here may be ones "
                    "it was trained on)")
    return ModelInUse(params, params_digest(params), session.origin, caption, session.data_key,
                      list(getattr(session.model, "snapshots", None) or []))


def shipped_model_in_use(model, info, digest):
    caption = f"the shipped pretrained 784-{model.params.sizes[1]}-10 network"
    if info:
        caption += (f", trained on {plain(info['data'])} ({info['split'][0]:,} training letters, "
                    f"{model.hyper.epochs} epochs; its validation accuracy there {info['valid_acc']:.1%})")
        if info.get("init_scale", 1.0) != 1.0:  # (files made before it started from a normal Xavier draw)
            caption += (f". Its hidden weights started at {info['init_scale']:g} times the report's Xavier draw, "
                        "so its pictures show what it learned rather than its random start")
    return ModelInUse(model.params, digest, "pretrained", caption, None, list(model.snapshots))


# ----- cached per-model computations -------------------------------------------------------------


def _freeze(ev):
    for name in ("probs", "predicted", "y_true", "cm", "per_class"):
        read_only(getattr(ev, name))
    for name in ("index", "true", "predicted", "confidence"):
        read_only(getattr(ev.mistakes, name))
    return ev


@st.cache_resource(show_spinner="Running the network over the letters…", max_entries=16)
def evaluation(model_key: str, data_key: str, part: str, _params, _x, _y):
    """lab.inspect_model.evaluate on one part of a data set, once per (model, data set, part) per server."""
    return _freeze(im.evaluate(_params, _x, _y))


@st.cache_resource(show_spinner="Drawing the hidden units…", max_entries=16)
def weight_tiles(model_key: str, mode: str, _params):
    """All hidden units' weight images (H, 28, 28, 3) uint8 and scales (H,), read-only, once per model and mode."""
    tiles, scales = im.weight_images(_params.w_h, mode)
    return read_only(tiles), read_only(scales)


@st.cache_data(max_entries=256, show_spinner=False)
def snapshot_tiles(model_key: str, epoch: int, view: str, mode: str, units: tuple, _snapshots):
    """Hidden units' images at a snapshot epoch (lab.snapshots.snapshot_images), once per model, epoch, view, page."""
    return sn.snapshot_images(_snapshots, epoch, view, mode, list(units))


@st.cache_data(max_entries=256, show_spinner=False)
def unit_stats(model_key: str, data_key: str, unit: int, k: int, _params, _x):
    return im.unit_stats(_params, _x, unit, k)


@st.cache_data(max_entries=64, show_spinner=False)
def unit_order(model_key: str, by: str, letter: int | None, _params):
    return im.unit_order(_params, by, letter)


# ----- charts ------------------------------------------------------------------------------------


def confusion_chart(cm, normalised, chosen=None, height=440):
    """Altair heatmap of a confusion matrix (rows true, columns predicted) with a click selection named "cell".

    Colours follow a log-like (symlog) scale so that the few letters off the diagonal show next to the
    hundreds on it; ``chosen`` = (true, predicted) gets a thick outline.
    """
    k = cm.shape[0]
    rows = cm.sum(axis=1, keepdims=True)
    frac = cm / np.maximum(rows, 1)
    letters = list(LETTERS[:k])
    df = pd.DataFrame({
        "true": np.repeat(letters, k),
        "predicted": np.tile(letters, k),
        "count": cm.ravel().astype(int),
        "share": frac.ravel(),
    })
    df["label"] = [f"{v:.0%}" if v else "" for v in df["share"]] if normalised else [str(c) for c in df["count"]]
    value = "share" if normalised else "count"
    top = float(df[value].max()) or 1.0
    constant = 0.01 if normalised else 1.0
    shade = np.log1p(df[value] / constant) / np.log1p(top / constant)
    df["dark"] = shade > 0.6
    df["chosen"] = [(t, p) == chosen for t in range(k) for p in range(k)]
    cell = alt.selection_point(name="cell", fields=["true", "predicted"], on="click", clear=False)
    base = alt.Chart(df).encode(
        x=alt.X("predicted:N", sort=letters, title="predicted letter",
                axis=alt.Axis(orient="top", labelAngle=0, **AXIS)),
        y=alt.Y("true:N", sort=letters, title="true letter", axis=alt.Axis(**AXIS)),
    )
    rect = base.mark_rect(stroke="#e6550d", cursor="pointer").encode(
        color=alt.Color(f"{value}:Q", legend=None,  # no legend: every cell carries its number
                        scale=alt.Scale(type="symlog", constant=constant, scheme="blues", domain=[0, top])),
        # The outline's test names the cell in the spec itself (not only in the data): the browser redraws a
        # chart with a selection when its spec changes, not when only its data does.
        strokeWidth=alt.condition(_cell_test(chosen, letters), alt.value(4), alt.value(0)),
        tooltip=[alt.Tooltip("true:N", title="true"), alt.Tooltip("predicted:N", title="predicted as"),
                 alt.Tooltip("count:Q", title="letters"), alt.Tooltip("share:Q", title="share of row", format=".1%")],
    ).add_params(cell)
    text = base.mark_text(fontSize=13 if normalised else 14).encode(
        text="label:N",
        color=alt.condition(alt.datum.dark, alt.value("white"), alt.value("#222222")),
    )
    return (rect + text).properties(width="container", height=height)


def _cell_test(chosen, letters):
    """Vega expression: the clicked cell while the chart holds a click, else the chosen cell (from the pickers)."""
    picked = "false"
    if chosen is not None:
        picked = f"(datum.true === '{letters[chosen[0]]}' && datum.predicted === '{letters[chosen[1]]}')"
    return f"length(data('cell_store')) ? vlSelectionTest('cell_store', datum) : {picked}"


def per_class_chart(per_class, height=440):
    df = pd.DataFrame({"letter": list(LETTERS[: len(per_class)]), "accuracy": np.nan_to_num(per_class)})
    bars = alt.Chart(df).mark_bar(color="#4393c3").encode(
        y=alt.Y("letter:N", sort=list(LETTERS), title="true letter", axis=alt.Axis(**AXIS)),
        x=alt.X("accuracy:Q", scale=alt.Scale(domain=[0, 1]), title="share read right",
                axis=alt.Axis(format=".0%", values=[0, 0.25, 0.5, 0.75, 1], **AXIS)),
        tooltip=["letter", alt.Tooltip("accuracy:Q", format=".1%")],
    )
    text = bars.mark_text(align="right", dx=-4, color="white", fontSize=13).encode(
        text=alt.Text("accuracy:Q", format=".0%"))
    return (bars + text).properties(height=height)


def outgoing_chart(outgoing, height=260):
    """Bar chart of one hidden unit's outgoing weights w_o[j, :] to A..J, red positive, blue negative."""
    df = pd.DataFrame({"letter": list(LETTERS[: len(outgoing)]), "weight": outgoing})
    return alt.Chart(df).mark_bar().encode(
        x=alt.X("letter:N", sort=list(LETTERS), title="to letter",
                axis=alt.Axis(labelAngle=0, labelOverlap=False, **AXIS)),
        y=alt.Y("weight:Q", title="outgoing weight", axis=alt.Axis(**AXIS)),
        color=alt.condition(alt.datum.weight > 0, alt.value(POSITIVE), alt.value(NEGATIVE)),
        tooltip=["letter", alt.Tooltip("weight:Q", format=".3f")],
    ).properties(height=height)


# ----- chart specs, cached (building and validating an Altair chart costs tens of ms per run) ----


def _spec(chart):
    return chart.to_dict()


@st.cache_data(max_entries=64, show_spinner=False)
def confusion_spec(model_key: str, data_key: str, part: str, normalised: bool, chosen: tuple, _cm):
    return _spec(confusion_chart(_cm, normalised, chosen))


@st.cache_data(max_entries=64, show_spinner=False)
def per_class_spec(model_key: str, data_key: str, part: str, _per_class):
    return _spec(per_class_chart(_per_class))


@st.cache_data(max_entries=256, show_spinner=False)
def outgoing_spec(model_key: str, unit: int, _outgoing):
    return _spec(outgoing_chart(_outgoing))

