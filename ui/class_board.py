"""The Class page's board: every run of an experiment as a scatter, overlaid curves and a table.

Data from ``lab.class_store.Store.board``; this module draws it. A student's own runs are drawn
larger and outlined; diverged runs are marked and kept out of the scatter's accuracy axis.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from lab.class_store import VARIED
from ui.text import plain

FONT = {"label": 15, "title": 17}


def board_frame(board, my_id):
    """One row per run: name, varied value, validation accuracy, status, mine (bool)."""
    rows = [{"run": r["id"], "name": r["name"], "value": r["varied_value"], "valid_acc": r["valid_acc"],
             "train_acc": r["train_acc"], "status": r["status"], "hidden": r["hidden"],
             "mine": r["student_id"] == my_id, "epochs": len(r["valid_curve"])} for r in board]
    return pd.DataFrame(rows, columns=["run", "name", "value", "valid_acc", "train_acc", "status", "hidden", "mine",
                                       "epochs"])


def curves_frame(board):
    rows = [{"run": r["id"], "name": r["name"], "value": r["varied_value"], "epoch": e, "valid_acc": v}
            for r in board for e, v in enumerate(r["valid_curve"], 1) if v is not None and v == v]
    return pd.DataFrame(rows, columns=["run", "name", "value", "epoch", "valid_acc"])


def _axis(chart):
    return chart.configure_axis(labelFontSize=FONT["label"], titleFontSize=FONT["title"]).configure_legend(
        labelFontSize=FONT["label"], titleFontSize=FONT["label"], orient="bottom", gradientLength=150,
        titleOrient="left")  # below the plot: a legend beside it took a third of a half-width column at 1024 px


def scatter(frame, varied):
    """Varied setting (log axis for the learning rate) against final validation accuracy."""
    title = VARIED[varied].capitalize()
    scale = alt.Scale(type="log") if varied == "lr" else alt.Scale(zero=False)
    ok = frame[frame["valid_acc"].notna()]
    chart = alt.Chart(ok).mark_point(filled=True, opacity=0.85).encode(
        x=alt.X("value:Q", title=title, scale=scale),
        y=alt.Y("valid_acc:Q", title="Final validation accuracy", scale=alt.Scale(zero=False)),
        size=alt.condition("datum.mine", alt.value(320), alt.value(140)),
        stroke=alt.condition("datum.mine", alt.value("black"), alt.value(None)),
        color=alt.Color("value:Q", title=title, scale=alt.Scale(scheme="viridis", type=scale.type or "linear")),
        tooltip=["name:N", alt.Tooltip("value:Q", title=title), alt.Tooltip("valid_acc:Q", format=".4f"), "status:N"],
    ).properties(height=340)
    return _axis(chart)


def overlay(curves, varied):
    """Every run's validation curve, coloured by the varied setting."""
    title = VARIED[varied].capitalize()
    scale_type = "log" if varied == "lr" else "linear"
    chart = alt.Chart(curves).mark_line(strokeWidth=2.5, opacity=0.8).encode(
        x=alt.X("epoch:Q", title="Epoch", axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("valid_acc:Q", title="Validation accuracy", scale=alt.Scale(zero=False)),
        color=alt.Color("value:Q", title=title, scale=alt.Scale(scheme="viridis", type=scale_type)),
        detail="run:N", tooltip=["name:N", alt.Tooltip("value:Q", title=title), "epoch:Q",
                                 alt.Tooltip("valid_acc:Q", format=".4f")],
    ).properties(height=340)
    return _axis(chart)


def table(frame, varied):
    """The runs sorted by validation accuracy; names escaped by the dataframe itself (cells are text)."""
    shown = frame.assign(status=[("diverged ✗" if s == "diverged" else s) + (" (hidden)" if h else "")
                                 for s, h in zip(frame["status"], frame["hidden"])],
                         you=["◀ you" if m else "" for m in frame["mine"]])
    shown = shown.rename(columns={"value": VARIED[varied], "valid_acc": "valid acc", "train_acc": "train acc"})
    st.dataframe(shown.drop(columns=["mine", "hidden"]).set_index("run"), width="stretch", column_config={
        "valid acc": st.column_config.NumberColumn(format="%.4f"),
        "train acc": st.column_config.NumberColumn(format="%.4f"),
        VARIED[varied]: st.column_config.NumberColumn(format="%g")})


def draw_board(experiment, board, my_id):
    """Counts, the scatter and the overlay side by side, then the table."""
    frame = board_frame(board, my_id)
    students = frame["name"].nunique()
    diverged = int((frame["status"] == "diverged").sum())
    c = st.columns(3)
    c[0].metric("Students", students)
    c[1].metric("Runs", len(frame))
    c[2].metric("Diverged", diverged, help="Runs whose loss blew up or whose ReLUs all died: not in the scatter.")
    if frame.empty:
        st.info(f"No runs yet. Students open the join link, train with their own {plain(VARIED[experiment.varied])}, "
                "and every run they finish appears here.")
        return
    left, right = st.columns(2, gap="large")
    left.altair_chart(scatter(frame, experiment.varied), width="stretch")
    right.altair_chart(overlay(curves_frame(board), experiment.varied), width="stretch")
    table(frame, experiment.varied)
