"""The session's side of the class store: who this browser is, the experiment it joined, runs to save.

A browser is recognised by a random token kept in the cookie ``mlp_lab_student`` (set by a tiny
script in the page; Streamlit reads cookies when a tab connects), made when the tab's first run ends
or when the student joins an experiment. Every finished, stopped or diverged run goes into the
session's outbox and is written to the class database at once; if the database cannot be reached
the run stays in the outbox (and in the session's history) and is written at the next try. What a
limit refuses is said, never dropped silently.
"""

from __future__ import annotations

import json
import secrets

import sqlalchemy as sa
import streamlit as st

from lab.class_store import VARIED, Forbidden, Store, StoreError
from mlp.model_io import model_bytes
from mlp.train import Hyper
from ui.keys import (
    CLASS_APPLIED,
    CLASS_CODE,
    CLASS_MESSAGES,
    CLASS_OUTBOX,
    CLASS_SESSION_UID,
    CLASS_SET_COOKIE,
    CLASS_TOKEN,
    PENDING,
    RUNS,
    SETTINGS,
)
from ui.text import plain

COOKIE = "mlp_lab_student"
COOKIE_DAYS = 180
DB_DOWN = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DatabaseError, OSError)


@st.cache_resource(show_spinner=False)
def store():
    """The class database of this server process (one engine, shared by its sessions)."""
    return Store.open()


def _store_or_none():
    try:
        return store()
    except DB_DOWN + (StoreError,) as exc:
        _say("warning", f"The class database cannot be reached ({type(exc).__name__}); runs stay in this session "
                        "and are saved when it is back.")
        return None


def _say(kind, text):
    messages = st.session_state.setdefault(CLASS_MESSAGES, [])
    if (kind, text) not in messages:
        messages.append((kind, text))


def show_messages():
    """The class store's messages of this session (saved runs, refusals), once each."""
    for kind, text in st.session_state.pop(CLASS_MESSAGES, []):
        {"success": st.success, "warning": st.warning, "error": st.error, "info": st.info}[kind](text)


def token():
    """This browser's student token: from the session, else from the cookie."""
    if CLASS_TOKEN not in st.session_state:
        st.session_state[CLASS_TOKEN] = cookie(COOKIE)
    return st.session_state[CLASS_TOKEN]


def _safe(text):
    return bool(text) and len(text) <= 100 and text.replace("-", "").replace("_", "").isalnum()


def set_cookie(name, value):
    """Ask for a cookie to be written into the browser at the next ``remember_in_browser``."""
    st.session_state.setdefault(CLASS_SET_COOKIE, {})[name] = value


def cookie(name):
    value = st.context.cookies.get(name)
    return value if isinstance(value, str) and _safe(value) else None


def remember_in_browser():
    """Write the cookies asked for (the student token, a teacher key) into the browser, by a one-line script."""
    wanted = {k: v for k, v in st.session_state.pop(CLASS_SET_COOKIE, {}).items() if _safe(k) and _safe(v)}
    if wanted:
        lines = "".join(f"document.cookie = '{k}={v}; path=/; max-age={COOKIE_DAYS * 86400}; SameSite=Lax';"
                        for k, v in wanted.items())
        st.iframe(f"<script>{lines}</script>", height=1)


def me():
    """(student id, display name) of this browser, or None."""
    s = _store_or_none()
    return s.student(token()) if s is not None and token() else None


def join(name):
    """Make this browser a student called ``name`` (StoreError for a bad name); returns the token."""
    _, new = store().join(name)
    st.session_state[CLASS_TOKEN] = new
    set_cookie(COOKIE, new)
    return new


def use_token(value):
    """Take a return code typed on another device; False if it is unknown."""
    s = _store_or_none()
    value = (value or "").strip()
    if s is None or s.student(value) is None:
        return False
    st.session_state[CLASS_TOKEN] = value
    set_cookie(COOKIE, value)
    return True


def joined_code():
    """The experiment code of this session: ``?class=CODE`` in the link, else the one joined before."""
    code = st.query_params.get("class")
    if code:
        st.session_state[CLASS_CODE] = code.strip().upper()[:16]
    joined = st.session_state.get(CLASS_CODE)
    if joined and code != joined:
        st.query_params["class"] = joined  # a reload, or a link copied from the address bar, keeps the experiment
    return joined


