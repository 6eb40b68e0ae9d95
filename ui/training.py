"""Streamlit glue of the training page: run controls, the live view, and the end of a run.

The work is done by ``mlp`` (``Trainer``) and ``lab.runs`` (``LiveRun`` chunks,
run records); the history, downloads and loading are in ``ui.train_history``.

Training runs out of this process by default: ``lab.train_service`` trains every run of this
server in a low-priority child process, in round-robin slices, and the session holds a
``RemoteRun`` proxy with LiveRun's interface. The live view is a fragment that only redraws:
every ``REMOTE_EVERY`` seconds while its run trains, every ``WAIT_EVERY`` seconds while it waits
for memory (showing its place and an estimate), and not at all while paused. With
``$MLP_LAB_TRAINER=inline`` the fragment trains a ``LiveRun`` itself, in chunks of
``CHUNK_SECONDS`` every ``RUN_EVERY`` seconds (no thread, no long loop), one session at a time.
The control buttons live outside the fragment, so a click starts a full rerun that takes effect
at once (a command to the child, or after the current inline chunk).

Two facts of Streamlit shape this module:

* A click reruns the page in a new script thread while the replaced thread may
  still be inside a training chunk; Streamlit stops that thread only at its next
  Streamlit call. So a run records its own end (``LiveRun.final_record``, no
  Streamlit) and every script run moves an ended run into the history
  (``settle``): a run that finished its epochs is finished whichever thread ends it.
* Until a script run ends, the browser keeps the elements the run has not
  re-sent. A button replaced by one with another key (Pause by Resume) stood
  under its successor for the whole run, the row grew from 40 to 96 px and the
  buttons beside it moved down 28 px, then back up when the run ended: a click
  pressed before and released after the jump was lost. Every control keeps one
  key (Pause/Resume is one button whose label changes), so the row never changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from lab import train_service
from lab.runs import LiveRun, chance_level_note, describe, divergence_advice
from mlp.model_io import Model
from mlp.train import Trainer
from ui import class_session as cls
from ui import train_history as th
from ui.budget import run_refusal
from ui.keys import CHART_CACHE, LIVE, NOTICE, REPLACED, START
from ui.session import set_current_model
from ui.text import plain
from ui.train_charts import EPOCH_NOTE, MAX_POINTS, curve_frame, curves_chart, epoch_axis_end
from ui.train_health import draw_live_health
from ui.train_settings import hyper_from_widgets

CHUNK_SECONDS = 0.7  # training per fragment run: a click waits at most this long; the curves redraw about every second
RUN_EVERY = 0.4  # the fragment's rerun interval while a run is active (runs queue, so chunks go back to back)
LOCK_WAIT = 0.5  # seconds a session waits for its training turn before it just redraws
REMOTE_EVERY = 1.0  # the live view's redraw interval while the trainer child trains its run (CPU: see bench)
WAIT_EVERY = 1.5  # ... while its run waits for memory (a waiting session is not redrawn several times a second)
_TRAIN_TURN = threading.Lock()  # one training chunk at a time in this server process (see advance)

# ---------------------------------------------------------------------------
# Runs and controls


def start_run(mode="running"):
    """on_click of Train (and of Step with no run): ask for a run with the widgets' settings.

    The callback only records the request, in one write at its end. Streamlit stops a callback at
    its next ``st.session_state`` access when another rerun arrives meanwhile (a second click, the
    fragment's timer, a busy server), so a callback that built the trainer before storing it could
    lose the click. ``begin_requested_run``, in the script body, builds the run; a script run that
    is replaced before it has leaves the request to the next one.
    """
    st.session_state[START] = (mode, hyper_from_widgets())


def begin_requested_run(data_key, dataset_name, split):
    """Start the run a Train or Step click asked for (see ``start_run``): a new LiveRun on the session's data."""
    request = st.session_state.get(START)
    if request is None or st.session_state.get(LIVE) is not None:
        st.session_state.pop(START, None)
        return
    mode, hyper = request
    refusal = run_refusal(hyper, len(split.y_train), len(split.y_valid), inline=train_service.inline())
    if refusal:
        st.session_state[NOTICE] = ("error", refusal)
        st.session_state.pop(START, None)
        return
    if train_service.inline():
        trainer = Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper, n_data=len(split.order))
        live = LiveRun(trainer, th.next_id(), dataset_name, split=split, mode=mode, data_key=data_key)
    else:
        try:
            live = train_service.service().start_run(hyper, th.next_id(), dataset_name, data_key, split, browser_id(),
                                                     mode)
        except OSError as exc:  # no room in /dev/shm for the shared rows, or the trainer process cannot start
            st.session_state[NOTICE] = ("error", f"The server could not start this run ({exc}). Try again later.")
            st.session_state.pop(START, None)
            return
    st.session_state[LIVE] = live
    st.session_state.pop(START, None)
    st.session_state.pop(NOTICE, None)
    st.session_state.pop(REPLACED, None)


