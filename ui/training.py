"""Streamlit glue of the training page: settings widgets, run controls, the live view, history.

The work is done by ``mlp`` (``Trainer``) and ``lab.runs`` (``LiveRun`` chunks,
run records, URL settings); this module only draws widgets and charts.

Training runs in short chunks inside a fragment that reruns itself every
``RUN_EVERY`` seconds while a run is active (``st.fragment(run_every=...)``):
no thread, no long loop. The control buttons live outside the fragment, so a
click starts a full rerun that takes effect as soon as the current chunk
(``CHUNK_SECONDS`` of work) ends.
"""

from __future__ import annotations

import contextlib
import threading

import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from lab.runs import (
    LiveRun,
    chance_level_note,
    describe,
    divergence_advice,
    history_csv,
    loaded_record,
    runs_table,
)
from mlp.data import DataError
from mlp.limits import MAX_RUNS
from mlp.model_io import Model, load_lab_model, model_bytes
from mlp.train import Trainer
from ui.keys import CHART_CACHE, LIVE, LOADED_FILE, NEXT_ID, NOTICE, OVERLAY, OVERLAY_ADD, RUNS
from ui.session import set_current_model
from ui.train_charts import (
    MAX_POINTS,
    OVERLAY_METRICS,
    curve_frame,
    curves_chart,
    epoch_axis_end,
    overlay_chart,
    run_curves_chart,
)
from ui.train_settings import (
    hyper_from_widgets,
)

CHUNK_SECONDS = 0.7  # training work per fragment run: a click waits at most this long, the curves redraw about once a second
RUN_EVERY = 0.4  # the fragment's rerun interval while a run is active (runs queue, so chunks go back to back)
LOCK_WAIT = 0.5  # seconds a session waits for its training turn before it just redraws
_TRAIN_TURN = threading.Lock()  # one training chunk at a time in this server process (see advance)

# ---------------------------------------------------------------------------
# Runs and controls


def _runs():
    return st.session_state.setdefault(RUNS, [])


def _next_id():
    n = st.session_state.get(NEXT_ID, 1)
    st.session_state[NEXT_ID] = n + 1
    return n


def start_run(data_key, dataset_name, split, mode="running"):
    """Train (or Step one epoch from nothing): a new LiveRun with the widgets' settings on the session's data set."""
    hyper = hyper_from_widgets()
    trainer = Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper)
    st.session_state[LIVE] = LiveRun(trainer, _next_id(), dataset_name, split=split, mode=mode, data_key=data_key)
    st.session_state.pop(NOTICE, None)


def _add_run(record):
    """Append a run to the history (dropping the oldest past MAX_RUNS) and to the overlay's selection."""
    runs = _runs()
    runs.append(record)
    del runs[:-MAX_RUNS]
    # the overlay's multiselect takes the new run when it is next drawn (a widget's key can only be
    # written before the widget is drawn in the same script run)
    st.session_state.setdefault(OVERLAY_ADD, []).append(record.short_label)


def finish_run(live):
    """Move a finished, stopped or diverged run into the history; a usable model becomes the current one.

    Two script threads of one session can hold the same run (see ``_take``); the first to get here
    moves it, the other finds it gone and does nothing.
    """
    with live.lock:
        if st.session_state.get(LIVE) is not live:
            return
        record = live.to_record()
        _keep(live, record)


def _keep(live, record):
    _add_run(record)
    st.session_state[LIVE] = None
    if record.status == "diverged":
        st.session_state[NOTICE] = ("error", divergence_advice(record.hyper, record.reason) +
                                    " The diverged weights were not kept as the current model.")
    else:
        set_current_model(Model(record.params, record.hyper, record.history), live.data_key, "trained")
        what = "finished" if record.status == "finished" else f"stopped after {record.epochs_done} epochs"
        st.session_state[NOTICE] = ("success", f"Run {record.run_id} {what}. Its model is now the current "
                                               "model, shown on the inspection page.")


@contextlib.contextmanager
def _take(live):
    """Hold the run's lock, first asking a chunk in the replaced script thread to end at its next step.

    Every use of a run's trainer holds ``live.lock``: a click reruns the whole
    page in a new script thread at once (``runner.fastReruns``), while the
    thread it replaces may still be inside a training chunk on the same run,
    where Streamlit cannot stop it. Without the lock the click's callback
    would read, or change, the weights in the middle of an update.
    """
    live.interrupt.set()
    with live.lock:
        live.interrupt.clear()
        yield


def _with_run(action):
    live = st.session_state.get(LIVE)
    if live is not None:
        with _take(live):
            action(live)


def _pause():
    _with_run(lambda live: live.pause())


def _resume():
    _with_run(lambda live: live.resume())


