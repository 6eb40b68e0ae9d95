"""Loading, checking and splitting letter data sets.

Formats read:

* the course's ``notMNIST.npz``: arrays ``images`` (N, 28, 28) or (N, 784)
  integers 0..255 and ``labels`` (N,) integers 0..9 (A..J); the project's
  embedded set uses it too;
* the original notMNIST_small layout: a folder ``A/ ... J/`` of 28x28 PNGs,
  or that folder packed as ``.tar``, ``.tar.gz``, ``.tar.xz`` or ``.tar.bz2``.
  PNGs that cannot be used (empty, not a PNG, not 28x28, damaged) are skipped
  and counted with the reason (notMNIST_small has two empty ones).

Every input is checked against the budgets of ``mlp.limits`` *before* memory
is allocated or pixels decoded: a ``.npz`` member's ``.npy`` header (shape,
dtype, byte count) is read from the zip and checked before its array exists,
and a Python object array is never unpickled; a tar is read one 512-byte
block at a time from a decompressor of our own, so its member count, header
text and inflated size are counted as they stream, and the compressed stream
is read to its end with its checksum verified; a PNG's size is read from its
header before it is decoded. Anything unusable raises ``DataError`` saying
which limit was hit or what was wrong, and what was expected.
"""

from __future__ import annotations

import bz2
import collections
import io
import lzma
import math
import os
import struct
import tarfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format
from PIL import Image

from . import limits
from .core import K_CLASSES, LETTERS

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
READ_CHUNK = 4 * 2**20  # bytes read at a time from a zip member or a decompressor


class DataError(ValueError):
    """A data file is not a usable letter data set; the message says why."""


@dataclass(frozen=True)
class Budget:
    """Which limits of ``mlp.limits`` apply to a file: each field names a constant there."""

    who: str  # "an upload" or "a file in the data folder", for messages
    file_bytes: str
    images: str
    decoded_bytes: str
    tar_images: str
    tar_members: str
    expanded_bytes: str

    def cap(self, what):
        """(value, "mlp.limits.NAME") of one of this budget's limits, read now (tests may lower them)."""
        return limit(getattr(self, what))


def limit(const):
    """(value, "mlp.limits.NAME") of a constant of ``mlp.limits``."""
    return getattr(limits, const), f"mlp.limits.{const}"


UPLOAD = Budget("an upload", "MAX_FILE_BYTES", "MAX_UPLOAD_IMAGES", "MAX_UPLOAD_DECODED_BYTES",
                "MAX_UPLOAD_TAR_IMAGES", "MAX_UPLOAD_TAR_MEMBERS", "MAX_EXPANDED_BYTES")
OWNER = Budget("a file in the data folder", "MAX_OWNER_FILE_BYTES", "MAX_OWNER_IMAGES", "MAX_OWNER_DECODED_BYTES",
               "MAX_OWNER_IMAGES", "MAX_OWNER_TAR_MEMBERS", "MAX_OWNER_EXPANDED_BYTES")


def size_text(n):
    """A byte count for messages: '512 bytes', '3.2 MiB', '8.0 GiB'."""
    if n < 2**20:
        return f"{n:,} bytes"
    if n < 2**30:
        return f"{n / 2**20:,.1f} MiB"
    return f"{n / 2**30:,.1f} GiB"


def over_limit(name, what, had, cap, label, who, unit=""):
    """The DataError for a file whose ``what`` is ``had`` where ``cap`` is allowed (counts with commas, bytes as sizes).

    E.g. "x.npz: the file is 3.0 GiB; the limit for an upload is 200.0 MiB (mlp.limits.MAX_FILE_BYTES)."
    """
    shown = (size_text(had), size_text(cap)) if unit == "bytes" else (f"{had:,}{unit}", f"{cap:,}{unit}")
    return DataError(f"{name}: {what} {shown[0]}; the limit for {who} is {shown[1]} ({label}).")


@dataclass(frozen=True)
class Dataset:
    """A checked data set. images: (N, 28, 28) uint8, labels: (N,) uint8 in 0..9, both read-only."""

    images: np.ndarray
    labels: np.ndarray
    name: str
    skipped: int = 0  # images left out (empty, not a PNG, not 28x28, damaged)
    skip_reasons: tuple = ()  # ((reason, count), ...) adding up to ``skipped``

    def __len__(self):
        return len(self.labels)

    def class_counts(self):
        return np.bincount(self.labels, minlength=K_CLASSES)

    @property
    def skipped_text(self):
        """'' or e.g. '2 skipped (2 empty files)', for captions."""
        if not self.skipped:
            return ""
        return f"{self.skipped:,} skipped ({'; '.join(f'{n:,} {why}' for why, n in self.skip_reasons)})"


