"""Tell a student when the classroom worker that served their tab stopped (``scripts/classroom.sh``).

HAProxy keeps a browser on one worker through the ``MLPLAB_WORKER`` cookie. If that worker dies,
HAProxy sends the tab to another worker (or to the same one once the supervisor has started it
again), and the tab's new session starts empty: what the old session held in memory is gone. A
session whose browser already carries the cookie, on a worker that is not the one named in it or
that was started again a short while ago, is told so once.
"""

from __future__ import annotations

import os
import time

import streamlit as st

COOKIE = "MLPLAB_WORKER"  # deploy/haproxy.cfg
NAME = os.environ.get("MLP_LAB_WORKER")  # this worker's cookie value, set by scripts/classroom.sh
RESTARTS = int(os.environ.get("MLP_LAB_WORKER_RESTARTS", "0") or 0)  # times the supervisor started it again
STARTED = time.time()
RECENT = 15 * 60  # seconds after a restart during which returning tabs are told
SHOWN_KEY = "worker_notice_shown"


def worker_change(cookie, name=NAME, restarts=RESTARTS, started=STARTED, now=None):
    """Why this tab's session is new although its browser was served before: 'moved', 'restarted' or None."""
    if not name or not cookie:
        return None
    if cookie != name:
        return "moved"
    if restarts > 0 and (now or time.time()) - started < RECENT:
        return "restarted"
    return None


def worker_notice():
    """Once per session, a warning if the tab lost its worker (see the module's docstring)."""
    if st.session_state.get(SHOWN_KEY):
        return
    st.session_state[SHOWN_KEY] = True
    change = worker_change(st.context.cookies.get(COOKIE))
    if change:
        since = time.strftime("%H:%M", time.localtime(STARTED))
        what = "was replaced" if change == "moved" else f"started again at {since}"
        st.warning(f"The part of the lab server that served this tab stopped and {what}. What this tab held in "
                   "memory (runs not downloaded, uploads) is gone: upload or train again. Reload the page if "
                   "anything looks out of step.", icon=":material/restart_alt:")
