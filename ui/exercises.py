"""Streamlit glue of the Exercises page: the editor kept in the session, the Run buttons, the report card.

Learners' code is graded by ``lab.exercises.sandbox.run_code`` in a child process (inside bubblewrap when
the policy says "sandbox"), never in the server's process.
"""

from __future__ import annotations

import math

import altair as alt
import pandas as pd
import streamlit as st

from lab.exercises import BY_NAME, NAMES, REPORT_FILENAME, REPORT_SOURCE
from lab.exercises import sandbox as sb
from ui import class_session as cls
from ui.text import plain

CODES = "ex_codes"  # {exercise name: the learner's code}
RESULT = "ex_result"  # (title, Report) of the last run
EDITOR = "ex_editor_{}"  # the text area of one exercise
CHOICE = "ex_choice"
EDITOR_CSS = "<style>.st-key-ex_editor textarea {font-family: ui-monospace, Menlo, Consolas, monospace;" \
             " font-size: 14px; line-height: 1.4;}</style>"


def codes():
    """The learner's code of every exercise, kept in the session (the starter stub until edited), and in the
    class database for a browser known there (``ui.class_session``): a reload brings the code back."""
    if CODES not in st.session_state:
        st.session_state[CODES] = {n: BY_NAME[n].stub for n in NAMES} | cls.saved_code()
    return st.session_state[CODES]


def current_policy():
    return sb.policy(st.get_option("server.address"))


def show_policy(policy):
    show = {"sandbox": st.success, "limits": st.warning, "off": st.error}[policy.mode]
    show(policy.message, icon={"sandbox": ":material/shield:", "limits": ":material/warning:",
                               "off": ":material/block:"}[policy.mode])


def grade(chunks, only, title, policy):
    """Run the grader in the child process and keep the report in the session."""
    with st.spinner("Grading your code in a separate process…"):
        report = sb.run_code(chunks, only, sb.LIMITS, sandboxed=policy.mode == "sandbox")
    st.session_state[RESULT] = (title, report)


def _save(name):
    codes()[name] = st.session_state[EDITOR.format(name)]
    cls.save_code(name, codes()[name])


def editor(name):
    """The code editor of one exercise (a monospaced text area); its text lives in the session."""
    st.html(EDITOR_CSS)
    with st.container(key="ex_editor"):
        st.text_area(f"Your `{name}` (all your exercises are run together, so `train_epoch` can call the others)",
                     value=codes()[name], height=280, key=EDITOR.format(name), on_change=_save, args=(name,))


def learner_chunks():
    return [(f"{n}.py", codes()[n]) for n in NAMES]


def buttons(name, policy):
    """Run, Run all, Reset and the course report's button; each grades or resets and reruns."""
    off = policy.mode == "off"
    cols = st.columns([1, 1, 1, 2.2])
    if cols[0].button("Run", type="primary", disabled=off, key="ex_run", icon=":material/play_arrow:"):
        _save(name)
        grade(learner_chunks(), [name], f"your {name}", policy)
    if cols[1].button("Run all", disabled=off, key="ex_run_all"):
        _save(name)
        grade(learner_chunks(), None, "all your exercises", policy)
    if cols[2].button("Reset", key="ex_reset", help="Put the starter stub back into the editor"):
        codes()[name] = BY_NAME[name].stub
        st.session_state.pop(EDITOR.format(name), None)
        st.rerun()
    if cols[3].button("Grade the course report's code", disabled=off, key="ex_report"):
        grade([(REPORT_FILENAME, REPORT_SOURCE)], None, "the course report's functions as printed", policy)


def _fmt(x):
    if x is None:
        return ""
    return str(x) if isinstance(x, float) and not math.isfinite(x) else f"{x:.1e}"


def report_table(report):
    frame = pd.DataFrame([{"result": "pass" if r["passed"] else "FAIL", "exercise": r["exercise"], "check": r["check"],
                           "abs err": _fmt(r["max abs"]), "rel err": _fmt(r["max rel"])}
                          for r in report.rows()])
    small = st.column_config.TextColumn(width="small")
    st.dataframe(frame, hide_index=True, width="stretch",
                 column_config={"result": small, "abs err": small, "rel err": small})


def diagnoses(report):
    """Every failed check with its message and hint, as plain text."""
    for c in report.checks:
        if not c.passed:
            text = " ".join(t for t in (c.message, c.hint) if t)
            st.markdown(f":red[**FAIL**] **{plain(c.exercise)}: {plain(c.name, 120)}** — {plain(text, 900)}")


def _cell_label(rel):
    if rel is None:
        return "shape"
    return "0" if rel == 0 else f"{rel:.0e}"


def heatmap(report):
    """Backpropagation: each parameter block (columns) in each case (rows), green when right, red when wrong,
    labelled with its relative error max |yours - mlp| / max |mlp|."""
    rows = [{"case": c["case"], "block": c["block"], "label": _cell_label(c["rel_error"]),
             "verdict": "right" if c.get("passed") else ("wrong shape" if c["rel_error"] is None else "wrong")}
            for c in report.heatmap]
    if not rows:
        return
    base = alt.Chart(pd.DataFrame(rows)).encode(
        x=alt.X("block:N", sort=["W_o", "b_o", "W_h", "b_h"], title=None,
                axis=alt.Axis(orient="top", labelAngle=0, labelFontSize=13)),
        y=alt.Y("case:N", title=None, sort=None, axis=alt.Axis(labelLimit=320, labelFontSize=12)))
    colors = alt.Scale(domain=["right", "wrong", "wrong shape"], range=["#9bd3a6", "#f28b82", "#c4c4c4"])
    rect = base.mark_rect(stroke="white").encode(color=alt.Color("verdict:N", scale=colors,
                                                                 legend=alt.Legend(title=None, orient="bottom")))
    text = base.mark_text(fontSize=12).encode(text="label:N")
    st.markdown("**Backpropagation, block by block**: the relative error of each gradient, "
                "max |yours − mlp| / max |mlp|, in each case.")
    st.altair_chart((rect + text).properties(height=alt.Step(30)), width="stretch")


def show_result():
    """The last run's report card: summary, table (largest absolute and relative errors), diagnoses, heatmap,
    printed output."""
    if RESULT not in st.session_state:
        st.caption("Press Run to grade your function; nothing of yours runs in the server's process.")
        return
    title, report = st.session_state[RESULT]
    st.subheader(f"Report card: {title}")
    summary = plain(report.summary(), 400)
    (st.success if report.passed else st.error)(summary)
    if report.error:
        st.error(plain(report.error, 900), icon=":material/error:")
    if report.checks:
        report_table(report)
        diagnoses(report)
    heatmap(report)
    if report.skipped:
        st.caption("Not defined, not graded: " + plain(", ".join(report.skipped)))
    if report.output:
        st.markdown("**What your code printed**")
        st.code(report.output[:4000], language=None)
