"""Hostile files against every loader: each is refused with a DataError naming the limit it hit (or, for a good
file, accepted with exactly the right contents) within 15 s and 1.5 GiB, in a fresh process under a 2 GiB
address-space limit (tests/hostile_child.py). Every case is built here (tests/hostile_build.py)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from helpers import blob_letters, frozen_split
from hostile_build import (
    crc_and_size,
    deflate_periodic,
    gzip_of,
    npy_header,
    npy_member,
    png_header_only,
    png_zeros,
    small_member,
    tar_gz_repeating,
    tar_header,
    zip_of,
)
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
CHILD = Path(__file__).resolve().parent / "hostile_child.py"
MAX_SECONDS = 15
MAX_PEAK_KIB = int(1.5 * 2**20)
IMAGES, LABELS = blob_letters(60)


FIGURES = []  # (test, outcome, seconds, CPU seconds, peak MiB, message) of every child: artifacts/hostile_inputs.tsv


@pytest.fixture(scope="module", autouse=True)
def write_figures():
    yield
    if FIGURES:
        out = ROOT / "artifacts" / "hostile_inputs.tsv"
        out.parent.mkdir(exist_ok=True)
        rows = ["test\toutcome\tseconds\tcpu_seconds\tpeak_MiB\tmessage"] + ["\t".join(map(str, f)) for f in FIGURES]
        out.write_text("\n".join(rows) + "\n")


def run_child(spec, timeout=120):
    """The child's verdict on one loader call; asserts it did not crash and kept to the time and memory budget."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}", "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(CHILD), json.dumps(spec)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)
    assert proc.returncode == 0, f"child died ({proc.returncode}): {proc.stderr[-2000:]}"
    verdict = json.loads(proc.stdout.strip().splitlines()[-1])
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").split("::")[-1].split(" ")[0]
    FIGURES.append((test, verdict["outcome"], f"{verdict['seconds']:.2f}", f"{verdict['cpu_seconds']:.2f}",
                    f"{verdict['vmhwm_kib'] / 1024:.0f}",
                    verdict.get("message", "")[:160].replace("\t", " ")))
    assert verdict["outcome"] != "crash", verdict.get("traceback", verdict)
    assert verdict["seconds"] <= MAX_SECONDS, f"took {verdict['seconds']:.1f} s: {verdict}"
    assert verdict["vmhwm_kib"] <= MAX_PEAK_KIB, f"peak {verdict['vmhwm_kib'] / 2**10:.0f} MiB: {verdict}"
    return verdict


def refused(tmp_path, data, loader, name, *needles):
    """Write ``data`` as ``name``, run ``loader`` on it in a child; assert a DataError containing every needle."""
    path = tmp_path / name
    path.write_bytes(data)
    verdict = run_child({"loader": loader, "path": str(path), "name": name})
    assert verdict["outcome"] == "refused", verdict
    for needle in needles:
        assert needle in verdict["message"], verdict["message"]
    return verdict


def accepted(tmp_path, data, loader, name):
    path = tmp_path / name
    path.write_bytes(data)
    verdict = run_child({"loader": loader, "path": str(path), "name": name})
    assert verdict["outcome"] == "accepted", verdict
    return verdict


def digest(images, labels):
    return hashlib.sha256(np.asarray(images, np.uint8).tobytes() + np.asarray(labels, np.uint8).tobytes()).hexdigest()


