"""The Class page's sections: who you are, create or join an experiment, the teacher's tools, your saved runs."""

from __future__ import annotations

import io
import json
import urllib.parse

import segno
import streamlit as st

from lab.class_store import VARIED, Forbidden, StoreError
from lab.runs import RunRecord
from mlp.limits import MAX_RUNS
from mlp.model_io import load_lab_model
from mlp.train import PRESETS, Hyper
from ui import class_session as cls
from ui.keys import CLASS_CODE, CLASS_SHOW_KEY, CLASS_TEACHER, NEXT_ID, RUNS, SETTINGS
from ui.text import plain


def teacher_key(code):
    """The teacher key of ``code``: this session's, a ``?teacher=`` link's (taken in and removed from the URL), or
    the browser's cookie (so a reload keeps the controls)."""
    keys = st.session_state.setdefault(CLASS_TEACHER, {})
    given = st.query_params.get("teacher")
    if given:
        del st.query_params["teacher"]  # never left in the address bar of a projected screen
    given = given or cls.cookie(teacher_cookie(code))
    if given and code not in keys and cls.store().is_teacher(code, given):
        keys[code] = given
        cls.set_cookie(teacher_cookie(code), given)
    return keys.get(code)


def teacher_cookie(code):
    return f"mlp_lab_teacher_{code}"


def join_url(code, teacher=None):
    """The link students open (``?class=CODE``), from the address this page was opened at."""
    base = (st.context.url or "http://localhost:8501/").split("?")[0]
    base = base.rsplit("/", 1)[0] if base.rstrip("/").endswith("class") else base.rstrip("/")
    query = {"class": code} | ({"teacher": teacher} if teacher else {})
    return f"{base}/train?{urllib.parse.urlencode(query)}"


def qr_png(url):
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=10, border=2)
    return buf.getvalue()


def identity_box():
    """Your display name, or a form to choose one; a return code to use this browser's runs elsewhere."""
    me = cls.me()
    if me:
        st.markdown(f"You are **{plain(me[1])}** in the class database. Your runs are saved when they end.")
        with st.expander("Use your runs on another device"):
            st.caption("Type this return code there (below, on this page). Keep it to yourself: it is your key.")
            st.code(cls.token(), language=None)
        return me
    with st.form("class_join"):
        name = st.text_input("Your display name (the class sees it on the board)", max_chars=40)
        if st.form_submit_button("Join", type="primary"):
            try:
                cls.join(name)
                st.rerun()
            except StoreError as exc:
                st.error(f"Not joined: {exc}.")
    code = st.text_input("…or a return code from another device", key="class_return_code", type="password")
    if code and not cls.use_token(code):
        st.error("That return code is not known here.")
    return None


def create_form():
    """A teacher's new experiment: title, question, the settings everyone starts from, the setting they vary."""
    with st.form("class_create"):
        title = st.text_input("Title", max_chars=100, placeholder="Which learning rate learns fastest?")
        question = st.text_area("Question for the class", max_chars=400, height=80,
                                placeholder="Each of you trains with another learning rate: what do the curves say?")
        varied = st.selectbox("The setting students vary", list(VARIED), format_func=VARIED.get)
        base = st.session_state.get(SETTINGS, PRESETS["quick"])
        st.caption(f"Everyone starts from your Training page settings: H={base.hidden}, lr={base.lr:g}, "
                   f"momentum={base.momentum:g}, {base.epochs} epochs, batch {base.batch_size or 'full'}.")
        if st.form_submit_button("Create the experiment", type="primary"):
            try:
                exp, key = cls.store().create_experiment(title, question, json.loads(base.to_json()), varied)
            except StoreError as exc:
                st.error(f"Not created: {exc}.")
                return
            st.session_state.setdefault(CLASS_TEACHER, {})[exp.code] = key
            cls.set_cookie(teacher_cookie(exp.code), key)
            st.session_state[CLASS_CODE] = exp.code
            st.session_state[CLASS_SHOW_KEY] = (exp.code, key)
            st.rerun()


