"""Memory of the whole server: its budget, what an action needs, and one store of decoded data sets.

One Streamlit server serves a whole class, so memory is counted per process:

* ``memory_budget()``: ``$MLP_LAB_MEMORY_BUDGET`` (bytes, e.g. ``6G``, ``512M``, or ``40%`` of the
  machine) if set, else ``mlp.limits.MEMORY_BUDGET_FRACTION`` of the machine's memory (MemTotal of
  ``/proc/meminfo``, or a lower cgroup limit). ``rss_bytes()`` is the process's resident memory
  (VmRSS of ``/proc/self/status``); ``free_bytes()`` what is left of the budget (never more than
  the machine's MemAvailable).
* ``check_memory(needed, what)`` refuses an action that would not fit (``MemoryRefused``, a
  ``DataError``, so every page's handler shows it), saying what was needed and what is free.
  Estimates come *before* the allocation: ``estimate_set_bytes`` from an upload's declared image
  count (``estimate_upload_bytes`` reads only the .npz header), ``estimate_run_bytes`` from the
  settings and the split's sizes.
* ``SetStore`` holds every decoded data set once per server, keyed by content (the SHA-256 of an
  upload's bytes; a data-folder file's resolved path, size and mtime_ns), with its report split
  and the SHA-256 of its arrays (``digest``, the key of everything derived from the set). A
  session *claims* the sets it uses (``claim``); the claim lives in its session state, so the
  store sees it through a weak reference. An upload no live session claims is dropped at the next
  script run of any session; a data-folder set no session claims is evicted, least recently used
  first, when room is needed. Uploaded sets together stay within ``MAX_CACHED_UPLOAD_BYTES``.
"""

from __future__ import annotations

import gc
import hashlib
import os
import re
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from mlp import limits
from mlp.data import DataError, limit, open_npz, size_text, split_dataset
from mlp.health import snapshot_count, snapshot_epochs
from mlp.train import Engine, Hyper

MEMORY_BUDGET_ENV = "MLP_LAB_MEMORY_BUDGET"
PIXELS = 28 * 28
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


class MemoryRefused(DataError):
    """An action would take more memory than the server has left; the message says how much of each."""


# --- the machine and the process ----------------------------------------------------------------------------


def _proc_fields(path):
    """{field: bytes} of a /proc file of 'Name:   123 kB' lines ({} if it cannot be read)."""
    try:
        text = Path(path).read_text()
    except OSError:
        return {}
    fields = {}
    for m in re.finditer(r"^(\w+):\s+(\d+)\s*(kB)?", text, re.M):
        fields[m[1]] = int(m[2]) * (1024 if m[3] else 1)
    return fields


def machine_bytes():
    """The machine's memory: MemTotal, or the cgroup's memory.max if lower (None if unknown)."""
    total = _proc_fields("/proc/meminfo").get("MemTotal")
    try:
        cgroup = Path("/sys/fs/cgroup/memory.max").read_text().strip()
    except OSError:
        cgroup = "max"
    if cgroup.isdigit():
        total = min(total or int(cgroup), int(cgroup))
    return total


def parse_budget(text, machine):
    """Bytes of a budget written as '6G', '512M', '1073741824', '6GiB' or '40%' (of ``machine``)."""
    text = text.strip().lower().removesuffix("ib").removesuffix("b")
    if text.endswith("%"):
        return int(float(text[:-1]) / 100 * (machine or limits.MEMORY_BUDGET_FALLBACK))
    unit = text[-1:] if text[-1:] in _UNITS else ""
    return int(float(text[: len(text) - len(unit)]) * _UNITS[unit])


def memory_budget():
    """The server's memory budget in bytes (see the module docstring)."""
    machine = machine_bytes()
    env = os.environ.get(MEMORY_BUDGET_ENV)
    if env:
        try:
            return parse_budget(env, machine)
        except ValueError:
            pass  # a malformed setting falls back to the default
    if machine is None:
        return limits.MEMORY_BUDGET_FALLBACK
    return int(limits.MEMORY_BUDGET_FRACTION * machine)


def rss_bytes():
    """This process's resident memory (VmRSS), 0 if unknown."""
    return _proc_fields("/proc/self/status").get("VmRSS", 0)


def free_bytes():
    """What is left of the budget: budget - RSS, and no more than the machine's MemAvailable."""
    free = memory_budget() - rss_bytes()
    available = _proc_fields("/proc/meminfo").get("MemAvailable")
    return max(0, free if available is None else min(free, available))


