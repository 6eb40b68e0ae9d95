"""Loading, checking and splitting letter data sets.

Formats read:

* the course's ``notMNIST.npz``: arrays ``images`` (N, 28, 28) uint8 and
  ``labels`` (N,) integers 0..9 (A..J); the project's embedded set uses it too;
* the original notMNIST_small layout: a folder ``A/ ... J/`` of 28x28 PNGs,
  or that folder packed as ``.tar.gz``. Unreadable or zero-byte PNGs are
  skipped and counted (notMNIST_small has two).

Every ``.npz`` is read with ``allow_pickle=False``; anything that is not what
we expect raises ``DataError`` with a message saying what was wrong and what
was expected.
"""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .core import K_CLASSES, LETTERS
from .limits import MAX_EXPANDED_BYTES, MAX_FILE_BYTES, MAX_PNG_BYTES, MIN_IMAGES

SIDE = 28
REPORT_SIZES = (10000, 6000)  # train, valid; the rest is test
REPORT_TOTAL = 18724  # notMNIST_small, which the report's sizes were made for
SPLIT_SEED = 521


DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DATA_DIR_ENV = "MLP_LAB_DATA_DIR"  # overrides DATA_DIR (tests, other installs)
EMBEDDED_FILE = "letters.npz"
REAL_CANDIDATES = ("notMNIST.npz", "notMNIST_small.npz", "notMNIST_small.tar.gz", "notMNIST_small")

EXPECTED = (
    "expected a .npz with arrays 'images' (N, 28, 28) uint8 and 'labels' (N,) integers 0..9, "
    "or the notMNIST_small folder A/..J/ of 28x28 PNGs (or that folder as .tar.gz)"
)


class DataError(ValueError):
    """A data file is not a usable letter data set; the message says why."""


@dataclass(frozen=True)
class Dataset:
    """A checked data set. images: (N, 28, 28) uint8, labels: (N,) uint8 in 0..9, both read-only."""

    images: np.ndarray
    labels: np.ndarray
    name: str
    skipped: int = 0  # unreadable or zero-byte images left out

    def __len__(self):
        return len(self.labels)

    def class_counts(self):
        return np.bincount(self.labels, minlength=K_CLASSES)


def read_only(arr):
    """Mark an array non-writeable (shared between sessions) and return it."""
    arr.flags.writeable = False
    return arr


def check_arrays(images, labels, name="data"):
    """Validate and normalise (images, labels); raise DataError saying what is wrong.

    images: (N, 28, 28) or (N, 784), uint8 (or integers within 0..255);
    labels: (N,) integers within 0..9. Returns read-only uint8 copies.
    """
    images, labels = np.asarray(images), np.asarray(labels)
    if images.dtype == object or labels.dtype == object:
        raise DataError(f"{name}: holds Python objects, not numbers; {EXPECTED}.")
    if images.ndim == 2 and images.shape[1] == SIDE * SIDE:
        images = images.reshape(-1, SIDE, SIDE)
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise DataError(f"{name}: 'images' has shape {images.shape}, expected (N, 28, 28).")
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.integer) or images.size and (images.min() < 0 or images.max() > 255):
            raise DataError(
                f"{name}: 'images' has dtype {images.dtype}, expected uint8 pixel values 0..255 "
                "(images scaled to [0, 1] must be multiplied by 255 first)."
            )
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{name}: 'labels' has shape {labels.shape}, expected ({len(images)},), one label per image.")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{name}: 'labels' has dtype {labels.dtype}, expected integers 0..9 (A..J).")
    if len(labels) < MIN_IMAGES:
        raise DataError(f"{name}: only {len(labels)} images; at least {MIN_IMAGES} are needed to split and train.")
    if labels.min() < 0 or labels.max() >= K_CLASSES:
        raise DataError(
            f"{name}: labels range from {labels.min()} to {labels.max()}, expected 0..9 (A..J)."
        )
    return read_only(images.astype(np.uint8)), read_only(labels.astype(np.uint8))


