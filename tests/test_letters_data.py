"""The shipped embedded letter set (data/letters.npz) and its provenance table."""

from __future__ import annotations

import collections
import csv
import gzip
import importlib.util
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import IN_CI

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
NPZ = DATA / "letters.npz"
PROVENANCE = DATA / "letters_provenance.tsv.gz"
LETTERS = "ABCDEFGHIJ"

# Licence short names the generator may ship (letterset.generator.ALLOWED_LICENCES).
ALLOWED = {
    "OFL-1.1", "OFL-1.0", "Apache-2.0", "MIT", "BSD", "X11", "ISC", "public-domain", "CC0-1.0",
    "CC-BY", "CC-BY-SA", "Bitstream-Vera", "Arev", "GUST-Font-License", "LPPL", "GPL", "GPL-2",
    "GPL-2+", "GPL-3", "GPL-3+", "GPL-2+-with-font-exception", "GPL-3+-with-font-exception",
    "GPL-with-font-exception", "AGPL-3-with-font-exception", "AGPL-3+", "LGPL", "Knuth", "Artistic",
    "UFL-1.0", "GFSL", "ParaType-Free-Font-License", "Unlicense", "aenigma-permission", "other-free",
    "permissive",
}


@pytest.fixture(scope="module")
def arrays():
    with np.load(NPZ, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.fixture(scope="module")
def rows():
    with gzip.open(PROVENANCE, "rt", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def test_npz_is_plain_compressed_arrays():
    assert NPZ.stat().st_size < 20 * 2**20, "keep the shipped set small enough to commit"
    with zipfile.ZipFile(NPZ) as zf:
        infos = zf.infolist()
        assert sorted(i.filename for i in infos) == ["images.npy", "labels.npy"]
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in infos)


def test_format(arrays):
    images, labels = arrays["images"], arrays["labels"]
    assert set(arrays) == {"images", "labels"}
    assert images.dtype == np.uint8 and labels.dtype == np.uint8
    assert images.ndim == 3 and images.shape[1:] == (28, 28)
    assert labels.shape == (images.shape[0],)
    assert labels.min() == 0 and labels.max() == 9


def test_counts_and_balance(arrays, rows):
    labels = arrays["labels"]
    assert len(labels) >= 20000
    counts = np.bincount(labels, minlength=10)
    assert counts.min() == counts.max(), f"every kept face gives all ten letters: {counts}"
    faces = {r["face"] for r in rows}
    assert len(faces) >= 2000
    assert len(labels) == 10 * len(faces)


def test_images_look_like_notmnist(arrays):
    images = arrays["images"]
    # The ink box is stretched to the full 28x28: ink reaches the top and bottom rows
    # and the left and right columns (antialiased edges may be faint).
    sample = images[:: max(1, len(images) // 2000)]
    top = sample[:, 0, :].max(axis=1) > 0
    bottom = sample[:, -1, :].max(axis=1) > 0
    left = sample[:, :, 0].max(axis=1) > 0
    right = sample[:, :, -1].max(axis=1) > 0
    assert np.mean(top & bottom) > 0.95 and np.mean(left & right) > 0.95
    assert sample.max(axis=(1, 2)).min() >= 128, "no empty renders"
    assert 40 < images.mean() < 160


def test_every_image_has_a_provenance_row(arrays, rows):
    labels = arrays["labels"]
    assert len(rows) == len(labels)
    assert [int(r["index"]) for r in rows] == list(range(len(labels)))
    assert np.array_equal(np.array([int(r["label"]) for r in rows], dtype=np.uint8), labels)
    assert all(r["letter"] == LETTERS[int(r["label"])] for r in rows)
    for col in ("font_file", "package", "licence"):
        assert all(r[col] for r in rows), f"empty {col}"


def test_each_face_has_one_font_and_all_ten_letters(rows):
    by_face = collections.defaultdict(list)
    for r in rows:
        by_face[r["face"]].append(r)
    for face, rs in by_face.items():
        assert sorted(int(r["label"]) for r in rs) == list(range(10)), face
        assert len({(r["font_file"], r["face_index"], r["package"], r["licence"]) for r in rs}) == 1, face


def test_licences_allowed(rows):
    licences = collections.Counter(r["licence"] for r in rows)
    bad = {
        lic: n for lic, n in licences.items()
        if not all(part.strip() in ALLOWED for part in lic.split("/"))
    }
    assert not bad, f"licences not on the allow-list: {bad}"


def test_readme_lists_licences(rows):
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for lic in {r["licence"] for r in rows}:
        assert lic in readme, f"data/README.md does not mention {lic}"


# --- the generator's pieces that need no fonts (letterset/generator.py) ---------------------------------


def test_stretch_fills_the_box_ignoring_aspect():
    from letterset.generator import stretch

    bar = np.full((60, 12), 255, dtype=np.uint8)  # a tall thin 'I'
    out = stretch(bar)
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert out.min() > 200, "a solid ink box becomes a (near) solid block, as in notMNIST"


def test_dedup_drops_near_copies_and_keeps_the_first():
    from letterset.generator import dedup

    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, size=(4, 10, 28, 28), dtype=np.uint8)
    near = np.clip(faces[1].astype(int) + rng.integers(-3, 4, size=faces[1].shape), 0, 255)
    faces = np.concatenate([faces, near[None].astype(np.uint8)])
    assert dedup(faces).tolist() == [True, True, True, True, False]


def test_licence_names_and_allow_list():
    from letterset.generator import licence_allowed, normalise_licence

    assert normalise_licence("OFL-1.1") == "OFL-1.1"
    assert normalise_licence("SIL-1.1") == "OFL-1.1"
    assert normalise_licence("gfl") == "GUST-Font-License"
    assert normalise_licence("lppl1.3c") == "LPPL"
    assert normalise_licence("GPL-2+") == "GPL-2+"
    assert normalise_licence("madduck-special-license") == "aenigma-permission"
    assert licence_allowed("OFL-1.1 / LPPL")
    assert not licence_allowed("unknown")
    assert not licence_allowed("OFL-1.1 / CC-BY-NC-or-ND")
    assert not licence_allowed("")


def test_npz_writer_is_reproducible(tmp_path):
    from letterset.generator import write_npz

    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    labels = np.array([0, 9], dtype=np.uint8)
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    write_npz(str(a), images, labels)
    write_npz(str(b), images, labels)
    assert a.read_bytes() == b.read_bytes()
    with np.load(a, allow_pickle=False) as npz:
        assert np.array_equal(npz["images"], images) and np.array_equal(npz["labels"], labels)


DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def needs(ok, what):
    """Skip when ``what`` is missing, except in CI (CI=true), where it is required and its absence fails."""
    if ok:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI and is missing")
    pytest.skip(f"{what} is missing")


def test_render_face_of_a_real_font():
    needs(DEJAVU.exists(), f"{DEJAVU} (Debian's fonts-dejavu-core, which Chromium's fontconfig pulls in)")
    needs(importlib.util.find_spec("fontTools") is not None, "fontTools (requirements-dev.txt pins fonttools)")
    from letterset.generator import render_file

    (face,) = render_file(str(DEJAVU))
    assert face["status"] == "ok" and face["family"] == "DejaVu Sans"
    imgs = face["images"]
    assert imgs.shape == (10, 28, 28) and imgs.dtype == np.uint8
    assert (imgs[:, 0, :].max(axis=1) > 0).all() and (imgs[:, :, -1].max(axis=1) > 0).all()
