"""Charts shared by pages, as plain Vega-Lite specs: the one probability-bar chart (softmax page, backprop page;
the inspection page can use it too), a matrix as coloured cells, lines of gradients, plain bars.

Each helper returns a ``Chart`` (its data frame and a Vega-Lite spec dict) drawn by ``draw``. The specs are
written as dicts rather than built with Altair: building and validating an Altair chart took 0.1-0.3 s a
chart on every rerun here, most of a math page's server time.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import streamlit as st

HIGHLIGHT, OTHER = "#e8710a", "#1a73e8"  # the highlighted class (true or predicted), the rest


class Chart(NamedTuple):
    frame: pd.DataFrame
    spec: dict


def draw(chart, where=None):
    """Draw a Chart across the width of ``where`` (default: the current container)."""
    (where or st).vega_lite_chart(chart.frame, chart.spec, width="stretch")


def _field(name, kind, **more):
    return {"field": name, "type": kind, **more}


def probability_bars(probs, labels, highlight, role="true class", other="other", height=240, percent=False,
                     legend=True, title="p = softmax(o)"):
    """Bars of the probabilities p (K,) over the class ``labels``, the class ``highlight`` (an index) in orange.

    Data columns: class, probability, role (``role`` for the highlighted bar, ``other`` for the rest), text.
    Each bar carries its value (3 decimals, or a percentage with ``percent``; below 0.5 % none, so ten
    near-zero bars do not read '0%' ten times). The y axis is 0..1 whatever the values.
    """
    probs = np.asarray(probs, dtype=float).reshape(-1)
    labels = [str(v) for v in labels][: probs.shape[0]]
    shown = [f"{q:.0%}" if q >= 0.005 else "" for q in probs] if percent else [f"{q:.3f}" for q in probs]
    frame = pd.DataFrame({"class": labels, "probability": probs, "text": shown,
                          "role": [role if j == int(highlight) else other for j in range(len(labels))]})
    color = _field("role", "nominal", scale={"domain": [role, other], "range": [HIGHLIGHT, OTHER]},
                   legend={"title": None, "orient": "top"} if legend else None)
    spec = {
        "height": height,
        "encoding": {
            "x": _field("class", "nominal", sort=labels, title=None,
                        axis={"labelAngle": 0, "labelFontSize": 15, "labelOverlap": False}),
            "y": _field("probability", "quantitative", scale={"domain": [0, 1]}, title=title,
                        axis={"format": ".0%"} if percent else {}),
        },
        "layer": [
            {"mark": {"type": "bar"}, "encoding": {"color": color, "tooltip": [
                _field("class", "nominal"), _field("probability", "quantitative", format=".4f")]}},
            {"mark": {"type": "text", "dy": -9, "fontSize": 13, "color": "#333"},
             "encoding": {"text": _field("text", "nominal")}},
        ],
    }
    return Chart(frame, spec)


def matrix_grid(a, labels, row_title="i", col_title="j"):
    """A K x K matrix (e.g. the softmax Jacobian) as coloured cells with their numbers; red > 0, blue < 0.

    Data columns: i (row label), j (column label), value. Fits any K where a LaTeX matrix would not.
    """
    a = np.asarray(a)
    labels = list(labels)
    frame = pd.DataFrame([{"i": r, "j": q, "value": float(a[m, n])}
                          for m, r in enumerate(labels) for n, q in enumerate(labels)])
    lim = float(np.max(np.abs(a))) or 1.0
    spec = {
        "height": 34 * len(labels) + 30,
        "encoding": {"x": _field("j", "nominal", sort=labels, title=col_title, axis={"orient": "top", "labelAngle": 0}),
                     "y": _field("i", "nominal", sort=labels, title=row_title, axis={"titleAngle": 0})},
        "layer": [
            {"mark": {"type": "rect"}, "encoding": {"color": _field("value", "quantitative", legend=None, scale={
                "scheme": "redblue", "domain": [-lim, lim], "reverse": True})}},
            {"mark": {"type": "text", "fontSize": 12},
             "encoding": {"text": _field("value", "quantitative", format=".3f")}},
        ],
    }
    return Chart(frame, spec)


def gradient_lines(x, series, p_true, x_title, y_title, height=260):
    """Lines of several gradients against x (one colour per name of ``series`` {name: (len(x),)}), with the true
    class's probability ``p_true`` in the tooltip. Data columns: x, gradient, loss, p."""
    frame = pd.DataFrame([{"x": float(v), "gradient": float(g[i]), "loss": name, "p": float(p_true[i])}
                          for name, g in series.items() for i, v in enumerate(x)])
    spec = {
        "height": height,
        "mark": {"type": "line", "point": {"size": 18}},
        "encoding": {
            "x": _field("x", "quantitative", title=x_title),
            "y": _field("gradient", "quantitative", title=y_title, scale={"domain": [-1, 0]}),
            "color": _field("loss", "nominal", scale={"range": [OTHER, HIGHLIGHT]},
                            legend={"title": None, "orient": "top"}),
            "tooltip": [_field("x", "quantitative", title="d"), _field("loss", "nominal"),
                        _field("gradient", "quantitative", format=".2e"),
                        _field("p", "quantitative", title="p of the true class", format=".2e")],
        },
    }
    return Chart(frame, spec)


def bars(labels, values, x_title, y_title, height=220, color=OTHER):
    """Plain bars of ``values`` over ``labels`` in that order. Data columns: label, value."""
    labels = [str(v) for v in labels]
    frame = pd.DataFrame({"label": labels, "value": np.asarray(values, float)})
    spec = {
        "height": height,
        "mark": {"type": "bar", "color": color},
        "encoding": {"x": _field("label", "nominal", sort=labels, title=x_title, axis={"labelAngle": 0}),
                     "y": _field("value", "quantitative", title=y_title),
                     "tooltip": [_field("label", "nominal"), _field("value", "quantitative", format=".4f")]},
    }
    return Chart(frame, spec)
