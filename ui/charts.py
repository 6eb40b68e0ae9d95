"""Charts shared by pages: the one probability-bar chart (softmax page, backprop page, inspection page)."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

HIGHLIGHT, OTHER = "#e8710a", "#1a73e8"  # the highlighted class (true or predicted), the rest


def probability_bars(probs, labels, highlight, role="true class", other="other", height=240, percent=False,
                     legend=True, title="p = softmax(o)"):
    """Bars of the probabilities p (K,) over the class ``labels``, the class ``highlight`` (an index) in orange.

    Data columns: class, probability, role (``role`` for the highlighted bar, ``other`` for the rest).
    Each bar carries its value (3 decimals, or a percentage with ``percent``; below 0.5 % none, so ten
    near-zero bars do not read '0%' ten times). The y axis is 0..1 whatever the values.
    """
    probs = np.asarray(probs, dtype=float).reshape(-1)
    labels = [str(v) for v in labels][: probs.shape[0]]
    shown = [f"{q:.0%}" if q >= 0.005 else "" for q in probs] if percent else [f"{q:.3f}" for q in probs]
    frame = pd.DataFrame({"class": labels, "probability": probs, "text": shown,
                          "role": [role if j == int(highlight) else other for j in range(len(labels))]})
    axis = alt.Axis(format=".0%") if percent else alt.Axis()
    bars = alt.Chart(frame).mark_bar().encode(
        x=alt.X("class:N", sort=labels, title=None, axis=alt.Axis(labelAngle=0, labelFontSize=15, labelOverlap=False)),
        y=alt.Y("probability:Q", scale=alt.Scale(domain=[0, 1]), title=title, axis=axis),
        color=alt.Color("role:N", scale=alt.Scale(domain=[role, other], range=[HIGHLIGHT, OTHER]),
                        legend=alt.Legend(title=None, orient="top") if legend else None),
        tooltip=["class", alt.Tooltip("probability:Q", format=".4f")],
    )
    text = bars.mark_text(dy=-9, fontSize=13).encode(text="text:N", color=alt.value("#333"))
    return (bars + text).properties(height=height)


def matrix_grid(a, labels, row_title="i", col_title="j"):
    """A K x K matrix (e.g. the softmax Jacobian) as coloured cells with their numbers; red > 0, blue < 0.

    Data columns: i (row label), j (column label), value. Fits any K where a LaTeX matrix would not.
    """
    a = np.asarray(a)
    cells = pd.DataFrame([{"i": r, "j": q, "value": float(a[m, n])}
                          for m, r in enumerate(labels) for n, q in enumerate(labels)])
    lim = float(np.max(np.abs(a))) or 1.0
    base = alt.Chart(cells).encode(
        x=alt.X("j:N", sort=list(labels), title=col_title, axis=alt.Axis(orient="top", labelAngle=0)),
        y=alt.Y("i:N", sort=list(labels), title=row_title))
    rect = base.mark_rect().encode(color=alt.Color("value:Q", legend=None, scale=alt.Scale(
        scheme="redblue", domain=[-lim, lim], reverse=True)))
    text = base.mark_text(fontSize=12).encode(text=alt.Text("value:Q", format=".3f"))
    return (rect + text).properties(height=34 * len(labels) + 30)


def gradient_lines(x, series, p_true, x_title, y_title, height=260):
    """Lines of several gradients against x (one colour per name of ``series`` {name: (len(x),)}), with the true
    class's probability ``p_true`` in the tooltip. Data columns: x, gradient, loss, p."""
    frame = pd.DataFrame([{"x": float(v), "gradient": float(g[i]), "loss": name, "p": float(p_true[i])}
                          for name, g in series.items() for i, v in enumerate(x)])
    return alt.Chart(frame).mark_line(point=alt.OverlayMarkDef(size=18)).encode(
        x=alt.X("x:Q", title=x_title),
        y=alt.Y("gradient:Q", title=y_title, scale=alt.Scale(domain=[-1, 0])),
        color=alt.Color("loss:N", scale=alt.Scale(range=[OTHER, HIGHLIGHT]),
                        legend=alt.Legend(title=None, orient="top")),
        tooltip=[alt.Tooltip("x:Q", title="d"), "loss", alt.Tooltip("gradient:Q", format=".2e"),
                 alt.Tooltip("p:Q", title="p of the true class", format=".2e")],
    ).properties(height=height)
