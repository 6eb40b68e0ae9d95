"""Training: pick hyperparameters, train in the browser, watch the curves, pause, compare runs."""

import streamlit as st

from ui import class_session as cls
from ui import keys
from ui import train_history as th
from ui import train_settings as ts
from ui import training as tr
from ui.data_source import page_split
from ui.router import ensure_router
from ui.text import plain

ensure_router()  # a shared link opened first on a fresh server still goes through app.py

st.title("Train the network")
st.caption("A 784-H-10 ReLU + softmax network trained by gradient descent with momentum, in short turns "
           "shared fairly with the other runs on the server, so every button answers at once.")

data_key, dataset, split = page_split()  # stops the page when there is no data set

n_train = len(split.y_train)
experiment = cls.take_experiment_settings()  # a joined class experiment's settings, taken once
ts.init_settings(n_train)
tr.settle()  # a run that ended in a replaced script thread goes to the history now
tr.begin_requested_run(data_key, dataset.name, split)  # the run a Train or Step click asked for
cls.save_new_runs()  # every ended run is written to the class database (or kept until it can be)
live = st.session_state.get(keys.LIVE)
busy = live is not None

# The buttons come first: nothing above them appears or disappears when a run starts or ends, so
# they stay where the pointer is (a button that moves between press and release loses the click).
tr.controls()
tr.show_notice()
cls.training_banner(experiment)  # below the buttons: nothing above them may change between runs
cls.show_messages()
th.pending_panel()
if busy:  # the run keeps its settings: the widgets step aside so the curves fit on the screen
    hyper = st.session_state[keys.SETTINGS]
else:
    ts.show_url_notes()
    ts.preset_buttons(n_train)
    hyper = ts.settings_widgets(n_train)
    st.caption(f"Data: **{plain(dataset.name)}**, {n_train:,} training, {len(split.y_valid):,} validation and "
               f"{len(split.y_test):,} test images.")
ts.sync_url(hyper)
tr.live_panel()
th.last_run_panel()
th.history_panel()
th.load_panel(data_key, dataset.name, split)
cls.remember_in_browser()
