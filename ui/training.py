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

import altair as alt
import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from lab.runs import (
    EPOCHS_RANGE,
    HIDDEN_RANGE,
    LR_GRID,
    MIN_BATCH,
    MOMENTUM_RANGE,
    SEED_RANGE,
    LiveRun,
    chance_level_note,
    clamp_batch,
    curve_rows,
    describe,
    divergence_advice,
    history_csv,
    hyper_from_query,
    hyper_to_query,
    loaded_record,
    overlay_rows,
    runs_table,
    snap_lr,
)
from mlp.data import DataError
from mlp.model_io import Model, load_lab_model, model_bytes
from mlp.train import PRESETS, Hyper, Trainer
from ui.session import set_current_model

CHUNK_SECONDS = 0.7  # training work per fragment run: a click waits at most this long, the curves redraw about once a second
RUN_EVERY = 0.4  # the fragment's rerun interval while a run is active (runs queue, so chunks go back to back)
LOCK_WAIT = 0.5  # seconds a session waits for its training turn before it just redraws
_TRAIN_TURN = threading.Lock()  # one training chunk at a time in this server process (see advance)
MAX_RUNS = 20  # runs kept in a session's history (the oldest go first)
MAX_POINTS = 60  # draw a dot per epoch up to this many epochs

# session_state keys (all prefixed "train_", the page's own)
SETTINGS = "train_settings"  # Hyper: the page's settings (outlives the widgets when the user visits other pages)
LIVE = "train_live"  # LiveRun or None
RUNS = "train_runs"  # list[RunRecord]
NEXT_ID = "train_next_id"
NOTICE = "train_notice"  # (kind, text) shown above the live view until the next run starts
URL_NOTES = "train_url_notes"  # notes about the link's settings, shown once
BATCH_MEMORY = "train_batch_memory"  # the mini-batch size, remembered while "Full batch" is on
LOADED_FILE = "train_loaded_file"  # file_id of the model upload already taken in
OVERLAY = "train_overlay"  # the overlay multiselect's key
OVERLAY_ADD = "train_overlay_add"  # runs to add to the overlay when it is next drawn
CHART_CACHE = "train_chart_cache"  # {quantity: ((run, epochs done), spec)} of the live charts
W = {name: f"train_w_{name}" for name in ("hidden", "lr", "momentum", "epochs", "full", "batch", "seed", "dtype")}

PRESET_LABELS = {"assignment": "Assignment", "quick": "Quick demo"}
DTYPE_LABELS = {"float32": "float32 (fast)", "float64": "float64 (reference)"}
COLORS = {"Training": "#1f77b4", "Validation": "#e8590c"}
FONT = {"label": 14, "title": 16}


# ---------------------------------------------------------------------------
# Settings


def _hyper_to_widgets(hyper, n_train):
    """Write a Hyper into the widgets' session-state keys (before the widgets are drawn)."""
    st.session_state[W["hidden"]] = int(min(max(hyper.hidden, HIDDEN_RANGE[0]), HIDDEN_RANGE[1]))
    st.session_state[W["lr"]] = snap_lr(hyper.lr)
    st.session_state[W["momentum"]] = float(min(max(hyper.momentum, MOMENTUM_RANGE[0]), MOMENTUM_RANGE[1]))
    st.session_state[W["epochs"]] = int(min(max(hyper.epochs, EPOCHS_RANGE[0]), EPOCHS_RANGE[1]))
    st.session_state[W["full"]] = hyper.batch_size is None
    batch = hyper.batch_size if hyper.batch_size is not None else st.session_state.get(BATCH_MEMORY, 128)
    st.session_state[W["batch"]] = clamp_batch(batch, n_train)
    st.session_state[W["seed"]] = int(hyper.seed)
    st.session_state[W["dtype"]] = hyper.dtype


def init_settings(n_train):
    """The session's settings: from the link on the first visit (else the Quick demo), then kept in SETTINGS.

    SETTINGS is the one store: every widget writes it back in its on_change
    callback, and each run writes it into the widgets' keys before they are
    drawn. So the widgets keep their values across runs that hide them
    (while training) and visits to other pages.
    """
    if SETTINGS not in st.session_state:
        hyper, notes = PRESETS["quick"], []
        query = st.query_params.to_dict()
        if any(k in query for k in hyper_to_query(hyper)):
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
    cols = st.columns([1, 1, 4], vertical_alignment="center")
    for col, name in zip(cols, ("assignment", "quick")):
        h = PRESETS[name]
        col.button(
            PRESET_LABELS[name], key=f"train_preset_{name}", on_click=apply_preset, args=(name,),
            disabled=disabled, width="stretch", icon=":material/tune:",
            help=f"{describe(h)}, {h.epochs} epochs",
        )
    cols[2].caption("Presets: **Assignment** is the course report's run; **Quick demo** passes 0.90 "
                    "validation accuracy within seconds.")


