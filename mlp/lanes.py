"""Lanes: the trainer's full-batch rows split over T threads, each calling BLAS with one thread.

A matrix product with T BLAS threads keeps T cores busy, but the elementwise passes between
the products (the bias, the ReLU, its mask, the softmax) run on one core while the others
wait: with two cores they cost an epoch of the report's shapes about a fifth of its time.
Split the rows instead: lane j is a thread that does the whole forward and backward pass of
its own rows, chunk by chunk, with a one-thread BLAS (numpy lets go of the GIL in both), and
every pass of the epoch runs on every core. The lanes' gradients are added in lane order, so
the result does not depend on which thread finished first.

``blas_threads()`` is the number of lanes worth running (the BLAS threads the process was
given, e.g. ``OPENBLAS_NUM_THREADS``); ``run(fn, n)`` calls fn(0), ..., fn(n - 1) on n threads
(lane 0 on the calling thread) with BLAS at one thread meanwhile and returns their results in
order (n = 1: a plain call).
"""

from __future__ import annotations

import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

try:
    from threadpoolctl import ThreadpoolController
except ImportError:  # without it the BLAS library is not found: one lane
    ThreadpoolController = None

_LOCK = threading.Lock()
_STATE = {"blas": None, "pool": None, "depth": 0, "saved": None}


def _blas():
    """(OpenBLAS's controller, its ``openblas_set_num_threads_local``) or None (no OpenBLAS: one lane).

    ``openblas_set_num_threads_local`` sets the count from any thread and returns the old one;
    OpenBLAS 0.3.31's plain ``openblas_set_num_threads`` is ignored when called from another
    thread than the main one once the main thread has called it (measured), and Streamlit runs
    pages on other threads.
    """
    with _LOCK:
        if _STATE["blas"] is None:
            _STATE["blas"] = _find_openblas()
        return _STATE["blas"] or None


def _find_openblas():
    if ThreadpoolController is None:
        return ()
    for lib in ThreadpoolController().select(internal_api="openblas").lib_controllers:
        setter = getattr(lib.dynlib, "openblas_set_num_threads_local", None)
        if setter is not None:
            setter.argtypes, setter.restype = [ctypes.c_int], ctypes.c_int
            return lib, setter
    return ()


def blas_threads():
    """The BLAS threads this process was given (1 if they cannot be changed), at most the cores.

    While lanes run (BLAS at one thread) it is the count they will give back, not 1.
    """
    blas = _blas()
    if not blas:
        return 1
    with _LOCK:
        threads = _STATE["saved"] if _STATE["depth"] else blas[0].get_num_threads()
    return max(1, min(threads or 1, os.cpu_count() or 1))


@contextmanager
def one_blas_thread(active=True):
    """BLAS at one thread inside the block (while ``active`` and BLAS threads can be changed).

    For the trainer's own BLAS calls between lanes (the gradient norms' dot products): a product
    with T threads leaves T - 1 OpenBLAS threads spinning for a while after it returns (about
    0.1 s), and they would take cores from the lanes of the next step.
    """
    if not active or _blas() is None:
        yield
        return
    _enter_one_thread()
    try:
        yield
    finally:
        _leave_one_thread()


def _enter_one_thread():
    """BLAS to one thread while any lanes run (counted, so overlapping callers restore it once, at the end)."""
    with _LOCK:
        if _STATE["depth"] == 0:
            _STATE["saved"] = _STATE["blas"][1](1)
        _STATE["depth"] += 1


def _leave_one_thread():
    with _LOCK:
        _STATE["depth"] -= 1
        if _STATE["depth"] == 0:
            _STATE["blas"][1](_STATE["saved"])


def _pool(n):
    with _LOCK:
        pool = _STATE["pool"]
        if pool is None or pool._max_workers < n:
            pool = _STATE["pool"] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="mlp-lane")
        return pool


def spans(n, k):
    """k contiguous (start, stop) ranges covering 0..n, as equal as possible (some empty when n < k):
    the shares of n rows (or networks) of k lanes."""
    cuts = [n * i // k for i in range(k + 1)]
    return list(zip(cuts[:-1], cuts[1:]))


def run(fn, n):
    """[fn(0), ..., fn(n - 1)], each on its own thread (fn(0) on this one) with BLAS at one thread meanwhile."""
    if n <= 1 or _blas() is None:
        return [fn(j) for j in range(max(1, n))]
    pool = _pool(n - 1)
    with one_blas_thread():
        others = [pool.submit(fn, j) for j in range(1, n)]
        try:
            first = fn(0)  # lane 0 on the calling thread, which would only wait otherwise
        finally:
            rest = [f.result() for f in others]  # every lane is done before BLAS gets its threads back
        return [first, *rest]
