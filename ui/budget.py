"""The server's memory on the pages: one store of data sets for all sessions, refusals as messages, current use.

The Streamlit-free parts (budget, estimates, the store) are in ``lab.budget``.
"""

from __future__ import annotations

import gc
import threading
import time

import streamlit as st

from lab import budget
from mlp.data import size_text

STORE = budget.SetStore()  # the decoded data sets of every session of this server process
SWEEP_SECONDS = 30.0  # at most this often, ended sessions are looked for (see sweep_ended_sessions)
_sweep = {"last": 0.0, "lock": threading.Lock()}


def sweep_ended_sessions(now=time.monotonic):
    """Let sessions that ended drop their claims: at most every SWEEP_SECONDS, while any upload is held.

    Streamlit keeps a closed tab's session for ``server.disconnectedSessionTTL`` (120 s) for a
    reconnect, in a TTL cache that drops expired sessions only when it is next changed; its session
    state then goes with the next cycle collection. This asks that cache to expire now (a private
    Streamlit object, so best effort: any failure is ignored) and collects cycles. Claims are weak
    references, so correctness never depends on it; only how soon memory comes back.
    """
    if not STORE.holds_uploads() or not _sweep["lock"].acquire(blocking=False):
        return
    try:
        if now() - _sweep["last"] < SWEEP_SECONDS:
            return
        _sweep["last"] = now()
        try:
            from streamlit.runtime import Runtime

            Runtime.instance()._session_mgr._session_storage._cache.expire()
        except Exception:  # not a server (AppTest), or Streamlit's internals changed
            pass
        gc.collect()
    finally:
        _sweep["lock"].release()


def run_refusal(hyper, n_train, n_valid, inline=True):
    """Why a run with ``hyper`` on a split of these sizes cannot start (a sentence), or None if it fits in memory.

    For ``ui.training.start_run``: the estimate of the trainer's arrays (``lab.budget.estimate_run_bytes``)
    against what is free of the server's memory budget (inline), or, for the trainer process
    (``lab.train_service``), against its whole training budget: a run that fits in it waits for its
    turn in memory rather than being refused.
    """
    what = f"run (H = {hyper.hidden}, {hyper.dtype}, {n_train:,} training images)"
    return refusal(lambda shared: budget.estimate_run_bytes(hyper, n_train, n_valid, shared_inputs=shared),
                   what, inline)


def refusal(estimate, what, inline=True):
    """``run_refusal`` for any job: estimate(shared_inputs) -> bytes; ``what`` names it ("run (H = ...)")."""
    if not inline:
        needed, room = estimate(True), budget.training_budget()
        if needed > room:
            return (f"This {what} needs about {size_text(needed)} while training, more than the "
                    f"{size_text(room)} the server gives all its runs together (${budget.TRAINING_BUDGET_ENV} "
                    "sets it). Try fewer hidden units or float32.")
        return None
    try:
        budget.check_memory(estimate(False), f"start this {what}")
    except budget.MemoryRefused as exc:
        return str(exc)
    return None


def memory_caption(container=None):
    """A caption with the server's memory: the process's RSS, the budget, and the data sets held."""
    u = budget.usage()
    (container or st).caption(
        f"Server memory: {size_text(u['rss'])} in use of a {size_text(u['budget'])} budget; "
        f"data sets held: {len(STORE)} ({size_text(STORE.held_bytes())}).",
        help=f"The lab refuses an upload or a run that would not fit in the budget (${budget.MEMORY_BUDGET_ENV} "
             "sets it; by default half the machine's memory).",
    )
