"""Calling a learner's function safely: read-only inputs, errors located in the learner's code, writes attributed."""

from __future__ import annotations

import linecache
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_OURS = str(Path(__file__).resolve().parent)
_NUMPY = str(Path(np.__file__).resolve().parent)


@dataclass
class Outcome:
    """What one call gave: a value or an error, and the arguments it tried to write into."""

    value: object = None
    error: str | None = None  # "ValueError: ..." with the learner's line
    error_type: str | None = None
    error_text: str = ""
    mutated: list[str] = field(default_factory=list)
    where: str = ""  # "softmax.py line 3: `x -= x.max()`"


def register_source(filename, source):
    """Let tracebacks show the lines of code that was exec'd from a string."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)


def frozen(value):
    """A read-only copy of an array (or of each array of a dict); other values as they are."""
    if isinstance(value, dict):
        return {k: frozen(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        out = value.copy()
        out.flags.writeable = False
        return out
    return value


def thawed(value):
    """A writable copy of an array (or of each array of a dict)."""
    if isinstance(value, dict):
        return {k: thawed(v) for k, v in value.items()}
    return value.copy() if isinstance(value, np.ndarray) else value


def learner_line(tb):
    """'file line N: `code`' of the innermost frame that is neither numpy nor the grader, or ''."""
    frames = [f for f in traceback.extract_tb(tb) if not f.filename.startswith((_OURS, _NUMPY))]
    if not frames:
        return ""
    f = frames[-1]
    code = (f.line or "").strip()
    return f"{Path(f.filename).name} line {f.lineno}" + (f": `{code[:120]}`" if code else "")


def _run(fn, args):
    """(value, exception) of fn(*args)."""
    try:
        return fn(*args), None
    except (Exception, SystemExit) as exc:  # the learner's code may raise anything, even exit()
        return None, exc


def _replaced(now, before):
    """Whether a dict argument got other keys or other objects under its keys during the call."""
    return now.keys() != before.keys() or any(now[k] is not before[k] for k in before)


def _read_only_error(exc):
    return isinstance(exc, ValueError) and "read-only" in str(exc)


def _describe(exc):
    where = learner_line(exc.__traceback__)
    text = f"{type(exc).__name__}: {str(exc)[:300]}"
    return (f"{text} (at {where})" if where else text), where


def _names_written(fn, named, where):
    """The argument names whose writability removes the read-only error at ``where``, or that the call changes."""
    names = [n for n, _ in named]
    culprits = []
    for i, name in enumerate(names):
        args = [thawed(v) if j == i else frozen(v) for j, (_, v) in enumerate(named)]
        _, exc = _run(fn, args)
        if exc is None or not _read_only_error(exc) or learner_line(exc.__traceback__) != where:
            culprits.append(name)
    return culprits or names


def call(fn, named):
    """Call fn with read-only copies of the arguments ``named`` [(name, value), ...].

    A write into an input raises numpy's read-only error: the call is then repeated with writable copies
    (so the values can still be graded) and the arguments written into are named in ``mutated``.
    """
    args = [frozen(v) for _, v in named]
    entries = [dict(a) if isinstance(a, dict) else None for a in args]
    value, exc = _run(fn, args)
    if exc is None:
        changed = [n for (n, _), a, e in zip(named, args, entries) if e is not None and _replaced(a, e)]
        return Outcome(value=value, mutated=changed, where="an entry of the dict was replaced" if changed else "")
    text, where = _describe(exc)
    if not _read_only_error(exc):
        return Outcome(error=text, error_type=type(exc).__name__, error_text=str(exc), where=where)
    mutated = _names_written(fn, named, where)
    value, exc2 = _run(fn, [thawed(v) for _, v in named])
    out = Outcome(value=value, mutated=mutated, where=where)
    if exc2 is not None:
        out.error, out.where = _describe(exc2)
        out.error_type, out.error_text = type(exc2).__name__, str(exc2)
    return out


def error_diagnosis(outcome):
    """A diagnosis id for an error: a Python ``if`` on arrays, shapes that do not fit, or a plain error."""
    text = outcome.error_text
    if outcome.error_type == "MemoryError":
        return "memory"
    if "truth value of an array" in text:
        return "python_if"
    if "broadcast" in text or "matmul" in text or "shapes" in text or "aligned" in text:
        return "broadcast"
    return "error"
