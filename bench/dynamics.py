"""Speed of issue 15's dynamics tools: the learning-rate sweep against sequential runs, and the loss landscape.

    python bench/dynamics.py [--repeats 5] [--rates 6] [--epochs 5] [--grid 21]

1. The sweep: R runs of the Quick demo network (H 256, batch 128, float32, the given epochs) with R
   learning rates on a log grid, trained (a) one after the other by ``mlp.train.Trainer`` and (b) together
   by ``mlp.sweep.Sweep`` (stacked weights, batched ``np.matmul``). Each repeat times (a) and (b) back to
   back in alternating order (paired); it prints the median of each and the median of the paired ratios
   a / b (target >= 1.5x for 6 runs on 2 cores).
2. The landscape (``lab.landscape``) of a Quick demo network trained for the given epochs: the line
   from theta_0 to theta_T (31 points) and the grid x grid slice, on a 2,000-row sample of the training
   set (target <= 5 s for 21 x 21 at H = 256).

Timings depend on the machine's load: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from lab import landscape  # noqa: E402
from mlp.data import default_data_path, load_dataset, split_dataset  # noqa: E402
from mlp.sweep import Sweep, log_grid  # noqa: E402
from mlp.train import PRESETS, Trainer  # noqa: E402


def sequential(split, hyper, lrs):
    for lr in lrs:
        Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, replace(hyper, lr=lr)).run()


def together(split, hyper, lrs):
    sweep = Sweep(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper, lrs)
    while not sweep.done:
        sweep.step()


def timed(fn, *args):
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def bench_sweep(split, hyper, lrs, repeats):
    seq, tog = [], []
    for i in range(repeats):
        pair = [(sequential, seq), (together, tog)]
        for fn, out in pair if i % 2 == 0 else pair[::-1]:
            out.append(timed(fn, split, hyper, lrs))
    ratios = [a / b for a, b in zip(seq, tog)]
    print(f"sweep of {len(lrs)} rates {', '.join(f'{lr:g}' for lr in lrs)}; H {hyper.hidden}, batch "
          f"{hyper.batch_size}, {hyper.epochs} epochs, {hyper.dtype}; {repeats} paired repeats")
    print(f"  {len(lrs)} sequential Trainer runs: median {statistics.median(seq):.2f} s "
          f"({', '.join(f'{t:.2f}' for t in seq)})")
    print(f"  one stacked Sweep:          median {statistics.median(tog):.2f} s "
          f"({', '.join(f'{t:.2f}' for t in tog)})")
    print(f"  speed-up (paired ratios):   median {statistics.median(ratios):.2f}x "
          f"(min {min(ratios):.2f}x, max {max(ratios):.2f}x; target >= 1.5x)")


def bench_landscape(split, hyper, grid, repeats):
    trainer = Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper)
    first = trainer.params
    trainer.run()
    final = trainer.params
    sample = landscape.sample_rows(split.x_train, split.y_train)
    valid = landscape.sample_rows(split.x_valid, split.y_valid)
    lines, slices = [], []
    for _ in range(repeats):
        lines.append(timed(landscape.line_losses, first, final, sample, valid))
        slices.append(timed(landscape.slice_losses, final, sample, grid, 0))
    print(f"landscape at H {hyper.hidden} on {len(sample[1]):,} training rows ({repeats} repeats)")
    print(f"  line, {landscape.LINE_POINTS} points (train and validation): median {statistics.median(lines):.2f} s")
    print(f"  slice, {grid} x {grid} grid: median {statistics.median(slices):.2f} s "
          f"({', '.join(f'{t:.2f}' for t in slices)}; target <= 5 s)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rates", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--grid", type=int, default=21)
    ap.add_argument("--only", choices=("sweep", "landscape"))
    args = ap.parse_args(argv)
    ds = load_dataset(default_data_path())
    split = split_dataset(ds.images, ds.labels)
    hyper = replace(PRESETS["quick"], epochs=args.epochs)
    print(f"data: {ds.name}, {len(split.y_train):,} training / {len(split.y_valid):,} validation images; "
          f"{os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}")
    if args.only in (None, "sweep"):
        bench_sweep(split, hyper, log_grid(0.01, 0.5, args.rates), args.repeats)
    if args.only in (None, "landscape"):
        bench_landscape(split, hyper, args.grid, args.repeats)
    print(f"load average after: {os.getloadavg()[0]:.2f} (1 min), {os.getloadavg()[1]:.2f} (5 min)")
    np.seterr(all="ignore")


if __name__ == "__main__":
    main()
