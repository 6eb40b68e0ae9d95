"""Comparing a learner's array with the reference: errors, tolerances and the mistakes a difference matches."""

from __future__ import annotations

import numpy as np

# (rtol, atol as a fraction of the reference's largest entry) by the dtype of the case
TOLERANCE = {"float32": (1e-4, 1e-5), "float64": (1e-7, 1e-10), "fd": (1e-5, 1e-7)}  # fd: against central differences
LOOSE = {"float32": (1e-3, 1e-4), "float64": (1e-5, 1e-8), "fd": (1e-4, 1e-6)}  # for matching a known wrong result


def as_array(value):
    """value as a float array, or None when it is not numeric."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return arr if arr.dtype != object else None


def errors(got, want):
    """(largest |got - want|, largest relative error); an entry near 0 is measured against 0.1 % of max |want|."""
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(got - want)
        both_nan = np.isnan(got) & np.isnan(want)
        diff = np.where(both_nan, 0.0, np.where(np.isnan(diff), np.inf, diff))
        scale = np.max(np.abs(want[np.isfinite(want)]), initial=0.0)
        rel = diff / np.maximum(np.abs(np.where(np.isfinite(want), want, 1.0)), max(1e-3 * scale, 1e-300))
    return float(np.max(diff, initial=0.0)), float(np.max(rel, initial=0.0))


def close(got, want, dtype, table=TOLERANCE):
    """Same shape and equal within the dtype's tolerance (nan where nan, inf where inf of the same sign)."""
    if got is None or got.shape != want.shape:
        return False
    rtol, afrac = table[dtype]
    finite = want[np.isfinite(want)]
    atol = afrac * float(np.max(np.abs(finite), initial=0.0)) + 1e-300
    with np.errstate(invalid="ignore", over="ignore"):
        return bool(np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True))


def matching(got, candidates, dtype):
    """The id of the first known wrong result that ``got`` equals (loosely), else None.

    Several results of one mistake are told apart by a suffix: "transposed__wx" counts as "transposed".
    """
    for name, cand in candidates.items():
        if cand is not None and close(got, np.asarray(cand, np.float64), dtype, LOOSE):
            return name.split("__")[0]
    return None


def generic_value_diagnosis(got, want, dtype, n=None):
    """A diagnosis for a same-shape wrong result: nan/inf, off by N, off by 1/N, flipped sign."""
    if not np.all(np.isfinite(got)) and np.all(np.isfinite(want)):
        return "nan_or_inf"
    cands = {"wrong_sign": -want}
    if n and n > 1:
        cands.update(not_averaged=want * n, divided_by_n=want / n)
    return matching(got, cands, dtype)


def shape_diagnosis(got, want, dtype):
    """'transposed' when got is want transposed, else 'wrong_shape'."""
    if got.ndim == 2 and got.shape == want.shape[::-1] and close(got.T, want, dtype, LOOSE):
        return "transposed"
    return "wrong_shape"


def shape_text(got, want):
    return f"shape {tuple(got.shape)}, expected {tuple(want.shape)}"
