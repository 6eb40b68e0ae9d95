"""Predict, then reveal: questions about the next step of a derivation, answer checking, a score, fresh problems.

Before a step of the softmax or backpropagation page is revealed, the learner may type the number it will
show (a probability, a loss, a gradient entry, a count or a shape). This module holds everything that is not
drawing: the questions (built from the numbers ``lab.explain`` computed), parsing what was typed, the verdict
with a tolerance, the session's score, and fresh random problems (seeded per session and attempt, so every
learner gets different numbers and an attempt can be replayed from its seed). Pure Python + numpy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from mlp.core import LETTERS

ABS_TOL = 0.005  # a number shown with 3 decimals may be typed with 2
REL_TOL = 0.02  # or within 2 % of its size (a loss of 4.6 typed as 4.6)
LOGIT_RANGE = 4.0  # fresh logits are drawn from [-4, 4] in steps of 0.1 (the page's slider step)
MAX_SEED = 9999  # the backprop page's seed input goes 0..9999


@dataclass(frozen=True)
class Question:
    """What to predict before step ``step`` is revealed.

    kind: "number" (a float, checked with a tolerance), "count" (an integer, exact) or "shape" (rows x cols,
    exact); answer: float, int or (rows, cols); why: how the number comes about, shown with the verdict.
    """

    step: int
    prompt: str
    kind: str
    answer: object
    why: str
    abs_tol: float = ABS_TOL
    rel_tol: float = REL_TOL

    @property
    def tolerance(self):
        """The accepted distance |typed - answer| for a "number" (0 for counts and shapes)."""
        if self.kind != "number":
            return 0.0
        return max(self.abs_tol, self.rel_tol * abs(float(self.answer)))

    def shown_answer(self):
        """The answer as the page prints it."""
        if self.kind == "shape":
            return " × ".join(str(d) for d in self.answer)
        if self.kind == "count":
            return str(int(self.answer))
        return f"{float(self.answer):.4f}".replace("-", "−")


@dataclass(frozen=True)
class Verdict:
    """The check of one typed answer: parsed is None when the text could not be read."""

    step: int
    typed: str
    parsed: object
    correct: bool
    message: str


def parse_number(text):
    """A typed number -> float, or None. Accepts 0.25, -0.3, −0.3 (unicode minus), 2e-3, 1/4, 25%."""
    t = str(text).strip().replace("−", "-").replace("–", "-").replace(",", ".").replace(" ", "")
    if not t:
        return None
    percent = t.endswith("%")
    t = t.rstrip("%")
    try:
        if "/" in t:
            top, bottom = t.split("/", 1)
            value = float(top) / float(bottom)
        else:
            value = float(t)
    except (ValueError, ZeroDivisionError):
        return None
    if not np.isfinite(value):
        return None
    return value / 100 if percent else value


def parse_shape(text):
    """A typed shape -> (rows, cols), or None. Accepts 3x4, 3 × 4, 3*4, (3, 4), 3,4 and '3 by 4'."""
    found = re.fullmatch(r"\s*\(?\s*(\d+)\s*(?:x|×|\*|,|by)\s*(\d+)\s*\)?\s*", str(text).lower())
    return None if found is None else (int(found.group(1)), int(found.group(2)))


def parse_count(text):
    """A typed whole number -> int, or None (3 and 3.0 are read, 3.5 is not)."""
    value = parse_number(text)
    return int(round(value)) if value is not None and float(value).is_integer() else None


PARSERS = {"number": parse_number, "count": parse_count, "shape": parse_shape}
EXPECTED = {"number": "a number such as 0.25 or -1/3", "count": "a whole number", "shape": "a shape such as 2 x 3"}


def check(question, text):
    """Compare what was typed with the question's answer -> Verdict (the message says right or wrong, and why)."""
    parsed = PARSERS[question.kind](text)
    if parsed is None:
        return Verdict(question.step, str(text), None, False,
                       f"Could not read {str(text)!r} as {EXPECTED[question.kind]}. It is {question.shown_answer()}. "
                       + question.why)
    if question.kind == "number":
        off = abs(parsed - float(question.answer))
        correct = off <= question.tolerance
        tol = f"±{question.tolerance:.3g}"
        within = f" (within {tol})" if correct else f" (off by {off:.3g}, more than {tol})"
    else:
        correct = tuple(np.atleast_1d(parsed)) == tuple(np.atleast_1d(question.answer))
        within = ""
    head = "Right" if correct else "Not quite"
    return Verdict(question.step, str(text), parsed, correct,
                   f"{head}: it is {question.shown_answer()}; you said {str(text).strip()}{within}. {question.why}")


@dataclass
class Score:
    """This session's predictions: one verdict per (problem, step); answering the same step again does not count."""

    verdicts: dict = field(default_factory=dict)  # (problem id, step) -> Verdict

    def record(self, problem, verdict):
        """Keep the first verdict of a step of a problem; returns the one kept."""
        return self.verdicts.setdefault((problem, verdict.step), verdict)

    def get(self, problem, step):
        return self.verdicts.get((problem, step))

    @property
    def asked(self):
        return len(self.verdicts)

    @property
    def right(self):
        return sum(v.correct for v in self.verdicts.values())


