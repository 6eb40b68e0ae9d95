"""Every st.session_state key of the app, as a named constant (a page's keys share its prefix)."""

# --- the training page (all prefixed "train_")
SETTINGS = "train_settings"  # Hyper: the page's settings (outlives the widgets when the user visits other pages)
LIVE = "train_live"  # LiveRun or None
START = "train_start_request"  # (mode, Hyper) a Train or Step click asked for, until the script body starts it
RUNS = "train_runs"  # list[RunRecord]
NEXT_ID = "train_next_id"
NOTICE = "train_notice"  # (kind, text) shown above the live view until the next run starts
URL_NOTES = "train_url_notes"  # notes about the link's settings, shown once
BATCH_MEMORY = "train_batch_memory"  # the mini-batch size, remembered while "Full batch" is on
LOADED_FILE = "train_loaded_file"  # file_id of the model upload already taken in
OVERLAY = "train_overlay"  # the overlay multiselect's key
OVERLAY_ADD = "train_overlay_add"  # runs to add to the overlay when it is next drawn
CHART_CACHE = "train_chart_cache"  # {quantity: ((run, epochs done), spec)} of the live charts
HEALTH_CACHE = "train_health_cache"  # ((run, health epochs), [spec, spec, spec]) of the gradient-health row
PENDING = "train_pending"  # list[RunRecord] waiting for a place in a full history (the user chooses)
PENDING_DROP = "train_pending_drop"  # the selectbox: which run to remove to make room
DELETED = "train_deleted"  # (index, RunRecord) of the last deleted run, for Undo
REPLACED = "train_replaced"  # (CurrentModel or None, its name): the current model a loaded one replaced
W = {name: f"train_w_{name}" for name in ("hidden", "lr", "momentum", "epochs", "full", "batch", "seed", "dtype")}


# --- the inspection page (widget keys keep their section's prefix: wg_ weight grid, mg_ mistakes gallery,
#     cm_ confusion matrix, yl_ your letter)
INSPECT_PART = "inspect_part"  # radio: the validation or the test letters are evaluated
INSPECT_MODEL_UPLOAD = "inspect_model_upload"  # the sidebar's model file uploader
INSPECT_MODEL_CHOICE = "inspect_model_choice"  # radio: this session's model or the shipped one
INSPECT_MODEL_FILE = "inspect_model_file"  # ui.inspect_view.UploadMemo: the last model file read (digest, refusal)
WG_ORDER = "wg_order"  # radio: order the units by index, norm or vote for a letter
WG_LETTER = "wg_letter"  # selectbox: the letter of that vote
WG_SCALE = "wg_scale"  # radio: each unit its own colour scale, or one for all
WG_PAGE = "wg_page"  # number_input: the grid's page (1-based)
WG_PREV = "wg_prev"  # button
WG_NEXT = "wg_next"  # button
WG_UNIT = "wg_unit"  # selectbox: the unit looked at closer
WG_EPOCH = "wg_epoch"  # select_slider: the epoch of the weight snapshot shown (disabled while Play plays)
WG_SHOWN = "wg_shown"  # int: the epoch of the weight snapshot shown (Play moves it; the slider follows it)
WG_PLAYING = "wg_playing"  # bool: Play is stepping the slider through the snapshots
WG_PLAY = "wg_play"  # button: Play / Pause (one key, its label changes)
WG_DRAWN = "wg_drawn"  # int: the last epoch whose grid and unit detail were drawn to the end (Play waits for it)
WG_PLAYED_AT = "wg_played_at"  # time.monotonic() of Play's last step (a step at most every PLAY_SECONDS)
WG_CHANGE = "wg_change"  # toggle: the change since the start W - W0 instead of the weights W
MG_TRUE = "mg_true"  # selectbox: the mistakes' true letter ("any")
MG_PRED = "mg_pred"  # selectbox: what they were read as ("any")
MG_LIMIT = "mg_limit"  # selectbox: how many mistakes are shown
CM_MODE = "cm_mode"  # radio: counts or row-normalised
CM_TRUE = "cm_true"  # selectbox: the chosen cell's true letter
CM_PRED = "cm_pred"  # selectbox: the chosen cell's predicted letter
CM_SEEN = "cm_seen"  # the heatmap click already taken in (so a cell can be clicked again)
CM_EPOCH = "cm_epoch"  # int, raised when the pickers move: a new heatmap key drops the browser's last click
CM_CHART = "cm_chart_{}"  # the heatmap's key, .format(the CM_EPOCH value)
YL_UPLOAD = "yl_upload"  # the letter image uploader
YL_PREPARED = "yl_prepared"  # ui.inspect_view.UploadMemo: the prepared letter (or refusal) by the SHA-256 of its bytes


# --- the class store and the Class page (all prefixed "class_")
CLASS_TOKEN = "class_token"  # this browser's student token (from the cookie, or made when joining)
CLASS_SET_COOKIE = "class_set_cookie"  # {cookie name: value} to write into the browser at the next draw
CLASS_CODE = "class_code"  # the experiment this session joined (from ?class=CODE)
CLASS_OUTBOX = "class_outbox"  # [(run payload, experiment code)] not yet written to the database
CLASS_MESSAGES = "class_messages"  # [(kind, text)] of the store, shown once
CLASS_SESSION_UID = "class_session_uid"  # a random id of this session: with the run number, a run's uid
CLASS_TEACHER = "class_teacher"  # {code: teacher key} of the experiments this session may run
CLASS_APPLIED = "class_applied"  # the experiment code whose settings the Training page took already
CLASS_SHOW_KEY = "class_show_key"  # (code, teacher key) shown once after creating an experiment
CLASS_PRESENT = "class_present"  # the presenter-mode toggle
