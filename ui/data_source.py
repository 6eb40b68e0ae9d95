"""Which data set the app uses: an upload, a real notMNIST file in data/, or the embedded letters.

Data sets are loaded once per server (``st.cache_resource``) and shared
read-only between sessions; each session only keeps which one it chose.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from mlp.data import EMBEDDED_FILE, DataError, data_dir, find_data_files, load_bytes, load_dataset, split_dataset
from ui.text import MAX_MESSAGE, plain

UPLOAD_KEY = "upload"  # session_state: {"digest", "name"} of the session's uploaded data set
CHOICE_KEY = "data_choice"  # session_state: the label of the chosen source
WIDGET_KEY = "data_choice_select"
SEEN_KEY = "upload_seen"  # session_state: {"file_id", "error"} of the last upload checked


@st.cache_resource(show_spinner="Loading the data set…", max_entries=8)
def dataset_from_path(path: str, mtime: float):
    """Load a data set from disk once per server (``mtime`` makes a replaced file reload)."""
    return load_dataset(path)


@st.cache_resource(show_spinner="Checking the uploaded file…", max_entries=4)
def dataset_from_upload(digest: str, name: str, _data: bytes):
    """Load an uploaded data set once per server, keyed by the SHA-256 of its bytes."""
    return load_bytes(_data, name)


@st.cache_resource(show_spinner="Splitting as the report does…", max_entries=8)
def split_of(key: str, _dataset):
    """The report's seed-521 split of a data set (float32 pixels / 255, read-only)."""
    return split_dataset(_dataset.images, _dataset.labels)


def source_label(path: Path):
    if path.name == EMBEDDED_FILE:
        return f"Embedded letters ({path.name})"
    return f"Real notMNIST ({path.name})"


def disk_sources():
    """{label: path} of the data sets found in the data folder, in order of preference."""
    return {source_label(p): p for p in find_data_files()}


def accept_upload(uploaded):
    """Check an uploaded file once; on success make it the session's data set.

    On failure the reason is kept (shown while the file stays in the uploader)
    and the session goes on with the data set it had.
    """
    st.session_state[SEEN_KEY] = {"file_id": uploaded.file_id, "error": None}
    data = uploaded.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    try:
        dataset_from_upload(digest, uploaded.name, data)
    except DataError as exc:
        st.session_state[SEEN_KEY]["error"] = f"The upload was refused: {exc} The app keeps using the data set it had."
        return
    st.session_state[UPLOAD_KEY] = {"digest": digest, "name": uploaded.name, "data": data}
    st.session_state[CHOICE_KEY] = upload_label(uploaded.name)


def remember_choice():
    st.session_state[CHOICE_KEY] = st.session_state[WIDGET_KEY]


def upload_label(name):
    return f"Uploaded ({name})"


def current_dataset():
    """(key, Dataset) of the session's choice: its upload, else the chosen or first data set in data/."""
    upload = st.session_state.get(UPLOAD_KEY)
    choice = st.session_state.get(CHOICE_KEY)
    if upload and (choice is None or choice == upload_label(upload["name"])):
        return upload["digest"], dataset_from_upload(upload["digest"], upload["name"], upload["data"])
    sources = disk_sources()
    if not sources:
        raise DataError(f"no data set found in {data_dir()}")
    label = choice if choice in sources else next(iter(sources))
    path = sources[label]
    mtime = path.stat().st_mtime
    return f"{path}@{mtime}", dataset_from_path(str(path), mtime)


def current_split():
    """(key, Dataset, Split) for the session's data set."""
    key, dataset = current_dataset()
    return key, dataset, split_of(key, dataset)


def data_source_picker(container=None):
    """Sidebar widgets: choose the data set, upload one, and see which is in use and its size."""
    box = container or st.sidebar
    with box:
        st.subheader("Data set")
        labels = list(disk_sources())
        upload = st.session_state.get(UPLOAD_KEY)
        if upload:
            labels.insert(0, upload_label(upload["name"]))
        if labels:
            # The widget's own state is dropped on pages without the picker; CHOICE_KEY persists.
            current = st.session_state.get(CHOICE_KEY)
            st.session_state[WIDGET_KEY] = current if current in labels else labels[0]
            st.selectbox("Use", labels, key=WIDGET_KEY, on_change=remember_choice)
        uploaded = st.file_uploader(
            "Upload notMNIST (.npz or notMNIST_small .tar.gz)", type=["npz", "gz", "tgz", "tar"], key="data_upload"
        )
        seen = st.session_state.get(SEEN_KEY) or {}
        if uploaded is not None and seen.get("file_id") != uploaded.file_id:
            accept_upload(uploaded)
            if st.session_state[SEEN_KEY]["error"] is None:
                st.rerun()  # redraw the chooser with the upload selected
        if uploaded is not None and st.session_state[SEEN_KEY]["error"]:
            st.error(plain(st.session_state[SEEN_KEY]["error"], MAX_MESSAGE))
        try:
            _, dataset = current_dataset()
        except DataError as exc:
            st.error(plain(exc, MAX_MESSAGE))
            return None
        skipped = f", {dataset.skipped} unreadable skipped" if dataset.skipped else ""
        st.caption(f"In use: **{plain(dataset.name)}**: {len(dataset):,} images{skipped}")
        return dataset
