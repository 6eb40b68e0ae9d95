"""The Inspection page's learning dynamics: the hidden layer's map and the loss landscape.

The numbers come from ``lab.hidden_map`` and ``lab.landscape``; this file draws them. Results are
kept in the session by model identity (the digest of its weights, with the data set's key), at
most ``KEEP`` models, so a rerun redraws without computing. The landscape is computed on a click
(it takes seconds), with a progress bar; the map when the section is first drawn for a model.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from lab import hidden_map as hm
from lab import inspect_model as im
from lab import landscape as ls
from mlp.core import LETTERS

CACHE = "dyn_cache"  # {(what, model key, data key): result}, the newest last
MAP_EPOCH = "dyn_map_epoch"  # select_slider: the snapshot shown on the map
MAP_CHART = "dyn_map_chart"  # the scatter's selection state
MAP_ROW = "dyn_map_row"  # the picked letter's row into the validation set
LS_REQUEST = "dyn_ls_request"  # the model key a Compute click asked the landscape for
KEEP = 6
LETTER_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf"]
AXIS = {"labelFontSize": 14, "titleFontSize": 15}


def _cached(what, model, data_key, compute):
    """compute() once per (what, model, data set) in this session; the oldest entries go past KEEP."""
    cache = st.session_state.setdefault(CACHE, {})
    key = (what, model.key, data_key)
    if key not in cache:
        value = compute()
        cache[key] = value
        for old in list(cache)[:-KEEP]:
            del cache[old]
    return cache[key]


def _snapshots(model):
    """The model's snapshots [(epoch, Params)], or its final weights alone as the one snapshot."""
    snaps = list(getattr(model, "snapshots", None) or [])
    return snaps if snaps else [(-1, model.params)]


def _progress(text):
    bar = st.progress(0.0, text=text)
    return bar, (lambda f: bar.progress(min(max(float(f), 0.0), 1.0), text=text))


# ----- the hidden layer's map --------------------------------------------------------------------


def compute_map(model, split):
    """lab.hidden_map.hidden_map of a fixed sample of the validation letters at every snapshot (progress bar past 4)."""
    snaps = _snapshots(model)
    rows = hm.sample_indices(len(split.y_valid))
    if len(snaps) <= 4:
        return hm.hidden_map(snaps, split.x_valid, split.y_valid, rows)
    bar, tick = _progress(f"Hidden activations of {len(rows):,} letters at {len(snaps)} snapshots…")
    hmap = hm.hidden_map(snaps, split.x_valid, split.y_valid, rows, progress=tick)
    bar.empty()
    return hmap


def map_frame(hmap, frame):
    f = hmap.frames[frame]
    return pd.DataFrame({
        "pc1": f.xy[:, 0], "pc2": f.xy[:, 1], "row": hmap.rows.astype(int),
        "letter": [LETTERS[t] for t in hmap.true], "predicted": [LETTERS[p] for p in f.predicted],
        "mark": np.where(f.wrong, "misclassified", "read right"),
    })


def map_chart(data, domains, selected):
    pick = alt.selection_point(name="point", fields=["row"], on="click", clear=False)
    shape = alt.Shape("mark:N", title=None, scale=alt.Scale(domain=["read right", "misclassified"],
                                                           range=["circle", "cross"]))
    chart = alt.Chart(data).mark_point(filled=True, size=60, cursor="pointer").encode(
        x=alt.X("pc1:Q", title="first principal component", scale=alt.Scale(domain=domains[0]), axis=alt.Axis(**AXIS)),
        y=alt.Y("pc2:Q", title="second principal component", scale=alt.Scale(domain=domains[1]),
                axis=alt.Axis(**AXIS)),
        color=alt.Color("letter:N", title="true letter", scale=alt.Scale(domain=list(LETTERS), range=LETTER_COLORS)),
        shape=shape,
        size=alt.condition(alt.datum.row == (-1 if selected is None else int(selected)), alt.value(400),
                           alt.value(60)),
        opacity=alt.condition(alt.datum.mark == "misclassified", alt.value(1.0), alt.value(0.55)),
        tooltip=[alt.Tooltip("letter:N", title="true"), alt.Tooltip("predicted:N", title="read as"),
                 alt.Tooltip("row:Q", title="validation letter #")],
    ).add_params(pick).properties(height=460)
    return chart.configure_legend(labelFontSize=14, titleFontSize=14)


