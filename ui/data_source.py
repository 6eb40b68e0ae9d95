"""Which data set the app uses: an upload, a real notMNIST file in data/, or the embedded letters.

Data sets are decoded once per server and shared read-only between sessions
(``ui.budget.STORE``, a ``lab.budget.SetStore``), keyed by content only: an
upload by the SHA-256 of its bytes, a data-folder file by its resolved path,
size and mtime_ns (the server owner's files). Everything derived from a set
(its split, the Home grid, evaluations) is keyed by the SHA-256 of its arrays.
A session keeps no bytes: only which set it chose and a claim on it, which
ends with the session, so the store can then evict the set.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import streamlit as st

from lab.budget import estimate_path_bytes, estimate_upload_bytes
from mlp.data import EMBEDDED_FILE, DataError, data_dir, find_data_files, load_bytes, load_dataset
from ui.budget import STORE, memory_caption, sweep_ended_sessions
from ui.text import MAX_MESSAGE, plain

UPLOAD_KEY = "upload"  # session_state: {"key", "name", "claim"} of the session's uploaded data set (no bytes)
CLAIM_KEY = "data_claim"  # session_state: the Claim on the data-folder set in use
CHOICE_KEY = "data_choice"  # session_state: the label of the chosen source
WIDGET_KEY = "data_choice_select"
SEEN_KEY = "upload_seen"  # session_state: {"file_id", "error"} of the last upload checked
LOST_KEY = "upload_lost"  # session_state: the name of an upload the server no longer holds (shown once)


def path_key(path):
    """("path", resolved path, ((size, mtime_ns), ...)) of a data-folder file, or of a folder and its subfolders."""
    path = Path(path).resolve()
    stats = [path.stat()] + ([d.stat() for d in sorted(path.iterdir()) if d.is_dir()] if path.is_dir() else [])
    return ("path", str(path), tuple((s.st_size, s.st_mtime_ns) for s in stats))


def stored_path_set(path):
    """(StoredSet, Claim) of a data-folder set, loaded once per server (a changed file is loaded again)."""
    key = path_key(path)
    if STORE.get(key) is None:
        with st.spinner(f"Loading {plain(Path(path).name)}…"):
            return STORE.load(key, lambda: load_dataset(path), estimate_path_bytes(path), f"load {Path(path).name}")
    return STORE.load(key, lambda: load_dataset(path), (0, 0))


def source_label(path: Path):
    if path.name == EMBEDDED_FILE:
        return f"Embedded letters ({path.name})"
    return f"Real notMNIST ({path.name})"


def disk_sources():
    """{label: path} of the data sets found in the data folder, in order of preference."""
    return {source_label(p): p for p in find_data_files()}


def accept_upload(uploaded):
    """Check an uploaded file once; on success make it the session's data set.

    Its memory is estimated from the file's header before anything is decoded. On
    failure the reason is kept (shown while the file stays in the uploader) and the
    session goes on with the data set it had.
    """
    st.session_state[SEEN_KEY] = {"file_id": uploaded.file_id, "error": None}
    data = uploaded.getvalue()
    key = ("upload", hashlib.sha256(data).hexdigest())
    try:
        with st.spinner("Checking the uploaded file…"):
            _, claim = STORE.load(key, lambda: load_bytes(data, uploaded.name),
                                  estimate_upload_bytes(data, uploaded.name), "decode this upload")
    except DataError as exc:
        st.session_state[SEEN_KEY]["error"] = f"The upload was refused: {exc} The app keeps using the data set it had."
        return
    st.session_state[UPLOAD_KEY] = {"key": key, "name": uploaded.name, "claim": claim}
    st.session_state[CHOICE_KEY] = upload_label(uploaded.name)


def remember_choice():
    st.session_state[CHOICE_KEY] = st.session_state[WIDGET_KEY]


def upload_label(name):
    return f"Uploaded ({name})"


def _uploaded_set():
    """The StoredSet of the session's upload, or None (and the upload forgotten) if the server no longer holds it."""
    upload = st.session_state[UPLOAD_KEY]
    entry = STORE.get(upload["key"])
    if entry is None:  # only if the store was emptied: a claimed set is never evicted
        st.session_state[LOST_KEY] = upload["name"]
        del st.session_state[UPLOAD_KEY]
        st.session_state.pop(CHOICE_KEY, None)
    return entry