def read_only(arr):
    """Mark an array non-writeable (shared between sessions) and return it."""
    arr.flags.writeable = False
    return arr


# --- checking arrays ----------------------------------------------------------------------------------------------


def check_declared(images, labels, name="data", budget=UPLOAD):
    """Check the shapes and dtypes of (images, labels) before any pixel exists; DataError saying what is wrong.

    images, labels: (shape tuple, numpy dtype) as declared by .npy headers (or of real arrays).
    images must be (N, 28, 28) or (N, 784) integers, labels (N,) integers, MIN_IMAGES <= N <= the budget's cap.
    """
    (ishape, idtype), (lshape, ldtype) = images, labels
    if idtype.hasobject or ldtype.hasobject:
        raise DataError(f"{name}: holds pickled Python objects, which are never loaded; {EXPECTED}.")
    if not (len(ishape) == 3 and ishape[1:] == (SIDE, SIDE) or len(ishape) == 2 and ishape[1] == SIDE * SIDE):
        raise DataError(f"{name}: 'images' has shape {ishape}, expected (N, 28, 28).")
    cap, label = budget.cap("images")
    if ishape[0] > cap:
        raise DataError(f"{name}: 'images' declares {ishape[0]:,} images; "
                        f"the limit for {budget.who} is {cap:,} ({label}).")
    if idtype.kind not in "ui":
        raise DataError(
            f"{name}: 'images' has dtype {idtype}, expected uint8 pixel values 0..255 "
            "(images scaled to [0, 1] must be multiplied by 255 first)."
        )
    if len(lshape) != 1 or lshape[0] != ishape[0]:
        raise DataError(f"{name}: 'labels' has shape {lshape}, expected ({ishape[0]},), one label per image.")
    if ldtype.kind not in "ui":
        raise DataError(f"{name}: 'labels' has dtype {ldtype}, expected integers 0..9 (A..J).")
    if ishape[0] < limits.MIN_IMAGES:
        raise DataError(
            f"{name}: only {ishape[0]} images; at least {limits.MIN_IMAGES} are needed to split and train "
            "(mlp.limits.MIN_IMAGES)."
        )


def check_arrays(images, labels, name="data", budget=UPLOAD):
    """Validate and normalise (images, labels); raise DataError saying what is wrong.

    images: (N, 28, 28) or (N, 784), uint8 (or integers within 0..255);
    labels: (N,) integers within 0..9. Returns read-only uint8 arrays (a uint8 input is not copied).
    """
    images, labels = np.asarray(images), np.asarray(labels)
    check_declared((images.shape, images.dtype), (labels.shape, labels.dtype), name, budget)
    images = images.reshape(-1, SIDE, SIDE)
    if images.dtype != np.uint8 and images.size and (images.min() < 0 or images.max() > 255):
        raise DataError(
            f"{name}: 'images' has dtype {images.dtype}, expected uint8 pixel values 0..255 "
            f"(its values run from {images.min()} to {images.max()})."
        )
    if labels.min() < 0 or labels.max() >= K_CLASSES:
        raise DataError(f"{name}: labels range from {labels.min()} to {labels.max()}, expected 0..9 (A..J).")
    return read_only(images.astype(np.uint8, copy=False)), read_only(labels.astype(np.uint8))


# --- opening a source within its byte budget ----------------------------------------------------------------------


