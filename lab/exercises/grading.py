"""The pieces every grader uses: a value check of one call and the inputs-unchanged check of an exercise."""

from __future__ import annotations

import numpy as np

from .calls import error_diagnosis
from .compare import (
    as_array,
    close,
    errors,
    generic_value_diagnosis,
    matching,
    shape_diagnosis,
    shape_text,
)
from .report import Check


def error_check(exercise, name, outcome):
    """The failed check of a call that raised."""
    return Check(exercise, name, False, diagnosis=error_diagnosis(outcome), message=outcome.error)


def compare_value(got, want, dtype, n=None, candidates=None, shape_hint=None):
    """(passed, max_abs, max_rel, diagnosis, message) of one array against the reference.

    candidates: {diagnosis: known wrong result}; shape_hint(got_shape) -> diagnosis or None for a wrong shape.
    """
    want = np.asarray(want, np.float64)
    if got is None:
        return False, None, None, "not_array", "the result is not a numeric array"
    if got.shape != want.shape:
        diag = matching(got, candidates or {}, dtype) or (shape_hint and shape_hint(got.shape))
        return False, None, None, diag or shape_diagnosis(got, want, dtype), shape_text(got, want)
    max_abs, max_rel = errors(got, want)
    if close(got, want, dtype):
        return True, max_abs, max_rel, None, ""
    diag = matching(got, candidates or {}, dtype) or generic_value_diagnosis(got, want, dtype, n)
    return False, max_abs, max_rel, diag, ""


def value_check(exercise, name, outcome, want, dtype, n=None, candidates=None, shape_hint=None):
    """One check: the learner's result of one call against the reference ``want``."""
    if outcome.error:
        return error_check(exercise, name, outcome)
    result = compare_value(as_array(outcome.value), want, dtype, n, candidates, shape_hint)
    passed, max_abs, max_rel, diag, message = result
    return Check(exercise, name, passed, max_abs, max_rel, diag, message)


def unchanged_check(exercise, outcomes):
    """'inputs left unchanged' over every call of an exercise: fails, naming the argument and line, on a write."""
    for out in outcomes:
        if out.mutated:
            names = ", ".join(f"`{n}`" for n in out.mutated)
            where = f" at {out.where}" if out.where and "line" in out.where else f" ({out.where})" if out.where else ""
            return Check(exercise, "inputs left unchanged (read-only inputs)", False, diagnosis="modifies_input",
                         message=f"writes into {names}{where}")
    return Check(exercise, "inputs left unchanged (read-only inputs)", True)


def scalar(value):
    """A size-1 result as a 0-d array; other shapes as they are; None when not numeric."""
    arr = as_array(value)
    return arr.reshape(()) if arr is not None and arr.size == 1 else arr
