"""The trainer process (lab.train_service, lab.train_worker): fair turns, bounded slices, memory queue, crashes."""

from __future__ import annotations

import gc
import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lab import train_service, train_worker
from lab.budget import estimate_run_bytes
from lab.runs import LiveRun
from mlp.data import split_dataset
from mlp.train import Hyper, Trainer


def synthetic_split(n=600, seed=0):
    """A split of n random-pattern images (10 classes), cut as the report cuts its set."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    templates = (rng.random((10, 28, 28)) < 0.5) * 255
    images = np.clip(templates[labels] * 0.8 + rng.integers(0, 60, (n, 28, 28)), 0, 255).astype(np.uint8)
    return split_dataset(images, labels.astype(np.uint8))


@pytest.fixture(scope="module")
def split():
    return synthetic_split()


@pytest.fixture
def service():
    svc = train_service.TrainService(budget=2**30, threads=1)
    yield svc
    svc.close()


def wait_for(condition, timeout=60.0, what="the condition"):
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


def shm_exists(name):
    return Path("/dev/shm", name.lstrip("/")).exists()


# ---------------------------------------------------------------------------
# The scheduler on its own (no process): fake jobs


class FakeJob:
    """A job kind for the scheduler's tests: ``units`` advances to finish, ``nbytes`` of memory."""

    log = []

    def __init__(self, spec, data):
        self.spec, self.left, self.admitted, self.mode = spec, spec["units"], False, "running"

    def estimate_bytes(self):
        return self.spec["nbytes"]

    def admit(self):
        self.admitted = True

    @property
    def finished(self):
        return self.left <= 0 or self.mode == "stopped"

    @property
    def active(self):
        return self.mode == "running" and not self.finished

    def advance(self, seconds):
        FakeJob.log.append(self.spec["name"])
        self.left -= 1

    def command(self, name):
        self.mode = {"pause": "paused", "resume": "running", "stop": "stopped"}.get(name, self.mode)

    def status(self):
        return {"left": self.left}

    def result(self):
        return {"name": self.spec["name"]}

    def release(self):
        self.admitted = False


@pytest.fixture
def fake_kind(monkeypatch):
    monkeypatch.setitem(train_worker.KINDS, "fake", FakeJob)
    FakeJob.log = []
    return FakeJob


def scheduler(budget=10**9):
    sent = []
    sched = train_worker.Scheduler(budget, sent.append, data=lambda ref: None)
    return sched, sent


def start(sched, job_id, browser, name, units=100, nbytes=1):
    sched.handle(("start", job_id, "fake", {"name": name, "units": units, "nbytes": nbytes}, browser, {"name": "d"}))


def test_round_robin_goes_over_browsers_first_then_their_runs(fake_kind):
    sched, _ = scheduler()
    for i, name in enumerate(["a1", "a2", "a3", "a4", "a5"]):
        start(sched, i, "browser A", name)  # five tabs of one browser
    start(sched, 10, "browser B", "b1")
    start(sched, 11, "browser C", "c1")
    for _ in range(12):
        sched.tick()
    log = fake_kind.log
    # every browser gets one turn in three, however many runs it has; its runs take its turns in order
    assert log == ["a1", "b1", "c1", "a2", "b1", "c1", "a3", "b1", "c1", "a4", "b1", "c1"]
    assert log.count("b1") == log.count("c1") == sum(name.startswith("a") for name in log) == 4


def test_paused_runs_give_their_turns_away_and_an_ended_run_leaves_the_table(fake_kind):
    sched, sent = scheduler()
    start(sched, 1, "A", "a", units=2)
    start(sched, 2, "B", "b", units=50)
    sched.handle(("pause", 2, 1))
    for _ in range(5):
        sched.tick()
    assert fake_kind.log == ["a", "a"]  # b paused: a trains alone, then ends
    assert ("end", 1, {"name": "a"}) in sent and 1 not in sched.jobs
    assert not sched.tick()  # nothing runnable: the loop then waits for a command
    sched.handle(("resume", 2, 2))
    sched.tick()
    assert fake_kind.log[-1] == "b"