def _as_bytes(source):
    """Bytes of a path, bytes object or binary file object, refusing empty and oversized files."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif hasattr(source, "read"):
        data = source.read(MAX_FILE_BYTES + 1)
    else:
        path = Path(source)
        if path.stat().st_size > MAX_FILE_BYTES:
            raise DataError(f"{path.name}: {path.stat().st_size / 2**20:.0f} MiB is too large (limit {MAX_FILE_BYTES // 2**20} MiB).")
        data = path.read_bytes()
    if not data:
        raise DataError(f"the file is empty; {EXPECTED}.")
    if len(data) > MAX_FILE_BYTES:
        raise DataError(f"the file is too large (limit {MAX_FILE_BYTES // 2**20} MiB).")
    return data


def load_npz(source, name="data.npz"):
    """Load a course-format .npz (path, bytes or file object) into a checked Dataset."""
    data = _as_bytes(source)
    if data[:1] == b"\x80":
        raise DataError(f"{name}: is a Python pickle, which is never loaded (it could run code); {EXPECTED}.")
    if data[:6] == b"\x93NUMPY":
        raise DataError(f"{name}: is a single .npy array; {EXPECTED}.")
    if data[:2] != b"PK":
        raise DataError(f"{name}: is not a .npz (zip) archive; {EXPECTED}.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            expanded = sum(info.file_size for info in zf.infolist())
        if expanded > MAX_EXPANDED_BYTES:
            raise DataError(f"{name}: would expand to {expanded / 2**30:.1f} GiB (limit {MAX_EXPANDED_BYTES / 2**30:.0f} GiB); refused.")
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            missing = [k for k in ("images", "labels") if k not in npz.files]
            if missing:
                raise DataError(f"{name}: missing array(s) {missing}; found {sorted(npz.files)}; {EXPECTED}.")
            images, labels = npz["images"], npz["labels"]
    except DataError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower() or "object" in str(exc).lower():
            raise DataError(f"{name}: holds pickled Python objects, which are never loaded; {EXPECTED}.") from None
        raise DataError(f"{name}: is not a readable .npz ({exc}); {EXPECTED}.") from None
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as exc:
        raise DataError(f"{name}: is a damaged .npz archive ({exc}).") from None
    images, labels = check_arrays(images, labels, name)
    return Dataset(images, labels, name)


def decode_png(data):
    """A 28x28 greyscale PNG's bytes -> (28, 28) uint8, or None if empty, unreadable or not 28x28."""
    if not data:
        return None
    try:
        with Image.open(io.BytesIO(data)) as img:
            arr = np.asarray(img.convert("L"))
    except Exception:  # Pillow raises many kinds on corrupt files
        return None
    return arr if arr.shape == (SIDE, SIDE) else None


def _from_pngs(entries, name):
    """entries: iterable of (letter, file name, bytes) -> Dataset, ordered A..J then file name."""
    images, labels, skipped = [], [], 0
    for letter, _, data in sorted(entries, key=lambda e: (e[0], e[1].encode())):
        arr = decode_png(data)
        if arr is None:
            skipped += 1
            continue
        images.append(arr)
        labels.append(LETTERS.index(letter))
    if not images:
        raise DataError(f"{name}: no readable 28x28 PNGs found in folders A..J ({skipped} skipped); {EXPECTED}.")
    images, labels = check_arrays(np.stack(images), np.array(labels), name)
    return Dataset(images, labels, name, skipped)


def _letter_root(folder):
    """The folder holding A/..J/: ``folder`` itself or its one subfolder that does."""
    folder = Path(folder)
    for candidate in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        if all((candidate / letter).is_dir() for letter in LETTERS):
            return candidate
    raise DataError(f"{folder.name}: has no subfolders A/ .. J/; {EXPECTED}.")


def load_png_folder(folder, name=None):
    """Load the notMNIST_small folder layout (A/ .. J/ of PNGs)."""
    root = _letter_root(folder)
    entries = []
    for letter in LETTERS:
        for entry in os.scandir(root / letter):
            if entry.name.lower().endswith(".png") and entry.is_file():
                size = entry.stat().st_size
                data = Path(entry.path).read_bytes() if size <= MAX_PNG_BYTES else b""
                entries.append((letter, entry.name, data))
    return _from_pngs(entries, name or Path(folder).name)


def _tar_entries(tar, name):
    """(letter, file name, bytes) for every A..J PNG in an open tar, with size limits."""
    expanded, entries = 0, []
    for member in tar:
        expanded += max(member.size, 0)
        if expanded > MAX_EXPANDED_BYTES:
            raise DataError(f"{name}: expands to more than {MAX_EXPANDED_BYTES / 2**30:.0f} GiB; refused.")
        parts = Path(member.name).parts
        if not (member.isfile() and len(parts) >= 2 and parts[-2] in LETTERS and parts[-1].lower().endswith(".png")):
            continue
        data = b""
        if member.size <= MAX_PNG_BYTES:
            data = tar.extractfile(member).read()
        entries.append((parts[-2], parts[-1], data))
    return entries