def current_entry():
    """(StoredSet, name shown) of the session's choice: its upload, else the chosen or first data set in data/."""
    sweep_ended_sessions()
    STORE.release_unclaimed_uploads()  # uploads of sessions that ended or moved on
    upload = st.session_state.get(UPLOAD_KEY)
    choice = st.session_state.get(CHOICE_KEY)
    if upload and (choice is None or choice == upload_label(upload["name"])):
        entry = _uploaded_set()
        if entry is not None:
            return entry, upload["name"]  # this session's file name, even if another session sent the same bytes
    sources = disk_sources()
    if not sources:
        raise DataError(f"no data set found in {data_dir()}")
    label = choice if choice in sources else next(iter(sources))
    entry, claim = stored_path_set(sources[label])
    st.session_state[CLAIM_KEY] = claim  # the previous claim, if any, ends here
    return entry, entry.dataset.name


def current_dataset():
    """(digest, Dataset) of the session's choice; digest: the SHA-256 of the set's arrays."""
    entry, name = current_entry()
    dataset = entry.dataset if entry.dataset.name == name else dataclasses.replace(entry.dataset, name=name)
    return entry.digest, dataset


def current_split():
    """(digest, Dataset, Split) for the session's data set (the report's seed-521 split, read-only)."""
    entry, _ = current_entry()
    digest, dataset = current_dataset()
    return digest, dataset, entry.split


def page_split():
    """The sidebar's picker, then (digest, Dataset, Split) of the session's set; with none (or a set that
    cannot be read, said in an escaped error) the page stops here."""
    try:
        if data_source_picker() is not None:
            return current_split()
    except DataError as exc:
        st.error(plain(exc, MAX_MESSAGE))
    st.stop()


def _chooser(box):
    labels = list(disk_sources())
    upload = st.session_state.get(UPLOAD_KEY)
    if upload:
        labels.insert(0, upload_label(upload["name"]))
    if labels:
        # The widget's own state is dropped on pages without the picker; CHOICE_KEY persists.
        current = st.session_state.get(CHOICE_KEY)
        st.session_state[WIDGET_KEY] = current if current in labels else labels[0]
        box.selectbox("Use", labels, key=WIDGET_KEY, on_change=remember_choice)


def _uploader(box):
    uploaded = box.file_uploader(
        "Upload notMNIST (.npz or notMNIST_small .tar.gz)", type=["npz", "gz", "tgz", "tar"], key="data_upload"
    )
    seen = st.session_state.get(SEEN_KEY) or {}
    if uploaded is not None and seen.get("file_id") != uploaded.file_id:
        accept_upload(uploaded)
        if st.session_state[SEEN_KEY]["error"] is None:
            st.rerun()  # redraw the chooser with the upload selected
    if uploaded is not None and st.session_state[SEEN_KEY]["error"]:
        box.error(plain(st.session_state[SEEN_KEY]["error"], MAX_MESSAGE))


def data_source_picker(container=None):
    """Sidebar widgets: choose the data set, upload one, and see which is in use, its size and the server's memory."""
    box = container or st.sidebar
    with box:
        st.subheader("Data set")
        _chooser(st)
        _uploader(st)
        try:
            _, dataset = current_dataset()
        except DataError as exc:
            st.error(plain(exc, MAX_MESSAGE))
            return None
        lost = st.session_state.pop(LOST_KEY, None)
        if lost:
            st.warning(f"The server no longer holds your upload {plain(lost)}; upload it again to use it.")
        skipped = f", {dataset.skipped} unreadable skipped" if dataset.skipped else ""
        st.caption(f"In use: **{plain(dataset.name)}**: {len(dataset):,} images{skipped}")
        memory_caption()
        return dataset