def test_runs_beyond_the_memory_budget_wait_in_order_with_their_place(fake_kind):
    sched, sent = scheduler(budget=250)
    for job_id in range(1, 5):
        start(sched, job_id, f"browser {job_id}", f"r{job_id}", units=3, nbytes=100)
    assert set(sched.bytes) == {1, 2} and list(sched.waiting) == [3, 4]  # two fit in 250 bytes
    places = sched.places()
    assert places[3]["queued"] and places[3]["ahead"] == 0 and places[4]["ahead"] == 1
    assert not places[1]["queued"] and places[2]["ahead"] == 1 and places[1]["sharing"] == 2
    for _ in range(6):
        sched.tick()
    assert set(fake_kind.log[:6]) == {"r1", "r2"}  # queued runs never train before they are admitted
    assert set(sched.bytes) == {3, 4} and not sched.waiting  # the first two ended: their room went to the queue
    while sched.tick():
        pass
    assert [m[1] for m in sent if m[0] == "end"] == [1, 2, 3, 4]


def test_one_run_larger_than_the_budget_still_runs_alone(fake_kind):
    sched, _ = scheduler(budget=10)
    start(sched, 1, "A", "big", units=1, nbytes=1000)
    start(sched, 2, "B", "small", units=1, nbytes=5)
    assert set(sched.bytes) == {1} and list(sched.waiting) == [2]
    sched.tick()
    assert set(sched.bytes) == {2}


def test_a_job_that_raises_ends_alone(fake_kind, monkeypatch):
    sched, sent = scheduler()
    start(sched, 1, "A", "bad")
    start(sched, 2, "B", "good", units=2)
    monkeypatch.setattr(sched.jobs[1], "advance", lambda seconds: 1 / 0)
    for _ in range(4):
        sched.tick()
    assert ("failed", 1, "ZeroDivisionError: division by zero") in sent
    assert [m[1] for m in sent if m[0] == "end"] == [2]


# ---------------------------------------------------------------------------
# Real runs in the scheduler (no process): slices and shared rows


BIG_FULL_BATCH = Hyper(hidden=2048, lr=0.01, momentum=0.9, epochs=1, batch_size=None, seed=0, dtype="float64")


@pytest.mark.parametrize("hyper", [Hyper(hidden=512, lr=0.01, momentum=0.9, epochs=3, batch_size=4, seed=0),
                                   BIG_FULL_BATCH], ids=["mini-batch", "H 2048 float64 full batch"])
def test_slices_stay_bounded_and_the_rows_are_shared_read_only(hyper):
    split = synthetic_split(600 if hyper.batch_size else 4000)
    shm, ref = train_service.share_rows(split, hyper.dtype)
    try:
        data = train_worker.SharedRows(ref)
        assert not data.x.flags.writeable and data.x.shape == (len(split.order), 784)
        np.testing.assert_array_equal(data.x[: ref["n_train"]], split.x_train)
        np.testing.assert_array_equal(data.labels[ref["n_train"] + ref["n_valid"]:], split.y_test)
        sent = []
        sched = train_worker.Scheduler(2**30, sent.append, data=lambda r, rows=data: rows)
        sched.handle(("start", 1, "run", {"hyper": hyper, "run_id": 1, "data_name": "x", "mode": "running"}, "A", ref))
        engine = sched.jobs[1].live.trainer.engine
        # the slices' length in CPU time of this process: the work a slice does, whatever else the machine runs
        sched.clock = sched.jobs[1].live.clock = time.process_time
        assert np.shares_memory(engine.x, data.x)  # the trainer trains on the shared rows, not a copy
        while sched.tick():
            pass
        # a slice is 0.25 s plus at most one step (0.1 s of mini-batches or row blocks); the final weights
        # are evaluated for the record in slices too (row blocks, then the test rows in pieces)
        seconds = [s for _, s in sched.slices]
        assert len(seconds) >= 3 and np.median(seconds) < 0.35 and max(seconds) < 0.6, seconds
        end = [m for m in sent if m[0] == "end"][0][2]
        assert end["record"].status == "finished" and end["record"].epochs_done == hyper.epochs
        assert not sched.jobs and sched.data_keys() == set()
        del data, engine, sched  # the views of the segment go before it is closed
    finally:
        gc.collect()
        shm.close()
        shm.unlink()


