"""The training page's run history: the last run, the table, overlay, downloads, delete and undo,
the choice when the history is full, and loading a saved model.

No run leaves the history without a user action: past ``MAX_RUNS`` a new run
waits as *pending* until the user removes an older run or discards it; a
deleted run can be restored (Undo) for the rest of the session; loading a
model says which model it replaces and offers to go back to it.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lab.runs import chance_level_note, history_csv, loaded_record, runs_table
from mlp.data import DataError
from mlp.limits import MAX_RUNS
from mlp.model_io import load_lab_model, model_bytes
from ui.keys import (
    DELETED,
    LIVE,
    LOADED_FILE,
    NEXT_ID,
    NOTICE,
    OVERLAY,
    OVERLAY_ADD,
    PENDING,
    PENDING_DROP,
    REPLACED,
    RUNS,
)
from ui.session import MODEL_KEY, current_model, set_current_model
from ui.text import MAX_MESSAGE, plain
from ui.train_charts import EPOCH_NOTE, OVERLAY_METRICS, overlay_chart, run_curves_chart
from ui.train_health import draw_health

# ---------------------------------------------------------------------------
# The store: runs in the history, runs waiting for a place, the last deletion


def runs():
    """The session's history (list of RunRecord, oldest first)."""
    return st.session_state.setdefault(RUNS, [])


def pending():
    """Runs waiting for a place in a full history (list of RunRecord)."""
    return st.session_state.get(PENDING) or []


def next_id():
    n = st.session_state.get(NEXT_ID, 1)
    st.session_state[NEXT_ID] = n + 1
    return n


def admit(record, index=None):
    """Put a run into the history at ``index`` (default: the end); True if it went in.

    A full history (``MAX_RUNS`` runs) drops nothing: the run waits in ``PENDING``
    and ``pending_panel`` asks the user which run to remove, or whether to discard it. A run already
    in the history or waiting is not added twice (a script thread stopped by Streamlit halfway
    through moving a run leaves it to the next script run, which moves it again).
    """
    history = runs()
    if any(r.run_id == record.run_id for r in history + pending()):
        return True
    if len(history) >= MAX_RUNS:
        st.session_state[PENDING] = [*pending(), record]
        return False
    at = len(history) if index is None else min(index, len(history))
    st.session_state[RUNS] = [*history[:at], record, *history[at:]]
    # the overlay's multiselect takes the new run when it is next drawn (a widget's key can only be
    # written before the widget is drawn in the same script run)
    st.session_state[OVERLAY_ADD] = [*st.session_state.get(OVERLAY_ADD, []), record.short_label]
    return True


def delete(run_id):
    """Remove a run from the history; it is kept as the last deletion, which Undo restores in place."""
    history = runs()
    index = next((i for i, r in enumerate(history) if r.run_id == run_id), None)
    if index is None:
        return
    st.session_state[DELETED] = (index, history[index])
    st.session_state[RUNS] = history[:index] + history[index + 1:]
    st.session_state.pop(OVERLAY, None)


def undo_delete():
    """Put the last deleted run back where it was (or, if the history is full again, ask as for a new run)."""
    deleted = st.session_state.pop(DELETED, None)
    if deleted is None:
        return
    index, run = deleted
    if admit(run, index):
        st.session_state[NOTICE] = ("success", f"Run {run.run_id} is back in the history.")
    else:
        st.session_state[NOTICE] = ("warning", f"Run {run.run_id} is back, but the history is full: "
                                               "choose below which run to remove, or discard it.")


def _make_room(drop_id):
    """Remove run ``drop_id`` (undoable) and put the first pending run in its place at the end."""
    waiting = pending()
    if not waiting or drop_id not in [r.run_id for r in runs()]:
        return
    delete(drop_id)
    st.session_state[PENDING] = waiting[1:]
    admit(waiting[0])
    st.session_state[NOTICE] = ("success", f"Run {drop_id} removed (Undo below the history restores it); "
                                           f"run {waiting[0].run_id} is in the history.")


def _discard_pending():
    waiting = pending()
    if waiting:
        st.session_state[PENDING] = waiting[1:]
        st.session_state[NOTICE] = ("info", f"Run {waiting[0].run_id} discarded, as you chose; the history "
                                            "is unchanged.")


def _choice_label(run):
    acc = run.final.get("valid_acc", run.history[-1]["valid_acc"] if run.history else None)
    return f"{run.short_label}, {run.status}" + ("" if acc is None else f", valid acc {acc:.4f}")