# ---- fresh problems ------------------------------------------------------------------------------


def problem_rng(session_seed, attempt):
    """The generator of one attempt: numpy's default_rng seeded with (session seed, attempt number)."""
    return np.random.default_rng([int(session_seed), int(attempt)])


def random_logits(rng, k):
    """K logits drawn uniformly from [-4, 4], rounded to the slider's 0.1 step, and a true class: (list, int)."""
    logits = np.round(rng.uniform(-LOGIT_RANGE, LOGIT_RANGE, int(k)), 1) + 0.0
    return [float(v) for v in logits], int(rng.integers(0, int(k)))


def random_seed(rng):
    """A network seed for the backprop page's tiny problem, 0..9999."""
    return int(rng.integers(0, MAX_SEED + 1))


# ---- the questions of the two pages ---------------------------------------------------------------


def softmax_questions(ex, letters):
    """{step: Question} for the softmax page's steps 2..6, from a ``lab.explain.SoftmaxCE`` ex."""
    c, t = ex.label, letters[ex.label]
    p = float(ex.p[c])
    j = int(np.argmax(np.where(np.arange(len(ex.p)) == c, -np.inf, ex.p)))  # the likeliest wrong class
    q = f"p_{t} = {p:.3f}"
    return {
        1: Question(1, f"What is the loss L = −log p_{t}?", "number", float(ex.loss),
                    f"Only the true class counts: L = −log p_{t} = −log {p:.4f} = {ex.loss:.4f}."),
        2: Question(2, f"What is the diagonal entry J_{t}{t} = ∂p_{t}/∂o_{t}?", "number", float(ex.jacobian[c, c]),
                    f"J_ii = p_i (1 − p_i), with {q}: {p:.4f} × {1 - p:.4f} = {ex.jacobian[c, c]:.4f}."),
        3: Question(3, f"What is ∂L/∂p_{t}?", "number", float(ex.dl_dp[c]),
                    f"∂L/∂p_i = −y_i / p_i, and y_{t} = 1: −1 / {p:.4f} = {ex.dl_dp[c]:.4f}."),
        4: Question(4, f"What is ∂L/∂o_{letters[j]} (a wrong class)?", "number", float(ex.chain[j]),
                    f"For a wrong class j the chain rule leaves −(1/p_{t}) × (−p_{t} p_j) = p_j = {ex.p[j]:.4f}."),
        5: Question(5, f"What is ∂L/∂o_{t} (the true class)?", "number", float(ex.grad[c]),
                    f"∂L/∂o_j = p_j − y_j, and y_{t} = 1: {p:.4f} − 1 = {ex.grad[c]:.4f}."),
    }


def backprop_questions(ps):
    """{step: Question} for the backprop page's steps 2..9, from a ``lab.explain.Pass`` ps (rows are examples)."""
    n, hidden = ps.h.shape
    k = ps.o.shape[1]
    f = ps.x.shape[1]
    c1 = int(ps.labels[0])
    p1 = float(ps.p[0, c1])
    off = int(ps.mask.size - ps.mask.sum())
    letter = LETTERS[c1]
    return {
        1: Question(1, f"How many of the {n} × {hidden} hidden activations does the ReLU keep on (h > 0)?", "count",
                    int(ps.mask.sum()), "One for every entry of z_h above 0; the ReLU sets the others to 0."),
        2: Question(2, "What is the shape of the logits o = h W_o + b_o?", "shape", (n, k),
                    f"h is {n} × {hidden} and W_o is {hidden} × {k}: one row of K = {k} logits per example."),
        3: Question(3, f"What is p for example 1 and its class {letter}, p_(1,{letter})?", "number", p1,
                    f"Softmax of row 1 of o: e^o_(1,{letter}) / Σ_k e^o_(1,k) = {p1:.4f}."),
        4: Question(4, "What is the average loss L?", "number", float(ps.loss),
                    f"L = −(1/N) Σ_n log p_(n,c_n), the mean over the {n} examples of −log of each one's own p: "
                    f"{ps.loss:.4f}."),
        5: Question(5, f"What is δ_o for example 1 and class {letter}, δ_o(1,{letter})?", "number",
                    float(ps.delta_o[0, c1]),
                    f"δ_o = (p − y)/N: ({p1:.4f} − 1) / {n} = {ps.delta_o[0, c1]:.4f}."),
        6: Question(6, "What is the shape of ∂L/∂W_o = h^T δ_o?", "shape", (hidden, k),
                    f"h^T is {hidden} × {n} and δ_o is {n} × {k}: one gradient per weight, the shape of W_o."),
        7: Question(7, "How many entries of δ_h does the ReLU mask set to 0?", "count", off,
                    f"Every unit and example with z_h ≤ 0: {off} of {ps.mask.size}."),
        8: Question(8, "What is the shape of ∂L/∂W_h = x^T δ_h?", "shape", (f, hidden),
                    f"x^T is {f} × {n} and δ_h is {n} × {hidden}: the shape of W_h."),
    }
