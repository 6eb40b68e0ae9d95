"""The training page's Altair charts: a run's loss and accuracy curves, and the overlay of several runs."""

from __future__ import annotations

import altair as alt
import pandas as pd

from lab.runs import curve_rows, overlay_rows

MAX_POINTS = 60  # draw a dot per epoch up to this many epochs
COLORS = {"Training": "#1f77b4", "Validation": "#e8590c"}
FONT = {"label": 14, "title": 16}
# said under every epoch curve: the record of epoch e is taken before epoch e's updates (mlp.train's docstring)
EPOCH_NOTE = ("A point at epoch e is measured on the weights as epoch e begins, before its updates, as the course "
              "report records it: epoch 1 is the random start. The final weights are measured apart.")

# ---------------------------------------------------------------------------
# Charts


def _axis_config(chart, columns):
    """Fonts, and the legend above the plot in ``columns`` columns: a legend wider than the plot is cut off
    (one row of "Training" and "Validation" was, over a short run's narrow plot at 1024 px; 20 runs in a row were)."""
    return (chart.configure_axis(labelFontSize=FONT["label"], titleFontSize=FONT["title"])
            .configure_legend(labelFontSize=FONT["label"], titleFontSize=FONT["label"], orient="top",
                              columns=columns, symbolType="stroke", symbolStrokeWidth=3, symbolSize=400))


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
    return _axis_config(chart, columns=1)


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
    return _axis_config(chart, columns=2)