def pending_panel():
    """When the history is full: which run to remove for the waiting run, or discard the waiting run."""
    waiting = pending()
    if not waiting:
        return
    run, history = waiting[0], runs()
    with st.container(border=True):
        st.warning(f"The run history is full ({MAX_RUNS} runs), so **run {run.run_id}** "
                   f"({plain(run.label)}, {run.status}) is waiting outside it. Remove an older run to keep "
                   f"it, or discard it. Nothing leaves the history until you choose."
                   + (f" {len(waiting) - 1} more run(s) wait after it." if len(waiting) > 1 else ""),
                   icon=":material/inventory_2:")
        by_id = {r.run_id: r for r in history}
        drop = st.selectbox("Run to remove", list(by_id), format_func=lambda i: _choice_label(by_id[i]),
                            key=PENDING_DROP)
        c = st.columns(2)
        c[0].button(f"Remove it, keep run {run.run_id}", key="train_pending_keep", on_click=_make_room,
                    args=(drop,), icon=":material/swap_horiz:", width="stretch")
        c[1].button(f"Discard run {run.run_id}", key="train_pending_discard", on_click=_discard_pending,
                    icon=":material/delete_forever:", width="stretch")
        downloads(run, "pending")


# ---------------------------------------------------------------------------
# The current model a loaded model replaced


def model_name(current):
    """How the page names a CurrentModel (None: no model yet, the inspection page's shipped one)."""
    if current is None:
        return "the shipped pretrained model (the session had no model of its own yet)"
    for run in runs() + pending():
        if run.params is current.model.params:
            return f"run {run.run_id}'s model ({plain(run.label)})"
    h = current.model.hyper
    what = "the shipped pretrained" if current.origin == "pretrained" else f"a {current.origin}"
    return f"{what} model (H {h.hidden}, lr {h.lr:g})"


def _back_to_replaced():
    replaced = st.session_state.pop(REPLACED, None)
    if replaced is None:
        return
    previous, name = replaced
    if previous is None:
        st.session_state.pop(MODEL_KEY, None)
    else:
        set_current_model(previous.model, previous.data_key, previous.origin)
    st.session_state[NOTICE] = ("info", f"The current model is {name} again.")


def replaced_offer():
    """After a load: a button back to the model the loaded one replaced."""
    replaced = st.session_state.get(REPLACED)
    if replaced is not None:
        st.button("Go back to the previous current model", key="train_back_model", on_click=_back_to_replaced,
                  icon=":material/undo:", help=f"Make {replaced[1]} the current model again.")


# ---------------------------------------------------------------------------
# Last run, history, downloads


def fmt(v, spec=".4f"):
    return "–" if v is None or v != v else format(v, spec)


def _file_stem(run):
    return f"mlp_run{run.run_id}_H{run.hyper.hidden}_lr{run.hyper.lr:g}"


def downloads(run, key):
    c = st.columns([1, 1, 2])
    c[0].download_button(
        "Model (.npz)", data=lambda: model_bytes(run.params, run.hyper, run.history, run.snapshots, run.health),
        file_name=f"{_file_stem(run)}.npz", mime="application/octet-stream", on_click="ignore",
        icon=":material/download:", key=f"train_dl_model_{key}", width="stretch",
        disabled=run.params is None,
        help="Loadable by this page and by `python -m mlp evaluate --model FILE`.",
    )
    c[1].download_button(
        "Curves (.csv)", data=history_csv(run.history), file_name=f"{_file_stem(run)}_curves.csv", mime="text/csv",
        on_click="ignore", icon=":material/download:", key=f"train_dl_csv_{key}", width="stretch",
    )


def last_run_panel():
    history = runs()
    if not history or st.session_state.get(LIVE) is not None:
        return
    run = history[-1]
    st.subheader(f"Last run: run {run.run_id} ({run.status})")
    st.caption(plain(run.label))
    note = chance_level_note(run.history)
    if note and run.status != "diverged":
        st.warning(f"Note: {note}.", icon=":material/warning:")
    c = st.columns(4)
    c[0].metric("Test accuracy", fmt(run.test_acc), help="Final weights on the test images.")
    # no help icons on these two: at 1024 px "Validation accuracy" and an icon do not fit a quarter row
    c[1].metric("Validation accuracy", fmt(run.final.get("valid_acc")))
    c[2].metric("Training accuracy", fmt(run.final.get("train_acc")))
    seconds = run.wall_seconds or run.train_seconds
    c[3].metric("Training time", f"{seconds:.1f} s", help=f"{run.epochs_done} epochs; pauses not counted.")
    st.caption("Accuracies of the final weights.")
    if run.history:
        c = st.columns(2, gap="large")
        c[0].altair_chart(run_curves_chart(run.history, "Loss"))
        c[1].altair_chart(run_curves_chart(run.history, "Accuracy"))
        st.caption(EPOCH_NOTE)
    draw_health(run.health, run.hyper)
    downloads(run, "last")