def picked_row(event, rows):
    """The row a click on the map chose (``event``: its VegaLiteState or a dict), or None."""
    points = ((event or {}).get("selection") or {}).get("point") or []
    for point in points:
        row = point.get("row")
        if row is not None and int(row) in set(int(r) for r in rows):
            return int(row)
    return None


def _domains(hmap):
    xy = np.concatenate([f.xy for f in hmap.frames])
    pad = lambda lo, hi: [float(lo - 0.05 * (hi - lo + 1e-9)), float(hi + 0.05 * (hi - lo + 1e-9))]  # noqa: E731
    return pad(xy[:, 0].min(), xy[:, 0].max()), pad(xy[:, 1].min(), xy[:, 1].max())


def map_section(model, split, data_key):
    st.subheader("Hidden-layer map")
    st.markdown(f"Each dot is a validation letter: its {model.params.sizes[1]:,} hidden activations "
                "h = ReLU(x W_h + b_h) projected on their two principal components (PCA by numpy's SVD), coloured "
                "by the true letter; crosses are letters the network misreads. **Click a dot** to see its letter.")
    hmap = _cached("map", model, data_key, lambda: compute_map(model, split))
    epochs = [f.epoch for f in hmap.frames]
    frame = len(epochs) - 1
    if len(epochs) > 1:
        chosen = st.select_slider("Snapshot (epoch)", options=epochs, value=epochs[-1], key=MAP_EPOCH)
        frame = epochs.index(chosen)
    f = hmap.frames[frame]
    ref = "the final weights" if hmap.reference_epoch < 0 or frame == len(epochs) - 1 else "the last snapshot"
    st.caption(f"{len(hmap.rows):,} validation letters (a fixed sample); at this snapshot {int(f.wrong.sum()):,} "
               f"are misread. The axes were fitted once, on {ref} (they explain {hmap.pca.explained[0]:.0%} and "
               f"{hmap.pca.explained[1]:.0%} of the variance there), and every snapshot is drawn on them, so the "
               "clusters can be watched forming.")
    clicked = picked_row(st.session_state.get(MAP_CHART), hmap.rows)  # the click that started this rerun, if any
    if clicked is not None:
        st.session_state[MAP_ROW] = clicked  # so the chart below already draws that dot large
    c = st.columns([3, 1], gap="medium")
    event = c[0].altair_chart(map_chart(map_frame(hmap, frame), _domains(hmap), st.session_state.get(MAP_ROW)),
                              on_select="rerun", selection_mode="point", key=MAP_CHART, width="stretch")
    row = picked_row(event, hmap.rows)
    if row is not None:
        st.session_state[MAP_ROW] = row
    with c[1]:
        _picked_letter(hmap, frame, split)


def _picked_letter(hmap, frame, split):
    row = st.session_state.get(MAP_ROW)
    if row is None or row not in set(hmap.rows.tolist()):
        st.info("Click a dot on the map to see its letter here.")
        return
    i = int(np.flatnonzero(hmap.rows == row)[0])
    true, pred = LETTERS[hmap.true[i]], LETTERS[hmap.frames[frame].predicted[i]]
    image = im.upscale(im.letter_images(split.x_valid[[row]])[0], 5)
    st.image(image, caption=f"validation letter #{row}", output_format="PNG", width=140)
    verdict = "read right" if true == pred else "misread"
    st.markdown(f"True letter **{true}**, read as **{pred}** at this snapshot ({verdict}).")


# ----- the loss landscape ------------------------------------------------------------------------