def open_source(source, name, cap, label, who):
    """A seekable binary file of a path, bytes or file object, refusing empty files and files over ``cap`` bytes.

    Paths are opened, not read into memory; file objects are read up to cap + 1 bytes. Close it after use.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        fp = io.BytesIO(source)
    elif hasattr(source, "read"):
        fp = io.BytesIO(source.read(cap + 1))
    else:
        path = Path(source)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise DataError(f"{name}: cannot be read ({exc.strerror}).") from None
        if size > cap:
            raise over_limit(name, "the file is", size, cap, label, who, "bytes")
        fp = path.open("rb")
    size = fp.seek(0, os.SEEK_END)
    fp.seek(0)
    if size > cap:
        raise over_limit(name, "the file is", size, cap, label, who, "bytes")
    if size == 0:
        raise DataError(f"{name}: the file is empty; {EXPECTED}.")
    return fp


# --- .npz files: headers first --------------------------------------------------------------------------------------


def zip_directory(fp, name):
    """(member count, central directory bytes) from the zip's end record, read before zipfile parses the directory."""
    size = fp.seek(0, os.SEEK_END)
    fp.seek(max(0, size - 22 - 65535))
    tail = fp.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise DataError(f"{name}: is a damaged .npz (zip) archive: its end record is missing (truncated?).")
    members, directory = struct.unpack("<HL", tail[at + 10 : at + 16])
    if members == 0xFFFF or directory == 0xFFFFFFFF:  # zip64: the counts are in the zip64 end record
        loc = tail[at - 20 : at] if at >= 20 else b""
        if not loc.startswith(b"PK\x06\x07"):
            raise DataError(f"{name}: is a damaged zip64 archive (no zip64 locator).")
        fp.seek(struct.unpack("<Q", loc[8:16])[0])
        record = fp.read(56)
        if len(record) < 56 or not record.startswith(b"PK\x06\x06"):
            raise DataError(f"{name}: is a damaged zip64 archive (no zip64 end record).")
        members, directory = struct.unpack("<QQ", record[32:48])
    return members, directory


class NpzReader:
    """A .npz whose members are read only after their .npy headers passed the caller's checks.

    ``header(key)`` -> (shape, dtype) from the member's .npy header (object, structured and over-wide dtypes
    refused); ``read(key)`` checks the declared bytes against the zip's sizes, the compression ratio and the
    decoded-bytes budget, then fills an array of exactly that size from the stream and verifies the member's CRC.
    """

    def __init__(self, fp, name, members_cap, decoded_cap, who, ratio_cap):
        self.name, self.decoded_cap, self.who, self.decoded, self.ratio_cap = name, decoded_cap, who, 0, ratio_cap
        self.fp = fp
        members, directory = zip_directory(fp, name)
        _check_count(name, "the zip has", members, members_cap or limit("MAX_NPZ_MEMBERS"), who, " members")
        _check_count(name, "its zip directory is", directory, limit("MAX_ZIP_DIRECTORY_BYTES"), who, "bytes")
        self.zf = zipfile.ZipFile(fp)
        infos = self.zf.infolist()
        self.infos = {info.filename.removesuffix(".npy"): info for info in infos}
        if len(self.infos) != len(infos):
            raise DataError(f"{name}: the same array name appears twice in the archive; refused.")
        self.headers = {}

    @property
    def files(self):
        return sorted(self.infos)

    def header(self, key):
        """(shape, dtype) that member ``key`` declares, read from its .npy header only."""
        info = self.infos[key]
        with self.zf.open(info) as f:
            version = npy_format.read_magic(f)
            if version not in ((1, 0), (2, 0)):
                raise DataError(f"{self.name}: '{key}' has .npy format {version}; versions 1.0 and 2.0 are read.")
            read = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
            shape, fortran, dtype = read(f)
            header_bytes = f.tell()
        if dtype.hasobject:
            raise DataError(f"{self.name}: '{key}' holds pickled Python objects ({dtype}), which are never loaded.")
        cap, label = limit("MAX_ARRAY_ITEMSIZE")
        if dtype.names is not None or dtype.subdtype is not None or dtype.kind not in "biufcUS":
            raise DataError(f"{self.name}: '{key}' has dtype {dtype}; only plain numbers and text are read.")
        if dtype.kind in "biufc" and dtype.itemsize > cap:
            raise DataError(f"{self.name}: '{key}' has {dtype.itemsize}-byte numbers ({dtype}); the limit is {cap} "
                            f"({label}).")
        self.headers[key] = (shape, fortran, dtype, header_bytes)
        return shape, dtype

    def read(self, key):
        """The array of member ``key`` (after ``header(key)``), allocated at its declared size only once checked."""
        if key not in self.headers:
            self.header(key)
        shape, fortran, dtype, header_bytes = self.headers[key]
        info, nbytes = self.infos[key], math.prod(shape) * dtype.itemsize
        self.decoded += nbytes
        cap, label = self.decoded_cap
        if self.decoded > cap:
            raise over_limit(self.name, "its arrays declare", self.decoded, cap, label, self.who, "bytes")
        if header_bytes + nbytes != info.file_size:
            raise DataError(
                f"{self.name}: '{key}' declares {shape} {dtype} = {size_text(nbytes)}, but its zip member holds "
                f"{size_text(max(info.file_size - header_bytes, 0))}; the file is damaged or forged."
            )
        ratio, (max_ratio, ratio_label) = info.file_size / max(info.compress_size, 1), self.ratio_cap or (0, "")
        if self.ratio_cap and info.file_size > limits.RATIO_CHECK_BYTES and ratio > max_ratio:
            raise DataError(
                f"{self.name}: '{key}' inflates {ratio:,.0f} times ({size_text(info.compress_size)} to "
                f"{size_text(info.file_size)}); the limit is {max_ratio:,} ({ratio_label}): a zip bomb?"
            )
        arr = np.empty(math.prod(shape), dtype)
        with self.zf.open(info) as f:
            f.read(header_bytes)
            _fill(f, arr, self.name, key)
        return arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)

    def close(self):
        self.zf.close()
        self.fp.close()


