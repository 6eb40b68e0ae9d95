"""The training page's settings: their ranges, and a link (URL query string) that shares them.

One table, ``FIELDS``, says for each hyperparameter its name in the URL, its
``Hyper`` field, what kind of text it takes and the page's range. It drives
both directions: ``hyper_from_query`` reads a link back (parse, then fit to the
range), and ``fit_hyper`` fits any ``Hyper`` to the page's widgets.

A link is text anyone can write. Nothing in it raises: a value that is not a
finite number (``inf``, ``nan``, ``1e400``, a 400-digit integer, empty, words,
markdown, a very long string) is refused with a note naming the field; the
note quotes the value cut to ``SHOWN_CHARS`` characters (the page escapes the
notes for markdown, ``ui.text.plain``). The page then writes the clean settings
back into the URL, so a reload does not meet the bad value again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from mlp.train import INITS  # weights from RandomState(seed), or the course report's own stream

# The page's ranges for each hyperparameter.
HIDDEN_RANGE = (1, 2048)
LR_RANGE = (1e-4, 1.0)
MOMENTUM_RANGE = (0.0, 0.99)
EPOCHS_RANGE = (1, 500)
MIN_BATCH = 16
SEED_RANGE = (0, 2**32 - 1)
DTYPES = ("float32", "float64")

# Learning rates on a log scale, 1e-4 .. 1: 1, 2, 3, 5, 7 (and 1.5) in each decade.
LR_GRID = tuple(
    float(f"{m * 10.0**e:.4g}") for e in range(-4, 0) for m in (1, 1.5, 2, 3, 5, 7)
) + (1.0,)

SHOWN_CHARS = 40  # characters of a refused link value quoted in its note
MAX_TEXT = 64  # a link value longer than this is refused unread (no number needs more)


def snap_lr(lr):
    """The grid learning rate nearest to ``lr`` on a log scale (clamped to 1e-4 .. 1)."""
    lr = min(max(float(lr), LR_RANGE[0]), LR_RANGE[1])
    return min(LR_GRID, key=lambda g: abs(math.log(g) - math.log(lr)))


def snap_momentum(momentum):
    """The momentum slider's value nearest to ``momentum`` (steps of 0.01)."""
    return round(float(momentum), 2)


def clamp_batch(batch_size, n_train):
    """A mini-batch size within MIN_BATCH .. n_train (None, full batch, stays None)."""
    if batch_size is None:
        return None
    return int(min(max(int(batch_size), MIN_BATCH), max(n_train, MIN_BATCH)))


@dataclass(frozen=True)
class Field:
    """One hyperparameter: its name in the URL, its ``Hyper`` field, its kind and the page's range.

    kind: "int" (a whole number), "float", "batch" (a whole number or "full") or "choice" (one of ``bounds``).
    bounds: (lo, hi); the batch's upper bound is the number of training images.
    snap: onto the slider's values (the learning-rate grid, momentum steps of 0.01).
    """

    key: str
    attr: str
    kind: str
    bounds: tuple | None = None
    snap: object = None


FIELDS = (
    Field("hidden", "hidden", "int", HIDDEN_RANGE),
    Field("lr", "lr", "float", LR_RANGE, snap_lr),
    Field("momentum", "momentum", "float", MOMENTUM_RANGE, snap_momentum),
    Field("epochs", "epochs", "int", EPOCHS_RANGE),
    Field("batch", "batch_size", "batch", (MIN_BATCH, None)),
    Field("seed", "seed", "int", SEED_RANGE),
    Field("dtype", "dtype", "choice", DTYPES),
    Field("init", "init", "choice", INITS),
)
QUERY_KEYS = tuple(f.key for f in FIELDS)
_FIELD = {f.key: f.attr for f in FIELDS}  # URL name -> Hyper field


def _fmt(value):
    """A setting as the page writes it: whole numbers in full, floats in %g, None as 'full'."""
    if value is None:
        return "full"
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e16 else f"{value:g}"


