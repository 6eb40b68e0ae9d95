"""lab.budget: the server's memory budget, estimates before allocating, and the store of decoded data sets."""

from __future__ import annotations

import gc
import io
import tracemalloc
import zipfile

import numpy as np
import pytest
from helpers import blob_letters

from lab import budget
from lab.budget import (
    MemoryRefused,
    SetStore,
    estimate_run_bytes,
    estimate_set_bytes,
    estimate_upload_bytes,
    stored_set,
)
from mlp.data import Dataset, load_bytes, split_dataset
from mlp.train import Hyper, Trainer

MiB = 2**20


def npz_bytes(n, seed=0, dtype=np.uint8):
    images, labels = blob_letters(n, seed)
    buf = io.BytesIO()
    np.savez(buf, images=images.astype(dtype), labels=labels)
    return buf.getvalue()


def dataset(n=60, seed=0):
    images, labels = blob_letters(n, seed)
    return Dataset(images, labels, f"set{seed}")


# --- the budget and the process ------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [("6G", 6 * 2**30), ("512M", 512 * MiB), ("512MiB", 512 * MiB),
                                            ("1073741824", 2**30), ("40%", 400), ("2.5g", int(2.5 * 2**30))])
def test_budget_text(text, expected):
    assert budget.parse_budget(text, machine=1000) == expected


def test_budget_from_the_environment_or_half_the_machine(monkeypatch):
    monkeypatch.setenv(budget.MEMORY_BUDGET_ENV, "3G")
    assert budget.memory_budget() == 3 * 2**30
    monkeypatch.setenv(budget.MEMORY_BUDGET_ENV, "lots")  # malformed: the default
    machine = budget.machine_bytes()
    assert machine and budget.memory_budget() == int(0.5 * machine)
    monkeypatch.delenv(budget.MEMORY_BUDGET_ENV)
    assert budget.memory_budget() == int(0.5 * machine)


def test_rss_and_free_are_read_from_proc(monkeypatch):
    rss = budget.rss_bytes()
    assert 10 * MiB < rss < 64 * 2**30
    monkeypatch.setenv(budget.MEMORY_BUDGET_ENV, str(rss + 100 * MiB))
    assert 0 < budget.free_bytes() <= 100 * MiB
    monkeypatch.setenv(budget.MEMORY_BUDGET_ENV, "1M")
    assert budget.free_bytes() == 0
    with pytest.raises(MemoryRefused, match=r"needs about 5\.0 MiB, and 0 bytes of the lab's 1\.0 MiB is free"):
        budget.check_memory(5 * MiB, "do this")


# --- estimates ---------------------------------------------------------------------------------------------------


def test_the_set_estimate_is_what_a_stored_set_holds():
    ds = dataset(200)
    resident, peak = estimate_set_bytes(200)
    assert stored_set(("x",), ds).nbytes == resident
    assert peak > resident


def test_an_upload_is_estimated_from_its_header_only():
    data = npz_bytes(100, dtype=np.int64)
    assert estimate_upload_bytes(data, "a.npz") == estimate_set_bytes(100, itemsize=8)
    header = {"descr": "|u1", "fortran_order": False, "shape": (10**8, 28, 28)}
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w") as zf:  # declares 10^8 images, holds none
        with zf.open("images.npy", "w") as f:
            np.lib.format.write_array_header_1_0(f, header)
    assert estimate_upload_bytes(bomb.getvalue(), "bomb.npz")[0] > 300 * 2**30
    assert estimate_upload_bytes(b"\x1f\x8b rest", "x.tar.gz") == estimate_set_bytes(25_000)
    assert estimate_upload_bytes(b"PK broken", "x.npz") == estimate_set_bytes(0)


