"""The four sections of the inspection page: hidden units, mistakes, confusion matrix, your own letter.

Widgets and pictures only; the numbers come from ``lab.inspect_model`` and
``lab.your_letter`` (through the caches of ``ui.inspect_view``).
Every session key is a constant of ``ui.keys`` (its inspection-page section).
"""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

from lab import inspect_model as im
from lab import snapshots as sn
from lab.your_letter import prepare_letter
from mlp.core import LETTERS
from ui import inspect_view as iv
from ui import keys
from ui.charts import draw, probability_bars
from ui.text import MAX_MESSAGE, plain

GRID_PAGE = 32  # hidden units per page of the weight grid (4 rows of 8 at 1280 px)
GRID_ZOOM = 3  # 28 px -> 84 px tiles
BIG_ZOOM = 7  # the selected unit: 196 px
LETTER_ZOOM = 4  # letters in galleries: 112 px
CELL_SHOWN = 24  # letters shown for a confusion-matrix cell
PLAY_SECONDS = 0.8  # Play shows the next weight snapshot every this many seconds
LATE_SECONDS = 2.0  # a slider value the browser sends this soon after Play's last step is a late one, not a move
# Captions under images legible on a projector; the page's own CSS, gone when another page is shown.
# Pixel images the browser has to shrink on a narrow screen stay crisp (nearest neighbour) too; images whose
# alt text starts with "Smooth" (colour-scale legends with text, photo previews) are scaled smoothly.
SMOOTH = "Smooth"
PAGE_CSS = """<style>
[data-testid="stImageCaption"] { font-size: 0.95rem; color: #31333f; }
[data-testid="stImage"] img:not([alt^="Smooth"]) { image-rendering: pixelated; }
</style>"""
ORDER_LABELS = {"index": "unit number", "norm": "weight norm", "letter": "vote for a letter"}
SCALE_LABELS = {"unit": "each unit its own", "shared": "one for all units"}


def number(v, digits=2, sign=""):
    """A weight or activation for a caption: fixed-point while short (1.23), else scientific (4.6e+36).

    A value beyond float64's range (a norm or activation of weights near 1e308) reads "> 1.8e308".
    """
    if np.isinf(v):
        return f"{'-' if v < 0 else ''}> 1.8e308"
    return f"{v:{sign}.{digits}f}" if abs(v) < 1e4 else f"{v:{sign}.3g}"


def tiles_row(imgs, captions, zoom):
    """A wrapping row of small images (n, 28, 28[, 3]) enlarged crisply (nearest neighbour), framed, captioned."""
    st.image(list(im.framed(im.upscale_many(imgs, zoom))), caption=list(captions), output_format="PNG")


def gallery(x, rows, captions, zoom=LETTER_ZOOM):
    """Letters of x (n, 784) at ``rows``, enlarged crisply, with captions."""
    if len(rows) == 0:
        return
    tiles_row(im.letter_images(x[np.asarray(rows)]), captions, zoom)


# ----- hidden units ------------------------------------------------------------------------------


def _first_page():
    st.session_state[keys.WG_PAGE] = 1


def _turn(delta, n_pages):
    st.session_state[keys.WG_PAGE] = min(max(int(st.session_state.get(keys.WG_PAGE, 1)) + delta, 1), n_pages)


def grid_controls():
    """The ordering and colour-scale widgets: (by, letter index or None, mode)."""
    c1, c2, c3 = st.columns([3, 1, 2])
    by = c1.radio("Order units by", list(im.ORDERINGS), horizontal=True, key=keys.WG_ORDER, on_change=_first_page,
                  format_func=ORDER_LABELS.get)
    letter = None
    if by == "letter":
        letter = LETTERS.index(c2.selectbox("Letter", list(LETTERS), key=keys.WG_LETTER, on_change=_first_page))
    mode = c3.radio("Colour scale", list(SCALE_LABELS), horizontal=True, key=keys.WG_SCALE,
                    format_func=SCALE_LABELS.get)
    return by, letter, mode


