"""The trainer process of one Streamlit server (the child side of ``lab.train_service``).

``python -m lab.train_worker FD THREADS`` is started by ``lab.train_service`` with the BLAS thread
count already in its environment, so numpy is loaded with it. It lowers its own priority
(``os.nice(10)``: a click answered by the server process comes first), then loops:

1. drain the commands on its connection (start, pause, resume, step, stop, forget, exit);
2. give the next runnable job one slice of ``SLICE_SECONDS`` (``Scheduler.tick``);
3. send what changed: a job's status after its slice, every job's place about twice a second,
   and a job's end (its RunRecord) in the slice that ends it, after which the job is dropped.

Round robin goes over browsers first, then over one browser's jobs, so a browser with five tabs
gets the share of one. The jobs whose buffers exist ("admitted") stay within the byte budget the
service gives; a job beyond it waits in a queue (FIFO) with its place and an estimate.

Data comes read-only from shared memory (``SharedRows``: the split's train, valid and test rows
stacked in the run's dtype, and their labels), mapped once per content key and dropped when no job
uses it. Job kinds are a registry (``KINDS``): a kind is a class built as ``Kind(spec, data)``
with ``estimate_bytes()``, ``admit()``, ``advance(seconds)`` (the records it completed),
``finished``, ``active``, ``status()`` (a small picklable dict), ``result()`` (the end payload)
and ``command(name)`` for pause/resume/step/stop.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import sys
import time
from collections import OrderedDict, deque

SLICE_SECONDS = 0.25  # one job's turn of training
IDLE_POLL = 0.5  # seconds to wait for a command while no job is runnable
PLACES_EVERY = 0.5  # seconds between two messages of every job's place
NICE = 10


# ---------------------------------------------------------------------------
# Shared data


class SharedRows:
    """Read-only numpy views of a segment ``lab.train_service.share_rows`` wrote.

    ref: {"name", "dtype", "rows", "features", "n_train", "n_valid", "n_data"}; the segment holds
    x (rows, features) in ``dtype`` (train, then valid, then test rows) and labels (rows,) int64.
    """

    def __init__(self, ref):
        import numpy as np

        self.ref = ref
        rows, feats, dtype = ref["rows"], ref["features"], np.dtype(ref["dtype"])
        size = rows * feats * dtype.itemsize + rows * 8
        fd = os.open(f"/dev/shm/{ref['name'].lstrip('/')}", os.O_RDONLY)
        try:
            self._map = mmap.mmap(fd, size, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        self.x = np.frombuffer(self._map, dtype, count=rows * feats).reshape(rows, feats)
        self.labels = np.frombuffer(self._map, np.int64, count=rows, offset=rows * feats * dtype.itemsize)
        self.n_train, self.n_valid = ref["n_train"], ref["n_valid"]

    @property
    def n_fit(self):
        """Rows the trainer uses: train + valid."""
        return self.n_train + self.n_valid


class TestRows:
    """The test part of a SharedRows, with the attribute names ``LiveRun.to_record`` reads of a split."""

    def __init__(self, data):
        self.x_test, self.y_test = data.x[data.n_fit:], data.labels[data.n_fit:]


# ---------------------------------------------------------------------------
# Job kinds


class RunJob:
    """A training run: a ``lab.runs.LiveRun`` over a Trainer on shared rows, built when admitted.

    spec: {"hyper": Hyper, "run_id": int, "data_name": str, "mode": "running"|"stepping"|"paused"}.
    """

    def __init__(self, spec, data):
        self.spec, self.data = spec, data
        self.mode = spec.get("mode", "running")
        self.live = None  # the LiveRun once admitted
        self._final = None  # the final evaluation's progress (``_finish``)
        self.stopped = False
        self.sent = self.sent_health = 0  # history and health records already sent
        self.seq = 0  # the last command's number (the proxy trusts a status's mode only once it echoes its own)

    def estimate_bytes(self):
        from lab.budget import estimate_run_bytes

        return estimate_run_bytes(self.spec["hyper"], self.data.n_train, self.data.n_valid, shared_inputs=True)

    def admit(self):
        from lab.runs import LiveRun
        from mlp.train import Trainer, block_rows_for

        d, hyper = self.data, self.spec["hyper"]
        n = d.n_train
        stacked = (d.x[: d.n_fit], d.labels[: d.n_fit], n)
        # row blocks of bounded work, so that no step (a full-batch epoch, a mini-batch epoch's first forward
        # pass of a large network) holds the cores for much more than a slice
        blocks = block_rows_for(d.x.shape[1], hyper.hidden)
        trainer = Trainer(d.x[:n], d.labels[:n], d.x[n: d.n_fit], d.labels[n: d.n_fit], hyper,
                          n_data=d.ref["n_data"], stacked=stacked, block_rows=blocks)
        self.live = LiveRun(trainer, self.spec["run_id"], self.spec["data_name"], split=TestRows(d), mode=self.mode)
        self.live.GAP_LIMIT = math.inf  # waiting for a turn is part of the run's time here
        self.live.defer_record = True  # the final weights are evaluated in slices too (``_finish``)

    @property
    def finished(self):
        """Ended, with its record built (an admitted run's final evaluation done)."""
        if self.live is not None:
            return self.live.record is not None
        return self.stopped

    @property
    def active(self):
        """Runnable: running or stepping and not finished, or ended and its final weights not evaluated yet."""
        if self.live is not None:
            return self.live.active or (self.live.finished and self.live.record is None)
        return self.mode in ("running", "stepping") and not self.stopped

    def command(self, name):
        if self.live is None:
            self.mode = {"pause": "paused", "resume": "running", "step": "stepping"}.get(name, self.mode)
            self.stopped = self.stopped or name == "stop"
            return
        {"pause": self.live.pause, "resume": self.live.resume, "step": self.live.step, "stop": self.live.stop}[name]()

    def advance(self, seconds):
        if self.live.finished:
            return self._finish(seconds)
        return self.live.advance(seconds)

    def _finish(self, seconds):
        """Evaluate the final weights for the record in row blocks (then the test rows in pieces) for ``seconds``.

        The same sums as ``mlp.train.Engine.evaluate`` (its blocks without an update), spread over
        slices, so the end of a large run does not hold the trainer for a whole forward pass. Timed
        by the run's own clock, as its training slices are.
        """
        import numpy as np

        from mlp.lanes import one_blas_thread
        from mlp.network import predict

        clock = self.live.clock
        engine, start = self.live.trainer.engine, clock()
        if self._final is None:
            self._final = {"block": 0, "test": 0, "correct": 0, "saved": getattr(engine, "sums", None)}
            engine.begin_epoch()
        f, test = self._final, self.live.split
        (t0, t1), (v0, v1) = engine.blocks[0]
        rows = max(64, t1 - t0 + v1 - v0)  # test rows in pieces of a block's size
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            while clock() - start < seconds:
                if f["block"] < len(engine.blocks):
                    engine.block(f["block"], backprop=False)
                    f["block"] += 1
                elif f["test"] < len(test.y_test):
                    a, b = f["test"], min(f["test"] + rows, len(test.y_test))
                    with one_blas_thread(engine.lanes > 1):  # no BLAS threads left spinning into the next lanes
                        f["correct"] += int(np.sum(predict(engine.params, test.x_test[a:b]) == test.y_test[a:b]))
                    f["test"] = b
                else:
                    metrics, engine.sums = engine.epoch_metrics(), f["saved"]
                    test_acc = f["correct"] / len(test.y_test) if len(test.y_test) else None
                    self.live.final_figures = (*metrics, test_acc)
                    self.live.final_record()
                    break
        return []

    def status(self):
        """What changed for the proxy: new epoch records, position, mode, time and estimate."""
        from lab.runs import epoch_fraction

        live = self.live
        if live is None:
            return {"mode": self.mode, "new": [], "admitted": False, "seq": self.seq}
        new = [dict(r) for r in live.history[self.sent:]]
        self.sent += len(new)
        health = list(getattr(live.trainer, "health", None) or [])
        new_health, self.sent_health = health[self.sent_health:], len(health)
        return {"mode": live.mode, "new": new, "admitted": True, "seq": self.seq, "health": new_health,
                "position": live.trainer.position, "fraction": epoch_fraction(live.trainer),
                "n_train": live.trainer.n_train, "wall": live.wall_seconds, "left": live.seconds_left(),
                "batches_per_epoch": live.trainer.batches_per_epoch}

    def result(self):
        """The end payload: the RunRecord (weights, curves, figures), with the trainer's health and snapshots."""
        from lab.runs import RunRecord

        if self.live is None:
            return {"record": RunRecord(run_id=self.spec["run_id"], hyper=self.spec["hyper"], history=[],
                                        status="stopped", data_name=self.spec["data_name"])}
        record = self.live.final_record()
        trainer = self.live.trainer
        extras = {name: list(getattr(trainer, name, None) or []) for name in ("health", "snapshots")}
        for name, value in extras.items():
            if hasattr(record, name) and not getattr(record, name):
                setattr(record, name, value)
        return {"record": record, **extras}

    def release(self):
        """Drop the trainer and its buffers (the record sent keeps weights and curves)."""
        self.live = None


class SweepJob:
    """A learning-rate sweep: a ``lab.sweep_run.SweepRun`` over an ``mlp.sweep.Sweep`` on shared rows, built when
    admitted. Its slices train every network of the stack; the call that ends it builds one RunRecord a rate.

    spec: {"hyper": Hyper, "lrs": [float], "run_ids": [int], "data_name": str}.
    """

    def __init__(self, spec, data):
        self.spec, self.data = spec, data
        self.live = None  # the SweepRun once admitted
        self.stopped = False
        self.sent = [0] * len(spec["lrs"])  # records of each run already sent
        self.seq = 0

    def estimate_bytes(self):
        from lab.sweep_run import estimate_sweep_bytes

        d = self.data
        return estimate_sweep_bytes(self.spec["hyper"], d.n_train, d.n_valid, len(self.spec["lrs"]), shared_inputs=True)

    def admit(self):
        from lab.sweep_run import SweepRun
        from mlp.sweep import Sweep

        d, n, spec = self.data, self.data.n_train, self.spec
        sweep = Sweep(d.x[:n], d.labels[:n], d.x[n: d.n_fit], d.labels[n: d.n_fit], spec["hyper"], spec["lrs"],
                      n_data=d.ref["n_data"], stacked=(d.x[: d.n_fit], d.labels[: d.n_fit], n))
        self.live = SweepRun(sweep, spec["run_ids"], spec["data_name"], split=TestRows(d))
        self.live.defer_records = True  # one network's final evaluation a slice or so (``advance``)

    @property
    def finished(self):
        return self.live.records is not None if self.live is not None else self.stopped

    @property
    def active(self):
        """Runnable: training, or ended with records still to build."""
        if self.live is not None:
            return self.live.active or (self.live.finished and self.live.records is None)
        return not self.stopped

    def command(self, name):
        if name != "stop":
            return  # the Sweep page has Stop only
        if self.live is None:
            self.stopped = True
        else:
            self.live.stop()

    def advance(self, seconds):
        if self.live.finished:
            self.live.build_records(seconds)
            return []
        return self.live.advance(seconds)

    def status(self):
        live = self.live
        if live is None:
            return {"mode": "running", "new": {}, "admitted": False, "seq": self.seq}
        new = {}
        for r, history in enumerate(live.histories):
            if len(history) > self.sent[r]:
                new[r], self.sent[r] = [dict(rec) for rec in history[self.sent[r]:]], len(history)
        return {"mode": live.mode, "new": new, "admitted": True, "seq": self.seq, "live": live.live_count,
                "reasons": list(live.reasons), "progress": live.progress,
                "wall": live.wall_seconds, "left": live.seconds_left()}

    def result(self):
        from dataclasses import replace

        from lab.runs import stopped_record

        if self.live is None:  # stopped while it waited for memory
            spec = self.spec
            return {"records": [stopped_record(i, replace(spec["hyper"], lr=lr), [], spec["data_name"], None)
                                for i, lr in zip(spec["run_ids"], spec["lrs"])]}
        return {"records": self.live.final_records()}

    def release(self):
        self.live = None


KINDS = {"run": RunJob, "sweep": SweepJob}  # kind name -> job class (see the module docstring)


# ---------------------------------------------------------------------------
# The scheduler


class Scheduler:
    """Jobs by browser, round robin over browsers then jobs, within a byte budget of admitted jobs.

    send(message): a function taking ("status", job_id, dict), ("places", {job_id: (ahead, seconds)})
    or ("end", job_id, dict). data: a function ref -> SharedRows (cached by the caller).
    """

    def __init__(self, budget_bytes, send, data, clock=time.perf_counter, slice_seconds=SLICE_SECONDS):
        self.budget, self.send, self.data, self.clock = budget_bytes, send, data, clock
        self.slice = slice_seconds
        self.jobs = {}  # job_id -> job
        self.browser_of = {}  # job_id -> browser
        self.browsers = OrderedDict()  # browser -> deque of job ids (turn order)
        self.waiting = deque()  # job ids queued for memory
        self.bytes = {}  # job_id -> admitted bytes
        self.slices = []  # (job_id, seconds) of recent slices, for tests and estimates
        self._places_at = -math.inf

    # --- commands
    def handle(self, message):
        name, job_id, *rest = message
        if name == "start":
            kind, spec, browser, ref = rest
            self.start(job_id, kind, spec, browser, ref)
        elif name == "forget":
            self._end(job_id, send=False)
        elif job_id in self.jobs:
            self.jobs[job_id].seq = rest[0] if rest else 0  # the proxy's count of its commands, echoed in status
            self.jobs[job_id].command(name)
            if self.jobs[job_id].finished:
                self._end(job_id)
            else:
                self.send(("status", job_id, self.jobs[job_id].status()))

    def fail(self, job_id, text):
        """End a job that raised: ("failed", job_id, text) instead of its record."""
        self.send(("failed", job_id, text))
        self._end(job_id, send=False)

    def start(self, job_id, kind, spec, browser, ref):
        try:
            job = KINDS[kind](spec, self.data(ref))
        except (OSError, KeyError, ValueError) as exc:  # the segment was freed meanwhile, or a bad message
            self.send(("failed", job_id, f"{type(exc).__name__}: {exc}"))
            return
        job.ref_key = ref["name"]
        self.jobs[job_id], self.browser_of[job_id] = job, browser
        self.browsers.setdefault(browser, deque()).append(job_id)
        self.waiting.append(job_id)
        self._admit_waiting()
        self.send(("status", job_id, job.status()))
        self._places_at = -math.inf

    def _admit_waiting(self):
        """Admit queued jobs in order while they fit (one job always fits when nothing is admitted)."""
        while self.waiting:
            job_id = self.waiting[0]
            need = self.jobs[job_id].estimate_bytes()
            if self.bytes and sum(self.bytes.values()) + need > self.budget:
                return
            self.waiting.popleft()
            try:
                self.jobs[job_id].admit()
            except Exception as exc:  # MemoryError, or a bad spec: this job ends, the others go on
                self.fail(job_id, f"{type(exc).__name__}: {exc}")
                continue
            self.bytes[job_id] = need

    def _end(self, job_id, send=True):
        job = self.jobs.pop(job_id, None)
        if job is None:
            return
        if send:
            self.send(("end", job_id, job.result()))
        job.release()
        browser = self.browser_of.pop(job_id)
        self.browsers[browser].remove(job_id)
        if not self.browsers[browser]:
            del self.browsers[browser]
        if job_id in self.waiting:
            self.waiting.remove(job_id)
        self.bytes.pop(job_id, None)
        self._admit_waiting()
        self._places_at = -math.inf

    def data_keys(self):
        """The shared segments the jobs still use."""
        return {job.ref_key for job in self.jobs.values()}

    # --- turns
    def turn_order(self):
        """Admitted runnable job ids in the order they get their next slices (one per browser a round)."""
        rounds, queues = [], [[j for j in q if self._runnable(j)] for q in self.browsers.values()]
        depth = max((len(q) for q in queues), default=0)
        for i in range(depth):
            rounds.extend(q[i] for q in queues if i < len(q))
        return rounds

    def _runnable(self, job_id):
        return job_id in self.bytes and self.jobs[job_id].active

    def next_job(self):
        """The next job to train, rotating browsers and then the chosen browser's jobs; None if none."""
        for _ in range(len(self.browsers)):
            browser, queue = next(iter(self.browsers.items()))
            self.browsers.move_to_end(browser)
            for _ in range(len(queue)):
                job_id = queue[0]
                queue.rotate(-1)
                if self._runnable(job_id):
                    return job_id
        return None

    def tick(self):
        """One slice for the next job (status or end sent); False if nothing was runnable."""
        job_id = self.next_job()
        if job_id is not None:
            job, t0 = self.jobs[job_id], self.clock()
            try:
                job.advance(self.slice)
            except Exception as exc:  # a bug must not take every other run down with it
                self.fail(job_id, f"{type(exc).__name__}: {exc}")
                return True
            self.slices.append((job_id, self.clock() - t0))
            del self.slices[:-1000]
            if job.finished:
                self._end(job_id)
            else:
                self.send(("status", job_id, job.status()))
        if self.clock() - self._places_at >= PLACES_EVERY:
            self.send(("places", self.places()))
            self._places_at = self.clock()
        return job_id is not None

    def places(self):
        """{job_id: {"ahead", "seconds", "sharing", "queued"}} of every job.

        A queued job: the jobs queued before it, and the time until it can start (the (k+1)-th
        soonest end of an admitted job, None before any estimate). An admitted one: the slices before
        its next turn. "sharing": how many runnable jobs share the turns.
        """
        order = self.turn_order()
        out = {j: {"ahead": i, "seconds": i * self.slice, "sharing": len(order), "queued": False}
               for i, j in enumerate(order)}
        ends = sorted(s for s in (self._left(j) for j in self.bytes) if s is not None)
        for k, job_id in enumerate(self.waiting):
            out[job_id] = {"ahead": k, "seconds": ends[k] if k < len(ends) else None, "sharing": len(order),
                           "queued": True}
        for job_id in self.jobs:
            out.setdefault(job_id, {"ahead": 0, "seconds": 0.0, "sharing": len(order), "queued": False})
        return out

    def _left(self, job_id):
        live = getattr(self.jobs[job_id], "live", None)
        return live.seconds_left() if live is not None else None


# ---------------------------------------------------------------------------
# The process


def serve(conn, budget_bytes):
    """The loop of the trainer process until the connection closes or an "exit" arrives."""
    shared = {}

    def data(ref):
        if ref["name"] not in shared:
            shared[ref["name"]] = SharedRows(ref)
        return shared[ref["name"]]

    sched = Scheduler(budget_bytes, conn.send, data)
    while True:
        timeout = 0 if sched.turn_order() else IDLE_POLL
        while conn.poll(timeout):
            message = conn.recv()
            if message[0] == "exit":
                return
            if message[0] == "budget":
                sched.budget = message[1]
            else:
                sched.handle(message)
            timeout = 0
        for name in set(shared) - sched.data_keys():
            del shared[name]  # the mapping goes once the last view of it is gone
        sched.tick()


def main(argv=None):
    from multiprocessing.connection import Connection

    fd, budget_bytes = (int(a) for a in (argv or sys.argv[1:])[:2])
    with contextlib.suppress(OSError):
        os.nice(NICE)
    conn = Connection(fd)
    try:
        serve(conn, budget_bytes)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass  # the server process is gone


if __name__ == "__main__":
    main()
