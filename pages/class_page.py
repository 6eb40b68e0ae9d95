"""Class: a teacher's experiment for the whole class, its board, and your runs kept in the class database."""

import streamlit as st

from lab.class_store import VARIED
from ui import class_board as board_ui
from ui import class_session as cls
from ui import class_view as view
from ui.router import ensure_router
from ui.text import plain

ensure_router()

st.title("Class experiments")
cls.flush_outbox()
cls.remember_in_browser()  # cookies asked for by the last script run (joining, a new experiment)
cls.show_messages()
try:
    store = cls.store()
except cls.DB_DOWN as exc:
    st.error(f"The class database cannot be reached ({type(exc).__name__}). Training still works; runs are kept in "
             "your session and saved when the database is back.")
    st.stop()

me = view.identity_box()
if me:
    view.restore_runs()
code = cls.joined_code()
exp = store.experiment(code) if code else None
if code and exp is None:
    st.error(f"There is no class experiment with the code {plain(code)}.")
if exp is None:
    st.caption("A teacher creates an experiment; students join with its link or code and train with their own "
               "value of one setting; every run they finish is posted to the board.")
    with st.expander("Create an experiment (teachers)", expanded=code is None):
        view.create_form()
    st.stop()

key = view.teacher_key(exp.code)
st.header(plain(exp.title))
st.markdown(f"{plain(exp.question)}  \nEveryone varies the **{VARIED[exp.varied]}**."
            + ("  \n**Closed** to new runs." if exp.closed else ""))
if key:
    view.show_join(exp)


board = store.board(exp.code, key)


@st.fragment(run_every=3)
def live_board():
    now = store.board(exp.code, key)
    if key and len(now) != len(board):
        st.rerun()  # a new run: the teacher's controls below list it too
    board_ui.draw_board(exp, now, me[0] if me else None)


live_board()
if key:  # outside the refreshing board, so an open list is not closed under the teacher's pointer
    view.teacher_tools(exp, key, board)
cls.remember_in_browser()  # and by this one (a teacher link)