def settings_widgets(n_train, disabled=False):
    """The hyperparameter widgets; returns the Hyper they describe."""
    with st.container(border=True):
        c = st.columns(4, gap="medium")
        c[0].slider("Hidden units H", *HIDDEN_RANGE, key=W["hidden"], on_change=_store_settings, disabled=disabled,
                    help="Neurons in the hidden ReLU layer (784-H-10 network).")
        c[1].select_slider("Learning rate α (log scale)", options=LR_GRID, key=W["lr"], on_change=_store_settings, disabled=disabled,
                           format_func=lambda v: f"{v:g}", help="Step size of gradient descent, 1e-4 to 1.")
        c[2].slider("Momentum γ", *MOMENTUM_RANGE, step=0.01, key=W["momentum"], on_change=_store_settings, disabled=disabled,
                    help="v ← γ·v + α·g; w ← w − v. 0 is plain gradient descent.")
        c[3].slider("Epochs", *EPOCHS_RANGE, key=W["epochs"], on_change=_store_settings, disabled=disabled,
                    help="Passes over the training set.")
        c = st.columns(4, gap="medium", vertical_alignment="bottom")
        full = c[0].toggle("Full batch", key=W["full"], on_change=_store_settings, disabled=disabled,
                           help="On: one update per epoch on all training images (the report). "
                                "Off: mini-batches of the size on the right, shuffled each epoch.")
        c[1].number_input(f"Batch size ({MIN_BATCH} to {n_train:,})", min_value=MIN_BATCH,
                          max_value=max(n_train, MIN_BATCH), step=16, key=W["batch"], on_change=_store_settings, disabled=disabled or full)
        c[2].number_input("Seed", min_value=SEED_RANGE[0], max_value=SEED_RANGE[1], step=1, key=W["seed"],
                          disabled=disabled, help="Seeds the initial weights and the mini-batch order.")
        c[3].radio("Numeric path", list(DTYPE_LABELS), format_func=DTYPE_LABELS.get, key=W["dtype"],
                   disabled=disabled, horizontal=True,
                   help="float32: the fast engine. float64: the reference engine, line by line as the math.")
    return st.session_state[SETTINGS]


def hyper_from_widgets():
    """The Hyper the widgets' keys describe (the SETTINGS value for any key not set)."""
    s = st.session_state
    base = s.get(SETTINGS, PRESETS["quick"])
    if any(W[k] not in s for k in W):
        return base
    return Hyper(hidden=int(s[W["hidden"]]), lr=float(s[W["lr"]]), momentum=round(float(s[W["momentum"]]), 2),
                 epochs=int(s[W["epochs"]]), batch_size=None if s[W["full"]] else int(s[W["batch"]]),
                 seed=int(s[W["seed"]]), dtype=s[W["dtype"]])


def sync_url(hyper):
    """Mirror the settings into the URL query string (so the link can be shared)."""
    for key, value in hyper_to_query(hyper).items():
        if st.query_params.get(key) != value:
            st.query_params[key] = value


def show_url_notes():
    notes = st.session_state.pop(URL_NOTES, None)
    if notes and len(notes) > 1:
        st.warning("Link settings: " + "; ".join(notes[1:]) + ".", icon=":material/link:")
    elif notes:
        st.info("The settings below come from the link you opened.", icon=":material/link:")


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
# Charts


def _axis_config(chart):
    return (chart.configure_axis(labelFontSize=FONT["label"], titleFontSize=FONT["title"])
            .configure_legend(labelFontSize=FONT["label"], titleFontSize=FONT["label"], orient="top",
                              symbolType="stroke", symbolStrokeWidth=3, symbolSize=400))


def epoch_axis_end(done, epochs):
    """Right end of a live chart's epoch axis: the first of 10, 20, 50, 100, 200, 500, ... that holds
    ``done`` epochs, at most the run's ``epochs``."""
    end = 10
    while end < done:
        end = end * 5 // 2 if str(end)[0] == "2" else end * 2
    return max(2, min(end, epochs))


def curve_frame(history, quantity):
    """Rows (epoch, set, value) of one quantity ('Loss' or 'Accuracy') of a run's curves."""
    rows = [r for r in curve_rows(history) if r["quantity"] == quantity]
    return pd.DataFrame(rows, columns=["epoch", "set", "value"])


def curves_chart(data, axis_end, quantity, points=True):
    """Altair chart of one quantity: training and validation per epoch, epochs 1..``axis_end``.

    ``data``: a DataFrame of ``curve_frame``.
    """
    y_title = "Cross-entropy loss" if quantity == "Loss" else "Accuracy"
    chart = alt.Chart(data).mark_line(point=points, strokeWidth=3).encode(
        x=alt.X("epoch:Q", title="Epoch", scale=alt.Scale(domain=[1, axis_end]),
                axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("value:Q", title=y_title, scale=alt.Scale(zero=False)),
        color=alt.Color("set:N", title=None, scale=alt.Scale(domain=list(COLORS), range=list(COLORS.values()))),
        strokeDash=alt.StrokeDash("set:N", title=None, scale=alt.Scale(domain=list(COLORS), range=[[1, 0], [8, 4]])),
        tooltip=[alt.Tooltip("epoch:Q", title="Epoch"), alt.Tooltip("set:N", title="Set"),
                 alt.Tooltip("value:Q", title=y_title, format=".4f")],
    ).properties(height=300)
    return _axis_config(chart)


def run_curves_chart(history, quantity):
    """The finished run's chart of one quantity, its axis fitted to the epochs done."""
    return curves_chart(curve_frame(history, quantity), max(len(history), 2), quantity, len(history) <= MAX_POINTS)


OVERLAY_METRICS = {"valid_acc": "Validation accuracy", "train_acc": "Training accuracy",
                   "valid_loss": "Validation loss", "train_loss": "Training loss"}


def overlay_chart(runs, key):
    df = pd.DataFrame(overlay_rows(runs, key), columns=["epoch", "run", "value"])
    title = OVERLAY_METRICS[key]
    longest = max((r.epochs_done for r in runs), default=1)
    chart = alt.Chart(df).mark_line(point=longest <= MAX_POINTS, strokeWidth=3).encode(
        x=alt.X("epoch:Q", title="Epoch", axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("value:Q", title=title, scale=alt.Scale(zero=False)),
        color=alt.Color("run:N", title=None),
        tooltip=[alt.Tooltip("run:N", title="Run"), alt.Tooltip("epoch:Q", title="Epoch"),
                 alt.Tooltip("value:Q", title=title, format=".4f")],
    ).properties(height=340)
    return _axis_config(chart)


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
