"""Streamlit glue of the Sweep page: one network trained with several learning rates at once.

The work is done by ``mlp.sweep.Sweep`` (R networks stacked, batched matrix products) and
``lab.sweep_run.SweepRun`` (time-boxed chunks, one RunRecord per learning rate), as one job of
the server's trainer process (``lab.train_service``; the page holds a ``RemoteSweep`` and only
redraws) or, with ``MLP_LAB_TRAINER=inline``, in this process in short chunks inside the
fragment. As on the Training page, a click only records its request (the script body starts the
sweep), the fragment reruns itself while the sweep is active, a sweep records its own end (no
Streamlit) and every script run moves an ended sweep's runs into the session's run history
(``ui.train_history.admit``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from lab import train_service
from lab.settings import HIDDEN_RANGE, LR_GRID, MIN_BATCH, MOMENTUM_RANGE, SEED_RANGE
from lab.sweep_run import SweepRun, estimate_sweep_bytes, final_rows
from mlp.sweep import MAX_RATES, Sweep, log_grid
from mlp.train import PRESETS, Hyper
from ui import train_history as th
from ui import training as tr
from ui.budget import refusal
from ui.text import plain
from ui.train_charts import EPOCH_NOTE

LIVE = "sweep_live"  # SweepRun or None
START = "sweep_start_request"  # the Hyper and learning rates a Train sweep click asked for
LAST = "sweep_last"  # (records, hypers) of the last ended sweep, for its final chart
NOTICE = "sweep_notice"  # (kind, text)
W = {name: f"sweep_w_{name}" for name in ("hidden", "batch", "epochs", "momentum", "seed", "range", "count")}
CHUNK_SECONDS = 0.25  # training per fragment run
RUN_EVERY = 0.3
EPOCHS_MAX = 50
COLORS = ["#1f77b4", "#e8590c", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def defaults(n_train):
    """The widgets' first values: the Quick demo's settings, learning rates 0.01 to 0.5, 6 of them."""
    q = PRESETS["quick"]
    return {"hidden": q.hidden, "batch": min(q.batch_size, max(n_train, MIN_BATCH)), "epochs": q.epochs,
            "momentum": q.momentum, "seed": q.seed, "range": (0.01, 0.5), "count": 6}


def rate_label(lr):
    return f"lr {lr:.3g}"


def settings_widgets(n_train, disabled):
    """The sweep's settings -> (Hyper, learning rates)."""
    first = defaults(n_train)
    for name, value in first.items():
        if name != "range":  # a range slider is one because its value is a pair: given below
            st.session_state.setdefault(W[name], value)
    kw = {"disabled": disabled}
    with st.container(border=True):
        c = st.columns(3, gap="medium")
        low, high = c[0].select_slider("Learning rates from … to (log scale)", options=LR_GRID, key=W["range"],
                                       value=first["range"], format_func=lambda v: f"{v:g}", **kw)
        count = c[1].slider("How many learning rates", 2, MAX_RATES, key=W["count"], **kw,
                            help="Spaced evenly on a log scale between the two ends.")
        c[2].slider("Epochs", 1, EPOCHS_MAX, key=W["epochs"], **kw)
        c = st.columns(4, gap="medium")
        c[0].slider("Hidden units H", HIDDEN_RANGE[0], 1024, key=W["hidden"], **kw)
        c[1].number_input(f"Batch size ({MIN_BATCH} to {n_train:,})", MIN_BATCH, max(n_train, MIN_BATCH), step=16,
                          key=W["batch"], **kw)
        c[2].slider("Momentum γ", *MOMENTUM_RANGE, step=0.01, key=W["momentum"], **kw)
        c[3].number_input("Seed", SEED_RANGE[0], SEED_RANGE[1], step=1, key=W["seed"], **kw,
                          help="The same first weights and mini-batch order for every learning rate.")
    s = st.session_state
    hyper = Hyper(hidden=int(s[W["hidden"]]), lr=float(low), momentum=round(float(s[W["momentum"]]), 2),
                  epochs=int(s[W["epochs"]]), batch_size=int(s[W["batch"]]), seed=int(s[W["seed"]]), dtype="float32")
    return hyper, log_grid(float(low), float(high), int(count) if high > low else 1)


# ---------------------------------------------------------------------------
# Starting, stopping, settling


def _request(hyper, lrs):
    st.session_state[START] = (hyper, lrs)


