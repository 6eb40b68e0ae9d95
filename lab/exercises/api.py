"""Grading entry points: a namespace of functions, source files, or one function from a notebook."""

from __future__ import annotations

import builtins
import time

import numpy as np

from .basic import grade_average_ce, grade_compute_layer, grade_grad_ce, grade_relu, grade_softmax
from .calls import learner_line, register_source
from .net import grade_backpropagation
from .report import Check, Report
from .statements import EXERCISES, NAMES, exercise
from .update import grade_momentum_step, grade_train_epoch

GRADERS = {"relu": grade_relu, "softmax": grade_softmax, "compute_layer": grade_compute_layer,
           "average_ce": grade_average_ce, "grad_ce": grade_grad_ce, "backpropagation": grade_backpropagation,
           "momentum_step": grade_momentum_step, "train_epoch": grade_train_epoch}
HELPERS = NAMES[:-1]  # what train_epoch calls


def find_functions(namespace):
    """{exercise name: the learner's function} of every exercise the namespace defines (aliases too)."""
    found = {}
    for e in EXERCISES:
        fn = next((namespace[n] for n in (e.name, *e.aliases) if callable(namespace.get(n))), None)
        if fn is not None:
            found[e.name] = fn
    return found


def _grade_one(name, fn):
    """(checks, heatmap) of one exercise; numpy's warnings silenced (nan and inf are graded, not warned)."""
    with np.errstate(all="ignore"):
        result = GRADERS[name](fn)
    return result if isinstance(result, tuple) else (result, [])


def grade_functions(functions, only=None):
    """A Report of the exercises ``only`` (names; default: all defined ones) in the assignment's order."""
    wanted = [exercise(n).name for n in only] if only else list(NAMES)
    report = Report(skipped=[n for n in wanted if n not in functions])
    start = time.perf_counter()
    for name in wanted:
        if name in functions:
            checks, heat = _grade_one(name, functions[name])
            report.checks.extend(checks)
            report.heatmap.extend(heat)
    _note_failing_helpers(report, functions)
    if only and report.skipped:
        report.checks.extend(Check(n, "defined in the file", False, diagnosis="not_found") for n in report.skipped)
    report.seconds = time.perf_counter() - start
    return report


def _note_failing_helpers(report, functions):
    """When the epoch fails and a helper it calls fails too, say so on the epoch's failures."""
    if "train_epoch" not in report.graded or report.exercise_passed("train_epoch"):
        return
    failing = [n for n in HELPERS if n in report.graded and not report.exercise_passed(n)]
    for c in report.checks:
        if c.exercise == "train_epoch" and not c.passed and failing and c.diagnosis != "modifies_input":
            c.message = (c.message + f"; your {', '.join(failing)} fail(s) their own checks").lstrip("; ")
            c.diagnosis = "uses_failing"


def load_sources(chunks):
    """Run source files [(filename, source), ...] in one fresh namespace; return it or a Report with the error."""
    namespace = {"__name__": "submission", "__builtins__": builtins}
    for filename, source in chunks:
        register_source(filename, source)
        try:
            code = compile(source, filename, "exec")
        except SyntaxError as exc:
            return Report(error=f"{filename} line {exc.lineno}: {exc.msg}", error_kind="syntax")
        try:
            exec(code, namespace)
        except (Exception, SystemExit) as exc:  # the learner's top-level code may raise anything, even exit()
            where = learner_line(exc.__traceback__)
            kind = "memory" if isinstance(exc, MemoryError) else "error"
            return Report(error=f"{type(exc).__name__}: {str(exc)[:300]} (at {where})", error_kind=kind)
    return namespace


def grade_sources(chunks, only=None):
    """Run the source files and grade what they define (in this process: use lab.exercises.sandbox for others')."""
    namespace = load_sources(chunks)
    if isinstance(namespace, Report):
        return namespace
    functions = find_functions(namespace)
    if not functions:
        return Report(skipped=list(NAMES), error="the file defines none of " + ", ".join(NAMES),
                      error_kind="not_found")
    return grade_functions(functions, only)


def check(fn, exercise_name=None):
    """Grade one function in this process (a notebook): ``check(backpropagation)`` returns a Report.

    The exercise is the function's name (or one of its aliases) unless ``exercise_name`` says otherwise.
    """
    name = exercise(exercise_name or fn.__name__).name
    return grade_functions({name: fn}, [name])
