"""Make every page go through app.py's router, even on a server's very first request.

Streamlit 1.67 treats an app with a ``pages/`` folder as an old-style
multipage app until ``st.navigation`` has run once in the server process. A
deep link such as ``/softmax`` opened first on a fresh server would then run
``pages/softmax.py`` on its own: no page config, file names in the sidebar.
Each page calls ``ensure_router()`` first; in that one situation it switches
the server to ``st.navigation`` mode and reruns, so app.py routes the request.
"""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def ensure_router():
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