def begin_requested(data_key, dataset_name, split):
    """Start the sweep a click asked for (after the memory check), on the session's data."""
    request = st.session_state.pop(START, None)
    if request is None or st.session_state.get(LIVE) is not None:
        return
    hyper, lrs = request
    n_train, n_valid = len(split.y_train), len(split.y_valid)
    inline = train_service.inline()
    refused = refusal(lambda shared: estimate_sweep_bytes(hyper, n_train, n_valid, len(lrs), shared_inputs=shared),
                      f"sweep ({len(lrs)} networks, H = {hyper.hidden})", inline)
    if refused:
        st.session_state[NOTICE] = ("error", refused)
        return
    ids = [th.next_id() for _ in lrs]
    if inline:
        sweep = Sweep(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper, lrs, n_data=len(split.order))
        live = SweepRun(sweep, ids, dataset_name, split=split, data_key=data_key)
    else:
        try:
            live = train_service.service().start_sweep(hyper, lrs, ids, dataset_name, data_key, split, tr.browser_id())
        except OSError as exc:  # no room in /dev/shm for the shared rows, or the trainer process cannot start
            st.session_state[NOTICE] = ("error", f"The server could not start this sweep ({exc}). Try again later.")
            return
    st.session_state[LIVE] = live
    st.session_state.pop(NOTICE, None)


def _stop():
    live = st.session_state.get(LIVE)
    if live is not None:
        live.interrupt.set()
        with live.lock:
            live.interrupt.clear()
            live.stop()
        settle()


def settle():
    """Move an ended sweep's runs into the run history (once), whichever script thread ended it."""
    live = st.session_state.get(LIVE)
    if live is None or not live.finished:
        return
    with live.lock:
        records = live.final_records()
        if st.session_state.get(LIVE) is not live:
            return
        kept = [th.admit(rec) for rec in records]
        st.session_state[LIVE] = None
        st.session_state[LAST] = records
    diverged = [rec for rec in records if rec.status == "diverged"]
    text = (f"The sweep's {len(records)} runs (runs {records[0].run_id} to {records[-1].run_id}) are in the run "
            "history on the Training page.")
    if diverged:
        text += " Diverged and stopped alone: " + "; ".join(
            f"lr {rec.hyper.lr:.3g} ({plain(rec.reason)})" for rec in diverged) + "."
    if not all(kept):
        text += " The history is full: the Training page asks which runs to remove for the waiting ones."
    st.session_state[NOTICE] = ("success" if all(kept) and not diverged else "warning", text)


def controls(hyper, lrs):
    live = st.session_state.get(LIVE)
    c = st.columns([1.5, 1.1, 3], vertical_alignment="center")
    c[0].button("Train sweep", type="primary", icon=":material/play_arrow:", key="sweep_start", width="stretch",
                disabled=live is not None, on_click=_request, args=(hyper, lrs))
    c[1].button("Stop", icon=":material/stop:", key="sweep_stop", width="stretch", disabled=live is None,
                on_click=_stop, help="End the sweep; every run keeps what it learned so far.")
    rates = ", ".join(f"{lr:.3g}" for lr in lrs)
    c[2].caption(f"{len(lrs)} networks, learning rates {rates}; H {hyper.hidden}, momentum {hyper.momentum:g}, "
                 f"batch {hyper.batch_size}, seed {hyper.seed}, {hyper.dtype}, {hyper.epochs} epochs: all from the "
                 "same first weights on the same mini-batches.")
    notice = st.session_state.get(NOTICE)
    if notice:
        {"error": st.error, "success": st.success, "warning": st.warning}[notice[0]](notice[1])


# ---------------------------------------------------------------------------
# Charts


def curve_frame(histories, hypers, key):
    rows = [{"epoch": int(r["epoch"]), "run": rate_label(h.lr), "value": float(r[key])}
            for hist, h in zip(histories, hypers) for r in hist if np.isfinite(r[key])]
    return pd.DataFrame(rows, columns=["epoch", "run", "value"])


def curves_spec(hypers, title, epochs):
    labels = [rate_label(h.lr) for h in hypers]
    return {
        "height": 300, "mark": {"type": "line", "point": True, "strokeWidth": 3},
        "encoding": {
            "x": {"field": "epoch", "type": "quantitative", "title": "Epoch",
                  "scale": {"domain": [1, max(epochs, 2)]}, "axis": {"tickMinStep": 1, "format": "d"}},
            "y": {"field": "value", "type": "quantitative", "title": title, "scale": {"zero": False}},
            "color": {"field": "run", "type": "nominal", "title": None, "sort": labels,
                      "scale": {"domain": labels, "range": COLORS[: len(labels)]},
                      "legend": {"orient": "top", "columns": 2, "labelLimit": 110}},
            "tooltip": [{"field": "run", "type": "nominal"}, {"field": "epoch", "type": "quantitative"},
                        {"field": "value", "type": "quantitative", "format": ".4f", "title": title}],
        },
        "config": {"axis": {"labelFontSize": 14, "titleFontSize": 15}, "legend": {"labelFontSize": 14}},
    }