def load_tarball(source, name="notMNIST_small.tar.gz"):
    """Load notMNIST_small packed as .tar(.gz): members .../A/x.png .. .../J/y.png (read in memory, never extracted)."""
    data = _as_bytes(source)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            entries = _tar_entries(tar, name)
    except DataError:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise DataError(f"{name}: is not a readable .tar.gz archive ({exc}); {EXPECTED}.") from None
    return _from_pngs(entries, name)


def load_bytes(data, name):
    """Load an uploaded file's bytes, recognising .npz and .tar(.gz) by content."""
    data = _as_bytes(data)
    if data[:2] == b"\x1f\x8b" or data[257:262] == b"ustar" or name.endswith((".tar.gz", ".tgz", ".tar")):
        return load_tarball(data, name)
    return load_npz(data, name)


def load_dataset(path):
    """Load a data set from a path: a folder of A..J PNGs, a .tar(.gz), or a .npz."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder.")
    if path.is_dir():
        return load_png_folder(path, path.name)
    return load_bytes(_as_bytes(path), path.name)


def data_dir():
    """The folder searched for data sets: $MLP_LAB_DATA_DIR if set, else the project's data/."""
    return Path(os.environ.get(DATA_DIR_ENV) or DATA_DIR)


def find_data_files(folder=None):
    """Data sets present in ``folder`` (default ``data_dir()``), in order of preference: real notMNIST first, then the embedded set."""
    folder = Path(folder or data_dir())
    found = [folder / n for n in REAL_CANDIDATES if (folder / n).exists()]
    if (folder / EMBEDDED_FILE).exists():
        found.append(folder / EMBEDDED_FILE)
    return found


def default_data_path(folder=None):
    """The data set to use when none is named: a real notMNIST in the data folder, else the embedded set."""
    found = find_data_files(folder)
    if not found:
        raise DataError(f"no data set in {folder or data_dir()}: expected {EMBEDDED_FILE} or one of {REAL_CANDIDATES}.")
    return found[0]


def split_sizes(n):
    """(train, valid, test) sizes: the report's 10000/6000/rest, scaled down in the same proportions for smaller sets.

    For N >= 18724 (notMNIST_small's size) the report's 10000 and 6000 are used as they are;
    a smaller set gets round(N * 10000/18724) and round(N * 6000/18724).
    """
    if n >= REPORT_TOTAL:
        n_train, n_valid = REPORT_SIZES
    else:
        n_train, n_valid = round(n * REPORT_SIZES[0] / REPORT_TOTAL), round(n * REPORT_SIZES[1] / REPORT_TOTAL)
    return n_train, n_valid, n - n_train - n_valid


@dataclass(frozen=True)
class Split:
    """The report's split. x_*: (n, 784) pixels / 255, y_*: (n,) labels; order[i] is the data set row of shuffled row i."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    order: np.ndarray

    def part(self, name):
        """(x, y, data set rows) of 'train', 'valid' or 'test'."""
        n_train, n_valid = len(self.y_train), len(self.y_valid)
        bounds = {"train": (0, n_train), "valid": (n_train, n_train + n_valid), "test": (n_train + n_valid, len(self.order))}
        lo, hi = bounds[name]
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}"), self.order[lo:hi]


def split_dataset(images, labels, seed=SPLIT_SEED, dtype=np.float32):
    """Shuffle as the report does (``np.random.seed(521); np.random.shuffle``), scale by 1/255, cut train/valid/test.

    images: (N, 28, 28) uint8, labels: (N,) -> Split with x of shape (n, 784) in ``dtype``.
    """
    order = np.arange(len(labels))
    np.random.RandomState(seed).shuffle(order)
    n_train, n_valid, _ = split_sizes(len(labels))
    x = images[order].reshape(len(order), -1).astype(dtype)
    x /= 255.0
    y = np.asarray(labels)[order].astype(np.intp)
    cut = (slice(0, n_train), slice(n_train, n_train + n_valid), slice(n_train + n_valid, None))
    parts = [(read_only(x[c]), read_only(y[c])) for c in cut]
    return Split(*parts[0], *parts[1], *parts[2], order=read_only(order))
