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
    at.sidebar.get("file_uploader")[0].set_value(("mine.npz", npz_upload(images=images, labels=labels), "application/octet-stream"))
    at.run()
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
