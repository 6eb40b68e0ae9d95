"""One epoch of the report's shapes (10000x784 train, 6000x784 valid, H=1000, full batch) in float32 and float64.

Both dtypes run the same code (``mlp.train.Engine``: ``mlp.network.forward`` /
``backward`` and ``momentum_update`` with buffers). Prints the time per epoch,
the time of the epoch's matrix products alone in the same precision (the
matmul bound), and the median ratio over back-to-back pairs. Targets: float32
within 1.10x of its bound, float64 within 1.2x. If PyTorch is importable it
also times the same full-batch epoch with torch CPU autograd in float32.

On a machine shared with other work, wall-clock times swing by 2x or more;
``--cpu-time`` measures the process's CPU time instead, which is steadier
with one BLAS thread:

    python bench/train_speed.py [--repeats 7]
    OPENBLAS_NUM_THREADS=1 python bench/train_speed.py --cpu-time
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlp.train import Hyper, Trainer  # noqa: E402

N_TRAIN, N_VALID, F, H, K = 10000, 6000, 784, 1000, 10


def fake_data(seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.integers(0, 256, (N_TRAIN + N_VALID, F)) / 255.0).astype(np.float32)
    y = rng.integers(0, K, N_TRAIN + N_VALID)
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


def matmul_bound(dtype):
    """A function doing the epoch's five matrix products alone, on preallocated arrays of ``dtype``."""
    rng = np.random.default_rng(1)
    x = rng.random((N_TRAIN + N_VALID, F)).astype(dtype)
    w_h = rng.random((F, H)).astype(dtype)
    h = np.empty((N_TRAIN + N_VALID, H), dtype)
    w_o = rng.random((H, K)).astype(dtype)
    o = np.empty((N_TRAIN + N_VALID, K), dtype)
    g_h, g_o = np.empty_like(w_h), np.empty_like(w_o)
    dh = np.empty((N_TRAIN, H), dtype)

    def products():
        np.matmul(x, w_h, out=h)  # forward, hidden (train + valid)
        np.matmul(h, w_o, out=o)  # forward, output
        np.matmul(h[:N_TRAIN].T, o[:N_TRAIN], out=g_o)  # dW_o
        np.matmul(o[:N_TRAIN], w_o.T, out=dh)  # delta_o W_o^T
        np.matmul(x[:N_TRAIN].T, dh, out=g_h)  # dW_h

    return products


def epoch_runner(dtype, data):
    trainer = Trainer(*data, Hyper(hidden=H, epochs=10**6, batch_size=None, dtype=dtype))
    return lambda: trainer.step_epoch()


def torch_runner(data):
    try:
        import torch
    except ImportError:
        return None
    x_tr, y_tr, x_va, y_va = (torch.from_numpy(np.asarray(a)) for a in data)
    w_h = (torch.randn(F, H) * (2 / (F + H)) ** 0.5).requires_grad_()
    b_h = torch.zeros(1, H, requires_grad=True)
    w_o = (torch.randn(H, K) * (2 / (H + K)) ** 0.5).requires_grad_()
    b_o = torch.zeros(1, K, requires_grad=True)
    params = [w_h, b_h, w_o, b_o]
    vel = [torch.full_like(p, 1e-5) for p in params]

    def epoch():
        logits = torch.relu(x_tr @ w_h + b_h) @ w_o + b_o
        loss = torch.nn.functional.cross_entropy(logits, y_tr)
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            valid_logits = torch.relu(x_va @ w_h + b_h) @ w_o + b_o
            torch.nn.functional.cross_entropy(valid_logits, y_va)
            (valid_logits.argmax(1) == y_va).float().mean()
            for p, v in zip(params, vel):
                v.mul_(0.9).add_(p.grad, alpha=0.1)
                p.sub_(v)

    return epoch


CLOCK = [time.perf_counter]  # or time.process_time (--cpu-time)


def timed(fn):
    t0 = CLOCK[0]()
    fn()
    return CLOCK[0]() - t0


def paired_ratio(fn, reference, repeats):
    """Median of fn / reference over back-to-back pairs (robust to slow drifts of machine load), and both medians.

    Each side of a pair runs twice and its second run is timed: its steady state, as epochs run
    one after another. The first run after the other side pays for the switch: after a product
    on T BLAS threads OpenBLAS's idle threads spin for a while (about 0.1 s) and take cores from
    the lanes of an epoch that starts then (``mlp.lanes``); ``switch_cost`` measures that apart.
    """
    fn(), reference()  # warm-up
    pairs = [(timed_second(fn), timed_second(reference)) for _ in range(repeats)]
    ratio = statistics.median(a / b for a, b in pairs)
    return ratio, statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs)


def timed_second(fn):
    fn()
    return timed(fn)


def switch_cost(fn, reference, repeats):
    """Median of (fn's first run right after ``reference``) / (its second run): the cost of the switch."""
    ratios = []
    for _ in range(repeats):
        reference()
        first = timed(fn)
        ratios.append(first / timed(fn))
    return statistics.median(ratios)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--cpu-time", action="store_true", help="time CPU seconds of this process, not wall clock")
    args = parser.parse_args()
    if args.cpu_time:
        CLOCK[0] = time.process_time
    data = fake_data()
    for dtype, target in (("float32", 1.10), ("float64", 1.2)):
        epoch_fn, bound_fn = epoch_runner(dtype, data), matmul_bound(np.dtype(dtype))
        ratio, epoch, bound = paired_ratio(epoch_fn, bound_fn, args.repeats)
        switch = switch_cost(epoch_fn, bound_fn, args.repeats)
        print(f"{dtype}: epoch {epoch * 1000:7.1f} ms   matmul bound {bound * 1000:7.1f} ms   "
              f"ratio {ratio:.2f}x (target <= {target}x)   first epoch after the bound's products {switch:.2f}x")
    torch_epoch = torch_runner(data)
    if torch_epoch is None:
        print("torch: not installed, comparison skipped")
    else:
        ratio, ours, theirs = paired_ratio(epoch_runner("float32", data), torch_epoch, args.repeats)
        print(f"torch float32 autograd: epoch {theirs * 1000:7.1f} ms   ours/torch {ratio:.2f}x (target <= 0.85x)")


if __name__ == "__main__":
    main()
