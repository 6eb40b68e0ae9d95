"""The report card: one ``Check`` per check, gathered in a ``Report`` that prints well.

A ``Report`` travels from the sandboxed child to the server as JSON (``to_dict`` /
``Report.from_dict``); ``from_dict`` treats it as untrusted: it keeps only known fields of
the right types and caps every string and list.
"""

from __future__ import annotations

import html
import math
from dataclasses import asdict, dataclass, field

from .diagnoses import DIAGNOSES, hint

MAX_TEXT = 600  # characters of one message kept
MAX_CHECKS = 400
MAX_OUTPUT = 8192  # characters of the learner's printed output kept


@dataclass
class Check:
    """One check: passed or not, the largest errors, a diagnosis id and a message."""

    exercise: str
    name: str
    passed: bool
    max_abs: float | None = None
    max_rel: float | None = None
    diagnosis: str | None = None
    message: str = ""

    def __post_init__(self):  # numpy scalars in, plain JSON-able values out
        self.passed = bool(self.passed)
        self.max_abs = None if self.max_abs is None else float(self.max_abs)
        self.max_rel = None if self.max_rel is None else float(self.max_rel)

    @property
    def hint(self):
        return hint(self.diagnosis)


@dataclass
class Report:
    """Every check of one grading run, the backpropagation heatmap and what went wrong outside the checks.

    heatmap: rows {"case", "block", "rel_error", "passed"} (rel_error None when the block's shape is wrong).
    skipped: exercises the file does not define. error: why the run itself failed (timeout, ...).
    """

    checks: list[Check] = field(default_factory=list)
    heatmap: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    error: str | None = None
    error_kind: str | None = None
    output: str = ""
    seconds: float | None = None

    @property
    def graded(self):
        return list(dict.fromkeys(c.exercise for c in self.checks))

    @property
    def passed(self):
        """True only when something was graded, every check passed and the run itself did not fail."""
        return self.error is None and bool(self.checks) and all(c.passed for c in self.checks)

    def exercise_passed(self, name):
        mine = [c for c in self.checks if c.exercise == name]
        return bool(mine) and all(c.passed for c in mine)

    def diagnoses(self, exercise=None):
        """The set of diagnosis ids of the failed checks (of one exercise, or all)."""
        return {c.diagnosis for c in self.checks if not c.passed and c.diagnosis
                and (exercise is None or c.exercise == exercise)}

    def summary(self):
        n_ok = sum(c.passed for c in self.checks)
        done = [e for e in self.graded if self.exercise_passed(e)]
        text = f"{n_ok}/{len(self.checks)} checks passed; exercises passed: {len(done)}/{len(self.graded)}"
        if self.error:
            text += f"; stopped: {self.error}"
        return text

    def card(self):
        """The report card as text: one line per check, the diagnoses under it, then a summary."""
        lines = []
        for c in self.checks:
            mark = "PASS" if c.passed else "FAIL"
            lines.append(f"{mark}  {c.exercise:<16} {c.name:<52} abs {_num(c.max_abs):>9}  rel {_num(c.max_rel):>9}")
            if not c.passed:
                for text in (c.message, c.hint):
                    if text:
                        lines.append(f"      {text}")
        if self.skipped:
            lines.append(f"not defined in the file (not graded): {', '.join(self.skipped)}")
        if self.error:
            lines.append(f"STOPPED: {self.error}")
        lines.append(self.summary())
        return "\n".join(lines)

    def __repr__(self):
        return self.card()

    def _repr_html_(self):
        rows = "".join(
            f"<tr><td>{'✅' if c.passed else '❌'}</td><td>{html.escape(c.exercise)}</td><td>{html.escape(c.name)}</td>"
            f"<td>{_num(c.max_abs)}</td><td>{_num(c.max_rel)}</td>"
            f"<td>{html.escape(' '.join(t for t in (c.message, c.hint) if t and not c.passed))}</td></tr>"
            for c in self.checks)
        head = "<tr><th></th><th>exercise</th><th>check</th><th>max abs</th><th>max rel</th><th>diagnosis</th></tr>"
        return f"<table>{head}{rows}</table><p>{html.escape(self.summary())}</p>"

    def rows(self):
        """The checks as plain dicts for a table."""
        return [{"passed": c.passed, "exercise": c.exercise, "check": c.name, "max abs": c.max_abs,
                 "max rel": c.max_rel, "diagnosis": " ".join(t for t in (c.message, c.hint) if t and not c.passed)}
                for c in self.checks]

    def to_dict(self):
        return {**asdict(self), "checks": [asdict(c) for c in self.checks]}

    @classmethod
    def from_dict(cls, data):
        """Rebuild a report from untrusted JSON data: known fields only, types checked, sizes capped."""
        if not isinstance(data, dict):
            raise ValueError("a report must be a JSON object")
        checks = [_check_from(c) for c in _list(data.get("checks"))[:MAX_CHECKS]]
        heatmap = [_cell_from(c) for c in _list(data.get("heatmap"))[:MAX_CHECKS]]
        return cls(checks=checks, heatmap=heatmap,
                   skipped=[_text(s, 40) for s in _list(data.get("skipped"))[:20]],
                   error=_text(data["error"]) if data.get("error") else None,
                   error_kind=_kind(data.get("error_kind")),
                   output=_text(data.get("output", ""), MAX_OUTPUT), seconds=_float(data.get("seconds")))


def _num(x):
    if x is None:
        return "-"
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return f"{x:.2e}"


def _list(x):
    return x if isinstance(x, list) else []


def _text(x, cap=MAX_TEXT):
    return str(x)[:cap]


def _float(x):
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x)


def _kind(x):
    return x if isinstance(x, str) and x in DIAGNOSES else None


def _check_from(c):
    c = c if isinstance(c, dict) else {}
    return Check(exercise=_text(c.get("exercise", "?"), 40), name=_text(c.get("name", "?"), 120),
                 passed=c.get("passed") is True, max_abs=_float(c.get("max_abs")), max_rel=_float(c.get("max_rel")),
                 diagnosis=_kind(c.get("diagnosis")), message=_text(c.get("message", "")))


def _cell_from(c):
    c = c if isinstance(c, dict) else {}
    return {"case": _text(c.get("case", "?"), 80), "block": _text(c.get("block", "?"), 10),
            "rel_error": _float(c.get("rel_error")), "passed": c.get("passed") is True}
