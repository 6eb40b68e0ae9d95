"""Server time of a re-render of the math pages after one widget change (target: under 300 ms).

Runs each page in Streamlit's AppTest (in-process: the script run, no browser or network), changes one
widget, and times ``at.run()``; prints the median and the slowest of ``--repeats`` runs per case
(after two untimed warm-up runs). The machine's load is printed too: other processes inflate the times.

    .venv/bin/python bench/math_pages.py [--repeats 15]

The real-letter case uses the data set of ``mlp.data.find_data_files()`` (data/letters.npz, or the folder
in MLP_LAB_DATA_DIR); it is skipped when there is none.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from mlp.data import find_data_files  # noqa: E402

SOFTMAX = str(ROOT / "pages" / "softmax.py")
BACKPROP = str(ROOT / "pages" / "backprop.py")
TARGET_MS = 300


def start(page, **widgets):
    """An AppTest of ``page`` after its first run, with widgets set (by key) and run once more."""
    at = AppTest.from_file(page, default_timeout=120)
    at.run()
    for key, (kind, value) in widgets.items():
        getattr(at, kind)(key=key).set_value(value)
        at.run()
    if at.exception:
        raise RuntimeError(at.exception)
    return at


def time_changes(at, kind, key, values, repeats):
    """Milliseconds of at.run() after setting widget ``key`` to each of ``values`` in turn."""
    times = []
    for i in range(repeats):
        getattr(at, kind)(key=key).set_value(values[i % len(values)])
        t0 = time.perf_counter()
        at.run()
        times.append(1000 * (time.perf_counter() - t0))
        if at.exception:
            raise RuntimeError(at.exception)
    return times


def cases():
    yield ("softmax, K=4, step 1 shown: move a logit", SOFTMAX, {}, ("slider", "sm_logit_A", [2.5, 1.5]))
    yield ("softmax, K=4, all steps: move a logit", SOFTMAX, {"sm_steps_all": ("toggle", True)},
           ("slider", "sm_logit_A", [2.5, 1.5]))
    yield ("softmax, K=10, all steps: move a logit", SOFTMAX,
           {"sm_k": ("slider", 10), "sm_steps_all": ("toggle", True)}, ("slider", "sm_logit_J", [3.0, -3.0]))
    yield ("softmax, all steps: scale 1 <-> 1000", SOFTMAX, {"sm_steps_all": ("toggle", True)},
           ("select_slider", "sm_scale", [1000, 1]))
    yield ("backprop tiny 4-3-3, N=2, all steps: change seed", BACKPROP, {"bp_steps_all": ("toggle", True)},
           ("number_input", "bp_seed", [5, 27]))
    yield ("backprop tiny 4-4-4, N=4, all steps: change seed", BACKPROP,
           {"bp_h": ("slider", 4), "bp_k": ("slider", 4), "bp_n": ("slider", 4), "bp_steps_all": ("toggle", True)},
           ("number_input", "bp_seed", [5, 27]))
    yield ("backprop tiny, all steps: move learning rate", BACKPROP, {"bp_steps_all": ("toggle", True)},
           ("slider", "bp_lr", [0.5, 0.1]))
    if find_data_files():
        yield ("backprop real letter, 784-1000-10: next image", BACKPROP,
               {"bp_mode": ("radio", "One real letter (784-H-10)")}, ("number_input", "bp_index", [1, 2, 3, 4]))
    else:
        print("(no data set found: the real-letter case is skipped)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    print(f"load average (1, 5, 15 min): {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(f"{'case':<58} {'median ms':>10} {'max ms':>8}  target < {TARGET_MS} ms")
    worst = 0.0
    for name, page, widgets, (kind, key, values) in cases():
        at = start(page, **widgets)
        time_changes(at, kind, key, values, 2)  # warm-up: first imports, caches
        times = time_changes(at, kind, key, values, args.repeats)
        med = statistics.median(times)
        worst = max(worst, med)
        print(f"{name:<58} {med:>10.1f} {max(times):>8.1f}  {'ok' if med < TARGET_MS else 'SLOW'}")
    print(f"slowest median: {worst:.1f} ms ({'under' if worst < TARGET_MS else 'OVER'} {TARGET_MS} ms)")


if __name__ == "__main__":
    main()