@pytest.mark.parametrize("hyper,images", [
    (Hyper(hidden=256, lr=0.1, epochs=2, batch_size=128, dtype="float32"), 3000),
    (Hyper(hidden=300, lr=0.1, epochs=2, batch_size=None, dtype="float64"), 3000),
    (Hyper(hidden=64, lr=0.1, epochs=2, batch_size=None, dtype="float32"), 3000),
    (Hyper(hidden=512, lr=0.1, epochs=1, batch_size=None, dtype="float32"), 18000),  # many more rows than a chunk
    (Hyper(hidden=512, lr=0.1, epochs=1, batch_size=256, dtype="float32"), 18000),
])
def test_the_run_estimate_covers_what_the_trainer_allocates(hyper, images):
    images, labels = blob_letters(images)
    split = split_dataset(images, labels)
    gc.collect()
    tracemalloc.start()
    trainer = Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper)
    for _ in range(2):
        trainer.step_epoch()
    trainer.evaluate()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    estimate = estimate_run_bytes(hyper, len(split.y_train), len(split.y_valid))
    assert peak <= estimate <= 3 * peak, (peak, estimate)


@pytest.mark.parametrize("hyper", [
    Hyper(hidden=256, lr=0.1, epochs=2, batch_size=128, dtype="float32"),
    Hyper(hidden=300, lr=0.1, epochs=2, batch_size=None, dtype="float64"),
])
def test_the_run_estimate_on_shared_rows_covers_what_the_trainer_allocates(hyper):
    """The trainer process's runs train on shared stacked rows: the estimate leaves them out, and still holds."""
    images, labels = blob_letters(3000)
    split = split_dataset(images, labels)
    x = np.concatenate([split.x_train, split.x_valid]).astype(hyper.dtype)
    y = np.concatenate([split.y_train, split.y_valid]).astype(np.int64)
    n = len(split.y_train)
    gc.collect()
    tracemalloc.start()
    trainer = Trainer(x[:n], y[:n], x[n:], y[n:], hyper, stacked=(x, y, n))
    for _ in range(2):
        trainer.step_epoch()
    trainer.evaluate()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    estimate = estimate_run_bytes(hyper, n, len(split.y_valid), shared_inputs=True)
    assert peak <= estimate <= 3 * peak, (peak, estimate)
    assert estimate < estimate_run_bytes(hyper, n, len(split.y_valid)) - x.nbytes  # the rows are not counted


