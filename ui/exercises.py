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
from ui.text import plain

CODES = "ex_codes"  # {exercise name: the learner's code}
RESULT = "ex_result"  # (title, Report) of the last run
EDITOR = "ex_editor_{}"  # the text area of one exercise
CHOICE = "ex_choice"
EDITOR_CSS = "<style>.st-key-ex_editor textarea {font-family: ui-monospace, Menlo, Consolas, monospace;" \
             " font-size: 14px; line-height: 1.4;}</style>"


def codes():
    """The learner's code of every exercise, kept in the session (the starter stub until edited)."""
    if CODES not in st.session_state:
        st.session_state[CODES] = {n: BY_NAME[n].stub for n in NAMES}
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


def editor(name):
    """The code editor of one exercise (a monospaced text area); its text lives in the session."""
    st.html(EDITOR_CSS)
    with st.container(key="ex_editor"):
        st.text_area(f"Your `{name}` (all your exercises are run together, so `train_epoch` can call the others)",
                     value=codes()[name], height=320, key=EDITOR.format(name), on_change=_save, args=(name,))


def learner_chunks():
    return [(f"{n}.py", codes()[n]) for n in NAMES]


def buttons(name, policy):
    """Run, Run all, Reset and the course report's button; each grades or resets and reruns."""
    off = policy.mode == "off"
    cols = st.columns([1, 1, 1.3, 2.2])
    if cols[0].button("Run", type="primary", disabled=off, key="ex_run", icon=":material/play_arrow:"):
        _save(name)
        grade(learner_chunks(), [name], f"your {name}", policy)
    if cols[1].button("Run all", disabled=off, key="ex_run_all"):
        _save(name)
        grade(learner_chunks(), None, "all your exercises", policy)
    if cols[2].button("Reset to the stub", key="ex_reset"):
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
    frame = pd.DataFrame([{"": "✅" if r["passed"] else "❌", "exercise": r["exercise"], "check": r["check"],
                           "max abs error": _fmt(r["max abs"]), "max rel error": _fmt(r["max rel"])}
                          for r in report.rows()])
    st.dataframe(frame, hide_index=True, width="stretch")


def diagnoses(report):
    """Every failed check with its message and hint, as plain text."""
    for c in report.checks:
        if not c.passed:
            text = " ".join(t for t in (c.message, c.hint) if t)
            st.markdown(f"❌ **{plain(c.exercise)}: {plain(c.name, 120)}** — {plain(text, 900)}")


def heatmap(report):
    """Backpropagation: the relative error of each parameter block (columns) in each case (rows)."""
    rows = [{"case": c["case"], "block": c["block"],
             "log10": -17.0 if c["rel_error"] is not None and c["rel_error"] == 0 else
             (math.log10(c["rel_error"]) if c["rel_error"] is not None and math.isfinite(c["rel_error"]) else 1.0),
             "label": "shape" if c["rel_error"] is None else f"{c['rel_error']:.0e}"} for c in report.heatmap]
    if not rows:
        return
    base = alt.Chart(pd.DataFrame(rows)).encode(
        x=alt.X("block:N", sort=["W_o", "b_o", "W_h", "b_h"], title=None, axis=alt.Axis(orient="top", labelAngle=0)),
        y=alt.Y("case:N", title=None, sort=None, axis=alt.Axis(labelLimit=320)))
    rect = base.mark_rect().encode(color=alt.Color("log10:Q", scale=alt.Scale(scheme="redyellowgreen", reverse=True,
                                                                              domain=[-16, 0], clamp=True),
                                                   title="log10 rel. error"))
    text = base.mark_text(fontSize=12).encode(text="label:N")
    st.markdown("**Backpropagation: relative error of each block** (max |yours − mlp| / max |mlp|; "
                "green is right, red is wrong, *shape* is a wrong shape)")
    st.altair_chart((rect + text).properties(height=34 * len({r["case"] for r in rows}) + 20), width="stretch")


def show_result():
    """The last run's report card: summary, table, diagnoses, heatmap, printed output."""
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
