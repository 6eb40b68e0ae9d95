"""Size a machine for a class: N simulated students against a running lab server (loopback only).

Each student speaks Streamlit's own websocket protocol (``../shared/notes/streamlit-protocol.md``):
it loads ``/train``, presses Train within the same second as the others (Quick demo, the page's
default settings), reruns the page ``--reruns`` times while training, and waits for its run to finish.
Printed: per student the time from the click to "Run 1 finished" and its validation accuracy; the
p50 / p95 / max time for a rerun to be answered (its full script run finished); the makespan against
N x one run alone (measured first, in the same invocation); the peak RSS and PSS of all server
processes together (every process whose command line names the server's ports, and their children:
the trainer processes too; RSS counts the shared data rows once in every process that maps them,
PSS divides them among those processes); the CPU seconds of the Streamlit processes per script run
they answered (mostly the live view's timed redraws: the cost of a live refresh, trainers excluded).

``--idle N`` first opens N sessions that only load ``/train`` and prints the memory each adds.
``--beside-big`` adds a scenario: one student trains H = 2048, float64, full batch, and another
presses Train on the Quick demo a few seconds later; printed: the Quick demo's click -> finished
against its time alone (the issue's target: at most 2x).

    bash scripts/classroom.sh --port 8501 &        # or: streamlit run app.py
    python bench/classroom.py --url http://127.0.0.1:8501 --students 1 10 30 [--beside-big]

Bounded: at most 60 students, every wait has a timeout, and traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.cookiejar
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

MAX_STUDENTS = 60
RUN_TIMEOUT = 300.0  # seconds a run may take before the student gives up
FINISHED = re.compile(r"Run (\d+) finished")
BIG_QUERY = "hidden=2048&lr=0.1&momentum=0.9&epochs=50&batch=full&seed=521&dtype=float64&init=seed"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
TRAINING = re.compile(r"\*\*Training\*\* run \d+")  # the status line once the click's run has started


@dataclass
class Student:
    """One simulated browser tab: its cookies, websocket, page hash, buttons and timings."""

    url: str
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)
    ws: object = None
    page_hash: str = ""
    query: str = ""
    buttons: dict = field(default_factory=dict)  # label -> (id, disabled)
    texts: list = field(default_factory=list)  # alert and markdown bodies of the current run
    exceptions: list = field(default_factory=list)
    timers: dict = field(default_factory=dict)  # fragment id -> asyncio task sending its auto reruns
    full_runs_done: int = 0
    fragment_runs_done: int = 0  # the live view's redraws answered
    full_runs_started: int = 0  # full script runs (new_session without fragment ids) seen
    finished_at: float | None = None
    rerun_waits: list = field(default_factory=list)
    worker: str | None = None
    valid_acc: str | None = None  # the finished run's "Validation accuracy" figure

    def cookie(self, name):
        return next((c.value for c in self.jar if c.name == name), None)


def _check_loopback(url):
    host = urllib.parse.urlparse(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"bench/classroom.py sends traffic to loopback addresses only, not {host}")


async def connect(student):
    """GET /_stcore/health (the XSRF and worker cookies), then open the websocket as the browser does."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(student.jar))
    await asyncio.to_thread(opener.open, f"{student.url}/_stcore/health", timeout=30)
    ws_url = student.url.replace("http", "ws", 1) + "/_stcore/stream"
    cookies = "; ".join(f"{c.name}={c.value}" for c in student.jar)
    student.ws = await websockets.connect(ws_url, subprotocols=["streamlit", student.cookie("_streamlit_xsrf")],
                                          additional_headers={"Cookie": cookies}, max_size=2**26,
                                          open_timeout=30)
    student.worker = student.cookie("MLPLAB_WORKER")


async def send_rerun(student, widgets=(), fragment_id="", auto=False, page_name=""):
    msg = BackMsg()
    rerun = msg.rerun_script
    rerun.query_string, rerun.page_script_hash = student.query, student.page_hash
    rerun.page_name, rerun.fragment_id, rerun.is_auto_rerun = page_name, fragment_id, auto
    for widget_id in widgets:
        state = rerun.widget_states.widgets.add()
        state.id, state.trigger_value = widget_id, True
    await student.ws.send(msg.SerializeToString())