def draw_curves(histories, hypers, epochs):
    c = st.columns(2, gap="large")
    for col, key, title in zip(c, ("valid_acc", "valid_loss"), ("Validation accuracy", "Validation loss")):
        col.vega_lite_chart(curve_frame(histories, hypers, key), curves_spec(hypers, title, epochs), width="stretch")
    st.caption(EPOCH_NOTE)


def final_spec():
    return {
        "height": 300,
        "layer": [{"mark": {"type": "line", "strokeWidth": 2, "color": "#888"}},
                  {"mark": {"type": "point", "filled": True, "size": 140},
                   "encoding": {"shape": {"field": "status", "type": "nominal", "title": None,
                                          "legend": {"orient": "top"}}}}],
        "encoding": {
            "x": {"field": "lr", "type": "quantitative", "title": "Learning rate α (log scale)",
                  "scale": {"type": "log"}, "axis": {"format": "~g"}},
            "y": {"field": "valid_acc", "type": "quantitative", "title": "Final validation accuracy",
                  "scale": {"zero": False}},
            "tooltip": [{"field": "lr", "type": "quantitative", "format": ".3g"},
                        {"field": "valid_acc", "type": "quantitative", "format": ".4f"},
                        {"field": "status", "type": "nominal"}],
        },
        "config": {"axis": {"labelFontSize": 14, "titleFontSize": 15}, "legend": {"labelFontSize": 14}},
    }


def final_panel():
    """After a sweep: its curves and final validation accuracy against the learning rate."""
    records = st.session_state.get(LAST)
    if not records or st.session_state.get(LIVE) is not None:
        return
    st.subheader("The last sweep")
    draw_curves([r.history for r in records], [r.hyper for r in records], records[0].hyper.epochs)
    frame = pd.DataFrame([{**row, "valid_acc": float("nan") if row["valid_acc"] is None else row["valid_acc"]}
                          for row in final_rows(records)])
    frame["valid_acc"] = frame["valid_acc"].where(np.isfinite(frame["valid_acc"]))
    c = st.columns([3, 2], gap="large")
    c[0].vega_lite_chart(frame.dropna(), final_spec(), width="stretch")
    best = frame.loc[frame["valid_acc"].idxmax()] if frame["valid_acc"].notna().any() else None
    if best is not None:
        c[1].markdown(f"Best: **lr {best['lr']:.3g}**, final validation accuracy **{best['valid_acc']:.4f}**.")
    c[1].dataframe(frame.rename(columns={"valid_acc": "valid acc"}), hide_index=True, width="stretch",
                   column_config={"lr": st.column_config.NumberColumn(format="%.3g"),
                                  "valid acc": st.column_config.NumberColumn(format="%.4f")})


# ---------------------------------------------------------------------------
# The live view


def _live_fragment():
    live = st.session_state.get(LIVE)
    if live is None:
        return
    if live.active and isinstance(live, SweepRun):  # a RemoteSweep trains in the trainer process
        tr.advance(live, CHUNK_SECONDS)  # the server process's one training turn, shared with in-process runs
    if live.finished:
        settle()
        st.rerun()
    st.progress(live.progress, text=progress_text(live))
    draw_curves(live.histories, live.hypers, live.epochs)


def progress_text(live):
    """The progress bar's words: the epoch, the networks still training, or the place in the queue."""
    if live.queued:
        wait = live.wait_seconds
        return (f"Sweep: waiting for memory on the server, {live.queue_ahead} run(s) ahead"
                + (f", about {wait:.0f} s" if wait is not None else ""))
    stopped = sum(1 for reason in live.reasons if reason)
    return (f"Sweep: epoch {live.epoch} of {live.epochs}, {live.live_count} of {live.runs} networks training"
            + (f" ({stopped} diverged and stopped)" if stopped else ""))


def live_panel():
    live = st.session_state.get(LIVE)
    every = RUN_EVERY if live is not None and live.active else None
    st.fragment(run_every=every)(_live_fragment)()
