"""Exercises: write the course report's functions yourself and have them graded live, with diagnoses.

The editor's code is kept in the session; Run grades it in a child process (bubblewrap sandbox) through
``ui.exercises``; the report card is a table of checks, the diagnoses and, for backpropagation, a heatmap.
"""

import streamlit as st

from lab.exercises import EXERCISES, REPORT_SOURCE
from ui import class_session as cls
from ui import exercises as ex
from ui.router import ensure_router

ensure_router()

st.title("Exercises: write the report's functions")
st.caption("The course report's assignment, one function at a time, in its order. Write a function, press Run: "
           "the grader tries it on generated cases (batch size 1 and many, float32 and float64, logits up to "
           "±1000, probabilities that underflow to 0, read-only inputs), compares it with `mlp` and with "
           "central differences, and says what is wrong when it recognises the mistake. Your code may use numpy and "
           "Python's standard library; it has no network and no files but a private /tmp.")
policy = ex.current_policy()
ex.show_policy(policy)

titles = {e.title: e for e in EXERCISES}
choice = st.radio("Exercise", list(titles), horizontal=True, key=ex.CHOICE)
task = titles[choice]
st.markdown(task.statement)
ex.editor(task.name)
ex.buttons(task.name, policy)
ex.show_result()
cls.show_messages()

with st.expander("The course report's functions, as printed"):
    st.code(REPORT_SOURCE, language="python")
    st.caption("Its average_ce writes into prediction and its backpropagation writes into o; the button "
               "above grades them as they are.")
cls.remember_in_browser()  # this browser's token, if saving the code made one
