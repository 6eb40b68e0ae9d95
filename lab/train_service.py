"""Training out of the server process: one trainer child process per Streamlit server, and run proxies.

No Streamlit here. ``service()`` is this process's ``TrainService``; it starts its child lazily
(``python -m lab.train_worker``, a fresh interpreter: the threaded server is never forked) with
``blas_threads()`` BLAS threads and at a lower priority (the child calls ``os.nice(10)``), so a
click answered by the server comes before training. The child trains every run in round-robin
slices of ``lab.train_worker.SLICE_SECONDS`` (by browser, then by run), within a byte budget
(``lab.budget.training_budget``); runs beyond it wait in a queue.

* ``TrainService.start_run(...)`` -> ``RemoteRun``: the proxy the training page holds instead of a
  ``lab.runs.LiveRun``, with the same interface (mode, active, finished, history, progress,
  seconds_left, trainer.epoch/position/n_train, pause/resume/step/stop, final_record) plus the
  queue place (``queue_ahead``, ``wait_seconds``, ``queued``, ``sharing``) and ``version``
  (raised at every change, so a view redraws only what changed). A receiver thread (plain Python)
  applies the child's messages to the proxies.
* Data: the rows of each (data key, dtype) go once into shared memory (``SharedData``), stacked as
  the trainer wants them; the child maps them read-only. A segment is freed when its last run ends.
* A child that dies is replaced at the next start; its runs end as "stopped" with ``CRASH_NOTICE``
  (the curves so far are kept, the weights of the last moment are not).
* A proxy that is garbage collected (its session ended) tells the child to forget its run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import traceback
import weakref
from collections import deque
from multiprocessing import shared_memory
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from lab.runs import stopped_record

WORKERS_ENV = "MLP_LAB_WORKERS"  # how many Streamlit workers share the machine (scripts/classroom.sh sets it)
MODE_ENV = "MLP_LAB_TRAINER"  # "process" (default): the trainer child; "inline": in the server's threads
BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
STOP_WAIT = 3.0  # seconds ``RemoteRun.stop`` waits for the run's record
POLL = 0.5  # the receiver's wait for a message before it sends the forgotten runs
ROOT = Path(__file__).resolve().parents[1]
CRASH_NOTICE = ("the training process ended unexpectedly (it is started again for the next run); this run "
                "was stopped there: its curves so far are kept, its last weights are lost")


def inline():
    """True when runs train inside the server process (``$MLP_LAB_TRAINER=inline``), as before the service."""
    return os.environ.get(MODE_ENV, "process").strip().lower() == "inline"


def blas_threads(workers=None, cores=None):
    """BLAS threads of one trainer child: max(1, cores // workers); workers from ``$MLP_LAB_WORKERS`` (default 1)."""
    if workers is None:
        try:
            workers = max(1, int(os.environ.get(WORKERS_ENV, "1")))
        except ValueError:
            workers = 1
    cores = cores or len(os.sched_getaffinity(0))
    return max(1, cores // workers)


# ---------------------------------------------------------------------------
# Shared data


def share_rows(split, dtype):
    """A new shared segment with the split's rows stacked (train, valid, test) in ``dtype``, and labels int64.

    Returns (SharedMemory, ref): ref is what ``lab.train_worker.SharedRows`` maps read-only.
    """
    parts = (split.x_train, split.x_valid, split.x_test)
    rows, feats = sum(len(p) for p in parts), split.x_train.shape[1]
    dt = np.dtype(dtype)
    shm = shared_memory.SharedMemory(create=True, size=max(1, rows * feats * dt.itemsize + rows * 8))
    try:
        x = np.ndarray((rows, feats), dt, buffer=shm.buf)
        labels = np.ndarray((rows,), np.int64, buffer=shm.buf, offset=rows * feats * dt.itemsize)
        np.concatenate(parts, out=x)
        np.concatenate((split.y_train, split.y_valid, split.y_test), out=labels, casting="unsafe")
        del x, labels  # no view may outlive the segment's buffer
    except BaseException:
        shm.close()
        shm.unlink()
        raise
    ref = {"name": shm.name, "dtype": dt.name, "rows": rows, "features": feats, "n_train": len(split.y_train),
           "n_valid": len(split.y_valid), "n_data": len(split.order)}
    return shm, ref


class SharedData:
    """Shared segments by (data key, dtype), counted by the runs that use them; freed at zero."""

    def __init__(self):
        self._held = {}  # (key, dtype) -> [SharedMemory, ref, users]
        self._lock = threading.Lock()

    def acquire(self, key, dtype, split):
        with self._lock:
            entry = self._held.get((key, dtype))
            if entry is None:
                entry = self._held[(key, dtype)] = [*share_rows(split, dtype), 0]
            entry[2] += 1
            return entry[1]

    def release(self, key, dtype):
        with self._lock:
            entry = self._held.get((key, dtype))
            if entry is None:
                return
            entry[2] -= 1
            if entry[2] <= 0:
                del self._held[(key, dtype)]
                entry[0].close()
                entry[0].unlink()  # the child's mapping, if any, stays valid until it drops it

    def names(self):
        with self._lock:
            return [e[1]["name"] for e in self._held.values()]

    def nbytes(self):
        with self._lock:
            return sum(e[0].size for e in self._held.values())


# ---------------------------------------------------------------------------
# The proxy


class TrainerView:
    """The parts of a Trainer the training page reads, from the child's last status."""

    def __init__(self, run):
        self._run = run

    hyper = property(lambda self: self._run.hyper)
    history = property(lambda self: self._run.history)
    epoch = property(lambda self: len(self._run._history))
    position = property(lambda self: self._run._status.get("position", 0))
    epoch_fraction = property(lambda self: self._run._status.get("fraction", 0.0))
    n_train = property(lambda self: self._run._status.get("n_train", self._run.n_train))
    done = property(lambda self: self.epoch >= self.hyper.epochs)

    @property
    def batch_size(self):
        b = self.hyper.batch_size
        return self.n_train if b is None else min(b, self.n_train)


class RemoteRun:
    """A run trained by the trainer child; the page's view of it (see the module docstring).

    ``lock`` and ``interrupt`` are for the page's own use (as on LiveRun); the receiver thread
    updates the run under a private lock, so a page holding ``lock`` never blocks it.
    """

    def __init__(self, service, job_id, hyper, run_id, data_name, data_key, n_train, mode="running"):
        self.service, self.job_id, self.hyper, self.run_id = service, job_id, hyper, run_id
        self.data_name, self.data_key, self.n_train = data_name, data_key, n_train
        self.mode = mode
        self.lock = threading.RLock()
        self.interrupt = threading.Event()
        self.trainer = TrainerView(self)
        self.record = None
        self.version = 0
        self._health = []  # the trainer's per-epoch gradient health, if it keeps one
        self._history, self._status, self._place = [], {}, {"ahead": 0, "seconds": None, "queued": False}
        self._mu = threading.Lock()
        self._seq = 0  # commands sent
        self.drawn_active = False  # for the page: whether its last draw saw the run active
        self._ended = threading.Event()
        self.started_at = time.monotonic()

    # --- what the page reads
    @property
    def history(self):
        with self._mu:
            return list(self._history)

    @property
    def health(self):
        with self._mu:
            return list(self._health)

    @property
    def finished(self):
        return self.record is not None

    @property
    def active(self):
        return self.mode in ("running", "stepping") and not self.finished

    @property
    def inside_epoch(self):
        return 0 < self.trainer.epoch_fraction < 1

    @property
    def progress(self):
        t = self.trainer
        return min(1.0, (t.epoch + t.epoch_fraction) / self.hyper.epochs)

    def seconds_left(self):
        """The child's estimate of the time to the run's end (turns shared with other runs included), or None."""
        return self._status.get("left")

    @property
    def wall_seconds(self):
        return self._status.get("wall", 0.0)

    @property
    def queued(self):
        """True while the run waits for memory (not started in the child yet)."""
        return bool(self._place.get("queued")) and not self.finished

    @property
    def queue_ahead(self):
        """Runs ahead of this one: queued before it (if ``queued``), else turns before its next slice."""
        return int(self._place.get("ahead", 0))

    @property
    def wait_seconds(self):
        """Estimated seconds until the run starts (queued) or gets its next slice; None if unknown."""
        return self._place.get("seconds")

    @property
    def sharing(self):
        """How many runs share the trainer's turns now (this one included while it runs)."""
        return int(self._place.get("sharing", 0))

    def final_record(self):
        return self.record

    # --- what the page does (each only sends a command; the child's status follows)
    def pause(self):
        self._command("pause", "paused")

    def resume(self):
        self._command("resume", "running")

    def step(self):
        self._command("step", "stepping")

    def stop(self, wait=STOP_WAIT):
        """Stop the run in the child and wait up to ``wait`` seconds for its record (None after that)."""
        if not self.finished:
            self._command("stop", self.mode)
            self._ended.wait(wait)
        return self.record

    def _command(self, name, mode):
        if self.finished:
            return
        with self._mu:
            self._seq += 1
            self.mode = mode
            self._bump()
            seq = self._seq
        self.service.send((name, self.job_id, seq))

    # --- what the receiver does
    def _bump(self):
        self.version += 1

    def _apply_status(self, status):
        with self._mu:
            self._history.extend(status.get("new", ()))
            self._health.extend(status.get("health", ()))
            self._status = {**self._status, **status}
            if "admitted" in status:
                self._place = {**self._place, "queued": not status["admitted"]}
            if status.get("seq", 0) >= self._seq:  # a status sent before the child saw our last command is stale
                self.mode = status.get("mode", self.mode)
            self._bump()

    def _apply_place(self, place):
        with self._mu:
            if place != self._place:
                self._place = place
                self._bump()

    def _apply_end(self, payload):
        record = payload["record"]
        with self._mu:
            self._history = [dict(r) for r in record.history]
            self.record = record
            self._bump()
        self._ended.set()

    def _apply_failure(self, notice):
        """End the run as stopped by a failure of the trainer: the curves so far, no weights, ``notice`` as reason."""
        with self._mu:
            if self.record is not None:
                return
            self.record = stopped_record(self.run_id, self.hyper, self._history, self.data_name, notice,
                                         self.wall_seconds)
            self._bump()
        self._ended.set()


# ---------------------------------------------------------------------------
# The service


class TrainService:
    """One trainer child of this process, its runs' proxies, and their shared data (see the module docstring).

    budget: bytes the child's admitted runs may take (default ``lab.budget.training_budget()``);
    threads: its BLAS threads (default ``blas_threads()``).
    """

    def __init__(self, budget=None, threads=None, python=None):
        self.budget, self.threads, self.python = budget, threads, python or sys.executable
        self.data = SharedData()
        self._runs = {}  # job_id -> (weakref to RemoteRun, data key, dtype)
        self._lock = threading.RLock()  # the child, the run table
        self._send_lock = threading.Lock()
        self._forgotten = deque()
        self._next = 0
        self.proc = self.conn = None
        self.restarts = 0

    # --- the child
    def _budget(self):
        if self.budget is not None:
            return int(self.budget)
        from lab.budget import training_budget

        return training_budget()

    def _spawn(self):
        """Start the child (a fresh interpreter with its BLAS threads set before numpy loads) and its receiver."""
        ours, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(
            os.pathsep)}
        env.update({name: str(self.threads or blas_threads()) for name in BLAS_ENV})
        proc = subprocess.Popen([self.python, "-m", "lab.train_worker", str(theirs.fileno()), str(self._budget())],
                                pass_fds=[theirs.fileno()], env=env, cwd=ROOT, stdin=subprocess.DEVNULL)
        theirs.close()
        conn = Connection(ours.detach())
        self.proc, self.conn = proc, conn
        threading.Thread(target=self._receive, args=(proc, conn), name="mlp-lab-train-receiver", daemon=True).start()

    def _ensure_child(self):
        with self._lock:
            if self.proc is None or self.proc.poll() is not None:
                if self.proc is not None:
                    self._child_died(self.proc)
                self._spawn()

    def send(self, message):
        """Send a command to the child; a dead child ends its runs (see ``_child_died``)."""
        conn, proc = self.conn, self.proc
        if conn is None:
            return
        try:
            with self._send_lock:
                conn.send(message)
        except OSError:
            self._child_died(proc)

    def _receive(self, proc, conn):
        """The receiver thread: apply the child's messages to the proxies until its connection closes."""
        try:
            while True:
                while self._forgotten:
                    job_id = self._forgotten.popleft()
                    self.send(("forget", job_id))
                    self._drop(job_id)
                if conn.poll(POLL):
                    message = conn.recv()
                    try:
                        self._dispatch(message)
                    except Exception:  # a bad message must not stop every later update
                        traceback.print_exc()
        except (EOFError, OSError):
            pass
        self._child_died(proc)

    def _dispatch(self, message):
        kind = message[0]
        if kind == "places":
            for job_id, place in message[1].items():
                run = self._proxy(job_id)
                if run is not None:
                    run._apply_place(place)
            return
        job_id, body = message[1], message[2]
        run = self._proxy(job_id)
        if kind == "status" and run is not None:
            run._apply_status(body)
        elif kind in ("end", "failed"):
            if run is not None:
                run._apply_end(body) if kind == "end" else run._apply_failure(f"the trainer failed ({body})")
            self._drop(job_id)

    def _proxy(self, job_id):
        entry = self._runs.get(job_id)
        return entry[0]() if entry else None

    def _drop(self, job_id):
        """Forget a job and release its rows in one step: once ``active_runs`` no longer counts it, they are freed."""
        with self._lock:
            entry = self._runs.pop(job_id, None)
            if entry is not None:
                self.data.release(entry[1], entry[2])

    def _child_died(self, proc):
        """End every run of the dead child ``proc`` as stopped with CRASH_NOTICE, and free their data."""
        with self._lock:
            if proc is None or proc is not self.proc:
                return
            with self._send_lock:
                self.conn.close()
            self.proc = self.conn = None
            self.restarts += 1  # the next start_run starts a new child
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            jobs = list(self._runs)
        for job_id in jobs:
            run = self._proxy(job_id)
            if run is not None:
                run._apply_failure(CRASH_NOTICE)
            self._drop(job_id)

    # --- runs
    def start_run(self, hyper, run_id, data_name, data_key, split, browser, mode="running"):
        """A RemoteRun of a new run of ``hyper`` on ``split`` (content key ``data_key``) for ``browser``."""
        spec = {"hyper": hyper, "run_id": run_id, "data_name": data_name, "mode": mode}
        make = lambda job_id: RemoteRun(self, job_id, hyper, run_id, data_name, data_key, len(split.y_train), mode)  # noqa: E731
        return self.start_job("run", spec, make, data_key, hyper.dtype, split, browser)

    def start_sweep(self, hyper, lrs, run_ids, data_name, data_key, split, browser):
        """A ``lab.sweep_run.RemoteSweep`` of a new learning-rate sweep (one job: ``lab.train_worker.SweepJob``)."""
        from lab.sweep_run import RemoteSweep

        spec = {"hyper": hyper, "lrs": [float(lr) for lr in lrs], "run_ids": list(run_ids), "data_name": data_name}
        make = lambda job_id: RemoteSweep(self, job_id, hyper, lrs, run_ids, data_name)  # noqa: E731
        return self.start_job("sweep", spec, make, data_key, hyper.dtype, split, browser)

    def start_job(self, kind, spec, make_proxy, data_key, dtype, split, browser):
        """Start a job of ``kind`` (a ``lab.train_worker.KINDS`` entry) with its picklable ``spec`` on the rows of
        ``split`` in ``dtype``; returns ``make_proxy(job_id)``, which the receiver updates through its
        ``_apply_status(dict)``, ``_apply_place(dict)``, ``_apply_end(payload)`` and ``_apply_failure(text)``.
        A proxy that is garbage collected has the child forget its job."""
        ref = self.data.acquire(data_key, dtype, split)
        with self._lock:
            self._ensure_child()
            self._next += 1
            job_id = self._next
            proxy = make_proxy(job_id)
            self._runs[job_id] = (weakref.ref(proxy), data_key, dtype)
            weakref.finalize(proxy, self._forgotten.append, job_id)
            self.send(("start", job_id, kind, spec, str(browser), ref))
        return proxy

    def active_runs(self):
        """How many runs of this service have not ended."""
        with self._lock:
            return len(self._runs)

    def close(self):
        """Stop the child and free the shared data (tests; a server simply exits)."""
        with self._lock:
            proc, conn = self.proc, self.conn
            self.proc = self.conn = None
        if conn is not None:
            try:
                with self._send_lock:
                    conn.send(("exit", 0))
            except OSError:
                pass
        if proc is not None:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for job_id in list(self._runs):
            self._drop(job_id)


_SERVICE = {"service": None, "lock": threading.Lock()}


def service():
    """This process's TrainService (made at the first call; its child starts with the first run)."""
    with _SERVICE["lock"]:
        if _SERVICE["service"] is None:
            _SERVICE["service"] = TrainService()
        return _SERVICE["service"]