async def _auto_rerun(student, fragment_id, interval):
    while True:
        await asyncio.sleep(interval)
        await send_rerun(student, fragment_id=fragment_id, auto=True)


def _clear_timers(student):
    for task in student.timers.values():
        task.cancel()
    student.timers.clear()


def _take_element(student, element):
    kind = element.WhichOneof("type")
    if kind == "button":
        student.buttons[element.button.label] = (element.button.id, element.button.disabled)
    elif kind in ("alert", "markdown"):
        body = getattr(element, kind).body
        student.texts.append(body)
        if student.finished_at is None and FINISHED.search(body):
            student.finished_at = time.perf_counter()
    elif kind == "metric" and element.metric.label == "Validation accuracy":
        student.valid_acc = element.metric.body
    elif kind == "exception":
        student.exceptions.append(element.exception.message)


def handle(student, msg):
    """Update the student's view of the page from one ForwardMsg; returns the message's kind."""
    kind = msg.WhichOneof("type")
    if kind == "new_session" and not msg.metadata.run.fragment_ids:
        _clear_timers(student)
        student.texts.clear()
        student.full_runs_started += 1
    elif kind == "navigation":
        for page in msg.navigation.app_pages:
            if page.url_pathname == "train":
                student.page_hash = page.page_script_hash
    elif kind == "page_info_changed":
        student.query = msg.page_info_changed.query_string
    elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
        _take_element(student, msg.delta.new_element)
    elif kind == "auto_rerun" and msg.auto_rerun.fragment_id not in student.timers:
        student.timers[msg.auto_rerun.fragment_id] = asyncio.ensure_future(
            _auto_rerun(student, msg.auto_rerun.fragment_id, msg.auto_rerun.interval))
    elif kind == "stop_auto_rerun":
        _clear_timers(student)
    elif kind == "script_finished" and msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
        student.full_runs_done += 1
    elif kind == "script_finished" and msg.script_finished == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
        student.fragment_runs_done += 1
    return kind


async def pump(student, until, timeout):
    """Read messages until ``until(student)`` holds; TimeoutError after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not until(student):
            msg = ForwardMsg()
            msg.ParseFromString(await student.ws.recv())
            handle(student, msg)


async def open_training_page(student, query=""):
    await connect(student)
    student.query = query
    await send_rerun(student, page_name="train")
    ready = lambda s: s.page_hash and "Train" in s.buttons and not s.buttons["Train"][1] and s.full_runs_done
    await pump(student, ready, 120)


async def timed_rerun(student):
    """A plain rerun of the page (as a widget change would cause); seconds until the server starts the full
    script run that answers it (its ``new_session``: the page starts to redraw)."""
    started, start = student.full_runs_started, time.perf_counter()
    await send_rerun(student)
    await pump(student, lambda s: s.full_runs_started > started, 60)
    student.rerun_waits.append(time.perf_counter() - start)


async def train(student, start_at, reruns):
    """Press Train at ``start_at`` (perf_counter), rerun ``reruns`` times while training; click -> finished."""
    await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
    clicked = time.perf_counter()
    await send_rerun(student, widgets=[student.buttons["Train"][0]])
    # the click's own script run first: a rerun sent while its callback still runs can replace it
    await pump(student, lambda s: s.finished_at or any(TRAINING.search(t) for t in s.texts), RUN_TIMEOUT)
    for _ in range(reruns):
        await asyncio.sleep(1.0)
        if student.finished_at is None:
            await timed_rerun(student)
    try:
        await pump(student, lambda s: s.finished_at is not None, RUN_TIMEOUT)
    except TimeoutError:
        print(f"  a student ({student.worker}) saw no finished run in {RUN_TIMEOUT:.0f} s; its last texts: "
              f"{[t[:80] for t in student.texts[-4:]]}", file=sys.stderr)
        return float("nan")
    done = student.full_runs_done
    with contextlib.suppress(TimeoutError):  # the rest of that run, for its figures (shown as None if missed)
        await pump(student, lambda s: s.full_runs_done > done or s.valid_acc, 15)
    return student.finished_at - clicked


def final_accuracy(student):
    """The finished run's validation accuracy as the page shows it, or None."""
    return student.valid_acc


