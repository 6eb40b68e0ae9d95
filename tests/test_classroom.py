"""The classroom setup end to end: ``scripts/classroom.sh`` (HAProxy + 2 workers), three students in Chromium.

1. Three browser sessions through HAProxy are spread over both workers (cookie ``MLPLAB_WORKER``), each
   trains the Quick demo and ends with its own finished run.
2. One worker is killed (SIGKILL) while its student trains: a student arriving meanwhile is sent to the
   other worker, the supervisor starts the killed worker again, the other worker's student finishes its
   run without a connection error, and the killed worker's student is told that the tab lost its worker.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

import pytest
from conftest import ROOT, screenshot, wait_for_app

pytestmark = pytest.mark.e2e

FINISHED = re.compile(r"Run 1 finished")
TRAINING = re.compile(r"epoch \d+ of \d+")


def _free_block(n):
    """A port p such that p .. p+n-1 are free on 127.0.0.1."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n < 65000 and all(_port_free(base + i) for i in range(n)):
            return base
    raise RuntimeError("no free block of ports")


def _port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _healthy(url):
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _wait(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"{what} not within {timeout} s")


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """``scripts/classroom.sh --workers 2`` on free loopback ports; yields (url, worker urls, the script's log,
    where HAProxy reports servers going down and up); stopped with SIGINT."""
    if subprocess.run(["bash", "-c", "command -v haproxy"], capture_output=True).returncode:
        if os.environ.get("CI"):
            pytest.fail("haproxy is required in CI (scripts/test.sh installs it)")
        pytest.skip("haproxy not installed")
    base = _free_block(3)
    logs = tmp_path_factory.mktemp("classroom")
    env = dict(os.environ, MLP_LAB_LOG_DIR=str(logs))
    proc = subprocess.Popen(["bash", "scripts/classroom.sh", "--port", str(base), "--workers", "2", "--host",
                             "127.0.0.1"], cwd=ROOT, env=env, stdout=open(logs / "classroom.log", "w"),
                            stderr=subprocess.STDOUT)
    url, workers = f"http://127.0.0.1:{base}", [f"http://127.0.0.1:{base + i}" for i in (1, 2)]
    try:
        _wait(lambda: all(_healthy(w) for w in workers) and _healthy(url), 90, "the classroom setup")
        yield url, workers, logs / "classroom.log"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    left = subprocess.run(["pgrep", "-f", f"server.port {base + 1}|server.port {base + 2}"], capture_output=True)
    assert left.returncode == 1, f"processes left after Ctrl-C: {left.stdout!r}"


def _student(browser, url):
    """A browser context on the Training page through HAProxy; returns (context, page, its worker)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(60000)
    page.goto(url)
    wait_for_app(page)
    page.get_by_role("link", name="Training").click()
    page.get_by_role("heading", name="Train the network").wait_for()
    page.get_by_role("button", name="Train").wait_for()
    worker = {c["name"]: c["value"] for c in context.cookies()}.get("MLPLAB_WORKER")
    return context, page, worker


def _press_train(page):
    page.get_by_role("button", name="Quick demo").click()
    page.get_by_text("Quick demo preset").wait_for()
    page.get_by_role("button", name="Train").click()


def test_three_students_on_two_workers_each_finish_their_own_run(classroom, browser):
    url, _, _ = classroom
    students = [_student(browser, url) for _ in range(3)]
    try:
        assert {w for _, _, w in students} == {"w1", "w2"}, [w for _, _, w in students]
        for _, page, _ in students:
            _press_train(page)
        for _, page, _ in students:
            page.get_by_text(FINISHED).wait_for(timeout=180000)
            assert page.get_by_text("Connection error").count() == 0
        screenshot(students[0][1], "classroom_student_1024x768", (1024, 768))
    finally:
        for context, _, _ in students:
            context.close()


def _haproxy_states(log, server):
    """What HAProxy has said of a server in the classroom log, in order: ["DOWN", "UP", ...]."""
    return re.findall(rf"Server workers/{server} is (DOWN|UP)", log.read_text(errors="replace"))


def _worker_pid(worker_url):
    port = worker_url.rsplit(":", 1)[1]
    out = subprocess.run(["pgrep", "-f", f"streamlit run app.py .*--server.port {port} "], capture_output=True,
                         text=True).stdout.split()
    assert out, f"no worker process on port {port}"
    return int(out[-1])


def test_a_killed_worker_comes_back_and_the_other_students_notice_nothing(classroom, browser):
    url, workers, log = classroom
    a = _student(browser, url)
    b = _student(browser, url)
    if a[2] == b[2]:  # leastconn put both on one worker: a third student lands on the other
        b[0].close()
        b = _student(browser, url)
    assert a[2] != b[2], (a[2], b[2])
    survivor, victim = (a, b) if a[2] == "w1" else (b, a)
    try:
        for _, page, _ in (survivor, victim):
            _press_train(page)
            page.get_by_text(TRAINING).first.wait_for()
        victim_url = workers[int(victim[2][1]) - 1]
        said = len(_haproxy_states(log, victim[2]))
        os.kill(_worker_pid(victim_url), signal.SIGKILL)
        _wait(lambda: not _healthy(victim_url), 10, "the killed worker going down")
        # HAProxy's health check (inter 1s, fall 2) takes it out: wait for HAProxy to say so, not for a time
        _wait(lambda: _haproxy_states(log, victim[2])[said:][:1] == ["DOWN"], 30,
              "HAProxy taking the killed worker out")
        newcomer = _student(browser, url)
        try:
            # while HAProxy counts it down, a newcomer goes to the other worker (once the supervisor has started
            # the killed one again and HAProxy has seen it pass two checks, either worker is right)
            assert newcomer[2] == survivor[2] or _haproxy_states(log, victim[2])[said:][-1:] == ["UP"], \
                "a new student was sent to the dead worker"
        finally:
            newcomer[0].close()
        _wait(lambda: _healthy(victim_url), 60, "the killed worker coming back")
        survivor[1].get_by_text(FINISHED).wait_for(timeout=180000)
        assert survivor[1].get_by_text("Connection error").count() == 0
        victim[1].get_by_text("another one (started").wait_for(timeout=60000)
        screenshot(victim[1], "classroom_worker_lost_1024x768", (1024, 768))
    finally:
        survivor[0].close()
        victim[0].close()
