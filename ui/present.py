"""Presenter mode, for a projector: no sidebar, larger text and numbers, keyboard steps on the math pages.

On with ``?present=1`` in the link or the switch at the bottom of the sidebar; it stays on for the
session. → reveals the next step of a math page's derivation and ← goes back one: ``ui.reveal`` gives its
"Reveal next step" and "Back one step" buttons Streamlit's own keyboard shortcuts (``st.button(shortcut=...)``)
while ``presenting()``. Streamlit binds a shortcut while its button is drawn and enabled and unbinds it when
the button goes (so handlers never pile up), and skips key presses typed in an input, textarea, select or
contenteditable element.
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
[data-testid="stMetricValue"], [data-testid="stMetricValue"] p { font-size: 2.6rem !important; line-height: 1.2; }
[data-testid="stMetricLabel"] p { font-size: 1.1rem !important; }
/* Charts draw their text in px: zoomed by 1.25, laid out at 80 % of their box so that they still fill it */
[data-testid="stVegaLiteChart"] { zoom: 1.25; width: 80% !important; }
.katex { font-size: 1.25em !important; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.05rem; }
h1 { font-size: 2.3rem !important; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { font-size: 0.95rem !important; }
[data-testid="stMain"] input, [data-testid="stMain"] textarea { font-size: 1rem !important; }
[data-testid="stSliderThumbValue"], [data-testid="stSliderThumbValue"] p { font-size: 1rem !important; }
/* A label too wide for its button wraps onto a second line instead of ending in "…" */
[data-testid="stMain"] button { height: auto !important; }
[data-testid="stMain"] button *:not([data-testid="stIconMaterial"]) {
  white-space: normal !important; text-overflow: clip !important; overflow: visible !important;
}
</style>
"""


def presenting():
    """Whether presenter mode is on (without reading the link: ``presenter_mode`` has taken ``?present=`` already)."""
    return bool(st.session_state.get(CLASS_PRESENT))


def presenter_on():
    """Whether presenter mode is on for this session (``?present=1`` turns it on, ``?present=0`` off)."""
    asked = st.query_params.get("present")
    if asked is not None:
        st.session_state[CLASS_PRESENT] = asked == "1"
        del st.query_params["present"]  # taken once: the session keeps it, and the switch can turn it off
    return presenting()


def presenter_mode():
    """Call once per script run from app.py, before the page: the sidebar switch, and the styles when on."""
    presenter_on()
    st.sidebar.toggle("Presenter mode", key=CLASS_PRESENT,
                      help="For a projector: no sidebar, larger text, → and ← step through the math pages.")
    if presenting():
        st.markdown(CSS, unsafe_allow_html=True)


def _leave():
    st.session_state[CLASS_PRESENT] = False


def exit_button():
    """Call after the page: in presenter mode (no sidebar) the way back, at the bottom of the page."""
    if st.session_state.get(CLASS_PRESENT):
        st.button("Leave presenter mode", key="present_exit", on_click=_leave, icon=":material/close_fullscreen:")