def show_join(exp):
    """The join code, large, its link and QR code; once after creation, the teacher link."""
    url = join_url(exp.code)
    c = st.columns([2, 1], vertical_alignment="center")
    c[0].markdown(f"### Join code: `{exp.code}`")
    c[0].caption("Students open this link (or scan the code):")
    c[0].code(url, language=None)
    c[1].image(qr_png(url), caption="Scan to join", width=220)
    shown = st.session_state.pop(CLASS_SHOW_KEY, None)
    if shown and shown[0] == exp.code:
        st.warning("Your teacher link, shown once: bookmark it. It opens this board with your controls on any "
                   "device; keep it off the projector.", icon=":material/key:")
        st.code(join_url(exp.code, shown[1]).replace("/train?", "/class?"), language=None)


def teacher_tools(exp, key, board):
    """Hide a run, close the experiment, download everything as CSV."""
    with st.container(border=True):
        st.markdown("**Teacher's controls**")
        c = st.columns([2, 1, 1, 1], vertical_alignment="bottom")
        labels = {r["id"]: f"#{r['id']} {r['name']}" + (" (hidden)" if r["hidden"] else "") for r in board}
        pick = c[0].selectbox("Run", list(labels), format_func=labels.get, key="class_hide_pick")
        hidden = next((r["hidden"] for r in board if r["id"] == pick), False)
        if c[1].button("Show run" if hidden else "Hide run", disabled=pick is None, key="class_hide"):
            cls.store().hide_run(exp.code, key, pick, not hidden)
            st.rerun()
        if c[2].button("Reopen" if exp.closed else "Close to new runs", key="class_close"):
            cls.store().close_experiment(exp.code, key, not exp.closed)
            st.rerun()
        c[3].download_button("CSV", data=cls.store().csv(exp.code, key), file_name=f"class_{exp.code}.csv",
                             mime="text/csv", on_click="ignore", key="class_csv", icon=":material/download:")


def restore_runs():
    """Bring the browser's saved runs back into this session's Training history (one click)."""
    try:
        saved = cls.store().runs_of(cls.token())
    except (Forbidden, StoreError):
        return
    missing = _not_in_history(saved)
    if saved:
        st.caption(f"{len(saved)} of your runs are saved in the class database"
                   + (f"; {len(missing)} are not in this session's Training history." if missing else "."))
    if missing:
        st.button(f"Bring back {len(missing)} saved runs", key="class_restore", icon=":material/history:",
                  on_click=_restore, args=(missing,))


def _not_in_history(saved):
    have = {r.store_uid for r in st.session_state.get(RUNS, [])}
    return [r for r in saved if r["uid"] not in have]


def _restore(missing):
    """Newest first, as many as the history has room for (MAX_RUNS); the rest stay saved and are counted."""
    runs = st.session_state.setdefault(RUNS, [])
    room = max(0, MAX_RUNS - len(runs))
    taken = missing[-room:] if room else []
    for r in taken:
        runs.append(_record(r, max((x.run_id for x in runs), default=0) + 1))
    st.session_state[NEXT_ID] = max((x.run_id for x in runs), default=0) + 1
    left = len(missing) - len(taken)
    st.toast(f"{len(taken)} runs are back in the Training page's history."
             + (f" {left} stay in the class database: the history holds {MAX_RUNS}." if left else ""))


def _record(saved, run_id):
    weights = cls.store().run_weights(cls.token(), saved["id"]) if saved["has_weights"] else None
    model = load_lab_model(weights, "saved run") if weights else None
    hyper = Hyper.from_json(json.dumps(saved["hyper"]))
    record = RunRecord(run_id=run_id, hyper=hyper, history=saved["history"], status=saved["status"],
                       data_name="saved in the class database", params=model.params if model else None,
                       final={"valid_acc": saved["valid_acc"], "train_acc": saved["train_acc"]},
                       test_acc=saved["test_acc"], store_uid=saved["uid"])
    return record