def _session_uid():
    if CLASS_SESSION_UID not in st.session_state:
        st.session_state[CLASS_SESSION_UID] = secrets.token_hex(8)
    return st.session_state[CLASS_SESSION_UID]


def run_payload(record):
    """What the store keeps of a RunRecord: settings, curves, final figures, the weights if there are any."""
    weights = model_bytes(record.params, record.hyper, record.history) if record.params is not None else None
    return {"uid": f"{_session_uid()}-{record.run_id}", "status": record.status,
            "hyper": json.loads(record.hyper.to_json()), "history": [dict(r) for r in record.history],
            "valid_acc": record.final.get("valid_acc"), "train_acc": record.final.get("train_acc"),
            "test_acc": record.test_acc, "weights": weights, "label": f"Run {record.run_id}"}


def save_new_runs():
    """Every run of the session that ended since the last call goes to the outbox, which is then written.

    The Training page calls this on every script run: a run is seen once it is in the history (or
    waiting for a place in a full one), whichever script thread ended it.
    """
    fresh = [r for r in [*st.session_state.get(RUNS, []), *st.session_state.get(PENDING, [])]
             if r.status != "loaded" and r.store_uid is None]
    for record in fresh:
        payload = run_payload(record)
        record.store_uid = payload["uid"]  # seen: not posted twice, and not restored from the store again
        st.session_state.setdefault(CLASS_OUTBOX, []).append((payload, joined_code()))
    flush_outbox()


def _ensure_student(s):
    if token() and s.student(token()):
        return token()
    return join(f"Student {secrets.randbelow(9000) + 1000}")


def flush_outbox():
    """Write the session's unsaved runs; keep them if the database is down; say what a limit refused."""
    outbox = st.session_state.get(CLASS_OUTBOX) or []
    s = _store_or_none() if outbox else None
    while outbox and s is not None:
        payload, code = outbox[0]
        try:
            _, note = s.post_run(_ensure_student(s), payload, code)
        except DB_DOWN:
            _say("warning", f"{payload['label']} is not saved yet: the class database cannot be reached. It stays "
                            "in this session and is saved when the database is back.")
            return
        except (Forbidden, StoreError) as exc:
            _say("error", f"{payload['label']} was not saved in the class database: {exc}. It is still in this "
                          "session (in its history, or waiting for a place there): download it to keep it.")
        else:
            where = f" and posted to experiment {code}" if code else ""
            _say("success" if note is None else "warning",
                 f"{payload['label']} is saved in the class database{where}." + (f" Note: {note}." if note else ""))
        outbox.pop(0)


def take_experiment_settings():
    """The joined experiment (or None). Its settings become the Training page's the first time: call it before
    the page's settings are initialised; the student then changes the varied one."""
    code = joined_code()
    s = _store_or_none() if code else None
    exp = s.experiment(code) if s is not None else None
    if exp is not None and st.session_state.get(CLASS_APPLIED) != exp.code:
        st.session_state[CLASS_APPLIED] = exp.code
        st.session_state[SETTINGS] = Hyper.from_json(json.dumps(exp.base_hyper))
    return exp


def training_banner(exp):
    """Under the Training page's buttons: the experiment's question, or why the link's code is not one."""
    code = joined_code()
    if exp is None:
        if code and _store_or_none() is not None:
            st.error(f"There is no class experiment with the code {plain(code)}.")
        return
    state = " It is closed to new runs." if exp.closed else " Every run you finish is posted to its board."
    st.info(f"Class experiment **{plain(exp.title)}** ({exp.code}): {plain(exp.question)} Change the "
            f"**{VARIED[exp.varied]}**, keep the rest.{state}", icon=":material/groups:")


def saved_code():
    """{exercise: source} this browser kept in the class database ({} if none, or the database is down)."""
    s = _store_or_none() if token() else None
    try:
        return {k: v for k, v in s.codes_of(token()).items() if isinstance(v, str)} if s is not None else {}
    except (Forbidden, StoreError) + DB_DOWN:
        return {}


def save_code(exercise, source):
    """Keep one exercise's code in the class database (a student is made for this browser if need be)."""
    s = _store_or_none()
    if s is None:
        return
    try:
        s.save_code(_ensure_student(s), exercise, source)
    except StoreError as exc:
        _say("warning", f"Your code of {exercise} is kept in this session only: {exc}.")
    except DB_DOWN:
        _say("warning", "Your code is kept in this session only: the class database cannot be reached.")
