"""Server time of the Class page's board while 30 students post runs (SQLite; PostgreSQL with --postgres URL).

A temporary class database gets one experiment; 30 students post runs with 30-epoch curves from a
separate process (about one run a second each, as a class training Quick demos would) while the
teacher's board is drawn again and again under ``AppTest`` (a full script run of the Class page: the
database query, the two Altair charts and the table, an upper bound of the 3 s fragment refresh).
Printed: the median and p95 of a board refresh, and of the store's query alone, against the
300 ms target.

    python bench/class_board.py [--runs-per-student 10] [--postgres postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab import class_store as cs  # noqa: E402

TARGET = 0.300


def a_run(uid, lr, valid):
    history = [{"epoch": e, "valid_acc": valid * (1 - 0.5 ** e), "train_acc": valid} for e in range(1, 31)]
    return {"uid": uid, "status": "finished", "hyper": {"lr": lr, "hidden": 256, "epochs": 30},
            "history": history, "valid_acc": valid, "train_acc": valid + 0.01, "weights": None}


def post_loop(url, code, tokens, per_student, stop):
    """30 students posting in turn, about one run a second each, until ``per_student`` runs each or ``stop``."""
    store = cs.Store(cs.make_engine(url))
    for k in range(per_student):
        for i, token in enumerate(tokens):
            if stop.is_set():
                return
            store.post_run(token, a_run(f"{i}-{k}", 10 ** (-3 + 3 * i / 30), 0.5 + 0.4 * (i % 7) / 7), code)
            time.sleep(1.0 / len(tokens))


def time_board(url, code, key, seconds):
    """Full Class page runs (teacher view) and store queries alone for ``seconds``; returns the two lists."""
    os.environ[cs.DATABASE_ENV] = url
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "class_page.py"), default_timeout=60)
    at.query_params["class"], at.query_params["teacher"] = code, key
    at.run()
    store = cs.Store(cs.make_engine(url))
    page, query, end = [], [], time.time() + seconds
    while time.time() < end:
        t0 = time.perf_counter()
        at.run()
        page.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        store.board(code, key)
        query.append(time.perf_counter() - t0)
    assert not at.exception, at.exception
    return page, query


def p95(values):
    values = sorted(values)
    return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs-per-student", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--postgres", help="a PostgreSQL URL to use instead of a temporary SQLite file")
    args = ap.parse_args(argv)
    url = args.postgres or f"sqlite:///{tempfile.mkdtemp()}/class.sqlite"
    store = cs.Store.open(url)
    exp, key = store.create_experiment("Bench", "Which learning rate?", {"hidden": 256}, "lr")
    tokens = [store.join(f"student {i}")[1] for i in range(30)]
    stop = mp.get_context("spawn").Event()
    poster = mp.get_context("spawn").Process(target=post_loop, args=(url, exp.code, tokens,
                                                                      args.runs_per_student, stop))
    poster.start()
    try:
        page, query = time_board(url, exp.code, key, args.seconds)
    finally:
        stop.set()
        poster.join(timeout=30)
    runs = len(store.board(exp.code, key))
    print(f"{'postgres' if args.postgres else 'sqlite'}: 30 students, {runs} runs on the board at the end, "
          f"{len(page)} refreshes while they posted")
    print(f"  board refresh (full Class page run): median {statistics.median(page) * 1000:.0f} ms, "
          f"p95 {p95(page) * 1000:.0f} ms (target {TARGET * 1000:.0f} ms)")
    print(f"  the store's query alone: median {statistics.median(query) * 1000:.1f} ms, p95 {p95(query) * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
