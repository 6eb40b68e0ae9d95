"""lab.settings: the settings' ranges, the learning-rate grid, and links that share the settings.

A link is text anyone can write: besides the round trip, a property-style loop
feeds every field hundreds of generated strings (non-finite and huge numbers,
words, markdown, LaTeX, very long text) and checks that nothing raises, that
every refused value is named in a short note, and that the settings written
back into the URL read cleanly (a reload does not meet the bad value again).
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers import blob_letters
from streamlit.testing.v1 import AppTest

from lab.settings import (
    FIELDS,
    LR_GRID,
    MAX_TEXT,
    QUERY_KEYS,
    SHOWN_CHARS,
    clamp_batch,
    first,
    fit_hyper,
    hyper_from_query,
    hyper_to_query,
    snap_lr,
)
from mlp.train import PRESETS, Hyper

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "train.py")

# --- learning rates, batch sizes -------------------------------------------------


def test_lr_grid_is_log_spaced_from_1e4_to_1():
    assert LR_GRID[0] == 1e-4 and LR_GRID[-1] == 1.0
    assert list(LR_GRID) == sorted(set(LR_GRID))
    assert {0.1, 0.01, 0.001, 0.03, 0.5} <= set(LR_GRID)
    ratios = np.diff(np.log10(LR_GRID))
    assert ratios.max() < 0.25  # at most a factor 1.8 between neighbours


@pytest.mark.parametrize("lr, expected", [(0.1, 0.1), (0.04, 0.05), (0.035, 0.03), (5.0, 1.0), (1e-6, 1e-4),
                                          (0.0011, 0.001)])
def test_snap_lr(lr, expected):
    assert snap_lr(lr) == pytest.approx(expected)


def test_clamp_batch():
    assert clamp_batch(None, 100) is None
    assert clamp_batch(4, 100) == 16
    assert clamp_batch(500, 100) == 100
    assert clamp_batch(64, 100) == 64


def test_the_table_names_every_url_key_once():
    assert QUERY_KEYS == ("hidden", "lr", "momentum", "epochs", "batch", "seed", "dtype", "init")
    assert {f.attr for f in FIELDS} == {"hidden", "lr", "momentum", "epochs", "batch_size", "seed", "dtype", "init"}


# --- URL settings ---------------------------------------------------------------


@pytest.mark.parametrize("hyper", [
    PRESETS["assignment"], PRESETS["quick"],
    Hyper(hidden=1, lr=1e-4, momentum=0.0, epochs=1, batch_size=16, seed=0, dtype="float64"),
    Hyper(hidden=2048, lr=1.0, momentum=0.99, epochs=500, batch_size=None, seed=2**32 - 1, dtype="float32"),
])
def test_query_round_trip(hyper):
    query = hyper_to_query(hyper)
    assert set(query) == set(QUERY_KEYS)
    assert all(isinstance(v, str) for v in query.values())
    back, notes = hyper_from_query(query, Hyper(hidden=5, lr=0.3, epochs=7), n_train=10000)
    assert url_fields(back) == url_fields(hyper) and notes == []


def url_fields(hyper):
    """The settings a link carries (a Hyper may hold more, e.g. how its weights are drawn)."""
    return {f.attr: getattr(hyper, f.attr) for f in FIELDS}


def test_query_missing_keys_keep_the_default():
    default = PRESETS["quick"]
    back, notes = hyper_from_query({"lr": "0.01"}, default, n_train=10000)
    assert back == replace(default, lr=0.01) and notes == []
    assert hyper_from_query({}, default) == (default, [])


def test_query_bad_values_are_explained_and_ignored():
    default = PRESETS["quick"]
    query = {"hidden": "lots", "lr": "nan", "dtype": "float16", "batch": "x", "seed": "7"}
    back, notes = hyper_from_query(query, default, n_train=10000)
    assert back == replace(default, seed=7)
    assert len(notes) == 4
    text = " ".join(notes)
    assert "hidden='lots' is not a number" in text and "dtype='float16'" in text
    assert "lr='nan' is not a finite number" in text and f"kept {default.hidden}" in text


def test_query_values_are_clamped_and_snapped():
    default = PRESETS["quick"]
    query = {"hidden": "5000", "lr": "0.04", "momentum": "1.5", "epochs": "0", "batch": "100000", "seed": "-3"}
    back, notes = hyper_from_query(query, default, n_train=1000)
    assert back.hidden == 2048 and back.lr == 0.05 and back.momentum == 0.99 and back.epochs == 1
    assert back.batch_size == 1000 and back.seed == 0
    assert len(notes) == 6
    assert "hidden='5000' is outside 1 to 2048; using 2048" in notes[0]
    assert hyper_from_query({"batch": "4"}, default, n_train=1000)[0].batch_size == 16
    assert hyper_from_query({"batch": "full"}, default)[0].batch_size is None
    assert hyper_from_query({"hidden": "3.6"}, default)[0].hidden == 4  # the nearest whole number, with a note


def test_a_repeated_key_uses_its_first_value():
    default = PRESETS["quick"]
    assert hyper_from_query({"hidden": ["3", "9"]}, default)[0].hidden == 3
    assert first(["a", "b"]) == "a" and first([]) == "" and first("x") == "x"
    back, notes = hyper_from_query({"hidden": []}, default)
    assert back == default and "hidden='' is empty" in notes[0]


def test_fit_hyper_fits_the_widgets():
    wild = Hyper(hidden=99999, lr=0.04, momentum=0.957, epochs=9999, batch_size=3, seed=-5, dtype="float64")
    fitted = fit_hyper(wild, 500)
    assert fitted == Hyper(hidden=2048, lr=0.05, momentum=0.96, epochs=500, batch_size=16, seed=0, dtype="float64")
    assert fit_hyper(PRESETS["assignment"], 10000) == PRESETS["assignment"]


# --- hostile values: a property-style loop ------------------------------------------

HOSTILE = [
    "inf", "-inf", "+inf", "Infinity", "-Infinity", "nan", "NaN", "-nan", "1e400", "-1e400", "1e308", "-1e308",
    "1e-400", "9" * 400, "-" + "9" * 400, "1" * 5000, "1" + "0" * 400 + "e-400", "", " ", "\t\n", "abc", "0x10",
    "1e", "--1", "1/2", "½", "٣", "1_000", "0" * 60 + "7", "[claim your grade here](https://example.com)",
    "![t](http://127.0.0.2/x.png)", "<http://x>", "www.x.com", "$x$", "$$\\int$$", ":red[x]", ":material/home:",
    ":smile:", "<img src=x onerror=alert(1)>", "# heading", "\x00", "\n\n# h", "full", "FULL", "None", "float16",
    " float32 ", "float64\x00", "x" * 100_000, "🙂" * 50, "1e5", "-0", "0.000000001", "1.5e9", "4294967296",
]


def generated(n=400, seed=0):
    """``n`` strings of numeric-looking and other characters, 0 to 90 long (seeded)."""
    rng = random.Random(seed)
    alphabet = "0123456789.eE+-_ infINFaN[]()!$:*#<>/\\`~\"'%&;\u00a0\u200b½٣🙂"
    return [''.join(rng.choice(alphabet) for _ in range(rng.randint(0, 90))) for _ in range(n)]


def check_one(key, text, default, n_train):
    hyper, notes = hyper_from_query({key: text}, default, n_train)
    assert fit_hyper(hyper, n_train) == hyper  # every setting within the page's ranges
    assert all(math.isfinite(v) for v in (hyper.hidden, hyper.lr, hyper.momentum, hyper.epochs, hyper.seed))
    for note in notes:
        assert note.startswith(f"the link's {key}='") and len(note) < 120 + SHOWN_CHARS
    attr = dict((f.key, f.attr) for f in FIELDS)[key]
    if getattr(hyper, attr) != getattr(default, attr) or not notes:
        value = first(text).strip()  # used: the text was a setting
        assert len(value) <= MAX_TEXT and (value in ("float32", "float64") or value.lower() in ("full", "none")
                                           or math.isfinite(float(value)))
    again, notes_again = hyper_from_query(hyper_to_query(hyper), default, n_train)
    assert again == hyper and notes_again == []  # the URL written back reads cleanly


@pytest.mark.parametrize("key", QUERY_KEYS)
def test_hostile_values_never_raise_and_are_named(key):
    default = PRESETS["quick"]
    for text in HOSTILE + generated():
        check_one(key, text, default, n_train=1000)
        check_one(key, [text, "7"], default, n_train=None)


def test_a_refused_value_is_quoted_short():
    _, notes = hyper_from_query({"dtype": "[claim your grade here](https://example.com)" * 3}, PRESETS["quick"])
    assert len(notes) == 1 and "dtype=" in notes[0] and "is 132 characters long" in notes[0]
    _, notes = hyper_from_query({"dtype": "[claim your grade here](https://example.com)"}, PRESETS["quick"])
    quoted = notes[0].split("=", 1)[1].split("' ")[0]
    assert len(quoted) == SHOWN_CHARS + 1 and quoted.endswith("…")


# --- the same through the page (AppTest) ------------------------------------------------


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    images, labels = blob_letters(400)  # 214 training images: the Quick demo batch of 128 fits
    np.savez(tmp_path / "letters.npz", images=images, labels=labels)
    monkeypatch.setenv("MLP_LAB_DATA_DIR", str(tmp_path))
    return tmp_path


def page_with(query):
    at = AppTest.from_file(PAGE, default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


PAGE_CASES = [
    {"hidden": "inf"}, {"hidden": "1e400"}, {"epochs": "1e400"}, {"batch": "inf"}, {"seed": "-1e400"},
    {"lr": "nan", "momentum": "-inf"}, {"hidden": "9" * 400}, {"seed": ""}, {"epochs": "x" * 5000},
    {"dtype": "[claim your grade here](https://example.com)![t](http://127.0.0.2/x.png)"},
    {"hidden": ["inf", "64"]}, {"momentum": "$\\frac{1}{0}$", "lr": ":red[0.1]"},
]


@pytest.mark.parametrize("query", PAGE_CASES, ids=lambda q: ",".join(q)[:30])
def test_hostile_links_on_the_page_are_refused_and_cleaned(data_dir, query):
    at = page_with(query)
    assert not at.exception, [e.value for e in at.exception]
    warning = " ".join(w.value for w in at.warning)
    for key in query:
        assert f"the link\\'s {key}\\=" in warning  # named, and escaped for markdown
    clean = hyper_to_query(at.session_state["train_settings"])
    assert {k: at.query_params[k] for k in QUERY_KEYS} == clean  # the URL now holds the clean settings
    reloaded = page_with(dict(at.query_params))  # a reload of the cleaned link: no note, no error
    assert not reloaded.exception and not reloaded.warning
    assert reloaded.session_state["train_settings"] == at.session_state["train_settings"]


def test_the_assignment_presets_weight_stream_goes_through_the_link():
    query = hyper_to_query(PRESETS["assignment"])
    assert query["init"] == "report"
    hyper, notes = hyper_from_query(query, PRESETS["quick"], 10000)
    assert hyper == PRESETS["assignment"] and notes == []
    hyper, notes = hyper_from_query({"init": "global"}, PRESETS["quick"], 10000)
    assert hyper.init == "seed" and notes and "init" in notes[0]
