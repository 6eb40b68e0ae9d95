"""Every budget the lab enforces on what users give it, in one place.

Each limit is checked *before* memory is allocated or pixels are decoded, and
the message of each refusal names the limit and what the file had. The README
lists them (section "Limits"). Files that the server's owner drops into the
data folder may exceed the upload limits marked so below.
"""

# --- data sets (mlp.data) --------------------------------------------------------------------------------------
MAX_FILE_BYTES = 200 * 2**20  # an upload or archive on disk (Streamlit's upload limit too)
MAX_EXPANDED_BYTES = 1 * 2**30  # what an archive may expand to
MAX_PNG_BYTES = 1 * 2**20  # one notMNIST PNG is about 1 KB
MIN_IMAGES = 20  # fewer cannot be split and trained on

# --- your own letter (lab.your_letter) -----------------------------------------------------------------------------
MAX_LETTER_BYTES = 20 * 2**20  # a photo of a letter needs far less
MAX_LETTER_PIXELS = 40_000_000  # width x height before decoding; more is refused as a possible decompression bomb

# --- a session's run history (ui.training) -------------------------------------------------------------------------
MAX_RUNS = 20  # runs kept in a session's history