def server_pids(ports):
    """PIDs of the processes serving ``ports`` (command lines naming the port) and their children."""
    out = subprocess.run(["pgrep", "-f", "|".join(f"port {p}|:{p}" for p in ports)], capture_output=True,
                         text=True).stdout.split()
    pids = {int(p) for p in out}
    for pid in list(pids):
        kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        pids.update(int(k) for k in kids)
    return pids


def _kib(path, field):
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mib(pids):
    """VmRSS of the processes together (shared pages counted in each process that maps them)."""
    return sum(_kib(f"/proc/{pid}/status", "VmRSS") for pid in pids) / 1024


def pss_mib(pids):
    """Pss of the processes together (/proc/PID/smaps_rollup: each shared page divided among its users)."""
    return sum(_kib(f"/proc/{pid}/smaps_rollup", "Pss") for pid in pids) / 1024


def streamlit_cpu_seconds(pids):
    """utime + stime of the Streamlit server processes among ``pids`` (not their trainers, not HAProxy)."""
    total = 0
    for pid in pids:
        try:
            if b"streamlit" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / CLOCK_TICKS


async def sample_rss(ports, peak, stop):
    """Peak RSS and PSS (MiB) of the server processes, sampled every 0.2 s until ``stop``."""
    while not stop.is_set():
        pids = server_pids(ports)
        peak[0] = max(peak[0], rss_mib(pids))
        peak[1] = max(peak[1], pss_mib(pids))
        await asyncio.sleep(0.2)


async def classroom(url, n, reruns, ports):
    """N students press Train in the same second.

    Returns (students, click->finished list, makespan, (peak RSS MiB, peak PSS MiB), CPU s per script run).
    """
    students = [Student(url) for _ in range(n)]
    await asyncio.gather(*(open_training_page(s) for s in students))
    peak, stop = [0.0, 0.0], asyncio.Event()
    sampler = asyncio.ensure_future(sample_rss(ports, peak, stop))
    cpu0, runs0 = streamlit_cpu_seconds(server_pids(ports)), script_runs(students)
    start = time.perf_counter() + 0.5
    times = await asyncio.gather(*(train(s, start + 0.9 * i / max(n, 1), reruns) for i, s in enumerate(students)))
    makespan = max((s.finished_at for s in students if s.finished_at), default=float("nan")) - start
    cpu = (streamlit_cpu_seconds(server_pids(ports)) - cpu0,
           tuple(a - b for a, b in zip(script_runs(students), runs0)))
    stop.set()
    await sampler
    for s in students:
        _clear_timers(s)
        await s.ws.close()
    return students, times, makespan, tuple(peak), cpu


def script_runs(students):
    """(fragment runs, full runs) the students saw finish."""
    return sum(s.fragment_runs_done for s in students), sum(s.full_runs_done for s in students)


async def beside_big(url, ports, delay=5.0):
    """A Quick demo pressed ``delay`` s after a student started H 2048 float64 full batch: its click -> finished."""
    big, quick = Student(url), Student(url)
    await open_training_page(big, BIG_QUERY)
    for c in big.jar:  # the same worker (HAProxy's cookie): the worst case, both runs in one trainer process
        if c.name == "MLPLAB_WORKER":
            quick.jar.set_cookie(c)
    await open_training_page(quick)
    await send_rerun(big, widgets=[big.buttons["Train"][0]])
    await pump(big, lambda s: any(TRAINING.search(t) for t in s.texts), RUN_TIMEOUT)
    reader = asyncio.ensure_future(pump(big, lambda s: False, RUN_TIMEOUT * 10))  # keep reading its redraws
    await asyncio.sleep(delay)
    seconds = await train(quick, time.perf_counter(), 0)
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    await send_rerun(big, widgets=[big.buttons["Stop"][0]])  # not left to train on into the next scenario
    with contextlib.suppress(TimeoutError):
        await pump(big, lambda s: any("stopped after" in t for t in s.texts), 60)
    for s in (big, quick):
        _clear_timers(s)
        await s.ws.close()
    return seconds


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))] if values else float("nan")