def _step(data_key, dataset_name, split):
    if st.session_state.get(LIVE) is None:
        start_run(data_key, dataset_name, split, mode="stepping")
    else:
        _with_run(lambda live: live.step())


def _stop():
    live = st.session_state.get(LIVE)
    if live is not None:
        with _take(live):
            live.stop()
        finish_run(live)


def controls(data_key, dataset_name, split):
    """Train / Pause / Resume / Step one epoch / Stop, enabled by the run's state."""
    live = st.session_state.get(LIVE)
    running = live is not None and live.active
    paused = live is not None and not live.active
    cols = st.columns([1, 1, 0.9, 1.5], vertical_alignment="center")
    cols[0].button("Train", type="primary", icon=":material/play_arrow:", width="stretch", key="train_start",
                   disabled=live is not None, on_click=start_run, args=(data_key, dataset_name, split))
    if paused:
        cols[1].button("Resume", icon=":material/resume:", width="stretch", key="train_resume", on_click=_resume)
    else:
        cols[1].button("Pause", icon=":material/pause:", width="stretch", key="train_pause", on_click=_pause,
                       disabled=not running)
    cols[2].button("Stop", icon=":material/stop:", width="stretch", key="train_stop", on_click=_stop,
                   disabled=live is None, help="End the run; what it learned so far goes to the history.")
    cols[3].button("Step one epoch", icon=":material/skip_next:", width="stretch", key="train_step",
                   on_click=_step, args=(data_key, dataset_name, split), disabled=running,
                   help="Train exactly one more epoch, then pause.")
    if live is None:
        status = "Ready: choose the settings below, then press **Train**."
    elif running:
        status = f"**Training** run {live.run_id}. Pause or Stop at any time; the curves stay."
    else:
        status = f"**Paused** run {live.run_id} at epoch {live.trainer.epoch}. Resume, step one epoch, or stop."
    st.markdown(status)


# ---------------------------------------------------------------------------
# Live view


def _fmt(v, spec=".4f"):
    return "–" if v is None or v != v else format(v, spec)


def draw_live(live):
    """Progress bar, current figures and the two curves of the run in progress (or paused)."""
    t = live.trainer
    h = live.hyper
    left = live.seconds_left()
    left_text = "" if left is None or live.finished else f" · about {left:,.0f} s left" if left >= 1 else " · under 1 s left"
    state = "paused" if not live.active else "training"
    st.progress(live.progress, text=f"Run {live.run_id}, {state}: epoch {t.epoch} of {h.epochs}{left_text}")
    st.caption(f"Settings of this run: {describe(h)}, {h.epochs} epochs · data: {live.data_name}")
    note = chance_level_note(t.history)
    if note:
        st.warning(f"Still running, but {note}.", icon=":material/warning:")
    draw_figures(t.history)
    c = st.columns(2, gap="large")
    for col, quantity in zip(c, ("Loss", "Accuracy")):
        col.vega_lite_chart(live_spec(live, quantity))


def live_spec(live, quantity):
    """The Vega-Lite spec (from Altair) of the live chart of one quantity, rebuilt only when an epoch was added.

    The epoch axis grows in steps (``epoch_axis_end``), not with every epoch,
    so the curves do not squeeze a little more at every redraw. A fragment
    rerun that ends inside an epoch redraws the cached spec.
    """
    done = len(live.history)
    cache = st.session_state.setdefault(CHART_CACHE, {})
    key = (live.run_id, done)
    if cache.get(quantity, (None, None))[0] != key:
        chart = curves_chart(curve_frame(live.history, quantity), epoch_axis_end(done, live.hyper.epochs), quantity,
                             done <= MAX_POINTS)
        cache[quantity] = (key, chart.to_dict())
    return cache[quantity][1]


def draw_figures(history):
    last = history[-1] if history else {}
    prev = history[-2] if len(history) > 1 else None
    c = st.columns(5)
    c[0].metric("Epochs done", f"{last.get('epoch', 0)}",
                help="Each epoch's figures are those of the weights at its start, as in the report.")
    for col, key, label in zip(c[1:], ("train_loss", "train_acc", "valid_loss", "valid_acc"),
                               ("Train loss", "Train accuracy", "Valid loss", "Valid accuracy")):
        value = last.get(key)
        delta = None
        if prev is not None and value == value and prev[key] == prev[key]:
            delta = f"{value - prev[key]:+.4f}"
        col.metric(label, _fmt(value), delta=delta, delta_color="inverse" if "loss" in key else "normal")


