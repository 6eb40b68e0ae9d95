"""Counts the backpropagation page states, computed rather than assumed (pure numpy).

- which hidden units a gradient reaches: dL/dW_o = h^T delta_o has a zero row for every unit with h = 0
  for every example, so it reaches only the units that fired;
- how many parameter entries one momentum step actually moved (w' != w): with momentum 0 an entry whose
  gradient is 0 (a unit dead for the whole batch) stays where it was.
"""

from __future__ import annotations

import numpy as np

from mlp.network import PARAM_NAMES


def nonzero_rows(a):
    """How many rows of a 2-D array have an entry that is not 0."""
    return int(np.count_nonzero(np.any(np.asarray(a) != 0, axis=1)))


def nonzero_columns(a):
    """How many columns of a 2-D array have an entry that is not 0."""
    return int(np.count_nonzero(np.any(np.asarray(a) != 0, axis=0)))


def changed_entries(before, after):
    """{name: (entries with after != before, entries)} for each parameter of two Params, plus 'total'."""
    out = {}
    for name in PARAM_NAMES:
        b, a = getattr(before, name), getattr(after, name)
        out[name] = (int(np.count_nonzero(a != b)), int(b.size))
    out["total"] = tuple(sum(v[i] for v in out.values()) for i in (0, 1))
    return out