# ---------------------------------------------------------------------------
# The service with its child process


def inline_record(split, hyper):
    trainer = Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper, n_data=len(split.order))
    live = LiveRun(trainer, 1, "x", split=split)
    while not live.finished:
        live.advance(1.0)
    return live.record


def test_a_remote_run_gives_the_record_of_the_same_run_in_process(service, split):
    hyper = Hyper(hidden=32, lr=0.05, momentum=0.9, epochs=4, batch_size=50, seed=3, dtype="float64")
    run = service.start_run(hyper, 1, "x", "key", split, browser="A")
    wait_for(lambda: run.finished, what="the run's end")
    here, there = inline_record(split, hyper), run.final_record()
    assert there.status == "finished" and there.run_id == 1 and there.epochs_done == 4
    for name in ("w_h", "b_h", "w_o", "b_o"):
        np.testing.assert_allclose(getattr(there.params, name), getattr(here.params, name), rtol=1e-9, atol=1e-12)
    for a, b in zip(there.history, here.history):
        assert a["epoch"] == b["epoch"] and a["valid_acc"] == b["valid_acc"]
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-9)
    assert there.final["valid_acc"] == pytest.approx(here.final["valid_acc"])
    assert there.test_acc == pytest.approx(here.test_acc)
    assert run.history == there.history and run.progress == 1.0 and not run.active


def test_the_child_trains_at_a_lower_priority_with_its_blas_threads(service, split):
    run = service.start_run(Hyper(hidden=8, epochs=1, batch_size=100), 1, "x", "key", split, browser="A")
    pid = service.proc.pid
    wait_for(lambda: run.finished)  # the child lowers its priority first thing, before it takes a run
    assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + train_worker.NICE)
    env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert b"OPENBLAS_NUM_THREADS=1" in env and b"OMP_NUM_THREADS=1" in env
    assert train_service.blas_threads(workers=2, cores=8) == 4 and train_service.blas_threads(workers=3, cores=2) == 1


def test_pause_step_resume_and_stop_reach_the_child(service, split):
    hyper = Hyper(hidden=16, lr=0.01, momentum=0.9, epochs=10_000, batch_size=2, seed=1)
    run = service.start_run(hyper, 7, "x", "key", split, browser="A")
    wait_for(lambda: run.trainer.epoch >= 1, what="an epoch")
    run.pause()
    assert run.mode == "paused" and not run.active
    time.sleep(0.6)  # a status in flight before the pause must not make it run again
    frozen = (run.trainer.epoch, run.trainer.position)
    time.sleep(0.6)
    assert (run.trainer.epoch, run.trainer.position) == frozen and run.mode == "paused"
    run.step()
    wait_for(lambda: run.mode == "paused", what="the step's end")
    assert run.trainer.epoch == frozen[0] + 1 and run.trainer.position == 0
    run.resume()
    wait_for(lambda: run.trainer.epoch >= frozen[0] + 2, what="the resumed run")
    record = run.stop()
    assert record is not None and record.status == "stopped" and record.epochs_done >= frozen[0] + 2
    assert record.params is not None and run.finished and not run.active


def test_a_waiting_run_knows_its_place_and_starts_when_room_is_made(split):
    hyper = Hyper(hidden=16, lr=0.01, epochs=10_000, batch_size=2, seed=1)
    need, later = (estimate_run_bytes(h, len(split.y_train), len(split.y_valid), shared_inputs=True)
                   for h in (hyper, replace(hyper, epochs=1)))  # (the estimate counts the snapshots kept)
    svc = train_service.TrainService(budget=int(need + later / 2), threads=1)  # room for one run
    try:
        first = svc.start_run(hyper, 1, "x", "key", split, browser="A")
        second = svc.start_run(replace(hyper, epochs=1), 2, "x", "key", split, browser="B")
        third = svc.start_run(replace(hyper, epochs=1), 3, "x", "key", split, browser="C")
        wait_for(lambda: first.trainer.epoch >= 1 and third.queue_ahead == 1 and second.wait_seconds is not None,
                 what="the places")
        assert second.queued and second.queue_ahead == 0 and third.queued and not first.queued
        assert second.wait_seconds is not None and second.wait_seconds > 0  # the first run's time left
        first.stop()
        wait_for(lambda: second.finished and third.finished, what="the queued runs")
        assert second.record.status == third.record.status == "finished"
        assert len(svc.data.names()) == 0  # every run ended: the shared rows are freed
    finally:
        svc.close()


