"""Tell a student when the classroom worker that served their tab stopped (``scripts/classroom.sh``).

HAProxy keeps a browser on one worker through a cookie. If that worker dies, HAProxy sends the tab
to another worker (or to the same one once the supervisor has started it again), the browser
reconnects by itself, and the tab's new session starts empty: what the old session held in memory
is gone. Each worker process has a token of its own (its name and start time), written into the
page's URL as ``?lab_worker=``; the browser keeps the URL when it reconnects, so a session that
finds another process's token there is told, once, what happened.
"""

from __future__ import annotations

import os
import time

import streamlit as st

PARAM = "lab_worker"
NAME = os.environ.get("MLP_LAB_WORKER")  # set by scripts/classroom.sh (w1, w2, ...); None when served alone
STARTED = time.time()
TOKEN = f"{NAME}.{int(STARTED):x}" if NAME else None
SHOWN_KEY = "worker_notice_shown"


def worker_change(seen, token=TOKEN):
    """True when the URL's token ``seen`` was written by another worker process than this one."""
    return bool(token and seen and seen != token)


def worker_notice():
    """Once per session, a warning if the tab's URL names another worker process; then this one's token."""
    if TOKEN is None:
        return
    seen = st.query_params.get(PARAM)
    if not st.session_state.get(SHOWN_KEY):
        st.session_state[SHOWN_KEY] = True
        if worker_change(seen):
            since = time.strftime("%H:%M", time.localtime(STARTED))
            st.warning(f"If you were working in this tab a moment ago: the part of the lab server that served it "
                       f"stopped, and another one (started {since}) took over. What the tab held in memory (runs not "
                       "downloaded, uploads) is gone: upload or train again.", icon=":material/restart_alt:")
    if seen != TOKEN:
        st.query_params[PARAM] = TOKEN
