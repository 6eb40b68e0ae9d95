"""Training runs as a UI drives them: short chunks, pause/step/stop, run records.

Pure python + numpy (no Streamlit), so the training page stays thin and all of
this is unit-tested:

* ``LiveRun`` wraps a ``Trainer`` and advances it in time-boxed chunks
  (``advance(budget_seconds)``), with the modes running / paused / stepping
  (to the end of the current epoch, then paused), stops by itself when the
  loss diverges, keeps the wall-clock time of the run without its pauses, and
  builds its own ``RunRecord`` (``final_record``) in the call that ends it.
* ``RunRecord`` is a finished, stopped, diverged or loaded run kept in the
  history: settings, curves, final figures, weights.
* (The settings' ranges and URL query string are in ``lab.settings``.)
* ``history_csv``, ``overlay_rows``, ``runs_table``: data for downloads,
  charts and tables.
"""

from __future__ import annotations

import csv
import io
import math
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from lab.settings import LR_RANGE, snap_lr
from mlp.metrics import accuracy
from mlp.network import Params, predict
from mlp.train import DEAD_UNITS, RECORD_KEYS, Hyper

MODES = ("running", "paused", "stepping")


# ---------------------------------------------------------------------------
# Runs


def describe(hyper):
    """A short label of the settings: 'H 256, lr 0.1, momentum 0.9, batch 128, float32'."""
    batch = "full batch" if hyper.batch_size is None else f"batch {hyper.batch_size}"
    return f"H {hyper.hidden}, lr {hyper.lr:g}, momentum {hyper.momentum:g}, {batch}, seed {hyper.seed}, {hyper.dtype}"


DEAD_EFFECT = "push every hidden unit's input below zero for good"


def divergence_advice(hyper, reason):
    """What the page says when a run diverged: why, and what to try."""
    batch = "full batch" if hyper.batch_size is None else f"mini-batches of {hyper.batch_size}"
    smaller = snap_lr(hyper.lr / 10) if hyper.lr / 10 >= LR_RANGE[0] else LR_RANGE[0]
    tips = [f"a learning rate about ten times smaller (for example {smaller:g})"]
    if hyper.momentum >= 0.5:
        tips.append(f"less momentum (now {hyper.momentum:g})")
    if hyper.batch_size is not None:
        tips.append("a larger batch")
    return (
        f"Training stopped by itself: {reason}. The learning rate {hyper.lr:g} is too high for "
        f"{batch}: the updates overshoot and {DEAD_EFFECT if DEAD_UNITS in reason else 'the weights blow up'}. "
        f"Try {', or '.join(tips)}."
    )


CHANCE_LOSS = math.log(10)  # cross-entropy of guessing among 10 letters


def chance_level_note(history, window=3):
    """A warning (sentence) when the last ``window`` epochs sit at chance level, else None.

    With ReLU a too-high learning rate often does not blow the loss up but
    kills the hidden units: loss stays at ln 10 = 2.30 and accuracy near 0.1.
    Once every hidden unit is off for every image, ``Trainer.stop_reason`` stops the run; before
    that (units dying one by one) the page warns with this note.
    """
    if len(history) <= window:
        return None
    last = history[-window:]
    if all(abs(r["train_loss"] - CHANCE_LOSS) < 0.05 and r["train_acc"] < 0.15 for r in last):
        return (f"the network has been at chance level for {window} epochs (loss ≈ ln 10 = 2.30, accuracy ≈ 0.1). "
                "A learning rate too high for this batch size can switch the hidden ReLU units off for good; "
                "try a smaller learning rate or a larger batch")
    return None