def browser_id():
    """Who shares one turn of the trainer: this browser (the SHA-256 of its student cookie), else this session.

    The trainer's round robin goes over browsers first, so a browser that opens many tabs gets one share.
    """
    token = cls.token()
    if token:
        return "b-" + hashlib.sha256(str(token).encode()).hexdigest()[:16]
    ctx = get_script_run_ctx()
    return "s-" + (ctx.session_id if ctx else "none")


def finish_run(live):
    """Move an ended (finished, stopped or diverged) run into the history; a usable model becomes the current one.

    Two script threads of one session can hold the same run (see ``_take``); the first to get here
    moves it, the other finds it gone and does nothing. Nothing happens while the run goes on.
    """
    with live.lock:
        record = live.final_record()
        if record is None or st.session_state.get(LIVE) is not live:
            return
        _keep(live, record)


def settle():
    """Move the session's run into the history if it has ended, whichever script thread ended it.

    The thread that trains a run's last chunk may be a replaced one, which Streamlit stops at its
    next Streamlit call, before it can write the history; the run then holds its own record
    (``LiveRun.final_record``) and the next script run of the page, which calls this first, moves it.
    """
    live = st.session_state.get(LIVE)
    if live is not None and live.finished:
        finish_run(live)


def _keep(live, record):
    kept = th.admit(record)
    st.session_state[LIVE] = None
    st.session_state.pop(REPLACED, None)
    full = "" if kept else (" The run history is full: choose below which run to remove for it, "
                            "or discard it.")
    if record.status == "diverged":
        st.session_state[NOTICE] = ("error", divergence_advice(record.hyper, record.reason) +
                                    " The diverged weights were not kept as the current model." + full)
        return
    if record.params is None:  # the trainer failed, or the run was stopped before it started
        why = f": {record.reason}" if record.reason else " before it started"
        st.session_state[NOTICE] = ("warning", f"Run {record.run_id} stopped after {record.epochs_done} epochs{why}."
                                    + full)
        return
    set_current_model(Model(record.params, record.hyper, record.history, snapshots=record.snapshots,
                            health=record.health), live.data_key, "trained")
    what = "finished" if record.status == "finished" else f"stopped after {record.epochs_done} epochs"
    st.session_state[NOTICE] = ("success" if kept else "warning",
                                f"Run {record.run_id} {what}. Its model is now the current model, shown on "
                                "the inspection page." + full)


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


def _pause_or_resume():
    _with_run(lambda live: live.resume() if live.mode == "paused" else live.pause())


def _step():
    if st.session_state.get(LIVE) is None:
        start_run(mode="stepping")
    else:
        _with_run(lambda live: live.step())


def _stop():
    live = st.session_state.get(LIVE)
    if live is not None:
        with _take(live):
            live.stop()
        finish_run(live)


def step_label(live):
    """(label, help) of the Step button: what it will do from the run's state."""
    if live is not None and not live.active and live.inside_epoch:
        t = live.trainer
        if live.hyper.batch_size is None:  # a full-batch epoch goes in row blocks: its share done, not its rows
            left = f"{1 - t.epoch_fraction:.0%} of it left"
        else:
            left = f"{t.n_train - t.position:,} of {t.n_train:,} training images left"
        return "Finish this epoch", f"Train the rest of epoch {t.epoch + 1} ({left}), then pause."
    return "Step one epoch", "Train one whole epoch, then pause."


def controls():
    """Train / Pause or Resume / Stop / Step, enabled by the run's state.

    Each button keeps its key, so it stays the same element (only its label,
    icon or enabled state change) and the row keeps its height: see the module docstring.
    """
    live = st.session_state.get(LIVE)
    running = live is not None and live.active
    paused = live is not None and not live.active
    cols = st.columns([1, 1, 0.9, 1.5], vertical_alignment="top")
    cols[0].button("Train", type="primary", icon=":material/play_arrow:", width="stretch", key="train_start",
                   disabled=live is not None, on_click=start_run)
    cols[1].button("Resume" if paused else "Pause", icon=":material/resume:" if paused else ":material/pause:",
                   width="stretch", key="train_pause", on_click=_pause_or_resume, disabled=live is None)
    cols[2].button("Stop", icon=":material/stop:", width="stretch", key="train_stop", on_click=_stop,
                   disabled=live is None, help="End the run; what it learned so far goes to the history.")
    label, help_text = step_label(live)
    cols[3].button(label, icon=":material/skip_next:", width="stretch", key="train_step",
                   on_click=_step, disabled=running, help=help_text)
    st.markdown(_status(live, running))