def grid_pager(hidden):
    """Previous / page number / Next for a grid of ``hidden`` units: the page shown, 1..n_pages."""
    n_pages = -(-hidden // GRID_PAGE)
    st.session_state[keys.WG_PAGE] = min(max(int(st.session_state.get(keys.WG_PAGE, 1)), 1), n_pages)
    page_no = st.session_state[keys.WG_PAGE]
    p1, p2, p3, _ = st.columns([1, 1, 1, 1.5], vertical_alignment="bottom")
    p1.button("◀ Previous", on_click=_turn, args=(-1, n_pages), disabled=page_no <= 1, key=keys.WG_PREV,
              width="stretch")
    p2.number_input(f"Page (of {n_pages})", min_value=1, max_value=n_pages, step=1, key=keys.WG_PAGE)
    p3.button("Next ▶", on_click=_turn, args=(1, n_pages), disabled=page_no >= n_pages, key=keys.WG_NEXT,
              width="stretch")
    return page_no


def units_section(model, split, data_key):
    params, hidden = model.params, model.params.sizes[1]
    which = "The square is the network's **only** hidden unit" if hidden == 1 else (
        f"Each square is one of the **{hidden}** hidden units")
    st.markdown(f"{which}: its 784 input weights drawn as a 28x28 picture. **Red** pixels make the unit fire when "
                "there is ink there, **blue** pixels hold it back, white ones do not matter.")
    by, letter, mode = grid_controls()
    order = iv.unit_order(model.key, by, letter, params)
    page_no = grid_pager(hidden)
    first = (page_no - 1) * GRID_PAGE
    shown = order[first : first + GRID_PAGE]
    ranked = (f"Units ranked {first + 1} to {first + len(shown)} of {hidden} by {im.ORDERINGS[by]}"
              + (f" {LETTERS[letter]}" if letter is not None else ""))
    if len(model.snapshots) > 1:
        timeline(model, split, data_key, shown, mode, ranked)
        return
    tiles, scales = iv.weight_tiles(model.key, mode, params)
    legend = im.colour_bar(None if mode == "unit" else float(scales[0]), width=440)
    grid(model, split, data_key, shown, tiles[shown], scales[shown], legend, ranked + ".", None)


def grid(model, split, data_key, shown, tiles, scales, legend, caption, at):
    """The colour legend, a page of unit tiles (n, 28, 28, 3) with their limits (n,), the unit picker and its detail.

    ``at`` is None for the model's own weights, else (epoch, Params, key, view) of a snapshot.
    """
    st.image(legend, output_format="PNG", alt=f"{SMOOTH} colour scale: blue negative, white zero, red positive")
    tiles_row(tiles, [f"#{u}" for u in shown], GRID_ZOOM)
    st.caption(caption)
    options = [int(u) for u in shown]
    if st.session_state.get(keys.WG_UNIT) not in options:
        st.session_state[keys.WG_UNIT] = options[0]
    unit = st.selectbox("Look closer at unit", options, key=keys.WG_UNIT, format_func=lambda u: f"#{u}")
    i = options.index(unit)
    unit_detail(model, split, data_key, unit, tiles[i], float(scales[i]), at)


def unit_detail(model, split, data_key, unit, tile, scale, at=None):
    """One hidden unit: its weight picture on its own scale, its votes, and the training letters it fires most on.

    ``at`` = (epoch, Params, key, view) shows the unit as it was at a snapshot epoch.
    """
    params, key, when, title = model.params, model.key, "", "its input weights"
    if at is not None:
        epoch, params, key, view = at
        when = f" at epoch {epoch}"
        title = "its change since the start W − W₀" if view == "change" else "its input weights"
    stats = iv.unit_stats(key, data_key, unit, 12, params, split.x_train)
    d1, d2 = st.columns([1, 1.6])
    with d1:
        st.markdown(f"**Unit #{unit}{when}: {title}**")
        st.image(im.upscale(tile, BIG_ZOOM), output_format="PNG")
        st.image(im.colour_bar(scale, width=28 * BIG_ZOOM, height=52, low="", high=""), output_format="PNG",
                 alt=f"{SMOOTH} colour scale of unit {unit}: from -{number(scale)} (blue) to +{number(scale)} (red)")
    with d2:
        st.markdown(f"**Its votes{when}: outgoing weights to A..J**")
        st.vega_lite_chart(iv.outgoing_spec(key, unit, stats.outgoing), width="stretch")
        st.caption(f"‖w‖ = {number(stats.norm)}, bias {number(stats.bias, 3, '+')}; it fires (h > 0) on "
                   f"{stats.fraction_active:.1%} of the {len(split.y_train):,} training letters{when}.")
    st.markdown(f"**The training letters that make unit #{unit} fire most{when}**")
    if len(stats.rows):
        gallery(split.x_train, stats.rows,
                [f"{LETTERS[split.y_train[r]]}  h={number(a)}" for r, a in zip(stats.rows, stats.activations)],
                GRID_ZOOM)
    else:
        st.info(f"This unit never fires on the training letters{when} (a dead unit).")


# ----- weights over the epochs (a model with snapshots) ------------------------------------------


def _play_or_pause(epochs):
    """on_click of Play / Pause: Play starts (from the first snapshot when at the last), Pause stops."""
    playing = not st.session_state.get(keys.WG_PLAYING, False)
    if playing and st.session_state.get(keys.WG_SHOWN) == epochs[-1]:
        st.session_state[keys.WG_SHOWN] = epochs[0]
    st.session_state[keys.WG_PLAYING] = playing
    st.session_state[keys.WG_PLAYED_AT] = time.monotonic()


def _slider_moved():
    """on_change of the epoch slider: show the epoch it was moved to. While playing, and for LATE_SECONDS after
    Play's last step, a change is a late value from the browser (of a frame a timer tick cut short), not a move
    (the slider is disabled while playing): ignored."""
    since = time.monotonic() - st.session_state.get(keys.WG_PLAYED_AT, float("-inf"))
    if not st.session_state.get(keys.WG_PLAYING) and since >= LATE_SECONDS:
        st.session_state[keys.WG_SHOWN] = st.session_state[keys.WG_EPOCH]


def _play_step(snapshots, epochs):
    """The epoch to show: while playing, the next kept one, at most once every PLAY_SECONDS and only once the
    epoch shown was drawn to its end (on a busy server a timer tick can cut a fragment run short).

    At the last epoch Play ends (the next fragment run finds it off and drops the timer).
    """
    if st.session_state.get(keys.WG_SHOWN) not in epochs:
        st.session_state[keys.WG_SHOWN] = epochs[-1]
    now = time.monotonic()
    due = now - st.session_state.get(keys.WG_PLAYED_AT, 0.0) >= PLAY_SECONDS * 0.8
    drawn = st.session_state.get(keys.WG_DRAWN) == st.session_state[keys.WG_SHOWN]  # not cut short by a tick
    if st.session_state.get(keys.WG_PLAYING) and due and drawn:
        st.session_state[keys.WG_PLAYED_AT] = now
        after = sn.next_epoch(snapshots, st.session_state[keys.WG_SHOWN])
        if after is not None:
            st.session_state[keys.WG_SHOWN] = after
        if after is None or after == epochs[-1]:
            st.session_state[keys.WG_PLAYING] = False
    return st.session_state[keys.WG_SHOWN]


def epoch_slider(col, epochs, shown, playing):
    """The epoch slider, set to the epoch shown at every run (Play moves it), disabled while playing."""
    st.session_state[keys.WG_EPOCH] = shown
    col.select_slider("Weights after epoch", options=epochs, key=keys.WG_EPOCH, on_change=_slider_moved,
                      disabled=playing, help="Epoch 0 is the random start; each snapshot is the weights at the end "
                                             "of it. Pause Play to move it.")


def timeline(model, split, data_key, shown, mode, ranked):
    """The weight grid and unit detail through the run's snapshots: a slider, Play / Pause, W or W − W₀.

    Drawn in a fragment that reruns every PLAY_SECONDS while playing (``st.fragment(run_every=...)``).
    """
    every = PLAY_SECONDS if st.session_state.get(keys.WG_PLAYING) else None
    st.fragment(run_every=every)(_timeline)(model, split, data_key, shown, mode, ranked, every)


def _timeline(model, split, data_key, shown, mode, ranked, every):
    snapshots = model.snapshots
    epochs = sn.snapshot_epochs(snapshots)
    if bool(st.session_state.get(keys.WG_PLAYING)) != (every is not None):
        st.rerun()  # Play or Pause was pressed (or Play ended): the whole page again, to set or drop the timer
    epoch = _play_step(snapshots, epochs)
    playing = bool(st.session_state.get(keys.WG_PLAYING))
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    epoch_slider(c1, epochs, epoch, playing)
    c2.button("Pause" if playing else "Play", icon=":material/pause:" if playing else ":material/play_arrow:",
              key=keys.WG_PLAY, on_click=_play_or_pause, args=(epochs,), width="stretch")
    st.session_state.setdefault(keys.WG_CHANGE, True)  # the learned part first: W alone is mostly its random start
    view = "change" if st.toggle("Change since the start (W − W₀): what training added to the random start",
                                 key=keys.WG_CHANGE, help="Off: the weights W themselves, their random start "
                                 "included.") else "weights"
    st.caption(sn.kept_note(snapshots))
    tiles, scales = iv.snapshot_tiles(model.key, epoch, view, mode, tuple(int(u) for u in shown), snapshots)
    legend_scale = None if mode == "unit" else float(scales[0])
    if view == "change":
        legend = im.colour_bar(legend_scale, width=440, low="fell", high="grew")
        what = (f"the change of each unit's weights from the random start (epoch 0) to epoch {epoch}: the part "
                "training added")
    else:
        legend = im.colour_bar(legend_scale, width=440)
        what = f"the weights after epoch {epoch}" if epoch else "the random start (epoch 0)"
    caption = (f"Showing {what}, on the colour limits of the last snapshot (epoch {epochs[-1]}), so early epochs "
               f"look pale. {ranked} (of the trained model).")
    at = (epoch, sn.snapshot_at(snapshots, epoch), f"{model.key}@{epoch}", view)
    grid(model, split, data_key, shown, tiles, scales, legend, caption, at)
    st.session_state[keys.WG_DRAWN] = epoch


# ----- mistakes ----------------------------------------------------------------------------------


def mistakes_section(ev, x_eval, part_name):
    any_letter = ["any", *LETTERS]
    m1, m2, m3 = st.columns(3)
    true_f = m1.selectbox("True letter", any_letter, key=keys.MG_TRUE)
    pred_f = m2.selectbox("Predicted as", any_letter, key=keys.MG_PRED)
    limit = m3.selectbox("Show at most", [24, 48, 96, 192], key=keys.MG_LIMIT)
    mistakes = ev.mistakes.filter(true=None if true_f == "any" else LETTERS.index(true_f),
                                  predicted=None if pred_f == "any" else LETTERS.index(pred_f))
    st.markdown(f"**{len(mistakes):,} misclassified** {part_name} letters match, most confident mistakes first"
                + (f"; showing the first {limit}." if len(mistakes) > limit else "."))
    if len(mistakes) == 0:
        st.info("No mistakes with these filters.")
        return
    top = slice(0, limit)
    gallery(x_eval, mistakes.index[top],
            [f"{LETTERS[t]} read as {LETTERS[p]} {c:.0%}"
             for t, p, c in zip(mistakes.true[top], mistakes.predicted[top], mistakes.confidence[top])])


# ----- confusion matrix --------------------------------------------------------------------------


def _new_chart():
    """The cell pickers moved: a new heatmap key, so the browser drops its last click and outlines their cell."""
    st.session_state[keys.CM_EPOCH] = st.session_state.get(keys.CM_EPOCH, 0) + 1


def clicked_cell(event):
    """Move the cell pickers to a new click on the heatmap (``event``: its VegaLiteState, a dict, or None)."""
    selection = (event or {}).get("selection") or {}
    picked = tuple((d.get("true"), d.get("predicted")) for d in (selection.get("cell") or [])
                   if d.get("true") in LETTERS and d.get("predicted") in LETTERS)
    if picked and picked != st.session_state.get(keys.CM_SEEN):  # a new click: move the cell pickers to it
        st.session_state[keys.CM_TRUE], st.session_state[keys.CM_PRED] = picked[0]
    st.session_state[keys.CM_SEEN] = picked or None  # cleared with the chart's selection: a cell can be clicked again


def confusion_section(ev, x_eval, part, part_name, model_key, data_key):
    normalised = st.radio("Show", ["counts", "row-normalised"], horizontal=True, key=keys.CM_MODE) == "row-normalised"
    if keys.CM_TRUE not in st.session_state:  # start on the most common confusion
        t0, p0 = im.most_confused(ev.cm)
        st.session_state[keys.CM_TRUE], st.session_state[keys.CM_PRED] = LETTERS[t0], LETTERS[p0]
    h1, h2 = st.columns([3, 2])
    with h1:
        st.markdown(f"**Confusion matrix**, {part_name} set: rows are the true letter, columns the network's answer. "
                    "**Click a cell** to see its letters below.")
        chosen = (LETTERS.index(st.session_state[keys.CM_TRUE]), LETTERS.index(st.session_state[keys.CM_PRED]))
        event = st.vega_lite_chart(iv.confusion_spec(model_key, data_key, part, normalised, chosen, ev.cm),
                                   on_select="rerun", key=keys.CM_CHART.format(st.session_state.get(keys.CM_EPOCH, 0)),
                                   selection_mode="cell", width="stretch")
    with h2:
        st.markdown("**Accuracy per letter**")
        st.vega_lite_chart(iv.per_class_spec(model_key, data_key, part, ev.per_class), width="stretch")
    clicked_cell(event)
    s1, s2, _ = st.columns([1, 1, 2])
    t_sel = s1.selectbox("Cell: true letter", list(LETTERS), key=keys.CM_TRUE, on_change=_new_chart)
    p_sel = s2.selectbox("predicted as", list(LETTERS), key=keys.CM_PRED, on_change=_new_chart)
    t_i, p_i = LETTERS.index(t_sel), LETTERS.index(p_sel)
    rows, conf = im.cell_members(ev.probs, ev.y_true, t_i, p_i)
    kind = "read right" if t_i == p_i else "misread"
    st.markdown(f"**{len(rows):,} letters {t_sel} {kind} as {p_sel}**"
                + (f", showing the {CELL_SHOWN} most confident." if len(rows) > CELL_SHOWN else "."))
    gallery(x_eval, rows[:CELL_SHOWN], [f"{t_sel}→{p_sel} {c:.0%}" for c in conf[:CELL_SHOWN]])


# ----- your own letter ---------------------------------------------------------------------------


def letter_steps(prepared):
    """Each step of making the upload a 28x28 input, side by side (crisp: see PAGE_CSS), its note under it."""
    for col, step in zip(st.columns(len(prepared.steps)), prepared.steps):
        with col:
            smooth = step.image.shape[:2] != (28, 28)  # previews of the photo; the 28x28 input stays pixel-sharp
            image = step.image if smooth else im.upscale(step.image, LETTER_ZOOM)
            st.image(im.framed(image[None], margin=0, line=2)[0], caption=step.title, output_format="PNG",
                     width="stretch", alt=f"{SMOOTH} {step.title}" if smooth else step.title)
            if step.note:
                st.caption(step.note)


def your_letter_section(model):
    st.markdown("Draw or photograph a letter A..J, or render one in any font, and upload it (PNG or JPEG, any size, "
                "dark on light or light on dark). It is turned into a 28x28 input the way notMNIST letters were made.")
    upload = st.file_uploader("Your letter image", type=["png", "jpg", "jpeg", "gif", "bmp", "webp"],
                              key=keys.YL_UPLOAD)
    if upload is None:
        return
    memo, _ = iv.read_once(keys.YL_PREPARED, upload, prepare_letter)  # prepared once per content, not per rerun
    if memo.error is not None:
        st.error(f"That upload cannot be used: {plain(memo.error, MAX_MESSAGE)}")
        return
    prepared = memo.value
    letter_steps(prepared)
    probs = im.predict_one(model.params, prepared.x)
    best = int(np.argmax(probs))
    y1, y2 = st.columns([3, 2])  # the bars get room for ten "10%" labels at 1024 px
    with y1:
        tied = int(np.sum(probs >= probs[best] * (1 - 1e-6)))
        if tied > 1:  # e.g. no hidden unit fires and b_o = 0: every letter gets 1/10
            st.markdown(f"#### The network cannot tell: {tied} letters tie at {probs[best]:.0%}")
        else:
            st.markdown(f"#### The network reads it as **{LETTERS[best]}** ({probs[best]:.0%})")
        draw(probability_bars(probs, LETTERS, best if tied == 1 else -1, role="its answer", other="other letters",
                              height=280, percent=True, legend=False, title="probability"))  # a tie: none orange
    with y2:
        st.markdown("#### The hidden units that fired most")
        units, acts = im.top_hidden_units(model.params, prepared.x, k=8)
        if len(units) and len(model.snapshots) > 1:  # what they learned, without their random start
            last = model.snapshots[-1][0]
            tiles, _ = iv.snapshot_tiles(model.key, last, "change", "unit", tuple(int(u) for u in units),
                                         model.snapshots)
            tiles_row(tiles, [f"#{u} h={number(a)}" for u, a in zip(units, acts)], GRID_ZOOM)
            st.caption("What their input weights learned, W − W₀ (each on its own colour scale), and their "
                       "activation h for your letter.")
        elif len(units):
            tiles, _ = iv.weight_tiles(model.key, "unit", model.params)
            tiles_row(tiles[units], [f"#{u} h={number(a)}" for u, a in zip(units, acts)], GRID_ZOOM)
            st.caption("Their input weights (each on its own colour scale) and activation h for your letter.")
        else:
            st.info("No hidden unit fires for this input.")
