"""Exercises: write the course report's functions yourself and have them graded, with diagnoses.

From a notebook::

    from lab.exercises import check
    check(backpropagation)      # a Report: one line per check, the diagnoses, a summary

From the shell: ``python -m lab check my_solution.py [--only backpropagation]``. The app's Exercises page
runs learners' code through ``lab.exercises.sandbox`` (bubblewrap), never in the server's process.

Modules: ``statements`` (exercises, stubs), ``basic`` / ``net`` / ``update`` (graders), ``diagnoses``
(known mistakes), ``report`` (the report card), ``report_code`` (the course report's functions as printed),
``api`` (grading entry points), ``sandbox`` and ``child`` (running untrusted code).
"""

from .report import Check, Report
from .report_code import REPORT_FILENAME, REPORT_SOURCE
from .statements import BY_NAME, EXERCISES, NAMES, exercise

__all__ = ["check", "find_functions", "grade_functions", "grade_sources", "Check", "Report", "REPORT_SOURCE",
           "REPORT_FILENAME", "EXERCISES", "BY_NAME", "NAMES", "exercise"]


def __getattr__(name):
    """The graders (numpy, mlp) are imported when first used, so ``python -m lab`` and the sandbox's parent
    side start without them."""
    if name in ("check", "find_functions", "grade_functions", "grade_sources"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