def test_a_killed_child_ends_its_runs_as_stopped_and_a_new_one_takes_the_next_run(service, split):
    hyper = Hyper(hidden=16, lr=0.01, epochs=10_000, batch_size=2, seed=1)
    runs = [service.start_run(hyper, i, "x", "key", split, browser=f"B{i}") for i in (1, 2)]
    wait_for(lambda: all(r.trainer.epoch >= 1 for r in runs), what="an epoch of each run")
    [name] = service.data.names()
    assert shm_exists(name)
    os.kill(service.proc.pid, signal.SIGKILL)
    wait_for(lambda: all(r.finished for r in runs), what="the runs' end")
    for run in runs:
        record = run.final_record()
        assert record.status == "stopped" and record.reason == train_service.CRASH_NOTICE
        assert record.epochs_done >= 1 and record.history == run.history  # the curves so far are kept
        assert record.params is None  # said so in the notice: the last weights are lost
    assert not shm_exists(name) and service.data.names() == []
    again = service.start_run(replace(hyper, epochs=1), 3, "x", "key", split, browser="B1")
    wait_for(lambda: again.finished, what="a run on the new child")
    assert again.record.status == "finished" and service.restarts == 1


def test_a_forgotten_run_is_dropped_by_the_child_and_its_rows_freed(service, split):
    held = [service.start_run(Hyper(hidden=16, epochs=10_000, batch_size=2), 1, "x", "key", split, browser="A")]
    wait_for(lambda: held[0].trainer.epoch >= 1)
    [name] = service.data.names()
    held.clear()  # the session that held the run ended
    gc.collect()
    wait_for(lambda: service.active_runs() == 0, what="the forget")
    assert not shm_exists(name)


# ---------------------------------------------------------------------------
# A learning-rate sweep as one job of the child


def test_a_sweep_is_one_job_of_the_child_and_its_runs_equal_the_sweep_in_this_process(service, split):
    from lab.sweep_run import SweepRun
    from mlp.sweep import Sweep

    hyper = Hyper(hidden=12, lr=0.05, momentum=0.9, epochs=3, batch_size=32, seed=4, dtype="float64")
    lrs = [0.01, 0.05, 0.3]
    remote = service.start_sweep(hyper, lrs, [1, 2, 3], "synthetic", "key", split, browser="A")
    assert service.active_runs() == 1  # one job for the three networks
    wait_for(lambda: remote.finished, what="the sweep's end")
    here = SweepRun(Sweep(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper, lrs,
                          n_data=len(split.order)), [1, 2, 3], "synthetic", split=split)
    while not here.finished:
        here.advance(1.0)
    for theirs, mine in zip(remote.final_records(), here.final_records()):
        assert theirs.run_id == mine.run_id and theirs.hyper == mine.hyper and theirs.status == "finished"
        for a, b in zip(theirs.history, mine.history):
            assert a["valid_loss"] == pytest.approx(b["valid_loss"], rel=1e-10)
        np.testing.assert_allclose(theirs.params.w_h, mine.params.w_h, rtol=1e-9, atol=1e-12)
        assert theirs.test_acc == pytest.approx(mine.test_acc)
        assert [e for e, _ in theirs.snapshots] == [e for e, _ in mine.snapshots]
        assert len(theirs.health) == 3 and theirs.health[-1]["grad_w_h"] == pytest.approx(mine.health[-1]["grad_w_h"])
    assert remote.histories == [r.history for r in remote.final_records()]
    wait_for(lambda: service.data.names() == [], what="the rows freed")


def test_a_sweep_sends_its_curves_while_it_trains_and_stop_keeps_them(service, split):
    hyper = Hyper(hidden=12, lr=0.05, epochs=10_000, batch_size=2, seed=4)
    remote = service.start_sweep(hyper, [0.01, 0.1], [7, 8], "synthetic", "key", split, browser="A")
    wait_for(lambda: remote.epoch >= 2 and all(len(h) >= 2 for h in remote.histories), what="two epochs sent")
    assert remote.active and not remote.queued and remote.live_count == 2 and 0 < remote.progress < 1
    records = remote.stop()
    assert records is not None and [r.status for r in records] == ["stopped", "stopped"]
    assert all(len(r.history) >= 2 and r.params is not None for r in records)