def _status(live, running):
    if live is None:
        return "Ready: choose the settings below, then press **Train**."
    if running:
        return f"**Training** run {live.run_id}. Pause or Stop at any time; the curves stay."
    if getattr(live, "queued", False):
        return f"**Paused** run {live.run_id} before it started (it waits for memory). Resume, step, or stop."
    t = live.trainer
    inside = ""
    if live.inside_epoch and live.hyper.batch_size is None:
        inside = f", {t.epoch_fraction:.0%} into epoch {t.epoch + 1}"
    elif live.inside_epoch:
        inside = f", {t.position:,} of {t.n_train:,} images into epoch {t.epoch + 1}"
    return f"**Paused** run {live.run_id} at epoch {t.epoch}{inside}. Resume, step, or stop."


# ---------------------------------------------------------------------------
# Live view


def draw_live(live):
    """Progress bar, current figures and the two curves of the run in progress (or paused)."""
    t = live.trainer
    h = live.hyper
    st.progress(live.progress, text=progress_text(live))
    st.caption(f"Settings of this run: {describe(h)}, {h.epochs} epochs · data: {plain(live.data_name)}")
    note = chance_level_note(t.history)
    if note:
        st.warning(f"Still running, but {note}.", icon=":material/warning:")
    draw_figures(t.history)
    c = st.columns(2, gap="large")
    for col, quantity in zip(c, ("Loss", "Accuracy")):
        col.vega_lite_chart(live_spec(live, quantity))
    st.caption(EPOCH_NOTE)
    draw_live_health(live)


def _about(seconds):
    if seconds is None:
        return ""
    return f", about {seconds:,.0f} s" if seconds >= 1 else ", under 1 s"


def progress_text(live):
    """The progress bar's line: epoch and time left; for a run of the trainer child its place too.

    Waiting for memory: "Run 3 waits for memory: 2 runs ahead of yours, about 6 s". Training beside
    others: "... · 4 runs share the trainer".
    """
    t, h = live.trainer, live.hyper
    if getattr(live, "queued", False) and live.active:
        ahead = live.queue_ahead
        place = "yours is next" if ahead == 0 else f"{ahead} run{'s' if ahead != 1 else ''} ahead of yours"
        return f"Run {live.run_id} waits for memory on the server: {place}{_about(live.wait_seconds)}"
    left = live.seconds_left()
    left_text = ""
    if left is not None and not live.finished:
        left_text = f" · about {left:,.0f} s left" if left >= 1 else " · under 1 s left"
    sharing = getattr(live, "sharing", 0)
    share_text = f" · {sharing} runs share the trainer" if live.active and sharing > 1 else ""
    state = "paused" if not live.active else "training"
    return f"Run {live.run_id}, {state}: epoch {t.epoch} of {h.epochs}{left_text}{share_text}"


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
        col.metric(label, th.fmt(value), delta=delta, delta_color="inverse" if "loss" in key else "normal")


def advance(live, seconds=None):
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
                live.advance(CHUNK_SECONDS if seconds is None else seconds)
            finally:
                _TRAIN_TURN.release()


def _live_fragment():
    live = st.session_state.get(LIVE)
    if live is None:
        return
    if isinstance(live, LiveRun):
        if live.active:
            advance(live)
            if not live.active and not live.finished:  # a step ended: stop the timer, update the buttons
                st.rerun()
    else:
        if live.drawn_active and not live.active and not live.finished:  # the child ended a step: the buttons
            live.drawn_active = False
            st.rerun()
        live.drawn_active = live.active
    if live.finished:  # ended here, or in a replaced script thread that Streamlit stopped before it said so
        finish_run(live)
        st.rerun()
    draw_live(live)
    if isinstance(live, LiveRun) and live.active and _in_fragment_rerun():
        # go straight on with the next chunk instead of idling until the run_every timer fires
        # (the timer still starts the first fragment rerun after a full run, where this is not allowed)
        st.rerun(scope="fragment")


def _in_fragment_rerun():
    ctx = get_script_run_ctx()
    return bool(ctx and ctx.fragment_ids_this_run)


def redraw_every(live):
    """The live view's rerun interval: RUN_EVERY (inline), REMOTE_EVERY or WAIT_EVERY (trainer child), None if idle."""
    if live is None or not live.active:
        return None
    if isinstance(live, LiveRun):
        return RUN_EVERY
    return WAIT_EVERY if live.queued else REMOTE_EVERY


def live_panel():
    """The run in progress, in a fragment that reruns every ``redraw_every(live)`` seconds while it is active."""
    st.fragment(run_every=redraw_every(st.session_state.get(LIVE)))(_live_fragment)()


def show_notice():
    """The message of the last action (and, after a load, the way back to the replaced model)."""
    notice = st.session_state.get(NOTICE)
    if notice:
        kind, text = notice
        {"error": st.error, "success": st.success, "info": st.info, "warning": st.warning}[kind](text)
    th.replaced_offer()