def advance(live):
    """One chunk of training, if this session gets the server's training turn within LOCK_WAIT seconds.

    Sessions take turns (one chunk at a time per server process): numpy's
    BLAS already uses every core, and several sessions multiplying at once
    oversubscribe them, which made four concurrent runs many times slower
    than four runs one after the other. A session that does not get its turn
    just redraws and tries again at its next rerun, so its buttons still
    answer promptly.
    """
    with live.lock:
        if _TRAIN_TURN.acquire(timeout=LOCK_WAIT):
            try:
                live.advance(CHUNK_SECONDS)
            finally:
                _TRAIN_TURN.release()


def _live_fragment():
    live = st.session_state.get(LIVE)
    if live is None:
        return
    if live.active:
        advance(live)
        if live.finished:
            finish_run(live)
            st.rerun()
        if not live.active:  # a step ended: stop the timer, update the buttons
            st.rerun()
    draw_live(live)
    if live.active and _in_fragment_rerun():
        # go straight on with the next chunk instead of idling until the run_every timer fires
        # (the timer still starts the first fragment rerun after a full run, where this is not allowed)
        st.rerun(scope="fragment")


def _in_fragment_rerun():
    ctx = get_script_run_ctx()
    return bool(ctx and ctx.fragment_ids_this_run)


def live_panel():
    """The run in progress, in a fragment that reruns every RUN_EVERY seconds while the run is active."""
    live = st.session_state.get(LIVE)
    every = RUN_EVERY if live is not None and live.active else None
    st.fragment(run_every=every)(_live_fragment)()


def show_notice():
    notice = st.session_state.get(NOTICE)
    if notice:
        kind, text = notice
        {"error": st.error, "success": st.success, "info": st.info}[kind](text)


# ---------------------------------------------------------------------------
# After a run, history, downloads, loading a model


def _file_stem(run):
    return f"mlp_run{run.run_id}_H{run.hyper.hidden}_lr{run.hyper.lr:g}"


def downloads(run, key):
    c = st.columns([1, 1, 2])
    c[0].download_button(
        "Model (.npz)", data=lambda: model_bytes(run.params, run.hyper, run.history),
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
    runs = _runs()
    if not runs or st.session_state.get(LIVE) is not None:
        return
    run = runs[-1]
    st.subheader(f"Last run: run {run.run_id} ({run.status})")
    st.caption(run.label)
    note = chance_level_note(run.history)
    if note and run.status != "diverged":
        st.warning(f"Note: {note}.", icon=":material/warning:")
    c = st.columns(4)
    c[0].metric("Test accuracy", _fmt(run.test_acc), help="Final weights on the test images.")
    c[1].metric("Validation accuracy", _fmt(run.final.get("valid_acc")), help="Final weights.")
    c[2].metric("Training accuracy", _fmt(run.final.get("train_acc")), help="Final weights.")
    seconds = run.wall_seconds or run.train_seconds
    c[3].metric("Training time", f"{seconds:.1f} s", help=f"{run.epochs_done} epochs; pauses not counted.")
    if run.history:
        c = st.columns(2, gap="large")
        c[0].altair_chart(run_curves_chart(run.history, "Loss"))
        c[1].altair_chart(run_curves_chart(run.history, "Accuracy"))
    downloads(run, "last")


def history_panel():
    runs = _runs()
    st.subheader("Run history")
    if not runs:
        st.caption("Every finished or stopped run of this session is listed here, to compare and download.")
        return
    table = pd.DataFrame(runs_table(runs)).set_index("run")
    st.dataframe(table, width="stretch", column_config={
        "lr": st.column_config.NumberColumn("lr", format="%g"),
        "train acc": st.column_config.NumberColumn(format="%.4f"),
        "valid acc": st.column_config.NumberColumn(format="%.4f"),
        "test acc": st.column_config.NumberColumn(format="%.4f"),
        "seconds": st.column_config.NumberColumn(format="%.1f"),
    })
    by_label = {r.short_label: r for r in runs}
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
    c = st.columns([2, 1], vertical_alignment="bottom")
    pick = c[0].selectbox("Run to download or delete", list(by_label), index=len(by_label) - 1, key="train_pick")
    run = by_label[pick]
    downloads(run, "pick")
    c[1].button("Delete run", icon=":material/delete:", key="train_delete", on_click=_delete, args=(run.run_id,),
                width="stretch")


def _delete(run_id):
    st.session_state[RUNS] = [r for r in _runs() if r.run_id != run_id]
    st.session_state.pop(OVERLAY, None)


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
        st.session_state[NOTICE] = ("error", f"The model was not loaded: {exc} Nothing else changed.")
        st.rerun()
    record = loaded_record(_next_id(), model, uploaded.name, dataset_name, split)
    _add_run(record)
    set_current_model(model, data_key, "loaded")
    st.session_state[NOTICE] = ("success", f"Loaded {uploaded.name} as run {record.run_id}: "
                                           f"test accuracy {_fmt(record.test_acc)} on {dataset_name}. "
                                           "It is now the current model.")
    st.rerun()