def test_a_killed_child_ends_a_sweep_as_stopped_with_its_curves(service, split):
    hyper = Hyper(hidden=12, lr=0.05, epochs=10_000, batch_size=2, seed=4)
    remote = service.start_sweep(hyper, [0.01, 0.1, 0.2], [1, 2, 3], "synthetic", "key", split, browser="A")
    wait_for(lambda: all(len(h) >= 1 for h in remote.histories), what="an epoch of each network")
    os.kill(service.proc.pid, signal.SIGKILL)
    wait_for(lambda: remote.finished, what="the sweep's end")
    for record in remote.final_records():
        assert record.status == "stopped" and record.reason == train_service.CRASH_NOTICE
        assert record.params is None and len(record.history) >= 1  # the curves so far are kept
    assert service.data.names() == []


def test_a_queued_sweep_stopped_before_it_starts_ends_with_empty_records(split):
    from lab.sweep_run import estimate_sweep_bytes

    blocker_hyper = Hyper(hidden=16, lr=0.01, epochs=10_000, batch_size=2, seed=2)
    hyper = Hyper(hidden=16, lr=0.05, epochs=2, batch_size=32, seed=4)
    room = estimate_sweep_bytes(hyper, len(split.y_train), len(split.y_valid), 3, shared_inputs=True)
    svc = train_service.TrainService(budget=int(room * 1.2), threads=1)
    try:
        blocker = svc.start_run(blocker_hyper, 9, "x", "key", split, browser="B")
        wait_for(lambda: blocker.trainer.epoch >= 1, what="the blocker's first epoch")
        remote = svc.start_sweep(hyper, [0.01, 0.1, 0.3], [1, 2, 3], "synthetic", "key", split, browser="A")
        wait_for(lambda: remote.queued, what="the sweep queued")
        records = remote.stop()
        assert [r.status for r in records] == ["stopped"] * 3 and all(r.history == [] for r in records)
        blocker.stop()
    finally:
        svc.close()


def test_a_sweep_jobs_final_evaluation_is_spread_over_slices():
    """Each network's final weights are evaluated in a slice of their own (or a few a slice), so the end
    of a sweep of large networks does not hold the trainer for R evaluations at once."""
    hyper = Hyper(hidden=1024, lr=0.05, momentum=0.9, epochs=1, batch_size=100, seed=0)
    lrs = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32]
    split = synthetic_split(6000)
    shm, ref = train_service.share_rows(split, hyper.dtype)
    try:
        data = train_worker.SharedRows(ref)
        sent = []
        sched = train_worker.Scheduler(2**31, sent.append, data=lambda r, rows=data: rows)
        spec = {"hyper": hyper, "lrs": lrs, "run_ids": list(range(1, 7)), "data_name": "x"}
        sched.handle(("start", 1, "sweep", spec, "A", ref))
        job = sched.jobs[1]
        sched.clock = job.live.clock = time.process_time  # CPU time of this process: the work a slice does
        while not job.live.finished:
            assert sched.tick()
        one = time.process_time()
        job.live.to_record(0)  # what one network's final evaluation costs (built again below, not kept)
        one = time.process_time() - one
        before = len(sched.slices)
        while sched.tick():
            pass
        ending = [s for _, s in sched.slices[before:]]
        end = [m for m in sent if m[0] == "end"][0][2]
        assert [r.run_id for r in end["records"]] == list(range(1, 7))
        assert all(r.status == "finished" and r.test_acc is not None for r in end["records"])
        # the records took several slices, none much longer than a slice plus one network's evaluation
        assert len(ending) >= 2 and max(ending) < sched.slice + 2 * one, (ending, one, sched.slice)
        assert sum(ending) > sched.slice + 2 * one  # all six at once would not have fitted that bound
        del data, job, sched
    finally:
        gc.collect()
        shm.close()
        shm.unlink()