@dataclass
class RunRecord:
    """A run kept in the session's history."""

    run_id: int
    hyper: Hyper
    history: list
    status: str  # "finished", "stopped", "diverged" or "loaded"
    data_name: str
    params: Params | None = None  # final weights
    final: dict = field(default_factory=dict)  # train/valid loss and accuracy of the final weights
    test_acc: float | None = None
    train_seconds: float = 0.0  # time inside the trainer (sum of the epochs' seconds)
    wall_seconds: float = 0.0  # from the Train click to the end, pauses left out
    reason: str | None = None  # why a run diverged
    name: str = ""  # a loaded model's file name
    store_uid: str | None = None  # its id in the class database once posted there (or restored from it)
    health: list = field(default_factory=list)  # per-epoch gradient health (mlp.health.HEALTH_KEYS dicts)
    snapshots: list = field(default_factory=list)  # (epoch, Params) weight snapshots, epoch 0 the initial weights

    @property
    def label(self):
        what = f"from {self.name}" if self.status == "loaded" else describe(self.hyper)
        return f"Run {self.run_id}: {what}"

    @property
    def short_label(self):
        return f"Run {self.run_id} (lr {self.hyper.lr:g}, H {self.hyper.hidden})"

    @property
    def epochs_done(self):
        return len(self.history)


def stopped_record(run_id, hyper, history, data_name, reason, wall_seconds=0.0):
    """The RunRecord of a run whose trainer was lost: its curves so far, the last epoch's figures, no weights."""
    history = [dict(rec) for rec in history]
    final = {k: history[-1][k] for k in ("train_loss", "train_acc", "valid_loss", "valid_acc")} if history else {}
    return RunRecord(run_id=run_id, hyper=hyper, history=history, status="stopped", data_name=data_name, final=final,
                     train_seconds=float(sum(rec["seconds"] for rec in history)), wall_seconds=wall_seconds,
                     reason=reason)


def epoch_fraction(trainer):
    """Share of the trainer's current epoch done: its ``epoch_fraction`` (row blocks and updates), else rows."""
    fraction = getattr(trainer, "epoch_fraction", None)
    return fraction if fraction is not None else trainer.position / trainer.n_train