def _check_count(name, what, had, cap_label, who, unit=""):
    cap, label = cap_label
    if had > cap:
        raise over_limit(name, what, had, cap, label, who, unit)


def _fill(f, arr, name, key):
    """Read exactly arr.nbytes from the member stream into ``arr`` (chunked, no second copy), then check its end."""
    view = memoryview(arr.reshape(-1).view(np.uint8)) if arr.size else memoryview(b"")
    pos = 0
    while pos < len(view):
        n = f.readinto(view[pos : pos + READ_CHUNK])
        if not n:
            raise DataError(f"{name}: '{key}' ends after {size_text(pos)} of {size_text(len(view))} (truncated).")
        pos += n
    if f.read(1):  # reading to the member's end also makes zipfile verify its CRC-32
        raise DataError(f"{name}: '{key}' holds more data than its header declares; the file is damaged.")


def _npz_failure(name, exc):
    """A DataError for whatever a zip/npy parser raised on a damaged file."""
    kind = type(exc).__name__
    return DataError(f"{name}: is a damaged .npz archive ({kind}: {exc}).")


def open_npz(source, name, members_cap=None, decoded_cap=None, who="an upload", file_cap=None, ratio=True):
    """An NpzReader over a path, bytes or file object; DataError if it is not a readable zip within the budgets.

    ``ratio``: refuse members that inflate more than MAX_COMPRESSION_RATIO times (data sets; a model's arrays
    are bounded by their shapes instead, and a paused run's fresh velocities compress to almost nothing).
    """
    file_cap = file_cap or limit("MAX_FILE_BYTES")
    fp = open_source(source, name, *file_cap, who)
    head = fp.read(6)
    fp.seek(0)
    if head[:2] != b"PK":
        fp.close()
    if head[:1] == b"\x80":
        raise DataError(f"{name}: is a Python pickle, which is never loaded (it could run code); {EXPECTED}.")
    if head == b"\x93NUMPY":
        raise DataError(f"{name}: is a single .npy array; {EXPECTED}.")
    if head[:2] != b"PK":
        raise DataError(f"{name}: is not a .npz (zip) archive; {EXPECTED}.")
    try:
        return NpzReader(fp, name, members_cap, decoded_cap or limit("MAX_UPLOAD_DECODED_BYTES"), who,
                         limit("MAX_COMPRESSION_RATIO") if ratio else None)
    except DataError:
        fp.close()
        raise
    except Exception as exc:  # zipfile raises BadZipFile, OSError, ValueError, struct.error, ...
        fp.close()
        raise _npz_failure(name, exc) from None


def load_npz(source, name="data.npz", *, budget=UPLOAD):
    """Load a course-format .npz (path, bytes or file object) into a checked Dataset (headers checked first)."""
    npz = open_npz(source, name, None, budget.cap("decoded_bytes"), budget.who, budget.cap("file_bytes"))
    try:
        missing = [k for k in ("images", "labels") if k not in npz.infos]
        if missing:
            raise DataError(f"{name}: missing array(s) {missing}; found {npz.files}; {EXPECTED}.")
        check_declared(npz.header("images"), npz.header("labels"), name, budget)
        images, labels = npz.read("images"), npz.read("labels")
    except DataError:
        raise
    except Exception as exc:
        raise _npz_failure(name, exc) from None
    finally:
        npz.close()
    images, labels = check_arrays(images, labels, name, budget)
    return Dataset(images, labels, name)


