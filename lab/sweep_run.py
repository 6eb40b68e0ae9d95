"""A learning-rate sweep as the Sweep page drives it: ``mlp.sweep.Sweep`` in time-boxed chunks.

``SweepRun`` has ``lab.runs.LiveRun``'s interface (``advance(budget_seconds)``, ``mode``,
``active``, ``finished``, ``pause`` / ``resume`` / ``stop``, ``progress``) for R runs at once:
``histories[r]`` are run r's records, and once the sweep ends the call that ends it builds one
``lab.runs.RunRecord`` per learning rate (``final_records``), so the sweep's runs go to the run
history like any other run. No Streamlit here.

In a server with a trainer process (``lab.train_service``) the sweep is one job of that process
(``lab.train_worker.SweepJob`` drives a ``SweepRun`` there) and the page holds a ``RemoteSweep``,
the proxy with the same interface that the service's receiver updates.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import numpy as np

from lab.budget import estimate_run_bytes, rows_in_flight
from lab.runs import RunRecord, stopped_record
from mlp.health import snapshot_count, snapshot_epochs
from mlp.metrics import accuracy
from mlp.network import predict

MODES = ("running", "paused")


def estimate_sweep_bytes(hyper, n_train, n_valid, rates, shared_inputs=False):
    """Bytes a sweep of ``rates`` networks allocates: one trainer's (``estimate_run_bytes``: the stacked data, one
    network's buffers) plus, per network, its weights, velocities and gradients (3P), the update's hidden rows,
    deltas and mask and its logits (B x (H(2s + 1) + 4Ks), B the batch's rows), the stacked evaluation's hidden
    rows and logits (C x (H + 4K) s, C the rows in flight, as ``estimate_run_bytes``) and its float32 snapshots,
    and each lane's copy of a mini-batch's rows, in the run's dtype; 10 % more for temporaries (a full batch
    reads the stacked rows in place). shared_inputs: as ``estimate_run_bytes``."""
    s = 8 if hyper.dtype == "float64" else 4
    h, k, n = hyper.hidden, 10, n_train + n_valid
    batch = n_train if hyper.batch_size is None else min(hyper.batch_size, n_train)
    lanes, chunk = rows_in_flight(n)
    params = 784 * h + h + h * k + k
    snapshots = len(snapshot_epochs(hyper.epochs, snapshot_count((784, h, k))))
    per_net = s * (3 * params + batch * 4 * k + chunk * (h + 4 * k)) + batch * h * (2 * s + 1) + 4 * params * snapshots
    lane_rows = 0 if hyper.batch_size is None else lanes * batch * (784 + k) * s  # each lane's mini-batch rows
    return int(estimate_run_bytes(hyper, n_train, n_valid, shared_inputs=shared_inputs)
               + 1.1 * (rates * per_net + lane_rows))


class SweepRun:
    """A sweep in progress. ``run_ids[r]`` is run r's number in the history; ``split`` (optional) gives test accuracy.

    ``mode``: "running" or "paused"; ``finished`` once every run is done or stopped, or ``stop`` was
    called. ``clock`` is injectable for tests. Callers from several threads hold ``lock``.
    """

    STEP_SECONDS = 0.1  # work between two looks at the clock

    def __init__(self, sweep, run_ids, data_name, split=None, mode="running", clock=time.perf_counter, data_key=None):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if len(run_ids) != sweep.runs:
            raise ValueError("one run id per learning rate")
        self.sweep, self.run_ids, self.data_name = sweep, list(run_ids), data_name
        self.split, self.data_key = split, data_key
        self.mode, self.stopped, self.clock = mode, False, clock
        self.wall_seconds = 0.0
        self._batch_seconds = None
        self._active_since = clock() if mode == "running" else None
        self.lock = threading.RLock()
        self.interrupt = threading.Event()
        self.records = None  # [RunRecord], built by the call that ends the sweep
        self.defer_records = False  # True: the records are built by ``build_records`` in slices, not at the end
        self._built = []  # the records built so far (one a learning rate, in order)

    @property
    def hypers(self):
        return self.sweep.hypers

    @property
    def histories(self):
        return self.sweep.histories

    @property
    def reasons(self):
        return self.sweep.reasons

    @property
    def finished(self):
        return self.sweep.done or self.stopped

    # what the Sweep page draws (``RemoteSweep`` has the same)
    epoch = property(lambda self: self.sweep.epoch)
    epochs = property(lambda self: self.sweep.hyper.epochs)
    runs = property(lambda self: self.sweep.runs)
    live_count = property(lambda self: len(self.sweep.slots))
    queued = False  # in the server process a sweep starts at once

    def seconds_left(self):
        """Seconds to the planned end at the pace so far (None before any progress)."""
        p = self.progress
        return None if p <= 0 or self.finished else self.wall_seconds * (1 - p) / p

    @property
    def active(self):
        return self.mode == "running" and not self.finished

    def _account(self):
        now = self.clock()
        if self._active_since is not None:
            self.wall_seconds += now - self._active_since
            self._active_since = now

    def pause(self):
        self._account()
        self.mode, self._active_since = "paused", None

    def resume(self):
        if self.mode == "paused" and not self.finished:
            self._active_since = self.clock()
        self.mode = "running"

    def stop(self):
        """End the sweep where it stands; builds the records (unless ``defer_records``)."""
        with self.lock:
            self._account()
            self.stopped, self._active_since = True, None
            if not self.defer_records:
                self.final_records()

    @property
    def progress(self):
        """Fraction of the planned epochs done, counting the part of the current epoch."""
        s = self.sweep
        if s.done:
            return 1.0
        return min(1.0, (s.epoch + s.position / s.n_train) / s.hyper.epochs)

    def advance(self, budget):
        """Train for about ``budget`` seconds (at least one step); return [(r, record)] of the epochs completed."""
        with self.lock:
            if not self.active:
                return []
            new, start = [], self.clock()
            while self.active and not self.interrupt.is_set():
                remaining = budget - (self.clock() - start)
                if new and remaining <= 0:
                    break
                new += self._one_step(remaining)
                if self.clock() - start >= budget:
                    break
            self._account()
            if self.finished:
                self._active_since = None
            if not self.defer_records:
                self.final_records()
            return new

    def _one_step(self, remaining):
        s = self.sweep
        n = None
        if not s.full_batch:
            seconds = min(max(remaining, 0) / 2, self.STEP_SECONDS)
            per = self._batch_seconds
            n = 1 if per is None else min(max(1, int(seconds / max(per, 1e-6))), s.batches_per_epoch)
        before, t0 = s.position, self.clock()
        done = s.step(max_batches=n)
        after = s.n_train if done is not None else s.position
        batches = -(-(after - before) // s.batch_size)
        if batches and not s.full_batch:
            per = (self.clock() - t0) / batches
            self._batch_seconds = per if self._batch_seconds is None else 0.5 * (self._batch_seconds + per)
        return sorted((done or {}).items())

    def final_records(self):
        """The runs' RunRecords once the sweep has ended (built once; those not built yet, now), else None."""
        return self.build_records(float("inf"))

    def build_records(self, budget):
        """Once the sweep has ended, build its runs' records for about ``budget`` seconds (at least one; each
        evaluates a network's final weights); the list once all are built, else None."""
        with self.lock:
            if self.records is None and self.finished:
                start = self.clock()
                while len(self._built) < self.sweep.runs:
                    self._built.append(self.to_record(len(self._built)))
                    if self.clock() - start >= budget:
                        break
                if len(self._built) == self.sweep.runs:
                    self.records = self._built
            return self.records

    def to_record(self, r):
        """Run r's RunRecord as it stands (final weights evaluated; test accuracy if a split is known)."""
        s = self.sweep
        tl, ta, vl, va = s.evaluate(r)
        params = s.params_of(r)
        test_acc = None
        if self.split is not None and len(self.split.y_test):
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                test_acc = accuracy(self.split.y_test, predict(params, self.split.x_test))
        hyper = s.hypers[r]
        status = "diverged" if s.reasons[r] else ("finished" if len(s.histories[r]) >= hyper.epochs else "stopped")
        history = [dict(rec) for rec in s.histories[r]]
        return RunRecord(
            run_id=self.run_ids[r], hyper=hyper, history=history, status=status, data_name=self.data_name,
            params=params, final={"train_loss": tl, "train_acc": ta, "valid_loss": vl, "valid_acc": va},
            test_acc=test_acc, train_seconds=float(sum(rec["seconds"] for rec in history)),
            wall_seconds=self.wall_seconds / s.runs, reason=s.reasons[r], snapshots=s.snapshots_with_last(r),
            health=list(s.healths[r]),
        )


