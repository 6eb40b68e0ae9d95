"""The gradient-health row of the training page: three small charts per epoch, beside the loss curves.

Per epoch (``Trainer.health``, rows from ``lab.snapshots.health_rows``): the gradient norm of each
parameter block (log axis), the update-to-weight ratio ||Δw|| / ||w|| of each weight matrix with the
usual 1e-3 guide line (log axis), and the shares of dead and always-on hidden units (0..1). A run
whose dead share climbs gets ``lab.snapshots.dead_units_note`` under the row.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from lab import snapshots as sn
from ui.keys import HEALTH_CACHE

HEIGHT = 130  # of the plot itself (autosize fit-x: the title, axes and legend come on top)
COLOURS = {  # one colour per series, the validation/training blue and orange first
    "gradient norm": ["#1f77b4", "#9ecae1", "#ff7f0e", "#fdae6b"],
    "update ratio": ["#1f77b4", "#ff7f0e"],
    "hidden units": ["#d62728", "#2ca02c"],
}
TITLES = {
    "gradient norm": "Gradient norm ‖g‖ per block",
    "update ratio": "Update ratio ‖Δw‖ / ‖w‖",
    "hidden units": "Share of hidden units",
}
ROW_CAPTION = ("Gradient health per epoch. Norms and ratios are the mean over the epoch's updates, on log axes "
               "(a gradient of exactly 0 cannot be drawn there); the dashed line is the usual rule of thumb "
               "‖Δw‖ / ‖w‖ ≈ 1e-3: far above it the weights are thrown about, far below they hardly move. A dead "
               "unit's ReLU gives 0 for every training image, so it no longer learns; an always-on unit is > 0 for "
               "every image, a linear unit.")


def health_of(live):
    """The per-epoch health records of a run in progress (the trainer's, or the run proxy's), [] if none."""
    for source in (live, getattr(live, "trainer", None)):
        health = getattr(source, "health", None)
        if health:
            return list(health)
    return []


def health_chart(health, chart, epochs=None):
    """An Altair line chart of one of ``lab.snapshots.CHARTS`` over the epochs (x up to ``epochs`` if given)."""
    series, log = sn.CHARTS[chart]
    df = pd.DataFrame(sn.health_rows(health, chart), columns=["epoch", "series", "value"])
    end = max(int(epochs or 0), int(df["epoch"].max()) if len(df) else 1, 1)
    x = alt.X("epoch:Q", title="epoch", scale=alt.Scale(domain=[1, max(end, 2)]),
              axis=alt.Axis(tickMinStep=1, format="d"))
    scale = alt.Scale(type="log") if log else alt.Scale(domain=[0, 1])
    axis = alt.Axis(format="~e" if log else ".0%", tickCount=4 if log else 5)
    colour = alt.Color("series:N", sort=list(series.values()), title=None,
                       scale=alt.Scale(domain=list(series.values()), range=COLOURS[chart]),
                       legend=alt.Legend(orient="bottom", columns=1 if chart == "hidden units" else 2, labelLimit=220,
                                         symbolSize=60))  # "always on" would be cut beside "dead" at 1024 px
    lines = alt.Chart(df).mark_line(point=alt.OverlayMarkDef(size=30), clip=False).encode(
        x=x, y=alt.Y("value:Q", title=None, scale=scale, axis=axis), color=colour,
        tooltip=["epoch:Q", "series:N", alt.Tooltip("value:Q", format=".3~g")],
    )
    layers = [lines]
    if chart == "update ratio":
        guide = pd.DataFrame({"value": [sn.RATIO_GUIDE], "label": ["1e-3"]})
        layers.append(alt.Chart(guide).mark_rule(strokeDash=[5, 4], color="#555555").encode(y="value:Q"))
        layers.append(alt.Chart(guide).mark_text(align="left", dx=4, dy=-7, color="#555555").encode(
            y="value:Q", text="label:N", x=alt.value(0)))
    return alt.layer(*layers).properties(
        title=alt.Title(TITLES[chart], fontSize=13, anchor="start"), height=HEIGHT, width="container",
        autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))


def health_specs(health, epochs=None):
    """The three charts' Vega-Lite specs (dicts), in ``lab.snapshots.CHARTS`` order."""
    return [health_chart(health, chart, epochs).to_dict() for chart in sn.CHARTS]


def draw_health(health, hyper=None, specs=None):
    """One row of three small charts of a run's gradient health, and the dead-units note when it applies.

    Nothing is drawn for a run without health records (an older model file, or before its first epoch).
    """
    if not health:
        return
    specs = specs or health_specs(health, None if hyper is None else hyper.epochs)
    for col, spec in zip(st.columns(3), specs):
        col.vega_lite_chart(spec, width="stretch")
    st.caption(ROW_CAPTION)
    note = sn.dead_units_note(health, hyper)
    if note:
        st.warning(note, icon=":material/warning:")


def draw_live_health(live):
    """The health row of a run in progress; its specs rebuilt only when an epoch was added (session cache)."""
    health = health_of(live)
    key = (live.run_id, len(health))
    cached = st.session_state.get(HEALTH_CACHE)
    if not health:
        return
    if cached is None or cached[0] != key:
        cached = (key, health_specs(health, live.hyper.epochs))
        st.session_state[HEALTH_CACHE] = cached
    draw_health(health, live.hyper, cached[1])