# --- PNGs ------------------------------------------------------------------------------------------------------------

_SIGNATURES = (
    (b"GIF8", "GIF"), (b"BM", "BMP"), (b"II*\0", "TIFF"), (b"MM\0*", "TIFF"), (b"%!PS", "EPS/PostScript"),
    (b"\xc5\xd0\xd3\xc6", "EPS"), (b"\xff\xd8", "JPEG"), (b"RIFF", "RIFF/WebP"), (b"P1", "PBM"), (b"P2", "PGM"),
    (b"P3", "PPM"), (b"P4", "PBM"), (b"P5", "PGM"), (b"P6", "PPM"), (b"\x00\x00\x01\x00", "ICO"),
)


def png_pixels(data):
    """A 28x28 PNG's bytes -> ((28, 28) uint8, None), or (None, reason) if it cannot be used.

    Only Pillow's PNG reader is tried (``formats=["PNG"]``: nothing else, never Ghostscript), and the size
    comes from the PNG header: anything but 28x28 is refused before a pixel is decoded.
    """
    if not data:
        return None, "empty files"
    cap, label = limit("MAX_PNG_BYTES")
    if len(data) > cap:
        return None, f"files over {size_text(cap)} ({label})"
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        kind = next((k for sig, k in _SIGNATURES if data.startswith(sig)), "unknown")
        return None, f"not PNG files ({kind})"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the 28x28 check comes first
            with Image.open(io.BytesIO(data), formats=["PNG"]) as img:
                if img.size != (SIDE, SIDE):
                    return None, f"PNGs not 28x28 (e.g. {img.size[0]}x{img.size[1]})"
                img.load()
                grey = img if img.mode == "L" else img.convert("L")
                arr = np.frombuffer(grey.tobytes(), np.uint8).reshape(SIDE, SIDE)
    except Image.DecompressionBombError:
        return None, f"PNGs not 28x28 (e.g. one over {2 * Image.MAX_IMAGE_PIXELS:,} pixels)"
    except Exception:  # Pillow raises many kinds on corrupt files
        return None, "damaged PNGs"
    return arr, None


def decode_png(data):
    """A 28x28 PNG's bytes -> (28, 28) uint8, or None if empty, unreadable or not 28x28."""
    return png_pixels(data)[0]


class PngCollector:
    """Gathers decoded letters (and skip reasons) one PNG at a time, refusing past the image and skip caps."""

    def __init__(self, name, images_cap, who):
        self.name, self.images_cap, self.who = name, images_cap, who
        self.entries, self.reasons, self.examples = [], collections.Counter(), {}

    def add(self, letter, file_name, data, reason=None):
        arr, reason = (None, reason) if reason else png_pixels(data)
        if arr is None:
            base = reason.split(" (e.g.")[0]
            self.reasons[base] += 1
            self.examples.setdefault(base, reason)
            cap, label = limit("MAX_TAR_SKIPPED")
            if sum(self.reasons.values()) > cap:
                raise DataError(
                    f"{self.name}: more than {cap:,} PNGs cannot be used ({self._reason_text()}); "
                    f"refused as not a notMNIST set ({label})."
                )
            return
        cap, label = self.images_cap
        if len(self.entries) >= cap:
            raise DataError(f"{self.name}: holds more than {cap:,} images; "
                            f"the limit for {self.who} is {cap:,} ({label}).")
        self.entries.append((letter, file_name.encode("utf-8", "surrogateescape"), arr.tobytes()))

    def _counts(self):
        return tuple((self.examples[why], n) for why, n in self.reasons.most_common())

    def _reason_text(self):
        return "; ".join(f"{n:,} {why}" for why, n in self._counts())

    def dataset(self, budget):
        """The Dataset, ordered A..J then file name; DataError if no PNG could be used."""
        skipped = sum(self.reasons.values())
        if not self.entries:
            why = f": {self._reason_text()}" if skipped else ""
            raise DataError(f"{self.name}: no usable 28x28 PNGs in folders A..J ({skipped} skipped{why}); {EXPECTED}.")
        self.entries.sort(key=lambda e: (e[0], e[1]))
        images = np.frombuffer(b"".join(e[2] for e in self.entries), np.uint8).reshape(-1, SIDE, SIDE).copy()
        labels = np.array([LETTERS.index(e[0]) for e in self.entries], np.uint8)
        images, labels = check_arrays(images, labels, self.name, budget)
        return Dataset(images, labels, self.name, skipped, self._counts())


