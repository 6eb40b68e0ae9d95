"""The sidebar data-set picker: which set is in use, uploads accepted or refused."""

import io
from pathlib import Path

import numpy as np
import pytest
from helpers import blob_letters
from streamlit.testing.v1 import AppTest

HOME = str(Path(__file__).resolve().parent.parent / "pages" / "home.py")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    images, labels = blob_letters(120)
    np.savez_compressed(tmp_path / "letters.npz", images=images, labels=labels)
    monkeypatch.setenv("MLP_LAB_DATA_DIR", str(tmp_path))
    return tmp_path


def caption_text(at):
    return " ".join(c.value for c in at.sidebar.caption)


def test_embedded_set_is_used_by_default(data_dir):
    at = AppTest.from_file(HOME, default_timeout=30).run()
    assert not at.exception
    assert "In use: **letters\\.npz**: 120 images" in caption_text(at)
    assert at.sidebar.selectbox[0].options == ["Embedded letters (letters.npz)"]


def test_real_file_in_data_dir_comes_first(data_dir):
    images, labels = blob_letters(60, seed=1)
    np.savez(data_dir / "notMNIST.npz", images=images, labels=labels)
    at = AppTest.from_file(HOME, default_timeout=30).run()
    assert "In use: **notMNIST\\.npz**: 60 images" in caption_text(at)
    at.sidebar.selectbox[0].select("Embedded letters (letters.npz)").run()
    assert "In use: **letters\\.npz**: 120 images" in caption_text(at)


def test_no_data_set_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("MLP_LAB_DATA_DIR", str(tmp_path))
    at = AppTest.from_file(HOME, default_timeout=30).run()
    assert not at.exception
    assert any("no data set" in e.value for e in at.error)