def compute_landscape(model, split):
    """{"line": Line or None, "slice": Slice, "rows": sample size}, with a progress bar."""
    snaps = list(getattr(model, "snapshots", None) or [])
    train = ls.sample_rows(split.x_train, split.y_train)
    valid = ls.sample_rows(split.x_valid, split.y_valid)
    bar, tick = _progress("Computing the loss landscape…")
    line = None
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # a model with huge weights: inf, drawn as gaps
        if snaps and snaps[0][0] == 0:
            first = snaps[0][1].copy(model.params.w_h.dtype)
            line = ls.line_losses(first, model.params, train, valid, progress=lambda f: tick(0.2 * f))
        sl = ls.slice_losses(model.params, train, snapshots=snaps, progress=lambda f: tick(0.2 + 0.8 * f))
    bar.empty()
    return {"line": line, "slice": sl, "rows": len(train[1])}


def line_chart(line):
    data = pd.DataFrame({"t": np.concatenate([line.t, line.t]), "loss": np.concatenate([line.train, line.valid]),
                         "set": ["training"] * len(line.t) + ["validation"] * len(line.t)})
    data = data[np.isfinite(data["loss"])]
    curves = alt.Chart(data).mark_line(point=True, strokeWidth=3).encode(
        x=alt.X("t:Q", title=["t, where", "θ = θ₀ + t (θ_T − θ₀)"], axis=alt.Axis(**AXIS)),
        y=alt.Y("loss:Q", title="cross-entropy loss", scale=alt.Scale(type="log"), axis=alt.Axis(**AXIS)),
        color=alt.Color("set:N", title=None, scale=alt.Scale(range=["#1f77b4", "#e8590c"])),
        tooltip=["set", alt.Tooltip("t:Q", format=".2f"), alt.Tooltip("loss:Q", format=".4f")],
    )
    marks = pd.DataFrame({"t": [0.0, 1.0], "label": ["θ₀ start", "θ_T trained"], "align": ["left", "right"]})
    rules = alt.Chart(marks).mark_rule(strokeDash=[4, 4], color="#555").encode(x="t:Q")
    text = alt.layer(*[alt.Chart(marks[marks["align"] == side]).mark_text(
        fontSize=13, align=side, dx=4 if side == "left" else -4, baseline="top").encode(
        x="t:Q", y=alt.value(4 if side == "left" else 22), text="label:N") for side in ("left", "right")])
    # the legend's two entries one above the other: side by side they did not fit the narrow column at 1024 px
    # ("validation" was cut to "val"); inside the plot they covered a curve
    return (curves + rules + text).properties(height=400).configure_legend(  # the height holds legend and titles
        orient="top", direction="vertical", columns=1, labelFontSize=14)


def slice_chart(sl):
    """Heat map of the slice's log10 loss (one cell a grid point), the path's snapshots in white, θ_T a red ring."""
    aa, bb = np.meshgrid(sl.a, sl.b)
    half = (float(sl.a[1] - sl.a[0]) if len(sl.a) > 1 else 1.0) / 2
    loss = sl.loss.ravel()
    data = pd.DataFrame({"a": aa.ravel(), "b": bb.ravel(), "a0": aa.ravel() - half, "a1": aa.ravel() + half,
                         "b0": bb.ravel() - half, "b1": bb.ravel() + half, "loss": loss,
                         "log10 loss": np.log10(np.clip(loss, 1e-6, None))})
    edge = [float(sl.a[0] - half), float(sl.a[-1] + half)]
    heat = alt.Chart(data).mark_rect().encode(
        x=alt.X("a0:Q", title="along direction 1", scale=alt.Scale(domain=edge, nice=False), axis=alt.Axis(**AXIS)),
        x2="a1:Q",
        y=alt.Y("b0:Q", title="along direction 2", scale=alt.Scale(domain=edge, nice=False), axis=alt.Axis(**AXIS)),
        y2="b1:Q",
        color=alt.Color("log10 loss:Q", scale=alt.Scale(scheme="viridis"), title="log₁₀ loss",
                        legend=alt.Legend(orient="top", direction="horizontal", gradientLength=160)),
        tooltip=[alt.Tooltip("a:Q", format=".2f"), alt.Tooltip("b:Q", format=".2f"),
                 alt.Tooltip("loss:Q", format=".4f")],
    )
    layers = [heat]
    if len(sl.path):
        path = pd.DataFrame({"a": sl.path[:, 0], "b": sl.path[:, 1], "epoch": sl.path_epochs,
                             "order": range(len(sl.path))})
        inside = path[(path["a"].abs() <= edge[1]) & (path["b"].abs() <= edge[1])]
        layers.append(alt.Chart(inside).mark_line(color="white", strokeWidth=2, point=alt.OverlayMarkDef(
            color="white", size=40, stroke="black", strokeWidth=1)).encode(
            x="a:Q", y="b:Q", order="order:Q", tooltip=[alt.Tooltip("epoch:Q", title="snapshot epoch")]))
    centre = alt.Chart(pd.DataFrame({"a": [0.0], "b": [0.0]})).mark_point(
        shape="circle", size=220, color="red", strokeWidth=2.5, filled=False).encode(x="a:Q", y="b:Q")
    layers.append(centre)
    # room on the right for the last x label: the column cut "1.0" at 1024 px
    return alt.layer(*layers).properties(width="container", height=420, padding={"left": 5, "top": 5, "right": 18,
                                                                                 "bottom": 5})