@pytest.mark.parametrize("hyper,images", [
    (Hyper(hidden=128, lr=0.1, epochs=2, batch_size=64, dtype="float32"), 3000),
    (Hyper(hidden=256, lr=0.1, epochs=1, batch_size=128, dtype="float32"), 18000),
    (Hyper(hidden=128, lr=0.1, epochs=1, batch_size=None, dtype="float64"), 18000),
])
def test_the_sweep_estimate_covers_what_the_sweep_allocates(hyper, images):
    from lab.sweep_run import SweepRun, estimate_sweep_bytes
    from mlp.sweep import Sweep

    images, labels = blob_letters(images)
    split = split_dataset(images, labels)
    gc.collect()
    tracemalloc.start()
    run = SweepRun(Sweep(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper, [0.01, 0.05, 0.2, 0.5],
                         n_data=len(split.order)), [1, 2, 3, 4], "blobs")
    while not run.finished:
        run.advance(5.0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    estimate = estimate_sweep_bytes(hyper, len(split.y_train), len(split.y_valid), 4)
    assert peak <= estimate <= 3 * peak, (peak, estimate)


def test_the_training_budget_is_the_workers_share_or_the_setting(monkeypatch):
    monkeypatch.setenv(budget.MEMORY_BUDGET_ENV, "8G")
    monkeypatch.delenv(budget.TRAINING_BUDGET_ENV, raising=False)
    monkeypatch.setenv("MLP_LAB_WORKERS", "2")
    assert budget.training_budget() == 2 * 2**30  # half of the budget, shared by two workers
    assert budget.training_budget(workers=1) == 4 * 2**30
    monkeypatch.setenv(budget.TRAINING_BUDGET_ENV, "512M")
    assert budget.training_budget() == 512 * 2**20


# --- the store ----------------------------------------------------------------------------------------------------


def store_of(budget_bytes, free=10**12):
    return SetStore(upload_budget=budget_bytes, free=lambda: free)


def test_a_set_is_decoded_once_and_shared():
    store, builds = store_of(10 * MiB), []
    build = lambda: builds.append(1) or dataset(60)
    a, claim_a = store.load(("upload", "k"), build, estimate_set_bytes(60))
    b, claim_b = store.load(("upload", "k"), build, estimate_set_bytes(60))
    assert a is b and builds == [1] and store.claimed(("upload", "k")) == 2
    assert a.digest == budget.array_digest(a.dataset.images, a.dataset.labels) and len(a.digest) == 64


def test_unclaimed_sets_are_evicted_least_recently_used_first():
    one = estimate_set_bytes(60)
    store = store_of(int(2.5 * one[0]))
    for k in "abc":
        store.load(("upload", k), lambda: dataset(60), one)  # the claims die at once: nothing held
    assert [key[1] for key in store._sets] == ["b", "c"]  # "a" made room for "c"
    store.get(("upload", "b"))  # b used again: c is now the oldest
    store.load(("upload", "d"), lambda: dataset(60), one)
    assert [key[1] for key in store._sets] == ["b", "d"]


def test_claimed_sets_stay_and_a_new_upload_is_refused_with_the_numbers():
    one = estimate_set_bytes(60)
    store = store_of(int(2.5 * one[0]))
    claims = [store.load(("upload", k), lambda: dataset(60), one)[1] for k in "ab"]
    with pytest.raises(MemoryRefused, match=r"other sessions are using take .* of the .*MAX_CACHED_UPLOAD_BYTES"):
        store.load(("upload", "c"), lambda: dataset(60), one)
    assert len(store) == 2
    del claims  # the sessions end: their claims go with their session state
    gc.collect()
    store.load(("upload", "c"), lambda: dataset(60), one)
    assert ("upload", "c") in store._sets and len(store) == 2


def test_a_set_larger_than_the_upload_budget_is_refused_before_decoding():
    store = store_of(1 * MiB)
    with pytest.raises(MemoryRefused, match=r"needs about .* once decoded; uploaded data sets may take 1\.0 MiB"):
        store.load(("upload", "big"), lambda: pytest.fail("decoded"), estimate_set_bytes(10_000))


def test_the_server_budget_refuses_before_decoding_and_evicts_what_it_can():
    free = {"bytes": 5 * MiB}
    store = SetStore(upload_budget=10**12, free=lambda: free["bytes"])
    store.load(("path", "p", ()), lambda: dataset(60), estimate_set_bytes(60))
    with pytest.raises(MemoryRefused, match=r"Not enough memory on the server to decode: it needs about"):
        store.load(("upload", "x"), lambda: pytest.fail("decoded"), estimate_set_bytes(5000), "decode")
    assert len(store) == 0  # the unclaimed data-folder set was dropped trying to make room


def test_a_real_upload_through_the_store():
    data = npz_bytes(80, seed=3)
    store = store_of(100 * MiB)
    entry, claim = store.load(("upload", "h"), lambda: load_bytes(data, "mine.npz"),
                              estimate_upload_bytes(data, "mine.npz"))
    assert len(entry.dataset) == 80 and entry.nbytes == estimate_set_bytes(80)[0]
    assert not entry.split.x_train.flags.writeable


def test_uploads_no_session_claims_are_released_data_folder_sets_stay():
    store = store_of(100 * MiB)
    one = estimate_set_bytes(60)
    kept = store.load(("upload", "kept"), lambda: dataset(60), one)[1]
    store.load(("upload", "ended"), lambda: dataset(60, seed=1), one)  # its claim is dropped at once
    store.load(("path", "p", ()), lambda: dataset(60, seed=2), one)
    assert store.release_unclaimed_uploads() == 1
    assert sorted(k[1] for k in store._sets) == ["kept", "p"] and kept.key == ("upload", "kept")
