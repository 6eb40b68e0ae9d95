"""Streamlit glue of 'predict, then reveal': the session's score, its seed, and the 'New numbers' button.

The questions, the checking and the random problems are in ``lab.predict``; ``ui.reveal.Reveal`` asks the
questions. Every session draws its own seed once (``secrets``), and attempt n of a page uses
``numpy.random.default_rng([seed, n])``, so two learners (or two attempts) get different numbers.
"""

from __future__ import annotations

import hashlib
import secrets

import streamlit as st

from lab.predict import Score, problem_rng

SCORE = "predict_score"  # lab.predict.Score of this session (both math pages)
SEED = "predict_seed"  # this session's seed for fresh problems
ATTEMPT = "predict_attempt_{}"  # .format(page key): how many fresh problems the page has drawn


def score():
    """This session's Score (created on first use)."""
    if SCORE not in st.session_state:
        st.session_state[SCORE] = Score()
    return st.session_state[SCORE]


def score_caption():
    """'Your predictions: 3 of 4 right.' or an invitation when none was made yet."""
    s = score()
    if not s.asked:
        return "Type a prediction before you reveal a step, and see if you were right."
    return f"Your predictions this session: {s.right} of {s.asked} right."


def guess_key(reveal_key, step, problem):
    """The text box of the prediction for ``step`` of this problem (a new problem starts with an empty box)."""
    return f"{reveal_key}_guess_{step}_{problem}"


def problem_id(*inputs):
    """A short stable id of a problem's inputs (numbers, sizes, seed), to keep its verdicts apart from others'."""
    return hashlib.sha1(repr(inputs).encode()).hexdigest()[:10]


def session_seed():
    if SEED not in st.session_state:
        st.session_state[SEED] = secrets.randbits(32)
    return st.session_state[SEED]


def _draw(page, apply):
    attempt = st.session_state.get(ATTEMPT.format(page), 0) + 1
    st.session_state[ATTEMPT.format(page)] = attempt
    apply(problem_rng(session_seed(), attempt))


def new_numbers_button(page, apply, where=st):
    """A 'New numbers' button: draws attempt n+1's generator and calls ``apply(rng)``, which sets the page's
    widget values in st.session_state (and starts its reveal over, so the learner predicts again)."""
    where.button("New numbers", key=f"{page}_new_numbers", on_click=_draw, args=(page, apply),
                 icon=":material/casino:", help="A fresh random problem (this session's own numbers), from step 1.")
    attempt = st.session_state.get(ATTEMPT.format(page), 0)
    if attempt:
        where.caption(f"Problem {attempt} of this session (seed {session_seed()}, attempt {attempt}).")