def usage():
    """{'rss', 'budget', 'free'} in bytes, for the page that shows the server's memory."""
    return {"rss": rss_bytes(), "budget": memory_budget(), "free": free_bytes()}


def check_memory(needed, what, free=None):
    """Raise MemoryRefused if ``needed`` bytes do not fit in what is free of the budget."""
    free = free_bytes() if free is None else free
    if needed > free:
        raise MemoryRefused(
            f"Not enough memory on the server to {what}: it needs about {size_text(needed)}, and "
            f"{size_text(free)} of the lab's {size_text(memory_budget())} is free (the server uses "
            f"{size_text(rss_bytes())}; ${MEMORY_BUDGET_ENV} sets the budget). Try again later, or something smaller."
        )


# --- estimates before allocating ------------------------------------------------------------------------------


def estimate_set_bytes(n_images, itemsize=1):
    """(resident, peak) bytes of a data set of ``n_images`` once loaded and split.

    Resident: uint8 images (N x 784), labels, and the split (float32 x of all N rows, labels and
    order as intp). Peak adds the loading's transients: the member as declared (``itemsize`` bytes
    a pixel, if not uint8) and the shuffled uint8 copy the split makes.
    """
    resident = n_images * (PIXELS * (1 + 4) + 1 + 8 + 8)
    transient = n_images * PIXELS * (1 + (itemsize if itemsize != 1 else 0))
    return resident, resident + transient


def _declared_images(source, name, caps):
    """(N, itemsize) of a .npz's 'images' member from its .npy header only; (0, 1) if that cannot be read."""
    try:
        npz = open_npz(source, name, **caps)
        try:
            shape, dtype = npz.header("images")
        finally:
            npz.close()
    except (DataError, KeyError, ValueError, OSError):
        return 0, 1  # loading it then raises the loader's own refusal
    return (int(shape[0]) if shape else 0), dtype.itemsize


def estimate_upload_bytes(data, name):
    """(resident, peak) of an upload before it is decoded: a .npz's declared image count, else the tar cap.

    Reads only the zip directory and the 'images' member's .npy header.
    """
    if bytes(data[:2]) != b"PK":
        return estimate_set_bytes(limits.MAX_UPLOAD_TAR_IMAGES)
    return estimate_set_bytes(*_declared_images(data, name, {}))


def estimate_path_bytes(path):
    """(resident, peak) of a data-folder set before loading: a .npz's declared count, a folder's PNG count, else 0."""
    path = Path(path)
    if path.is_dir():
        return estimate_set_bytes(sum(1 for d in path.iterdir() if d.is_dir() for _ in d.glob("*.png")))
    with path.open("rb") as f:
        head = f.read(2)
    if head != b"PK":
        return estimate_set_bytes(0)
    owner = {"file_cap": limit("MAX_OWNER_FILE_BYTES"), "decoded_cap": limit("MAX_OWNER_DECODED_BYTES")}
    return estimate_set_bytes(*_declared_images(path, path.name, owner))


def rows_in_flight(n):
    """(L, C): the lanes an estimate counts (one a core this process may use, the most the trainer takes) and
    C = min(n, L * ``Engine.CHUNK_ROWS``), the rows of n whose hidden layer is held at once."""
    lanes = len(os.sched_getaffinity(0))
    return lanes, min(n, lanes * Engine.CHUNK_ROWS)