def _letter_root(folder):
    """The folder holding A/..J/: ``folder`` itself or its one subfolder that does."""
    folder = Path(folder)
    for candidate in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        if all((candidate / letter).is_dir() for letter in LETTERS):
            return candidate
    raise DataError(f"{folder.name}: has no subfolders A/ .. J/; {EXPECTED}.")


def load_png_folder(folder, name=None, *, budget=OWNER):
    """Load the notMNIST_small folder layout (A/ .. J/ of PNGs); each file's size is checked before it is read."""
    root, name = _letter_root(folder), name or Path(folder).name
    found = PngCollector(name, budget.cap("images"), budget.who)
    for letter in LETTERS:
        for entry in os.scandir(root / letter):
            if entry.name.lower().endswith(".png") and entry.is_file():
                if entry.stat().st_size > limits.MAX_PNG_BYTES:
                    found.add(letter, entry.name, b"", f"files over {size_text(limits.MAX_PNG_BYTES)} "
                                                       "(mlp.limits.MAX_PNG_BYTES)")
                else:
                    found.add(letter, entry.name, Path(entry.path).read_bytes())
    return found.dataset(budget)


# --- tar archives, one block at a time ------------------------------------------------------------------------------

_COMPRESSED = ((b"\x1f\x8b", "gzip"), (b"\xfd7zXZ\x00", "xz"), (b"BZh", "bz2"))
_ZLIB_TYPE = type(zlib.decompressobj())


def _decompressor(kind):
    makers = {"gzip": lambda: zlib.decompressobj(wbits=31), "xz": lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ),
              "bz2": bz2.BZ2Decompressor}
    return makers[kind]()


def decompressed(raw, kind, name):
    """Yield the bytes of a gzip, xz or bz2 stream (every member if concatenated), at most READ_CHUNK at a time.

    The stream is read to its very end: a damaged or truncated stream, a wrong checksum (gzip CRC-32 and
    length, xz and bz2 checks), or bytes after the last compressed member raise DataError.
    """
    magic = dict((k, m) for m, k in _COMPRESSED)[kind]
    d, carry = _decompressor(kind), b""
    while True:
        if d.eof:
            if kind == "xz" and d.check == lzma.CHECK_NONE:
                raise DataError(f"{name}: its xz stream carries no checksum (xz --check=none), so damage could not be "
                                "seen; refused.")
            carry = d.unused_data or carry or raw.read(2**16)
            if not carry:
                return
            if not carry.startswith(magic):
                raise DataError(f"{name}: has bytes after the end of its {kind} stream ({carry[:8]!r}...); refused.")
            d = _decompressor(kind)
            continue
        if isinstance(d, _ZLIB_TYPE):
            feed = d.unconsumed_tail or carry or raw.read(2**16)
        else:
            feed = (carry or raw.read(2**16)) if d.needs_input else b""
        carry = b""
        try:
            out = d.decompress(feed, READ_CHUNK)
        except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError) as exc:
            raise DataError(f"{name}: its {kind} stream is damaged ({exc}); refused.") from None
        if not out and not feed and not d.eof:
            raise DataError(f"{name}: its {kind} stream ends early (truncated); refused.")
        if out:
            yield out


def plain_chunks(raw):
    """Yield an uncompressed file's bytes READ_CHUNK at a time."""
    while block := raw.read(READ_CHUNK):
        yield block


class BlockStream:
    """Exact reads from a stream of chunks, counting every byte against an inflated-size cap."""

    def __init__(self, chunks, name, cap, who):
        self.chunks, self.name, self.cap, self.who = chunks, name, cap, who
        self.buf, self.total, self.pos = bytearray(), 0, 0

    def read(self, n):
        """n bytes (fewer only at the end of the stream)."""
        while len(self.buf) < n:
            chunk = next(self.chunks, None)
            if chunk is None:
                break
            self.total += len(chunk)
            if self.total > self.cap[0]:
                cap, label = self.cap
                raise DataError(f"{self.name}: inflates to more than {size_text(cap)}; the limit for {self.who} is "
                                f"{size_text(cap)} ({label}).")
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        self.pos += len(out)
        return out

    def exact(self, n, what):
        """n bytes, or DataError naming what was cut short."""
        out = bytearray()
        while len(out) < n:
            piece = self.read(min(n - len(out), READ_CHUNK))
            if not piece:
                raise DataError(f"{self.name}: ends inside {what} (truncated); refused.")
            out += piece
        return bytes(out)

    def padded(self, n, what, keep=True):
        """The n bytes of a member's data and its padding to 512 (the data if ``keep``, else b'')."""
        data = self.exact(n, what) if keep else b""
        if not keep:
            left = n
            while left:
                left -= len(self.exact(min(left, READ_CHUNK), what))
        self.exact(-n % 512, what)
        return data

    def rest_is_zeros(self):
        """True if everything left in the stream (read to its end, so checksums are verified) is zero bytes."""
        zero = True
        while piece := self.read(READ_CHUNK):
            zero = zero and not piece.strip(b"\0")
        return zero


