"""Every st.session_state key of the app, as a named constant (a page's keys share its prefix)."""

# --- the training page (all prefixed "train_")
SETTINGS = "train_settings"  # Hyper: the page's settings (outlives the widgets when the user visits other pages)
LIVE = "train_live"  # LiveRun or None
RUNS = "train_runs"  # list[RunRecord]
NEXT_ID = "train_next_id"
NOTICE = "train_notice"  # (kind, text) shown above the live view until the next run starts
URL_NOTES = "train_url_notes"  # notes about the link's settings, shown once
BATCH_MEMORY = "train_batch_memory"  # the mini-batch size, remembered while "Full batch" is on
LOADED_FILE = "train_loaded_file"  # file_id of the model upload already taken in
OVERLAY = "train_overlay"  # the overlay multiselect's key
OVERLAY_ADD = "train_overlay_add"  # runs to add to the overlay when it is next drawn
CHART_CACHE = "train_chart_cache"  # {quantity: ((run, epochs done), spec)} of the live charts
PENDING = "train_pending"  # list[RunRecord] waiting for a place in a full history (the user chooses)
PENDING_DROP = "train_pending_drop"  # the selectbox: which run to remove to make room
DELETED = "train_deleted"  # (index, RunRecord) of the last deleted run, for Undo
REPLACED = "train_replaced"  # (CurrentModel or None, its name): the current model a loaded one replaced
W = {name: f"train_w_{name}" for name in ("hidden", "lr", "momentum", "epochs", "full", "batch", "seed", "dtype")}