def savez(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


class Payload:
    """Unpickling this object calls open(path, "w"): it would create a file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def payload_is_live(blob, key, target):
    """Proof that the test payload works: np.load with pickles allowed creates the file."""
    with np.load(io.BytesIO(blob), allow_pickle=True) as npz:
        npz[key]
    assert target.exists()
    target.unlink()


def pickled_array(path, n=30):
    arr = np.empty(n, dtype=object)
    arr[:] = [Payload(path)] * n
    return arr


# --- the builders themselves ---------------------------------------------------------------------------------------


def test_bomb_builders_match_zlib():
    import zlib

    for head, period, total, tail in [(b"hdr\0", 1, 100_000, b"end"), (b"x" * 700, 512, 512 * 999 + 5, b"\0" * 1024)]:
        stream, chunks = deflate_periodic(head, period, total, tail)
        assert zlib.decompress(stream, -15) == b"".join(chunks())
    gz = tar_gz_repeating(tar_header("notMNIST_small/A/x.png"), 300)
    with tarfile.open(fileobj=io.BytesIO(gz)) as tar:
        assert len(tar.getmembers()) == 300
    img = Image.open(io.BytesIO(png_zeros(640, 480)))
    img.load()
    assert img.size == (640, 480)


# --- data sets as .npz ----------------------------------------------------------------------------------------------

N_BOMB = 1_369_000  # images of a 1 MB-class zip bomb that inflates to just under 1 GiB


def test_npz_zip_bomb_of_1_37_million_images(tmp_path):
    bomb = zip_of([npy_member("images", (N_BOMB, 28, 28)), npy_member("labels", (N_BOMB,))])
    assert len(bomb) < 8 * 2**20
    refused(tmp_path, bomb, "bytes", "notMNIST.npz", "1,369,000 images", "600,000", "mlp.limits.MAX_UPLOAD_IMAGES")
    refused(tmp_path, bomb, "dataset", "notMNIST.npz", "1,369,000 images", "mlp.limits.MAX_OWNER_IMAGES")


def test_npz_bomb_under_the_image_cap_is_refused_by_its_ratio(tmp_path):
    bomb = zip_of([npy_member("images", (500_000, 28, 28)), npy_member("labels", (500_000,))])
    refused(tmp_path, bomb, "bytes", "notMNIST.npz", "'images' inflates", "mlp.limits.MAX_COMPRESSION_RATIO")


@pytest.mark.parametrize("shape", [(10**12, 28, 28), (11_000_000, 28, 28), (2**62, 784)])
def test_npz_declared_shape_bombs(tmp_path, shape):
    bomb = zip_of([npy_member("images", shape, nbytes=100), npy_member("labels", (shape[0],), nbytes=100)])
    refused(tmp_path, bomb, "bytes", "notMNIST.npz", f"declares {shape[0]:,} images", "mlp.limits.MAX_UPLOAD_IMAGES")


def test_npz_declared_bytes_bomb(tmp_path):
    """3 GB of int64 pixels declared within the image cap (the zip sizes agree with the header; the data is short)."""
    n, head = 500_000, npy_header((500_000, 28, 28), "<i8")
    stream, chunks = deflate_periodic(head + b"\0", 1, len(head) + 100)
    member = ("images.npy", stream, crc_and_size(chunks)[0], len(head) + n * 784 * 8)  # the CRC of what it holds
    bomb = zip_of([member, npy_member("labels", (n,))])
    refused(tmp_path, bomb, "bytes", "notMNIST.npz", "mlp.limits.MAX_UPLOAD_DECODED_BYTES")


def test_npz_with_too_many_members(tmp_path):
    members = [small_member(f"m{i}", np.zeros(1)) for i in range(100)]
    refused(tmp_path, zip_of(members), "bytes", "notMNIST.npz", "100 members", "mlp.limits.MAX_NPZ_MEMBERS")


@pytest.mark.parametrize("where", ["images", "labels"])
def test_npz_pickle_payload_is_never_unpickled(tmp_path, where):
    target = tmp_path / "created_by_unpickling"
    arrays = {"images": IMAGES, "labels": LABELS, where: pickled_array(target, 60)}
    refused(tmp_path, savez(**arrays), "bytes", "notMNIST.npz", "pickled Python objects")
    assert not target.exists()
    payload_is_live(savez(**arrays), where, target)


@pytest.mark.parametrize("images,needle", [
    (IMAGES.astype(np.complex64), "dtype complex64"),
    (IMAGES.astype("U3"), "dtype <U3"),
    (np.zeros(60, [("a", "u1", (28, 28))]), "only plain numbers and text"),
    (IMAGES.astype(np.longdouble), "16-byte numbers"),
    (IMAGES.astype(bool), "dtype bool"),
])
def test_npz_odd_dtypes_are_explained(tmp_path, images, needle):
    if images.dtype == np.longdouble and images.dtype.itemsize <= 8:
        pytest.skip("long double is 8 bytes here")
    refused(tmp_path, savez(images=images, labels=LABELS), "bytes", "notMNIST.npz", needle)


def test_npz_truncated_and_forged_sizes(tmp_path):
    good = savez(images=IMAGES, labels=LABELS)
    refused(tmp_path, good[: len(good) // 2], "bytes", "notMNIST.npz", "damaged")
    forged = zip_of([small_member("images", IMAGES), npy_member("labels", (60,), nbytes=10)])
    refused(tmp_path, forged, "bytes", "notMNIST.npz", "'labels' declares (60,) uint8", "damaged or forged")


def test_good_npz_sets_are_accepted(tmp_path):
    """Big-endian, flat (N, 784), Fortran-order and compressed sets give exactly the images they hold."""
    want = digest(IMAGES, LABELS)
    for i, arrays in enumerate([
        {"images": IMAGES.astype(">u2"), "labels": LABELS.astype(">i8")},
        {"images": IMAGES.reshape(60, 784).astype(">i4"), "labels": LABELS},
        {"images": np.asfortranarray(IMAGES), "labels": LABELS},
    ]):
        verdict = accepted(tmp_path, savez(**arrays), "bytes", f"set{i}.npz")
        assert verdict["n"] == 60 and verdict["digest"] == want, verdict
    buf = io.BytesIO()
    np.savez_compressed(buf, images=IMAGES, labels=LABELS)
    assert accepted(tmp_path, buf.getvalue(), "bytes", "c.npz")["digest"] == want


def test_real_notmnist_small_is_accepted(real_data_path):
    for loader in ("bytes", "dataset"):
        verdict = run_child({"loader": loader, "path": str(real_data_path), "name": "notMNIST_small.npz"})
        assert verdict["outcome"] == "accepted", verdict
        assert verdict["n"] == 18724 and verdict["skipped"] == 0
        assert verdict["counts"] == [1872, 1873, 1873, 1873, 1873, 1872, 1872, 1872, 1872, 1872]


# --- data sets as tar archives --------------------------------------------------------------------------------------


def png(arr):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def tar_of(members, mode="w:gz", fmt=tarfile.GNU_FORMAT):
    """A tar (gz/xz/bz2 by ``mode``) of (path, bytes) members."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=fmt) as tar:
        for path, data in members:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def letter_members(n=40):
    images, labels = blob_letters(n, seed=3)
    members = [(f"notMNIST_small/{'ABCDEFGHIJ'[c]}/f{i:03d}.png", png(img)) for i, (img, c) in
               enumerate(zip(images, labels))]
    order = sorted(range(n), key=lambda i: ("ABCDEFGHIJ"[labels[i]], members[i][0].rsplit("/", 1)[1]))
    return members, digest(images[order], labels[order])


def test_good_tarballs_with_two_empty_pngs_are_accepted(tmp_path):
    members, want = letter_members()
    members += [("notMNIST_small/A/empty1.png", b""), ("notMNIST_small/C/empty2.png", b"")]
    for mode, name in (("w:gz", "s.tar.gz"), ("w:xz", "s.tar.xz"), ("w:bz2", "s.tar.bz2"), ("w", "s.tar")):
        verdict = accepted(tmp_path, tar_of(members, mode), "bytes", name)
        assert verdict["n"] == 40 and verdict["digest"] == want, verdict
        assert verdict["skipped"] == 2 and verdict["reasons"] == [["empty files", 2]], verdict


def test_tar_of_a_million_empty_members(tmp_path):
    bomb = tar_gz_repeating(tar_header("notMNIST_small/A/empty.png"), 1_000_000)
    assert len(bomb) < 16 * 2**20
    refused(tmp_path, bomb, "bytes", "notMNIST_small.tar.gz", "1,001 empty files", "mlp.limits.MAX_TAR_SKIPPED")
    refused(tmp_path, bomb, "dataset", "notMNIST_small.tar.gz", "1,001 empty files", "mlp.limits.MAX_TAR_SKIPPED")


def test_tar_of_a_million_folders(tmp_path):
    bomb = tar_gz_repeating(tar_header("notMNIST_small/A/", kind=tarfile.DIRTYPE), 1_000_000)
    refused(tmp_path, bomb, "bytes", "notMNIST_small.tar.gz", "30,000 tar members",
            "mlp.limits.MAX_UPLOAD_TAR_MEMBERS")


@pytest.mark.parametrize("kind,needle", [(tarfile.GNUTYPE_LONGNAME, "GNU long-name"), (tarfile.XHDTYPE, "pax")])
def test_tar_long_name_and_pax_header_bombs(tmp_path, kind, needle):
    size = 400 * 2**20
    head = tar_header("././@LongLink", size, kind)
    tail = tar_header("notMNIST_small/A/x.png", 0) + b"\0" * 10240
    stream, chunks = deflate_periodic(head + b"a", 1, len(head) + size, tail)
    bomb = gzip_of(stream, chunks)
    assert len(bomb) < 4 * 2**20
    refused(tmp_path, bomb, "bytes", "notMNIST_small.tar.gz", needle, "400.0 MiB", "mlp.limits.MAX_TAR_HEADER_BYTES")


def test_tar_many_long_names_add_up(tmp_path):
    members = [(f"notMNIST_small/A/{'x' * 60_000}{i}.png", b"") for i in range(300)]
    refused(tmp_path, tar_of(members), "bytes", "n.tar.gz", "long-name and pax headers total",
            "mlp.limits.MAX_TAR_HEADERS_TOTAL")


def test_tar_that_inflates_past_the_budget(tmp_path):
    size = 300 * 2**20
    head = tar_header("notMNIST_small/readme.txt", size)
    stream, chunks = deflate_periodic(head + b"\0", 1, len(head) + size, b"\0" * 10240)
    refused(tmp_path, gzip_of(stream, chunks), "bytes", "t.tar.gz", "inflates to more than 256.0 MiB",
            "mlp.limits.MAX_EXPANDED_BYTES")


def test_png_bombs_are_skipped_from_their_header(tmp_path):
    members, want = letter_members()
    bombs = [(f"notMNIST_small/B/bomb{i}.png", png_header_only(13377, 13377)) for i in range(20)]
    verdict = accepted(tmp_path, tar_of(members + bombs), "bytes", "n.tar.gz")
    assert verdict["n"] == 40 and verdict["digest"] == want
    assert verdict["reasons"] == [["PNGs not 28x28 (e.g. 13377x13377)", 20]], verdict
    many = [(f"notMNIST_small/B/bomb{i}.png", png_header_only(13377, 13377)) for i in range(1600)]
    refused(tmp_path, tar_of(members + many), "bytes", "n.tar.gz", "more than 1,000 PNGs", "mlp.limits.MAX_TAR_SKIPPED")


def other_formats():
    img = Image.fromarray(IMAGES[0])
    out = {}
    for fmt in ("GIF", "BMP", "TIFF", "PPM", "EPS"):
        buf = io.BytesIO()
        (img.convert("RGB") if fmt in ("EPS", "PPM") else img).save(buf, fmt)
        out[fmt] = buf.getvalue()
    return out


def test_other_formats_named_png_are_skipped_and_never_decoded(tmp_path, monkeypatch):
    from PIL import EpsImagePlugin

    from mlp.data import load_bytes

    def no_ghostscript(*args, **kwargs):
        raise AssertionError("Ghostscript was called")

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", no_ghostscript)
    members, want = letter_members()
    fakes = [(f"notMNIST_small/D/{fmt}.png", data) for fmt, data in other_formats().items()]
    ds = load_bytes(tar_of(members + fakes), "n.tar.gz")
    assert len(ds) == 40 and digest(ds.images, ds.labels) == want
    assert dict(ds.skip_reasons) == {"not PNG files (GIF)": 1, "not PNG files (BMP)": 1, "not PNG files (TIFF)": 1,
                                     "not PNG files (PPM)": 1, "not PNG files (EPS/PostScript)": 1}
    assert "5 skipped" in ds.skipped_text


@pytest.mark.parametrize("mode,name,needle", [("w:xz", "d.tar.xz", "xz stream"), ("w:bz2", "d.tar.bz2", "bz2 stream"),
                                              ("w:gz", "d.tar.gz", "gzip stream")])
def test_damaged_and_truncated_compressed_tars(tmp_path, mode, name, needle):
    good = tar_of(letter_members()[0], mode)
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0x55
    refused(tmp_path, bytes(bad), "bytes", name, needle)
    refused(tmp_path, good[: len(good) * 2 // 3], "bytes", name, needle)
    refused(tmp_path, good + b"garbage", "bytes", name, "after the end of its")


def test_xz_without_a_checksum_is_refused(tmp_path):
    import lzma

    raw = tar_of(letter_members()[0], "w")
    refused(tmp_path, lzma.compress(raw, check=lzma.CHECK_NONE), "bytes", "n.tar.xz", "carries no checksum")
    assert accepted(tmp_path, lzma.compress(raw, check=lzma.CHECK_CRC32), "bytes", "n.tar.xz")["n"] == 40


def test_plain_tar_with_a_bad_header_or_no_end_marker(tmp_path):
    members = letter_members()[0]
    good = tar_of(members, "w", tarfile.USTAR_FORMAT)
    second = 512 + -(-len(members[0][1]) // 512) * 512
    bad = bytearray(good)
    bad[second + 5] ^= 0x20  # a letter of the second member's name: its header checksum no longer matches
    refused(tmp_path, bytes(bad), "bytes", "b.tar", "header of tar member 2", "does not parse")
    refused(tmp_path, good[:second], "bytes", "b.tar", "without the tar end-of-archive marker")
    refused(tmp_path, good + b"\1" * 512, "bytes", "b.tar", "data after its tar end-of-archive marker")


def test_bit_flips_never_lose_images(tmp_path):
    """300 random single-bit flips of a good .tar.gz: each refused, or the very same images (e.g. a gzip mtime bit)."""
    path = tmp_path / "flip.tar.gz"
    path.write_bytes(tar_of(letter_members(40)[0] + [("notMNIST_small/E/empty.png", b"")]))
    verdict = run_child({"loader": "flips", "path": str(path), "name": "flip.tar.gz", "flips": 300, "seed": 1})
    assert verdict["n_odd"] == 0, verdict["odd"]
    assert sum(verdict["tally"].values()) == 300 and verdict["tally"]["refused"] >= 250, verdict


def test_gzip_header_trailer_and_middle_flips():
    """A flip in the gzip mtime changes nothing; one in the CRC-32, the length or the middle of the stream is seen."""
    from mlp.data import DataError, load_bytes

    good = tar_of(letter_members(40)[0])
    want = load_bytes(good, "g.tar.gz")
    for pos, needle in ((4, None), (len(good) - 8, "incorrect data check"), (len(good) - 2, "incorrect length check"),
                        (len(good) // 2, "gzip stream is damaged")):
        bad = bytearray(good)
        bad[pos] ^= 1
        if needle is None:
            got = load_bytes(bytes(bad), "g.tar.gz")
            assert np.array_equal(got.images, want.images) and np.array_equal(got.labels, want.labels)
        else:
            with pytest.raises(DataError, match=needle):
                load_bytes(bytes(bad), "g.tar.gz")


def test_npz_bit_flips_never_change_images(tmp_path):
    path = tmp_path / "flip.npz"
    buf = io.BytesIO()
    np.savez_compressed(buf, images=IMAGES, labels=LABELS)
    path.write_bytes(buf.getvalue())
    verdict = run_child({"loader": "flips", "path": str(path), "name": "flip.npz", "flips": 200, "seed": 2})
    assert verdict["n_odd"] == 0, verdict["odd"]


# --- models and paused runs ----------------------------------------------------------------------------------------


def model_arrays(h=8, f=784, k=10, dtype=np.float32):
    from mlp.network import init_params
    from mlp.train import Hyper

    p = init_params(f, h, k, seed=0, dtype=dtype)
    arrays = {n: v for n, v in p.as_dict().items()}
    arrays["hyper"] = np.array(Hyper(hidden=h, epochs=3, batch_size=50).to_json())
    for key in ("epoch", "train_loss", "train_acc", "valid_loss", "valid_acc", "seconds"):
        arrays[f"history_{key}"] = np.array([1.0, 2.0]) if key == "epoch" else np.array([0.5, 0.4])
    return arrays


def with_changes(**changes):
    return savez(**{**model_arrays(), **changes})


def test_model_zip_bomb_of_200000_hidden_units(tmp_path):
    h = 200_000
    members = [npy_member("w_h", (784, h), "<f4"), npy_member("b_h", (1, h), "<f4"),
               npy_member("w_o", (h, 10), "<f4"), small_member("b_o", np.zeros((1, 10), np.float32)),
               small_member("hyper", np.array(json.dumps({"hidden": h})))]
    bomb = zip_of(members)
    assert len(bomb) < 8 * 2**20
    refused(tmp_path, bomb, "model", "model.npz", "200,000 hidden units", "mlp.limits.MAX_HIDDEN")
    forged = zip_of([npy_member("w_h", (784, 2_000_000), "<f4", nbytes=10), *members[1:]])  # header only
    refused(tmp_path, forged, "lab_model", "model.npz", "2,000,000 hidden units", "mlp.limits.MAX_HIDDEN")


@pytest.mark.parametrize("changes,needles", [
    ({"w_h": np.zeros(784, np.float32)}, ["'w_h' has shape (784,) (1-D); it must be 2-D"]),
    ({"w_h": np.zeros((784, 8, 2), np.float32)}, ["(3-D); it must be 2-D"]),
    ({"w_h": np.zeros((784, 0), np.float32), "b_h": np.zeros((1, 0), np.float32),
      "w_o": np.zeros((0, 10), np.float32)}, ["0 hidden units", "mlp.limits.MAX_HIDDEN"]),
    ({"w_h": np.zeros((784, 3000), np.float32), "b_h": np.zeros((1, 3000), np.float32),
      "w_o": np.zeros((3000, 10), np.float32)}, ["3,000 hidden units", "2,048", "mlp.limits.MAX_HIDDEN"]),
    ({"w_o": np.full((8, 10), np.inf, np.float32)}, ["'w_o' holds 80 values that are not finite"]),
    ({"b_h": np.full((1, 8), np.nan)}, ["'b_h' holds 8 values that are not finite"]),
    ({"w_h": np.zeros((784, 8), np.complex64)}, ["'w_h' has dtype complex64; it must hold float32 or float64"]),
    ({"w_h": np.zeros((784, 8), bool)}, ["dtype bool"]),
    ({"w_h": np.zeros((784, 8), "U2")}, ["dtype <U2"]),
    ({"w_h": np.zeros((784, 8), np.int32)}, ["dtype int32"]),
    ({"w_h": np.zeros((784, 8), np.float16)}, ["dtype float16"]),
    ({"b_o": np.zeros((1, 9), np.float32)}, ["do not fit together"]),
    ({"history_epoch": np.arange(1.0, 1_000_001.0)}, ["different lengths"]),
    ({f"history_{k}": np.arange(1.0, 1_000_001.0) / (1 if k == "epoch" else 2e6)
      for k in ("epoch", "train_loss", "train_acc", "valid_loss", "valid_acc", "seconds")},
     ["1,000,000 epochs", "mlp.limits.MAX_HISTORY_EPOCHS"]),
    ({"history_train_acc": np.array([0.5, 7.0])}, ["accuracies must be within 0 .. 1"]),
    ({"history_seconds": np.array([[1.0, 2.0]])}, ["(2-D); it must be 1-D"]),
    ({"hyper": np.array("x" * 100_000)}, ["100,000 characters", "mlp.limits.MAX_HYPER_CHARS"]),
    ({"hyper": np.array('{"lr": Infinity}')}, ["'lr' is 'inf'", "mlp.limits.MAX_LEARNING_RATE"]),
    ({"hyper": np.array('{"hidden": 8, "epochs": 1e400}')}, ["'epochs'", "mlp.limits.MAX_HISTORY_EPOCHS"]),
    ({"hyper": np.array('{"hidden": "8"}')}, ["'hidden' is '8'"]),
    ({"hyper": np.array('{"hidden": 9}')}, ["says 9 hidden units but the weights have 8"]),
    ({"hyper": np.array('{"seed": -1}')}, ["mlp.limits.MAX_SEED"]),
    ({"hyper": np.array('{"evil": 1}')}, ["unknown fields ['evil']"]),
    ({"hyper": np.array("[" * 900)}, ["not valid JSON"]),
    ({"hyper": np.array(3.0)}, ["'hyper' has dtype float64; it must hold text"]),
])
def test_malformed_models_are_explained(tmp_path, changes, needles):
    refused(tmp_path, with_changes(**changes), "lab_model", "model.npz", *needles)


def test_model_file_over_its_size_limit(tmp_path):
    blob = with_changes() + b"\0" * (65 * 2**20)
    refused(tmp_path, blob, "model", "model.npz", "65.", "mlp.limits.MAX_MODEL_FILE_BYTES")


@pytest.mark.parametrize("key", ["w_h", "hyper", "history_epoch"])
def test_model_pickle_payload_is_never_unpickled(tmp_path, key):
    target = tmp_path / "created_by_unpickling"
    blob = with_changes(**{key: pickled_array(target, 8)})
    refused(tmp_path, blob, "model", "model.npz", "pickled Python objects")
    assert not target.exists()
    payload_is_live(blob, key, target)


def paused_run_arrays():
    from mlp.model_io import save_trainer
    from mlp.train import Hyper, Trainer

    split = frozen_split()
    t = Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, Hyper(hidden=8, epochs=3, batch_size=50))
    t.step_epoch()
    t.step(max_batches=1)
    buf = io.BytesIO()
    save_trainer(buf, t)
    with np.load(io.BytesIO(buf.getvalue())) as npz:
        return {k: npz[k] for k in npz.files}, t.position


def test_paused_run_is_resumed(tmp_path):
    arrays, position = paused_run_arrays()
    path = tmp_path / "run.npz"
    path.write_bytes(savez(**arrays))
    verdict = run_child({"loader": "trainer", "path": str(path), "name": "run.npz"})
    assert verdict["outcome"] == "accepted" and verdict["position"] == position, verdict


@pytest.mark.parametrize("key", ["rng_state", "order", "v_w_h", "position"])
def test_paused_run_pickle_payload_is_never_unpickled(tmp_path, key):
    arrays, _ = paused_run_arrays()
    target = tmp_path / "created_by_unpickling"
    arrays[key] = pickled_array(target, 4)
    refused(tmp_path, savez(**arrays), "trainer", "run.npz", "pickled Python objects")
    assert not target.exists()
    payload_is_live(savez(**arrays), key, target)


def test_paused_run_with_a_declared_order_bomb(tmp_path):
    arrays, _ = paused_run_arrays()
    members = [small_member(k, v) for k, v in arrays.items() if k != "order"]
    bomb = zip_of([*members, npy_member("order", (10**9,), "<i8", nbytes=10)])
    refused(tmp_path, bomb, "trainer", "run.npz", "'order' holds 1,000,000,000 rows", "mlp.limits.MAX_OWNER_IMAGES")


@pytest.mark.parametrize("change,needles", [
    (lambda a: {"v_w_h": a["v_w_h"][:, :4]}, ["'v_w_h' has shape (784, 4); it must match 'w_h' (784, 8)"]),
    (lambda a: {"order": a["order"].astype(float)}, ["'order' has dtype float64; it must hold integers"]),
    (lambda a: {"order": a["order"][::-1][:60]}, ["batch order does not fit a training set"]),
    (lambda a: {"order": np.zeros(len(a["order"]), int)}, ["batch order does not fit"]),
    (lambda a: {"position": np.array(10**9)}, ["'position' 1000000000 does not fit"]),
    (lambda a: {"rng_state": np.array('{"bit_generator": "MT19937", "state": 5}')}, ["not a valid generator state"]),
    (lambda a: {"rng_state": np.array("z" * 5000)}, ["5,000 characters", "mlp.limits.MAX_RNG_STATE_CHARS"]),
    (lambda a: {"epoch_metrics": np.zeros(7)}, ["'epoch_metrics' holds 7 numbers"]),
    (lambda a: {"v_b_o": np.full((1, 10), np.nan)}, ["'v_b_o' holds 10 values that are not finite"]),
])
def test_malformed_paused_runs_are_explained(tmp_path, change, needles):
    arrays, _ = paused_run_arrays()
    refused(tmp_path, savez(**{**arrays, **change(arrays)}), "trainer", "run.npz", *needles)


# --- your own letter -----------------------------------------------------------------------------------------------


def test_letter_of_40_megapixels_with_alpha(tmp_path):
    bomb = png_zeros(6325, 6325)
    assert len(bomb) < 2 * 2**20
    refused(tmp_path, bomb, "letter", "letter.png", "6,325x6,325 = 40.0 million pixels; at most 12.0 million",
            "mlp.limits.MAX_LETTER_PIXELS")


@pytest.mark.parametrize("size,needles", [
    ((1, 40_000_000), ["1x40,000,000", "mlp.limits.MAX_LETTER_PIXELS"]),
    ((1_000_000, 1), ["1,000,000x1", "1,000,000 times its shorter", "mlp.limits.MAX_LETTER_ASPECT"]),
    ((13377, 13377), ["13,377x13,377", "mlp.limits.MAX_LETTER_PIXELS"]),
    ((100_000, 100_000), ["decompression bomb", "mlp.limits.MAX_LETTER_PIXELS"]),
])
def test_letter_bombs_are_refused_from_their_header(tmp_path, size, needles):
    refused(tmp_path, png_header_only(*size), "letter", "letter.png", *needles)


def big_letter(size):
    """An RGBA letter A of ``size``, drawn small and scaled up (cheap to make)."""
    img = Image.new("RGBA", (256, 256), (255, 255, 255, 255))
    ImageDraw.Draw(img).text((64, 32), "A", fill=(0, 0, 0, 255), font=ImageFont.load_default(size=180))
    return img.resize(size, Image.Resampling.NEAREST)


def test_the_largest_accepted_letters_are_cheap(tmp_path):
    """4000 x 3000 (the pixel limit) as RGBA PNG and as JPEG: accepted, and each costs little (figures printed)."""
    img = big_letter((4000, 3000))
    for fmt, name in (("PNG", "big.png"), ("JPEG", "big.jpg")):
        buf = io.BytesIO()
        (img if fmt == "PNG" else img.convert("RGB")).save(buf, fmt, **({"compress_level": 1} if fmt == "PNG" else {}))
        verdict = accepted(tmp_path, buf.getvalue(), "letter", name)
        assert verdict["size"] == [4000, 3000]
        print(f"{name}: {verdict['seconds']:.2f} s, peak {verdict['vmhwm_kib'] / 1024:.0f} MiB")
        assert verdict["vmhwm_kib"] <= 250 * 1024, verdict


def test_letter_formats_outside_the_list_are_refused(tmp_path):
    for fmt, data in other_formats().items():
        if fmt in ("GIF", "BMP"):
            continue
        refused(tmp_path, data, "letter", f"letter.{fmt.lower()}", "is not an image that can be read")