async def idle_cost(url, ports, n):
    """MiB of PSS (and RSS) per connected session that only loaded /train: n sessions opened, then measured.

    Four sessions open first (kept open), so every worker has loaded the data set and its page code
    before the measurement: that is paid once per worker, not per session.
    """
    warm = [Student(url) for _ in range(4)]
    await asyncio.gather(*(open_training_page(s) for s in warm))
    await asyncio.sleep(2.0)
    pids = server_pids(ports)
    before = pss_mib(pids), rss_mib(pids)
    students = [Student(url) for _ in range(n)]
    await asyncio.gather(*(open_training_page(s) for s in students))
    await asyncio.sleep(3.0)
    pids = server_pids(ports)
    after = pss_mib(pids), rss_mib(pids)
    for s in warm + students:
        await s.ws.close()
    return (after[0] - before[0]) / n, (after[1] - before[1]) / n


def report(n, students, times, makespan, peak, cpu, alone):
    waits = [w for s in students for w in s.rerun_waits]
    print(f"\n{n} students: runs finished {sum(s.finished_at is not None for s in students)} / {n}; "
          f"exceptions {sum(len(s.exceptions) for s in students)}; workers {sorted({str(s.worker) for s in students})}")
    for i, (s, t) in enumerate(zip(students, times), 1):
        print(f"  student {i:2d} ({s.worker}): click -> finished {t:6.2f} s, validation {final_accuracy(s)}")
    print(f"  click -> finished p50 {statistics.median(times):.2f} s, p95 {pct(times, 0.95):.2f} s")
    print(f"  rerun answered p50 {pct(waits, 0.5):.2f} s, p95 {pct(waits, 0.95):.2f} s, max {max(waits or [0]):.2f} s "
          f"({len(waits)} reruns)")
    print(f"  makespan {makespan:.2f} s = {makespan / (n * alone):.2f} x N x one run alone ({alone:.2f} s)")
    print(f"  peak RSS of the server processes {peak[0]:.0f} MiB, peak PSS {peak[1]:.0f} MiB")
    (seconds, (fragment_runs, full_runs)) = cpu
    print(f"  Streamlit CPU {seconds:.2f} s for {fragment_runs} live redraws and {full_runs} full script runs: "
          f"{1000 * seconds / max(1, fragment_runs + full_runs):.1f} ms a script run")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:8501")
    ap.add_argument("--students", type=int, nargs="+", default=[1, 10, 30])
    ap.add_argument("--reruns", type=int, default=3, help="reruns each student causes while training")
    ap.add_argument("--ports", type=int, nargs="*", help="ports of the server processes (default: the URL's "
                    "port and the 8 above it, as scripts/classroom.sh uses)")
    ap.add_argument("--beside-big", action="store_true", help="also time a Quick demo beside H 2048 float64 full batch")
    ap.add_argument("--idle", type=int, default=0, help="first measure the memory of this many idle sessions")
    args = ap.parse_args(argv)
    _check_loopback(args.url)
    if max(args.students) > MAX_STUDENTS:
        sys.exit(f"at most {MAX_STUDENTS} students")
    port = urllib.parse.urlparse(args.url).port or 80
    ports = args.ports or [port + i for i in range(9)]
    if args.idle:
        pss, rss = asyncio.run(idle_cost(args.url, ports, min(args.idle, MAX_STUDENTS)))
        print(f"an idle connected session (/train loaded): {pss:.1f} MiB of PSS, {rss:.1f} MiB of RSS")
    alone_students, alone_times, *_ = asyncio.run(classroom(args.url, 1, 0, ports))
    alone = alone_times[0]
    print(f"one run alone: {alone:.2f} s (validation {final_accuracy(alone_students[0])})")
    if args.beside_big:
        beside = asyncio.run(beside_big(args.url, ports))
        print(f"a Quick demo beside H 2048 float64 full batch: click -> finished {beside:.2f} s = "
              f"{beside / alone:.2f} x its time alone")
    for n in args.students:
        report(n, *asyncio.run(classroom(args.url, n, args.reruns, ports)), alone)
    return 0


if __name__ == "__main__":
    sys.exit(main())