_EXTENDED = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE)
_NO_DATA = (tarfile.LNKTYPE, tarfile.SYMTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.DIRTYPE, tarfile.FIFOTYPE)


def pax_fields(text, name):
    """{key: value} of a pax extended header's records 'LEN key=value\\n'; DataError if they do not parse."""
    fields, pos = {}, 0
    while pos < len(text) and text[pos:].strip(b"\0"):
        space = text.find(b" ", pos, pos + 20)
        try:
            length = int(text[pos:space]) if space > pos else 0
        except ValueError:
            length = 0
        record = text[pos : pos + length]
        if length <= space - pos + 1 or len(record) < length or not record.endswith(b"\n") or b"=" not in record:
            raise DataError(f"{name}: a pax header does not parse (at its byte {pos}); the archive is damaged.")
        key, _, value = record[space - pos + 1 : -1].partition(b"=")
        fields[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return fields


class TarWalker:
    """Walks a tar stream header by header within the budgets, yielding (path, size, regular) per member."""

    def __init__(self, stream, name, members_cap, who):
        self.stream, self.name, self.members_cap, self.who = stream, name, members_cap, who
        self.members = self.header_text = 0
        self.pending = {}  # path/size from a GNU long name or pax header, for the next member

    def header(self):
        """The next member's TarInfo, or None at the end-of-archive marker."""
        block = self.stream.read(512)
        if len(block) < 512:
            raise DataError(f"{self.name}: ends without the tar end-of-archive marker (truncated?); refused.")
        if not block.strip(b"\0"):
            return None
        self.members += 1
        cap, label = self.members_cap
        if self.members > cap:
            raise DataError(f"{self.name}: holds more than {cap:,} tar members; "
                            f"the limit for {self.who} is {cap:,} ({label}).")
        try:
            return tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        except tarfile.HeaderError as exc:
            raise DataError(
                f"{self.name}: the header of tar member {self.members:,} (at byte {self.stream.pos - 512:,}) does not "
                f"parse ({exc}); the archive is damaged."
            ) from None

    def extended(self, info):
        """Read a GNU long-name/long-link or pax header's text (within MAX_TAR_HEADER_BYTES, MAX_TAR_HEADERS_TOTAL)."""
        kind = "pax" if info.type in (tarfile.XHDTYPE, tarfile.XGLTYPE) else "GNU long-name"
        _check_count(self.name, f"a {kind} header is", info.size, limit("MAX_TAR_HEADER_BYTES"), self.who, "bytes")
        self.header_text += info.size
        _check_count(self.name, "its long-name and pax headers total", self.header_text, limit("MAX_TAR_HEADERS_TOTAL"),
                     self.who, "bytes")
        text = self.stream.padded(info.size, "a long-name or pax header")
        if info.type == tarfile.GNUTYPE_LONGNAME:
            self.pending["path"] = text.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        elif info.type == tarfile.XHDTYPE:
            fields = pax_fields(text, self.name)
            self.pending.update({k: fields[k] for k in ("path", "size", "GNU.sparse.size") if k in fields})

    def __iter__(self):
        while (info := self.header()) is not None:
            if info.type in _EXTENDED:
                self.extended(info)
                continue
            path, size = self.pending.pop("path", info.name), self.pending.pop("size", info.size)
            sparse = self.pending.pop("GNU.sparse.size", None) is not None or info.type == tarfile.GNUTYPE_SPARSE
            self.pending.clear()
            try:
                size = int(size)
            except ValueError:
                raise DataError(f"{self.name}: member {path!r} has a size that is not a number.") from None
            if sparse or size < 0:
                raise DataError(f"{self.name}: member {path!r} is a sparse or negative-size file; not read.")
            yield path, (0 if info.type in _NO_DATA else size), info.type in tarfile.REGULAR_TYPES
        if not self.stream.rest_is_zeros():
            raise DataError(f"{self.name}: has data after its tar end-of-archive marker; refused.")


def _letter_of(path):
    """'A'..'J' if ``path`` is .../A/x.png .. .../J/x.png, else None."""
    parts = path.rstrip("/").rsplit("/", 2)
    if len(parts) >= 2 and parts[-2] in LETTERS and parts[-1].lower().endswith(".png"):
        return parts[-2]
    return None


def load_tarball(source, name="notMNIST_small.tar.gz", *, budget=UPLOAD):
    """Load notMNIST_small packed as .tar(.gz/.xz/.bz2): members .../A/x.png .. .../J/y.png, read in memory.

    Streams block by block (never extracted); the compressed stream is read to its end and its checksum verified.
    """
    fp = open_source(source, name, *budget.cap("file_bytes"), budget.who)
    with fp:
        head = fp.read(6)
        fp.seek(0)
        kind = next((k for m, k in _COMPRESSED if head.startswith(m)), "tar")
        chunks = plain_chunks(fp) if kind == "tar" else decompressed(fp, kind, name)
        stream = BlockStream(chunks, name, budget.cap("expanded_bytes"), budget.who)
        walker = TarWalker(stream, name, budget.cap("tar_members"), budget.who)
        found = PngCollector(name, budget.cap("tar_images"), budget.who)
        for path, size, regular in walker:
            letter = _letter_of(path) if regular else None
            keep = letter is not None and size <= limits.MAX_PNG_BYTES
            data = stream.padded(size, f"member {path!r}", keep)
            if letter is not None:
                found.add(letter, path.rsplit("/", 1)[-1], data,
                          None if keep else f"files over {size_text(limits.MAX_PNG_BYTES)} (mlp.limits.MAX_PNG_BYTES)")
    return found.dataset(budget)


# --- recognising and finding data sets ------------------------------------------------------------------------------


def _looks_like_tar(head, name):
    """A tar by its content (gzip/xz/bz2 magic, 'ustar'), or by its name unless the content is a zip."""
    if head[:2] == b"PK":
        return False
    return head[:2] == b"\x1f\x8b" or head.startswith((b"\xfd7zXZ\x00", b"BZh")) or head[257:262] == b"ustar" \
        or name.endswith((".tar.gz", ".tgz", ".tar", ".tar.xz", ".txz", ".tar.bz2", ".tbz2"))


def load_bytes(data, name, *, budget=UPLOAD):
    """Load an uploaded file's bytes (upload budget by default), recognising .npz and .tar(.gz) by content."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        _check_count(name, "the file is", len(data), budget.cap("file_bytes"), budget.who, "bytes")
        head = bytes(data[:512])
    else:
        data = open_source(data, name, *budget.cap("file_bytes"), budget.who)
        head = data.read(512)
        data.seek(0)
    if not head:
        raise DataError(f"{name}: the file is empty; {EXPECTED}.")
    if _looks_like_tar(head, name):
        return load_tarball(data, name, budget=budget)
    return load_npz(data, name, budget=budget)


def load_dataset(path, *, budget=OWNER):
    """Load a data set from a path (a folder of A..J PNGs, a .tar(.gz) or a .npz) with the data folder's budget."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder.")
    if path.is_dir():
        return load_png_folder(path, path.name, budget=budget)
    with path.open("rb") as f:
        head = f.read(512)
    if _looks_like_tar(head, path.name):
        return load_tarball(path, path.name, budget=budget)
    return load_npz(path, path.name, budget=budget)


def data_dir():
    """The folder searched for data sets: $MLP_LAB_DATA_DIR if set, else the project's data/."""
    return Path(os.environ.get(DATA_DIR_ENV) or DATA_DIR)


def find_data_files(folder=None):
    """Data sets in ``folder`` (default ``data_dir()``), preferred first: real notMNIST, then the embedded set."""
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
    """The report's split. x_*: (n, 784) pixels / 255, y_*: (n,) labels; order[i]: data set row of shuffled row i."""

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
        n_fit = n_train + n_valid
        bounds = {"train": (0, n_train), "valid": (n_train, n_fit), "test": (n_fit, len(self.order))}
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
