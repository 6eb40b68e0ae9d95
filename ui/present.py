"""Presenter mode, for a projector: no sidebar, larger text and numbers, keyboard steps on the math pages.

On with ``?present=1`` in the link or the switch at the bottom of the sidebar; it stays on for the
session. → reveals the next step of a math page's derivation (the "Reveal next step" button) and ←
goes back one (the "Back one step" button), unless the keyboard is in a text field.
"""

from __future__ import annotations

import streamlit as st

from ui.keys import CLASS_PRESENT

CSS = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"] {
  display: none !important;
}
html { font-size: 21px; }
.stMainBlockContainer { max-width: 100% !important; padding: 1.2rem 1.6rem 3rem 1.6rem !important; }
[data-testid="stMetricValue"] { font-size: 2.6rem !important; }
[data-testid="stMetricLabel"] p { font-size: 1.1rem !important; }
.katex { font-size: 1.25em !important; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.05rem; }
h1 { font-size: 2.3rem !important; }
</style>
"""

KEYS_JS = """
<script>
// The handler lives in this frame: when Streamlit draws the frame again, the new one replaces the old.
const doc = window.parent.document;
if (doc.mlpLabKeys) doc.removeEventListener("keydown", doc.mlpLabKeys);
doc.mlpLabKeys = (event) => {
  const tag = (event.target.tagName || "").toLowerCase();
  if (tag === "input" || tag === "textarea" || event.target.isContentEditable) return;
  const prefix = event.key === "ArrowRight" ? "Reveal next step" : event.key === "ArrowLeft" ? "Back one step" : null;
  if (!prefix) return;
  const button = [...doc.querySelectorAll("button")].find((b) => b.innerText.includes(prefix));
  if (button && !button.disabled) { event.preventDefault(); button.click(); }
};
doc.addEventListener("keydown", doc.mlpLabKeys);
document.addEventListener("keydown", doc.mlpLabKeys);  // and when this little frame has the focus
</script>
"""


def presenter_on():
    """Whether presenter mode is on for this session (``?present=1`` turns it on, ``?present=0`` off)."""
    asked = st.query_params.get("present")
    if asked is not None:
        st.session_state[CLASS_PRESENT] = asked == "1"
        del st.query_params["present"]  # taken once: the session keeps it, and the switch can turn it off
    return bool(st.session_state.get(CLASS_PRESENT))


def presenter_mode():
    """Call once per script run from app.py, before the page: the sidebar switch; the styles and keys when on."""
    presenter_on()
    st.sidebar.toggle("Presenter mode", key=CLASS_PRESENT,
                      help="For a projector: no sidebar, larger text, → and ← step through the math pages.")
    if st.session_state.get(CLASS_PRESENT):
        st.markdown(CSS, unsafe_allow_html=True)
        st.iframe(KEYS_JS, height=1)


def _leave():
    st.session_state[CLASS_PRESENT] = False


def exit_button():
    """Call after the page: in presenter mode (no sidebar) the way back, at the bottom of the page."""
    if st.session_state.get(CLASS_PRESENT):
        st.button("Leave presenter mode", key="present_exit", on_click=_leave, icon=":material/close_fullscreen:")