def npz_upload(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_upload_of_a_valid_set_is_used(data_dir):
    at = AppTest.from_file(HOME, default_timeout=30).run()
    images, labels = blob_letters(80, seed=2)
    upload(at, "mine.npz", npz_upload(images=images, labels=labels))
    assert not at.exception
    assert "In use: **mine\\.npz**: 80 images" in caption_text(at)
    assert at.sidebar.selectbox[0].value == "Uploaded (mine.npz)"
    at.sidebar.selectbox[0].select("Embedded letters (letters.npz)").run()  # can switch back
    assert "In use: **letters\\.npz**: 120 images" in caption_text(at)


@pytest.mark.parametrize(
    "content,message",
    [
        (npz_upload(images=np.zeros((30, 28, 28), np.uint8), labels=np.full(30, 12)), "labels range from 12 to 12"),
        (b"\x80\x04\x95 pickled", "pickle"),
        (b"", "empty"),
        (b"PK\x03\x04 truncated", "damaged"),
    ],
)
def test_bad_upload_is_refused_and_the_session_goes_on(data_dir, content, message):
    at = AppTest.from_file(HOME, default_timeout=30).run()
    at.sidebar.get("file_uploader")[0].set_value(("bad.npz", content, "application/octet-stream"))
    at.run()
    assert not at.exception
    errors = " ".join(e.value for e in at.sidebar.error)
    assert "The upload was refused" in errors and message in errors
    assert "In use: **letters\\.npz**: 120 images" in caption_text(at)
    at.run()  # still working on the next rerun
    assert "In use: **letters\\.npz**" in caption_text(at)


def test_home_shows_a_sample_grid_of_the_set_in_use(data_dir):
    at = AppTest.from_file(HOME, default_timeout=30).run()
    assert not at.exception
    assert len(at.get("image")) == 1
    counts = np.bincount(blob_letters(120)[1], minlength=10)
    assert [m.value for m in at.metric] == ["120", "A to J", f"{counts.min()} to {counts.max()}"]


# --- sessions cannot touch each other (caches keyed by content) -------------------------------------------------


def record_grids(monkeypatch):
    """A list that receives every picture the Home page draws with st.image (the sample grid)."""
    import streamlit

    shown, real = [], streamlit.image
    monkeypatch.setattr(streamlit, "image", lambda img, *a, **k: shown.append(np.array(img)) or real(img, *a, **k))
    return shown


def assert_grid_shows(grid, images, labels, per_letter=12):
    """Each tile of the Home grid (one row per letter, 2x enlarged, 1-pixel frame) is that letter's next image."""
    for k in range(10):
        mine = images[labels == k][:per_letter]
        for j, img in enumerate(mine):
            tile = grid[k * 60 : (k + 1) * 60, j * 60 : (j + 1) * 60]
            assert np.array_equal(tile[2:58:2, 2:58:2], img), (k, j)


def upload(at, name, content):
    at.sidebar.get("file_uploader")[0].set_value((name, content, "application/octet-stream"))
    return at.run()


def test_two_sessions_with_same_name_and_size_see_their_own_letters(data_dir, monkeypatch):
    shown = record_grids(monkeypatch)
    sets = [blob_letters(100, seed=s) for s in (11, 12)]
    files = [npz_upload(images=i, labels=lab) for i, lab in sets]
    assert len(files[0]) == len(files[1]) and files[0] != files[1]
    sessions = [AppTest.from_file(HOME, default_timeout=30).run() for _ in sets]
    for at, content in zip(sessions, files):
        upload(at, "notMNIST.npz", content)
    for at, (images, labels) in zip(sessions, sets):
        shown.clear()
        at.run()
        assert not at.exception and "In use: **notMNIST\\.npz**: 100 images" in caption_text(at)
        assert_grid_shows(shown[-1], images, labels)


def test_a_look_alike_of_the_shipped_set_never_shows_to_a_new_visitor(data_dir, monkeypatch):
    """The old attack: filler uploads push the shipped set's entry out, then a different letters.npz of 120 images."""
    shown = record_grids(monkeypatch)
    shipped = np.load(data_dir / "letters.npz")
    fake_images = 255 - shipped["images"]
    fake = npz_upload(images=fake_images, labels=shipped["labels"])
    attacker = AppTest.from_file(HOME, default_timeout=30).run()
    for seed in range(4):
        images, labels = blob_letters(60, seed=20 + seed)
        upload(attacker, f"filler{seed}.npz", npz_upload(images=images, labels=labels))
    upload(attacker, "letters.npz", fake)
    assert_grid_shows(shown[-1], fake_images, shipped["labels"])
    shown.clear()
    visitor = AppTest.from_file(HOME, default_timeout=30).run()
    assert not visitor.exception and "In use: **letters\\.npz**: 120 images" in caption_text(visitor)
    assert_grid_shows(shown[-1], shipped["images"], shipped["labels"])


def test_a_session_keeps_no_upload_bytes_and_its_claim_ends_with_it(data_dir):
    import gc

    from ui.budget import STORE
    from ui.data_source import UPLOAD_KEY

    images, labels = blob_letters(90, seed=7)
    at = upload(AppTest.from_file(HOME, default_timeout=30).run(), "mine.npz", npz_upload(images=images, labels=labels))
    kept = at.session_state[UPLOAD_KEY]
    assert set(kept) == {"key", "name", "claim"} and not any(isinstance(v, bytes) for v in kept.values())
    key = kept["key"]
    assert STORE.claimed(key) == 1
    del at, kept
    gc.collect()
    assert STORE.claimed(key) == 0 and STORE.get(key) is not None  # the session is gone, its claim with it
    AppTest.from_file(HOME, default_timeout=30).run()  # any session's next script run releases the upload
    assert STORE.get(key) is None


def test_the_sweep_for_ended_sessions_runs_at_most_every_30_seconds_while_uploads_are_held(data_dir, monkeypatch):
    import ui.budget as ub

    calls, clock = [], {"t": 1e9}
    monkeypatch.setattr(ub.gc, "collect", lambda: calls.append(clock["t"]))
    images, labels = blob_letters(70, seed=13)
    at = upload(AppTest.from_file(HOME, default_timeout=30).run(), "held.npz", npz_upload(images=images, labels=labels))
    assert ub.STORE.holds_uploads()
    calls.clear()
    monkeypatch.setitem(ub._sweep, "last", 0.0)
    now = lambda: clock["t"]
    for dt in (0, 10, 20, 31, 40):
        clock["t"] = 1e9 + dt
        ub.sweep_ended_sessions(now)
    assert calls == [1e9, 1e9 + 31]
    del at