def hyper_to_query(hyper):
    """{name: text} of the hyperparameters, for a shareable URL."""
    return {f.key: _fmt(getattr(hyper, f.attr)) for f in FIELDS}


def first(value):
    """The value of a URL key given once or repeated: the FIRST of repeated values.

    Browsers (``URLSearchParams.get``) and Python's ``urllib.parse.parse_qs(...)[key][0]`` take
    the first; Streamlit's ``st.query_params[key]`` returns the *last*, so the page reads
    ``st.query_params.get_all(key)`` and passes the list here. An empty list is "".
    """
    if isinstance(value, (list, tuple)):
        return str(value[0]) if value else ""
    return str(value)


def shown(text):
    """A link value quoted for a note: repr-style quotes, cut to SHOWN_CHARS characters."""
    text = str(text)
    if len(text) > SHOWN_CHARS:
        text = text[: SHOWN_CHARS - 1] + "…"
    return f"'{text}'"


def parse(field, text):
    """The value a link's text gives ``field`` (None for a full batch); ValueError(reason) if it cannot be used."""
    text = str(text).strip()
    if not text:
        raise ValueError("is empty")
    if len(text) > MAX_TEXT:
        raise ValueError(f"is {len(text):,} characters long, not a setting")
    if field.kind == "choice":
        if text not in field.bounds:
            raise ValueError(f"is not {' or '.join(field.bounds)}")
        return text
    if field.kind == "batch" and text.lower() in ("full", "none"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError("is not a number") from None
    if not math.isfinite(value):
        raise ValueError("is not a finite number")
    return value


def _bounds(field, n_train):
    lo, hi = field.bounds
    if field.kind == "batch":
        hi = max(n_train, lo) if n_train else math.inf
    return lo, hi


def fit(field, value, n_train=None):
    """(value fitted to the page's widget, phrase saying what changed or None).

    Clamped to ``field.bounds``, then snapped (floats) or rounded to a whole number.
    A full batch (None) stays None; a choice not among ``bounds`` becomes the first of them.
    """
    if field.kind == "choice":
        first = field.bounds[0]
        return (value, None) if value in field.bounds else (first, f"is not one of {field.bounds}; using {first}")
    if value is None:
        return None, None
    lo, hi = _bounds(field, n_train)
    new = min(max(float(value), lo), hi)
    new = field.snap(new) if field.snap else float(new) if field.kind == "float" else int(round(new))
    if value < lo or value > hi:
        return new, f"is outside {_fmt(lo)} to {_fmt(hi)}; using {_fmt(new)}"
    if new != value:
        what = "on the slider's scale" if field.kind == "float" else "a whole number"
        return new, f"is not {what}; using the nearest, {_fmt(new)}"
    return new, None


def fit_hyper(hyper, n_train):
    """``hyper`` with every setting fitted to the page's widgets (ranges, learning-rate grid, steps)."""
    return replace(hyper, **{f.attr: fit(f, getattr(hyper, f.attr), n_train)[0] for f in FIELDS})


def hyper_from_query(query, default, n_train=None):
    """(Hyper, notes) from a query mapping {name: text or [texts]}; missing names keep ``default``'s values.

    Each value is parsed (``parse``) and fitted to the page's range (``fit``); a
    value that cannot be used keeps the default. Every value not used as given
    adds a note (a sentence for the user, naming the field). ``n_train`` bounds
    the batch size.
    """
    values, notes = {}, []
    for f in FIELDS:
        if f.key not in query:
            continue
        text = first(query[f.key])
        try:
            value = parse(f, text)
        except ValueError as exc:
            notes.append(f"the link's {f.key}={shown(text)} {exc}; kept {_fmt(getattr(default, f.attr))}")
            continue
        values[f.attr], why = fit(f, value, n_train)
        if why:
            notes.append(f"the link's {f.key}={shown(text.strip())} {why}")
    return replace(default, **values), notes