def final_rows(records):
    """[{lr, valid_acc, status}] of a sweep's records, for the accuracy-against-learning-rate chart."""
    return [{"lr": rec.hyper.lr, "valid_acc": rec.final.get("valid_acc"), "status": rec.status} for rec in records]


class RemoteSweep:
    """A sweep trained by the trainer process (``lab.train_worker.SweepJob``): what the Sweep page reads of it.

    ``lock`` and ``interrupt`` are for the page's own use (as on SweepRun); the service's receiver
    thread updates it under a private lock through ``_apply_status``, ``_apply_place``, ``_apply_end``
    and ``_apply_failure`` (``lab.train_service.TrainService.start_job``).
    """

    STOP_WAIT = 3.0  # seconds ``stop`` waits for the records

    def __init__(self, service, job_id, hyper, lrs, run_ids, data_name):
        self.service, self.job_id, self.run_ids, self.data_name = service, job_id, list(run_ids), data_name
        self.hypers = [replace(hyper, lr=float(lr)) for lr in lrs]
        self.mode, self.records, self.version = "running", None, 0
        self.lock, self.interrupt = threading.RLock(), threading.Event()
        self._histories = [[] for _ in lrs]
        self._status, self._place = {}, {"ahead": 0, "seconds": None, "queued": True}
        self._mu, self._ended, self._seq = threading.Lock(), threading.Event(), 0

    @property
    def histories(self):
        with self._mu:
            return [list(h) for h in self._histories]

    reasons = property(lambda self: list(self._status.get("reasons", [None] * self.runs)))
    runs = property(lambda self: len(self.hypers))
    epochs = property(lambda self: self.hypers[0].epochs)

    @property
    def epoch(self):
        """Epochs completed (as ``Sweep.epoch``: the most records of any run)."""
        with self._mu:
            return max(len(h) for h in self._histories)
    live_count = property(lambda self: int(self._status.get("live", self.runs)))
    finished = property(lambda self: self.records is not None)
    active = property(lambda self: self.mode == "running" and not self.finished)
    queued = property(lambda self: bool(self._place.get("queued")) and not self.finished)
    queue_ahead = property(lambda self: int(self._place.get("ahead", 0)))
    wait_seconds = property(lambda self: self._place.get("seconds"))

    @property
    def progress(self):
        return 1.0 if self.finished else float(self._status.get("progress", 0.0))

    def seconds_left(self):
        return self._status.get("left")

    def final_records(self):
        return self.records

    def stop(self, wait=None):
        """Stop the sweep in the trainer process and wait a few seconds for its records (None after that)."""
        if not self.finished:
            with self._mu:
                self._seq += 1
                seq = self._seq
            self.service.send(("stop", self.job_id, seq))
            self._ended.wait(self.STOP_WAIT if wait is None else wait)
        return self.records

    def _apply_status(self, status):
        with self._mu:
            for r, new in status.get("new", {}).items():
                self._histories[int(r)].extend(new)
            self._status = {**self._status, **status}
            if "admitted" in status:
                self._place = {**self._place, "queued": not status["admitted"]}
            if status.get("seq", 0) >= self._seq:
                self.mode = status.get("mode", self.mode)
            self.version += 1

    def _apply_place(self, place):
        with self._mu:
            if place != self._place:
                self._place, self.version = place, self.version + 1

    def _apply_end(self, payload):
        with self._mu:
            self.records = list(payload["records"])
            self._histories = [[dict(r) for r in rec.history] for rec in self.records]
            self.version += 1
        self._ended.set()

    def _apply_failure(self, notice):
        """End every run as stopped by a failure of the trainer: the curves so far, no weights, ``notice``."""
        with self._mu:
            if self.records is None:
                self.records = [stopped_record(run_id, hyper, hist, self.data_name, notice)
                                for run_id, hyper, hist in zip(self.run_ids, self.hypers, self._histories)]
                self.version += 1
        self._ended.set()

