"""Every budget the lab enforces on what users give it, in one place.

Each limit is checked *before* memory is allocated or pixels are decoded, and
the message of each refusal names the limit (as ``mlp.limits.NAME``) and what
the file had. The README lists them (section "Limits"). Files that the
server's owner puts in the data folder (and paths given to the command line)
get the ``MAX_OWNER_*`` limits instead of the ``MAX_UPLOAD_*`` ones.
Limits are read when a file is checked, so a test may lower one with
``monkeypatch.setattr(mlp.limits, NAME, value)``.
"""

# --- data sets (mlp.data): uploads ---------------------------------------------------------------------------------
MAX_FILE_BYTES = 200 * 2**20  # an uploaded file, as sent (Streamlit's upload limit too)
MAX_UPLOAD_IMAGES = 600_000  # images in an uploaded .npz (the large notMNIST has ~530,000); 600,000 x 784 B = 449 MiB
MAX_UPLOAD_DECODED_BYTES = 512 * 2**20  # all arrays of an uploaded .npz as they will sit in memory (uint8 images fit)
MAX_UPLOAD_TAR_IMAGES = 25_000  # PNGs decoded from an uploaded .tar(.gz) (notMNIST_small has 18,724; 0.2-0.5 ms each)
MAX_UPLOAD_TAR_MEMBERS = 30_000  # headers in an uploaded tar: files, folders, long-name and pax headers all count
MAX_EXPANDED_BYTES = 256 * 2**20  # bytes an uploaded tar may inflate to (notMNIST_small's tar is about 50 MB)

# --- data sets: files in the data folder (put there by the server's owner) and command-line paths -------------------
MAX_OWNER_FILE_BYTES = 2 * 2**30  # one data file on disk
MAX_OWNER_IMAGES = 1_000_000  # images in one data set, any format (1,000,000 x 784 B = 748 MiB)
MAX_OWNER_DECODED_BYTES = 1 * 2**30  # all arrays of a .npz in the data folder, decoded
MAX_OWNER_TAR_MEMBERS = 1_100_000  # headers in a tar in the data folder
MAX_OWNER_EXPANDED_BYTES = 4 * 2**30  # bytes a tar.gz in the data folder may inflate to

# --- inside any data file -------------------------------------------------------------------------------------------
MIN_IMAGES = 20  # fewer cannot be split and trained on
MAX_NPZ_MEMBERS = 64  # arrays in one .npz (a data set needs 2, a paused run 16)
MAX_ZIP_DIRECTORY_BYTES = 1 * 2**20  # the zip's central directory, read before zipfile parses it
MAX_COMPRESSION_RATIO = 100  # decoded / compressed bytes of one zip member larger than RATIO_CHECK_BYTES
RATIO_CHECK_BYTES = 1 * 2**20  # smaller members may compress better (a blank array, a short string)
MAX_ARRAY_ITEMSIZE = 8  # bytes per number in an array (float128, complex256 and wider are refused)
MAX_PNG_BYTES = 1 * 2**20  # one PNG member or file (a notMNIST PNG is about 1 KB)
MAX_TAR_SKIPPED = 1_000  # PNG members left out (empty, not a PNG, not 28x28, damaged) before the file is refused
MAX_TAR_HEADER_BYTES = 64 * 2**10  # one GNU long-name/long-link or pax header's text
MAX_TAR_HEADERS_TOTAL = 16 * 2**20  # all long-name/long-link/pax header text of one archive

# --- models and paused runs (mlp.model_io) --------------------------------------------------------------------------
MAX_MODEL_FILE_BYTES = 64 * 2**20  # a model file (784-2048-10 float64 with its velocities is about 26 MB)
MAX_MODEL_DECODED_BYTES = 128 * 2**20  # all arrays of a model file as decoded
MAX_HIDDEN = 2048  # hidden units H (the training page's slider goes to 2048)
MAX_MODEL_INPUTS = 784  # inputs F: a 28x28 letter
MAX_MODEL_CLASSES = 10  # outputs K: the letters A..J
MAX_HISTORY_EPOCHS = 10_000  # epochs in a model's history (and a run's planned epochs)
MAX_HYPER_CHARS = 1_000  # the hyperparameters' JSON text
MAX_RNG_STATE_CHARS = 1_000  # a paused run's generator state (JSON text)
MAX_LEARNING_RATE = 1_000.0  # a model's learning rate; it must also be > 0
MAX_SEED = 2**32 - 1  # seeds are 0 .. 2**32 - 1 (numpy's RandomState)
MAX_SNAPSHOTS = 20  # weight snapshots a run keeps (mlp.health.snapshot_epochs), and a model file may hold
SNAPSHOT_BYTES = 16 * 2**20  # their float32 bytes per run: 20 of a 784-256-10 network fit, 2 of a 784-2048-10

# --- your own letter (lab.your_letter) -----------------------------------------------------------------------------
MAX_LETTER_BYTES = 20 * 2**20  # a photo of a letter needs far less
MAX_LETTER_PIXELS = 4000 * 3000  # width x height from the header, before decoding: the worst (RGBA PNG) costs ~100 MB
MAX_LETTER_ASPECT = 50  # longest side / shortest side (a 1 x 40,000,000 strip is refused)

# --- a session's run history (ui.training) -------------------------------------------------------------------------
MAX_RUNS = 20  # runs kept in a session's history

# --- the class store (lab.class_store) -----------------------------------------------------------------------------
MAX_CLASS_NAME_CHARS = 40  # a student's display name
MAX_CLASS_TITLE_CHARS = 100  # an experiment's title
MAX_CLASS_QUESTION_CHARS = 400  # an experiment's question to the class
MAX_STORED_RUNS_PER_STUDENT = 100  # runs a student may keep in the class database
MAX_STORED_CODE_CHARS = 20_000  # one exercise's code kept for a student (the report's backpropagation is ~1,000)
MAX_STORED_WEIGHT_BYTES_PER_STUDENT = 64 * 2**20  # model files a student may keep there (a Quick demo's is ~0.8 MiB)

# --- server: memory of the whole server process (lab.budget) ------------------------------------------------------
MEMORY_BUDGET_FRACTION = 0.5  # of the machine's memory (MemTotal or a lower cgroup limit); MLP_LAB_MEMORY_BUDGET wins
MEMORY_BUDGET_FALLBACK = 4 * 2**30  # the budget when /proc/meminfo cannot be read
MAX_CACHED_UPLOAD_BYTES = 1 * 2**30  # decoded uploaded data sets held for all sessions (images + split)
