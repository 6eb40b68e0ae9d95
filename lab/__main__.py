"""``python -m lab check my_solution.py [--only backpropagation]``: grade a file of the exercises' functions.

Prints the report card (one line per check, the diagnoses, a summary); exit code 0 only when every check
passed, 1 when one failed, 2 when the file cannot be read. The file runs in a child process: inside
bubblewrap when it is available, else with the limits alone (``--no-sandbox`` asks for that directly).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lab.exercises import NAMES, exercise
from lab.exercises.sandbox import LIMITS, bwrap_binary, probe, run_code


def _parser():
    parser = argparse.ArgumentParser(prog="python -m lab", description="The lab's exercises, graded.")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="grade a file that defines some of: " + ", ".join(NAMES))
    check.add_argument("file", type=Path)
    check.add_argument("--only", action="append", default=[], metavar="NAME",
                       help="grade only this exercise (repeat or separate with commas)")
    check.add_argument("--no-sandbox", action="store_true", help="run without bubblewrap (the limits alone)")
    return parser


def _only(values):
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    return [exercise(n).name for n in names]


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        only = _only(args.only)
        source = args.file.read_text(encoding="utf-8")
    except (KeyError, OSError, UnicodeDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sandboxed = not args.no_sandbox and probe(bwrap_binary())[0]
    if not sandboxed and not args.no_sandbox:
        print(f"note: {probe(bwrap_binary())[1]}; running with the limits alone", file=sys.stderr)
    report = run_code([(args.file.name, source)], only or None, LIMITS, sandboxed=sandboxed)
    if report.output:
        print("--- printed by your code ---\n" + report.output.rstrip() + "\n---")
    print(report.card())
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