class LiveRun:
    """A run in progress: a ``Trainer`` advanced in time-boxed chunks.

    ``mode``: "running" (chunks until done), "paused" (``advance`` does
    nothing), "stepping" (to the end of the current epoch, then paused).
    ``finished`` is True once the trainer is done, the loss diverged
    (``reason`` then says why) or the run was stopped. ``clock`` is injectable for tests.

    A run records its own end: the call that finishes it (``advance`` after the
    last epoch or a divergence, or ``stop``) builds ``record``, the run's
    ``RunRecord``, under ``lock`` and without any Streamlit call. So a run whose
    thread is stopped right after (Streamlit stops a replaced script thread at
    its next Streamlit call) is still complete, and any later caller moves
    ``record`` into the history.
    """

    GAP_LIMIT = 3.0  # seconds between two chunks beyond which the gap is not counted as run time
    STEP_SECONDS = 0.1  # work (mini-batches, row blocks) between two looks at ``interrupt``

    def __init__(self, trainer, run_id, data_name, split=None, mode="running", clock=time.perf_counter, data_key=None):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.trainer, self.run_id, self.data_name, self.split = trainer, run_id, data_name, split
        self.data_key = data_key
        self.mode = mode
        self.reason = None
        self.stopped = False
        self.clock = clock
        self.wall_seconds = 0.0  # active time (not paused) up to the last advance
        self._batch_seconds = None  # running estimate of one mini-batch update
        self._active_since = clock() if mode != "paused" else None
        self.lock = threading.RLock()  # for callers that use the run from several threads (the training page)
        self.interrupt = threading.Event()  # set by another thread: ``advance`` returns after its current step
        self.record = None  # the RunRecord, built by the call that ends the run (see ``final_record``)
        # an owner that evaluates the final weights itself in bounded pieces (lab.train_worker) sets
        # defer_record, then final_figures = (train loss, train acc, valid loss, valid acc, test acc or None)
        # and calls final_record()
        self.defer_record = False
        self.final_figures = None

    @property
    def hyper(self):
        return self.trainer.hyper

    @property
    def history(self):
        return self.trainer.history

    @property
    def finished(self):
        return self.trainer.done or self.reason is not None or self.stopped

    @property
    def active(self):
        """True while chunks should be run (running or stepping, not finished)."""
        return self.mode in ("running", "stepping") and not self.finished

    def _account(self, cap=None):
        """Add the active time since the last call to ``wall_seconds`` (a gap over ``cap`` counts nothing).

        The wall time so includes the page's work between chunks but not the
        time a paused run waits, nor a long gap (the user was on another page).
        """
        now = self.clock()
        if self._active_since is not None:
            gap = now - self._active_since
            if cap is None or gap <= cap:
                self.wall_seconds += gap
            self._active_since = now

    def pause(self):
        self._account()
        self.mode, self._active_since = "paused", None

    def resume(self):
        if self.mode == "paused":
            self._active_since = self.clock()
        self.mode = "running"

    @property
    def inside_epoch(self):
        """True when the current epoch is partly done (a paused run): ``step`` then ends it."""
        return 0 < epoch_fraction(self.trainer) < 1

    def step(self):
        """Run to the end of the current epoch (one whole epoch if at a boundary), then pause."""
        if self.mode == "paused":
            self._active_since = self.clock()
        self.mode = "stepping"

    def stop(self):
        """End the run where it stands; builds ``record`` (unless ``defer_record``)."""
        with self.lock:
            self._account()
            self.stopped, self._active_since = True, None
            if not self.defer_record:
                self.final_record()

    def final_record(self):
        """Build ``record`` if the run has ended and it is not built yet; return it (None while running)."""
        with self.lock:
            if self.record is None and self.finished:
                self.record = self.to_record()
            return self.record

    def _batches_for(self, seconds):
        if self._batch_seconds is None:
            return 1
        per_epoch = getattr(self.trainer, "units_per_epoch", self.trainer.batches_per_epoch)
        return min(max(1, int(seconds / max(self._batch_seconds, 1e-6))), per_epoch)

    def _step_batches(self, remaining):
        """Units (mini-batches, row blocks) of the next step: half the time left in the chunk, at most
        ``STEP_SECONDS`` of work."""
        return self._batches_for(min(max(remaining, 0) / 2, self.STEP_SECONDS))

    def advance(self, budget):
        """Train for about ``budget`` seconds (at least one step); return the epoch records completed.

        A step is up to ``STEP_SECONDS`` of units: mini-batch updates, or the row blocks of an
        epoch (``mlp.train.Trainer`` with ``block_rows``; with one block a full-batch epoch is one
        unit), so a run can overshoot the budget by up to one step. If ``interrupt`` is set (by
        another thread), it returns after the current step. The call that ends the run builds
        ``record`` before it returns.
        """
        with self.lock:
            if not self.active:
                return []
            self._account(cap=self.GAP_LIMIT)
            new = self._chunk(budget)
            self._account()
            if not self.active:
                self._active_since = None
            if not self.defer_record:
                self.final_record()
            return new

    def _chunk(self, budget):
        new, start = [], self.clock()
        while self.active and not self.interrupt.is_set():
            remaining = budget - (self.clock() - start)
            if new and remaining <= 0:
                break
            record = self._one_step(remaining)
            if record is not None:
                new.append(record)
            if self.clock() - start >= budget:
                break
        return new

    def _one_step(self, remaining):
        """One step of the trainer (timed, to size the next); the epoch's record if it ended one."""
        units = hasattr(self.trainer, "units_done")  # a trainer that counts row blocks and updates as units
        n = self._step_batches(remaining) if units or self.hyper.batch_size is not None else None
        position, t0 = (self.trainer.units_done if units else self.trainer.position), self.clock()
        record = self.trainer.step(max_batches=n)
        done_batches = self.trainer.units_done - position if units else self._batches_done(position, record)
        if done_batches:
            per = (self.clock() - t0) / done_batches
            self._batch_seconds = per if self._batch_seconds is None else 0.5 * (self._batch_seconds + per)
        if record is not None:
            self.reason = self.trainer.stop_reason()
            if self.mode == "stepping":
                self.mode = "paused"
        return record

    def _batches_done(self, position_before, record):
        t = self.trainer
        position_after = t.n_train if record is not None else t.position
        return -(-(position_after - position_before) // t.batch_size)

    @property
    def progress(self):
        """Fraction of the planned epochs done, counting the part of the current epoch."""
        t = self.trainer
        return min(1.0, (t.epoch + epoch_fraction(t)) / t.hyper.epochs)

    def seconds_left(self):
        """Estimated seconds to the last epoch from the wall time so far (None before the first epoch)."""
        t = self.trainer
        done = t.epoch + epoch_fraction(t)
        if done <= 0 or self.wall_seconds <= 0:
            return None
        return self.wall_seconds / done * (t.hyper.epochs - done)

    def to_record(self):
        """The RunRecord of this run as it stands (final weights evaluated; test accuracy if a split is known)."""
        t = self.trainer
        tl, ta, vl, va = t.evaluate() if self.final_figures is None else self.final_figures[:4]
        params = t.params
        test_acc = None if self.final_figures is None else self.final_figures[4]
        if self.final_figures is None and self.split is not None and len(self.split.y_test):
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                test_acc = accuracy(self.split.y_test, predict(params, self.split.x_test))
        status = "diverged" if self.reason else ("finished" if t.done else "stopped")
        return RunRecord(
            run_id=self.run_id, hyper=self.hyper, history=[dict(r) for r in t.history], status=status,
            data_name=self.data_name, params=params,
            final={"train_loss": tl, "train_acc": ta, "valid_loss": vl, "valid_acc": va},
            test_acc=test_acc, train_seconds=float(sum(r["seconds"] for r in t.history)),
            wall_seconds=self.wall_seconds, reason=self.reason,
            health=list(t.health), snapshots=t.snapshots_with_last(),  # a run stopped early: its last weights too
        )


def loaded_record(run_id, model, name, data_name, split=None):
    """A RunRecord for a model file loaded back (its saved curves; test accuracy on ``split``)."""
    test_acc = None
    if split is not None and len(split.y_test) and model.params.sizes[0] == split.x_test.shape[1]:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            test_acc = accuracy(split.y_test, predict(model.params, split.x_test))
    return RunRecord(
        run_id=run_id, hyper=model.hyper, history=[dict(r) for r in model.history], status="loaded",
        data_name=data_name, params=model.params, test_acc=test_acc,
        train_seconds=float(sum(r["seconds"] for r in model.history)), name=name,
        health=list(model.health), snapshots=list(model.snapshots),
    )


# ---------------------------------------------------------------------------
# Data for downloads, charts and tables


def history_csv(history):
    """The per-epoch records as CSV text (header: RECORD_KEYS)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(RECORD_KEYS)
    for r in history:
        writer.writerow([r["epoch"], *(repr(float(r[k])) for k in RECORD_KEYS[1:])])
    return buf.getvalue()


CURVES = {  # record key -> (quantity, set)
    "train_loss": ("Loss", "Training"),
    "valid_loss": ("Loss", "Validation"),
    "train_acc": ("Accuracy", "Training"),
    "valid_acc": ("Accuracy", "Validation"),
}


def curve_rows(history):
    """Long-form rows {epoch, quantity, set, value} of one run's curves (non-finite values left out)."""
    rows = []
    for r in history:
        for key, (quantity, part) in CURVES.items():
            v = float(r[key])
            if math.isfinite(v):
                rows.append({"epoch": int(r["epoch"]), "quantity": quantity, "set": part, "value": v})
    return rows


def overlay_rows(runs, key):
    """Long-form rows {epoch, run, value} of one record key (e.g. 'valid_acc') for several runs."""
    rows = []
    for run in runs:
        for r in run.history:
            v = float(r[key])
            if math.isfinite(v):
                rows.append({"epoch": int(r["epoch"]), "run": run.short_label, "value": v})
    return rows


def runs_table(runs):
    """One row per run: settings and final figures, for a table."""
    rows = []
    for run in runs:
        h = run.hyper
        last = run.history[-1] if run.history else {}
        rows.append({
            "run": run.run_id,
            "status": run.status,
            "lr": h.lr,
            "hidden": h.hidden,
            "batch": "full" if h.batch_size is None else str(h.batch_size),
            "epochs": run.epochs_done,
            "valid acc": run.final.get("valid_acc", last.get("valid_acc")),
            "test acc": run.test_acc,
            "seconds": round(run.wall_seconds or run.train_seconds, 2),
            "momentum": h.momentum,
            "seed": h.seed,
            "dtype": h.dtype,
            "train acc": run.final.get("train_acc", last.get("train_acc")),
            "data": run.data_name,
        })
    return rows
