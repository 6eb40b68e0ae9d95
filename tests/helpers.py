"""Small synthetic data sets for tests that must not depend on any shipped or real file."""

import time

import numpy as np


def blob_letters(n=400, seed=0):
    """(images (n, 28, 28) uint8, labels (n,)): each class a noisy bright bar at its own rows.

    Learnable in a few epochs, but 20% of the labels are random, so the loss stays
    well above 0 (as on real letters) instead of collapsing to float32 round-off.
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = rng.integers(0, 90, (n, 28, 28)).astype(np.uint8)
    for i, c in enumerate(labels):
        images[i, 2 * c + 3 : 2 * c + 6, 4:24] = rng.integers(120, 256, (3, 20))
    noisy = rng.random(n) < 0.2
    labels[noisy] = rng.integers(0, 10, noisy.sum())
    return images, labels.astype(np.uint8)


def frozen_split(n=400, seed=0, dtype=np.float64):
    from mlp.data import split_dataset

    images, labels = blob_letters(n, seed)
    return split_dataset(images, labels, dtype=dtype)


def remote_trainers(monkeypatch):
    """For a page test's fixture (``yield from``): a factory of fresh trainer services (one BLAS thread) that
    the page uses as its trainer process, closed after the test."""
    from lab import train_service

    monkeypatch.setenv("MLP_LAB_TRAINER", "process")
    services = []

    def make(budget=2**30):
        svc = train_service.TrainService(budget=budget, threads=1)
        services.append(svc)
        monkeypatch.setitem(train_service._SERVICE, "service", svc)
        return svc

    yield make
    for svc in services:
        svc.close()


def rerun_until(at, condition, timeout=90.0, what="the condition"):
    """Rerun the AppTest page until ``condition()`` holds (the trainer process works meanwhile)."""
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    return at