def history_panel():
    history = runs()
    st.subheader("Run history")
    if history:
        _table(history)
        _overlay(history)
        _pick_and_delete(history)
    else:
        st.caption("Every finished or stopped run of this session is listed here, to compare and download.")
    _undo_row()


def _table(history):
    table = pd.DataFrame(runs_table(history)).set_index("run")
    st.dataframe(table, width="stretch", column_config={
        "lr": st.column_config.NumberColumn("lr", format="%g"),
        "train acc": st.column_config.NumberColumn(format="%.4f"),
        "valid acc": st.column_config.NumberColumn(format="%.4f"),
        "test acc": st.column_config.NumberColumn(format="%.4f"),
        "seconds": st.column_config.NumberColumn(format="%.1f"),
    })


def _overlay(history):
    by_label = {r.short_label: r for r in history}
    c = st.columns([3, 1.3], vertical_alignment="bottom")
    added = st.session_state.pop(OVERLAY_ADD, [])
    if OVERLAY not in st.session_state:
        st.session_state[OVERLAY] = list(by_label)[-2:]
    elif added:
        st.session_state[OVERLAY] = [label for label in st.session_state[OVERLAY] + added if label in by_label]
    chosen = c[0].multiselect("Overlay runs", list(by_label), key=OVERLAY)
    metric = c[1].selectbox("Curve", list(OVERLAY_METRICS), format_func=OVERLAY_METRICS.get, key="train_overlay_metric")
    chosen_runs = [by_label[label] for label in chosen if by_label[label].history]
    if chosen_runs:
        st.altair_chart(overlay_chart(chosen_runs, metric))


def _pick_and_delete(history):
    by_label = {r.short_label: r for r in history}
    c = st.columns([2, 1], vertical_alignment="bottom")
    pick = c[0].selectbox("Run to download or delete", list(by_label), index=len(by_label) - 1, key="train_pick")
    run = by_label.get(pick, history[-1])
    downloads(run, "pick")
    c[1].button("Delete run", icon=":material/delete:", key="train_delete", on_click=delete, args=(run.run_id,),
                width="stretch", help="Undo brings it back.")


def _undo_row():
    deleted = st.session_state.get(DELETED)
    if deleted is None:
        return
    run = deleted[1]
    c = st.columns([3, 1], vertical_alignment="center")
    c[0].caption(f"Deleted: {plain(run.label)} ({run.status}).")
    c[1].button(f"Undo: restore run {run.run_id}", key="train_undo", on_click=undo_delete, icon=":material/undo:",
                width="stretch")


# ---------------------------------------------------------------------------
# Loading a saved model


def load_panel(data_key, dataset_name, split):
    st.subheader("Load a saved model")
    uploaded = st.file_uploader("A model file (.npz) saved by this page or by `python -m mlp train --out`",
                                type=["npz"], key="train_model_upload")
    if uploaded is None or st.session_state.get(LOADED_FILE) == uploaded.file_id:
        return
    st.session_state[LOADED_FILE] = uploaded.file_id
    try:
        model = load_lab_model(uploaded.getvalue(), uploaded.name)
    except DataError as exc:
        st.session_state[NOTICE] = ("error", f"The model was not loaded: {plain(exc, MAX_MESSAGE)} "
                                             "Nothing else changed.")
        st.rerun()
    record = loaded_record(next_id(), model, uploaded.name, dataset_name, split)
    previous = current_model()
    replaced = model_name(previous)
    kept = admit(record)
    set_current_model(model, data_key, "loaded")
    st.session_state[REPLACED] = (previous, replaced)
    where = "" if kept else " The history is full: choose below which run to remove for it, or discard it."
    st.session_state[NOTICE] = ("success" if kept else "warning",
                                f"Loaded {plain(uploaded.name)} as run {record.run_id}: test accuracy "
                                f"{fmt(record.test_acc)} on {plain(dataset_name)}. It is now the current model, "
                                f"in place of {replaced}.{where}")
    st.rerun()