def estimate_run_bytes(hyper: Hyper, n_train, n_valid, shared_inputs=False):
    """Bytes a training run's trainer allocates (``mlp.train.Engine``), from its settings and the split's sizes.

    shared_inputs: the stacked inputs and labels are a shared read-only segment (``lab.train_service``),
    counted once per data set rather than per run, so they are left out.

    With s bytes a number (4 or 8), N = n_train + n_valid rows, F = 784, K = 10, P = F*H + H + H*K + K
    parameters, L lanes (at most one a core) and C = min(N, L * ``Engine.CHUNK_ROWS``) rows in flight:
    the stacked inputs N*F and one-hot targets N*K; per row in flight (C, and the B rows of a
    mini-batch) the hidden rows, their deltas and mask and the logits, probabilities and log-softmax
    (H*(2s + 1) + 4K*s), plus a mini-batch's inputs B*F; weights and velocities 2P, each lane's
    gradient sum and scratch 2L*P and the sum over row blocks P, all times s; labels 8N, the float64
    first draw and a copy 2*P*8, and the float32 snapshots (``mlp.health.snapshot_epochs``); 10 % more
    for numpy's temporaries.
    """
    s = 8 if hyper.dtype == "float64" else 4
    n, h, k = n_train + n_valid, hyper.hidden, 10
    lanes, in_flight = rows_in_flight(n)
    rows = in_flight + (0 if hyper.batch_size is None else min(hyper.batch_size, n_train))
    batch_inputs = 0 if hyper.batch_size is None else min(hyper.batch_size, n_train) * PIXELS
    params = PIXELS * h + h + h * k + k
    inputs = 0 if shared_inputs else n * PIXELS
    arrays = s * (inputs + n * k + batch_inputs + (2 + 2 * lanes + 1) * params) + rows * (h * (2 * s + 1) + 4 * k * s)
    snapshots = 4 * params * len(snapshot_epochs(hyper.epochs, snapshot_count((PIXELS, h, k))))
    return int((arrays + 8 * (n + 2 * params) + snapshots) * 1.1)


TRAINING_BUDGET_ENV = "MLP_LAB_TRAINING_BUDGET"
TRAINING_SHARE = 0.5  # of one worker's share of the memory budget, for its trainer process's active runs


def training_budget(workers=None):
    """Bytes the active runs of one worker's trainer process may take (``lab.train_service``).

    ``$MLP_LAB_TRAINING_BUDGET`` (as ``parse_budget`` reads it) if set, else TRAINING_SHARE of the
    memory budget divided by the workers (``$MLP_LAB_WORKERS``, default 1): the other half is for the
    Streamlit processes (sessions, data sets). Runs beyond it wait until a running one ends.
    """
    env = os.environ.get(TRAINING_BUDGET_ENV)
    if env:
        try:
            return parse_budget(env, machine_bytes())
        except ValueError:
            pass
    if workers is None:
        try:
            workers = max(1, int(os.environ.get("MLP_LAB_WORKERS", "1")))
        except ValueError:
            workers = 1
    return int(memory_budget() * TRAINING_SHARE / workers)


# --- the store of decoded data sets ---------------------------------------------------------------------------


def array_digest(*arrays):
    """SHA-256 (hex) of arrays' bytes, dtypes and shapes: the content key of a data set."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a.reshape(-1)) if a.flags.c_contiguous else a.tobytes())
    return h.hexdigest()


@dataclass(frozen=True, eq=False)
class StoredSet:
    """A decoded data set held by the store: the Dataset, its report split, its content digest and size."""

    key: tuple
    dataset: object
    split: object
    digest: str
    nbytes: int

    @property
    def uploaded(self):
        return self.key[0] == "upload"


def stored_set(key, dataset):
    """A StoredSet of ``dataset``: split as the report does, digest of its arrays, bytes of all its arrays."""
    split = split_dataset(dataset.images, dataset.labels)
    arrays = (dataset.images, dataset.labels, split.x_train, split.x_valid, split.x_test, split.y_train,
              split.y_valid, split.y_test, split.order)
    return StoredSet(key, dataset, split, array_digest(dataset.images, dataset.labels),
                     sum(a.nbytes for a in arrays))


class Claim:
    """A session's hold on one stored set; kept in its session state, seen by the store through a weak reference."""

    __slots__ = ("key", "__weakref__")

    def __init__(self, key):
        self.key = key


