"""How long `python -m lab check` of a correct file takes (the issue asks for under 5 s), and where the time goes.

    python bench/exercises.py [--repeat 5]

Measures, each as the median of --repeat runs: the whole command (a new Python, argparse, starting the
bubblewrap sandbox, the child's imports, grading all 41 checks, printing); the same with --no-sandbox; the
grading alone in this process. Timings on a shared machine are noisy: compare them within one run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from exercise_solutions import CORRECT  # noqa: E402

from lab.exercises import grade_sources  # noqa: E402
from lab.exercises.sandbox import bwrap_binary, probe  # noqa: E402

BUDGET_SECONDS = 5.0


def time_command(args, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return statistics.median(times), times


def time_in_process(repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        report = grade_sources([("my_solution.py", CORRECT)])
        times.append(time.perf_counter() - start)
        assert report.passed
    return statistics.median(times), times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    with tempfile.TemporaryDirectory() as work:
        solution = Path(work) / "my_solution.py"
        solution.write_text(CORRECT)
        base = [sys.executable, "-m", "lab", "check", str(solution)]
        sandboxed = probe(bwrap_binary())
        print(f"sandbox: {sandboxed[1]}")
        rows = [("python -m lab check (sandbox)" if sandboxed[0] else "python -m lab check (no bwrap: limits)",
                 *time_command(base, repeat)),
                ("python -m lab check --no-sandbox", *time_command(base + ["--no-sandbox"], repeat)),
                ("grading alone, in this process", *time_in_process(repeat))]
    for name, median, times in rows:
        print(f"{name:<42} median {median:6.2f} s   runs {', '.join(f'{t:.2f}' for t in times)}")
    verdict = "within" if rows[0][1] < BUDGET_SECONDS else "OVER"
    print(f"{verdict} the {BUDGET_SECONDS:g} s budget")
    return 0 if rows[0][1] < BUDGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
