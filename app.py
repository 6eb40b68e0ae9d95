"""Entry point: ``streamlit run app.py``. A pure router; each page is one file in pages/."""

from pathlib import Path

import streamlit as st

from ui.present import exit_button, presenter_mode
from ui.worker import worker_notice

ICON = Path(__file__).resolve().parent / "data" / "icon.png"  # a letter A of the embedded set, served locally
st.set_page_config(page_title="MLP lab: notMNIST from scratch", page_icon=str(ICON), layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/softmax.py", title="Softmax and cross-entropy", icon=":material/function:"),
    st.Page("pages/backprop.py", title="Backpropagation", icon=":material/account_tree:"),
    st.Page("pages/exercises.py", title="Exercises", icon=":material/edit_note:"),
    st.Page("pages/train.py", title="Training", icon=":material/model_training:"),
    st.Page("pages/sweep.py", title="Sweep", icon=":material/stacked_line_chart:"),
    st.Page("pages/inspect.py", title="Inspection", icon=":material/image_search:"),
    st.Page("pages/class_page.py", title="Class", icon=":material/groups:", url_path="class"),
]

page = st.navigation(PAGES)
worker_notice()  # only under scripts/classroom.sh: a tab that lost its worker is told
presenter_mode()  # ?present=1 or the sidebar's switch: for a projector
try:
    page.run()
finally:  # a page that fails still leaves the way out of presenter mode
    exit_button()