def landscape_section(model, split, data_key):
    st.subheader("Loss landscape")
    st.markdown("The training loss around the trained weights θ_T: along the straight line from the first weights "
                "θ₀, and on a 2-D slice along two random directions scaled unit by unit to θ_T's own size "
                "(filter normalisation, Li et al. 2018), with the training path's snapshots projected onto it.")
    cache = st.session_state.get(CACHE, {})
    key = ("landscape", model.key, data_key)
    asked = st.session_state.get(LS_REQUEST) == model.key  # a click asked for it: computed below
    st.button("Compute the loss landscape", key="dyn_ls_go", icon=":material/landscape:",
              disabled=key in cache or asked, on_click=lambda: st.session_state.__setitem__(LS_REQUEST, model.key))
    if asked and key not in cache:
        _cached("landscape", model, data_key, lambda: compute_landscape(model, split))
        st.session_state.pop(LS_REQUEST, None)
    result = st.session_state.get(CACHE, {}).get(key)
    if result is None:
        st.caption(f"On a fixed sample of {min(ls.SAMPLE_ROWS, len(split.y_train)):,} training letters, a "
                   f"{ls.GRID} x {ls.GRID} grid: a few seconds.")
        return
    _draw_landscape(result)


def _draw_landscape(result):
    line, sl = result["line"], result["slice"]
    c = st.columns([2, 3], gap="large")  # the slice gets the wider column: its cells should be about square
    with c[0]:
        st.markdown("**Along the line from θ₀ to θ_T**")
        if line is None:
            st.info("This model has no record of its first weights (a run trained in this session keeps them), "
                    "so the line cannot be drawn.")
        else:
            st.altair_chart(line_chart(line), width="stretch")
            st.caption(f"Training loss {line.train[np.argmin(abs(line.t))]:.3f} at θ₀ and "
                       f"{line.train[np.argmin(abs(line.t - 1))]:.3f} at θ_T on {result['rows']:,} training letters "
                       "(log scale); beyond t = 1 the line leaves the trained weights the other way.")
    with c[1]:
        st.markdown("**A 2-D slice around θ_T** (red ring)")
        st.altair_chart(slice_chart(sl), width="stretch")
        far = int(np.sum(np.max(np.abs(sl.path), axis=1) > sl.a[-1])) if len(sl.path) else 0
        path = (f"White: the {len(sl.path)} snapshots of the training path, projected onto the two directions "
                "(least squares); random directions are nearly orthogonal to the path, so it lies close to the centre"
                + (f"; {far} snapshots fall outside the slice" if far else "") + ".") if len(sl.path) else \
            "The model has no snapshots, so no training path is drawn."
        st.caption(f"Loss at the centre {sl.loss[len(sl.b) // 2, len(sl.a) // 2]:.3f}. {path}")


def dynamics_section(model, split, data_key):
    """Both sections, for the Inspection page's 'Learning dynamics' tab."""
    map_section(model, split, data_key)
    landscape_section(model, split, data_key)
