"""A derivation revealed one step at a time, with an optional prediction before each step.

``Reveal`` keeps in ``st.session_state`` how many steps are shown ('<key>_shown') and the 'Show all steps'
toggle ('<key>_all'); ``Reveal.step`` draws one step (the only step-drawing helper of the math pages). With
``questions`` ({step: lab.predict.Question}) the learner may type what the next step will show before it is
revealed; the verdict (``lab.predict.check``) is drawn at the top of that step and counted in the session's
score (``ui.predict``).
"""

from __future__ import annotations

import streamlit as st

from lab.predict import check
from ui.charts import draw
from ui.latex import show
from ui.predict import guess_key, score, score_caption
from ui.present import presenting


class Reveal:
    """Step-by-step reveal. Usage::

        reveal = Reveal("sm_steps", titles, questions=qs, problem=problem_id)
        reveal.controls()                      # 'Show all steps', 'Start over', where we are, the score
        reveal.step(0, "Softmax", latex, ...)  # drawn only once revealed
        reveal.next_button()                   # the prediction box and 'Reveal next step' under the last one
    """

    def __init__(self, key, titles, first=1, questions=None, problem=""):
        self.key, self.titles, self.first = key, list(titles), first
        self.questions, self.problem = dict(questions or {}), str(problem)
        st.session_state.setdefault(f"{key}_shown", first)
        st.session_state.setdefault(f"{key}_all", False)

    @property
    def shown(self):
        """How many steps are visible."""
        if st.session_state[f"{self.key}_all"]:
            return len(self.titles)
        return max(1, min(int(st.session_state[f"{self.key}_shown"]), len(self.titles)))

    def visible(self, i):
        return i < self.shown

    def _advance(self):
        st.session_state[f"{self.key}_shown"] = min(self.shown + 1, len(self.titles))

    def _back(self):
        st.session_state[f"{self.key}_shown"] = max(self.first, self.shown - 1)

    def reset(self):
        """Back to the first step (the 'Start over' button's callback)."""
        Reveal.restart(self.key, self.first)

    @staticmethod
    def restart(key, first=1):
        """Back to step ``first`` of the reveal stored under ``key`` (usable before the Reveal is built)."""
        st.session_state[f"{key}_shown"] = first
        st.session_state[f"{key}_all"] = False

    def controls(self):
        """The 'Show all steps' toggle, 'Start over' and 'Back one step' in one row (room for the ← key's badge in
        presenter mode, and whole labels beside the sidebar at 1024 px), then where we are and the score."""
        left, mid, back = st.columns([1.6, 1.4, 2.0], vertical_alignment="center")
        left.toggle("Show all steps", key=f"{self.key}_all")
        mid.button("Start over", key=f"{self.key}_reset", on_click=self.reset, icon=":material/restart_alt:")
        back.button("Back one step", key=f"{self.key}_back", on_click=self._back, icon=":material/arrow_upward:",
                    disabled=self.shown <= self.first or st.session_state[f"{self.key}_all"],
                    help="Hide the last step shown (in presenter mode: the ← key).",
                    shortcut="Left" if presenting() else None)
        st.caption(f"Showing step {self.shown} of {len(self.titles)}. " + score_caption())

    def step(self, i, title, *lines, note=None, chart=None, level=3):
        """Draw step i if it is revealed: a heading 'i+1. title' (markdown level ``level``), the verdict of the
        learner's prediction if there was one, the LaTeX ``lines`` (a line may be a list of lines), an optional
        ``ui.charts.Chart`` and a caption ``note``. Returns whether the step was drawn."""
        if not self.visible(i):
            return False
        st.markdown(f"{'#' * level} {i + 1}. {title}")
        verdict = score().get(self.problem, i) if i in self.questions else None
        if verdict is not None:
            (st.success if verdict.correct else st.error)(verdict.message, icon=":material/psychology:")
        for line in lines:
            for part in [line] if isinstance(line, str) else line:
                show(part)
        if chart is not None:
            draw(chart)
        if note:
            st.caption(note)
        return True

    def _check_and_advance(self, i):
        question = self.questions[i]
        score().record(self.problem, check(question, st.session_state.get(guess_key(self.key, i, self.problem), "")))
        self._advance()

    def next_button(self):
        """Under the last visible step: the prediction for the next one (if it has a question and was not
        answered yet for these numbers), then 'Reveal next step: <title>'. Nothing once all steps are shown."""
        if self.shown >= len(self.titles):
            return
        nxt = self.shown
        question = self.questions.get(nxt)
        if question is not None and score().get(self.problem, nxt) is None:
            with st.container(border=True):
                st.markdown(f"**Predict before you reveal** (optional): {question.prompt}")
                field, button = st.columns([2, 3], vertical_alignment="bottom")
                field.text_input("Your answer", key=guess_key(self.key, nxt, self.problem), placeholder="type it here",
                                 max_chars=40)
                button.button("Check and reveal", key=f"{self.key}_check", on_click=self._check_and_advance,
                              args=(nxt,), icon=":material/task_alt:")
        st.button(f"Reveal next step: {self.titles[nxt]}", key=f"{self.key}_next", on_click=self._advance,
                  type="primary", icon=":material/arrow_downward:", shortcut="Right" if presenting() else None)