class SetStore:
    """Decoded data sets for all sessions: one copy each, evicted least recently used once no session claims it.

    ``upload_budget``: bytes all uploaded sets may take together. ``free``: a function giving the
    bytes of memory free (default ``free_bytes``).
    """

    def __init__(self, upload_budget=None, free=None):
        self._upload_budget = upload_budget
        self.free = free or (lambda: free_bytes())  # looked up at each call: tests may change the budget
        self._sets = OrderedDict()  # key -> StoredSet, least recently used first
        self._claims = {}  # key -> WeakSet of Claim
        self._lock = threading.RLock()
        self._load_lock = threading.Lock()  # one load at a time: each checks the memory its own way

    @property
    def upload_budget(self):
        """Bytes all uploaded sets may take together (``mlp.limits.MAX_CACHED_UPLOAD_BYTES`` unless given)."""
        return limits.MAX_CACHED_UPLOAD_BYTES if self._upload_budget is None else self._upload_budget

    def get(self, key):
        """The StoredSet of ``key`` (now the most recently used), or None."""
        with self._lock:
            entry = self._sets.get(key)
            if entry is not None:
                self._sets.move_to_end(key)
            return entry

    def claim(self, key):
        """A new Claim on ``key``: while it lives, the set is not evicted."""
        with self._lock:
            c = Claim(key)
            self._claims.setdefault(key, weakref.WeakSet()).add(c)
            return c

    def claimed(self, key):
        """How many live claims ``key`` has."""
        with self._lock:
            return len(self._claims.get(key, ()))

    def holds_uploads(self):
        """True if any uploaded set is held."""
        with self._lock:
            return any(e.uploaded for e in self._sets.values())

    def release_unclaimed_uploads(self):
        """Drop every uploaded set that no live session claims; return how many were dropped.

        Called at every script run (``ui.data_source``), so an upload's memory goes soon after the
        last session using it ends (or replaces it); data-folder sets stay cached until room is needed.
        """
        with self._lock:
            gone = [k for k, e in self._sets.items() if e.uploaded and not self._claims.get(k)]
            for k in gone:
                del self._sets[k]
                self._claims.pop(k, None)
            return len(gone)

    def held_bytes(self, uploads_only=False):
        with self._lock:
            return sum(e.nbytes for e in self._sets.values() if e.uploaded or not uploads_only)

    def __len__(self):
        return len(self._sets)

    def load(self, key, build, estimate, what="load this data set"):
        """(StoredSet, Claim) of ``key``, decoding it with ``build()`` -> Dataset if it is not held.

        ``estimate``: (resident, peak) bytes from ``estimate_set_bytes``; room is made (unclaimed
        sets evicted) before ``build`` runs, else MemoryRefused says why. The claim is taken under
        the store's lock, so no other session can evict the set before the caller keeps the claim.
        """
        with self._lock:
            entry = self.get(key)
            if entry is not None:
                return entry, self.claim(key)
        with self._load_lock:
            with self._lock:
                entry = self.get(key)
            if entry is None:
                self.make_room(key, estimate, what)
                entry = stored_set(key, build())
            with self._lock:
                self._sets[key] = entry
                self._sets.move_to_end(key)
                return entry, self.claim(key)

    def make_room(self, key, estimate, what):
        """Evict unclaimed sets until ``estimate`` fits both budgets; MemoryRefused if it cannot."""
        resident, peak = estimate
        if key[0] == "upload" and resident > self.upload_budget:
            raise MemoryRefused(
                f"Not enough room to {what}: it needs about {size_text(resident)} once decoded; uploaded data "
                f"sets may take {size_text(self.upload_budget)} in all (mlp.limits.MAX_CACHED_UPLOAD_BYTES).")
        for _ in range(2):
            short = self._short(key, resident, peak)
            while short and self._evict_one(uploads_only=short == "uploads"):
                short = self._short(key, resident, peak)
            if not short:
                return
            gc.collect()  # sessions that ended may still hold claims in reference cycles
        self._refuse(key, resident, peak, what)

    def _short(self, key, resident, peak):
        """What ``estimate`` does not fit in: "uploads" (their budget), "memory" (the server's), or None."""
        uploads = self.held_bytes(uploads_only=True) + (resident if key[0] == "upload" else 0)
        if uploads > self.upload_budget:
            return "uploads"
        return "memory" if peak > self.free() else None

    def _evict_one(self, uploads_only):
        """Drop the least recently used unclaimed set (only uploads if ``uploads_only``); False if none."""
        with self._lock:
            free = [k for k, e in self._sets.items() if not self._claims.get(k) and (e.uploaded or not uploads_only)]
            if not free:
                return False
            del self._sets[free[0]]
            self._claims.pop(free[0], None)
            return True

    def _refuse(self, key, resident, peak, what):
        if peak > self.free():
            check_memory(peak, what, free=self.free())
        raise MemoryRefused(
            f"Not enough room to {what}: it needs about {size_text(resident)} once decoded, and the uploaded data "
            f"sets other sessions are using take {size_text(self.held_bytes(uploads_only=True))} of the "
            f"{size_text(self.upload_budget)} they may take in all (mlp.limits.MAX_CACHED_UPLOAD_BYTES). "
            "Try again later.")
