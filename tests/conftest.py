"""Shared fixtures: the real notMNIST file, a running Streamlit server, and a Chromium browser."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REAL_DATA = ROOT.parent / "shared" / "data" / "notMNIST_small.npz"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Pages write every ended run (and the exercises' code) to the class database: the tests' go to a temporary
# SQLite file, never to the project's data/class.sqlite (tests that need their own set MLP_LAB_DATABASE_URL).
os.environ.setdefault("MLP_LAB_DATABASE_URL", f"sqlite:///{tempfile.mkdtemp(prefix='mlp-lab-class-')}/class.sqlite")


@pytest.fixture(scope="session")
def real_data_path():
    """Path of the real notMNIST_small.npz; skips when absent, fails in CI where it is required."""
    if not REAL_DATA.exists():
        if IN_CI:
            pytest.fail(f"{REAL_DATA} is required in CI and is missing")
        pytest.skip(f"{REAL_DATA} not present")
    return REAL_DATA


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_health(url, process, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("streamlit did not become healthy in time")


@contextlib.contextmanager
def streamlit_server(log):
    """A ``streamlit run app.py`` on a free port, stopped on exit; yields its URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    with open(log, "w") as out:
        process = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for_health(url, process)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """The app served for the whole test session."""
    with streamlit_server(tmp_path_factory.mktemp("streamlit") / "server.log") as url:
        yield url


@pytest.fixture
def fresh_app_url(tmp_path):
    """A server of its own that no browser has visited yet."""
    with streamlit_server(tmp_path / "server.log") as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (no browser download)."""
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is required in CI")
        pytest.skip(f"{CHROMIUM} not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (its own Streamlit session) at 1280x800."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(30000)
    yield pg
    context.close()


def screenshot(pg, name, size=None):
    """Save a full-page PNG under artifacts/screenshots/ (optionally at another viewport size), once the page is laid
    out; then fail if a chart's text is cut off (``cut_chart_texts``): every screenshot checks its charts."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if size:
        pg.set_viewport_size({"width": size[0], "height": size[1]})
    wait_for_layout(pg, size[0] if size else pg.viewport_size["width"])
    path = SCREENSHOTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    cut = cut_chart_texts(pg, require=False)
    assert cut == [], f"{name}: chart texts cut off on the page: {cut}"
    return path


# The app is connected and no script run is going on. stApp's data-test-script-state changes at once;
# the status widget ("Running...") that tests used to wait for appears only after a run has lasted 500 ms.
APP_IDLE = '[data-testid="stApp"][data-test-connection-state="CONNECTED"][data-test-script-state="notRunning"]'


def wait_for_app(pg, timeout=60_000):
    """Wait until the app is connected and idle: its first run is done and no script run is going on.

    This does not prove that the rerun a click or key press asks for has happened (its message may
    still be on its way to the server, or a slider may still be debouncing): after an action, wait
    for content the rerun must change, with ``wait_for_text``.
    """
    pg.wait_for_selector(APP_IDLE, timeout=timeout)


def wait_for_text(pg, locator, want, timeout=30_000):
    """Wait until the text of ``locator`` (all its matches, joined by newlines) satisfies ``want``; return it.

    ``want`` is a regular expression (str or compiled, searched: returns the ``re.Match``), or a
    predicate text -> bool (returns the text). Polls every 50 ms; it only reads, it never repeats an
    action. On timeout the test fails with the last text seen. It does not wait for the rerun that drew
    the text to end (a training run reruns for as long as it trains): call ``wait_for_app`` for that.
    """
    pattern = re.compile(want) if isinstance(want, str) else want
    check = pattern.search if isinstance(pattern, re.Pattern) else want
    deadline = time.monotonic() + timeout / 1000
    text = None
    while True:
        text = "\n".join(locator.all_inner_texts())
        found = check(text)
        if found:
            return found if isinstance(pattern, re.Pattern) else text
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout / 1000:.0f} s the text is still {text!r}; wanted {want!r}")
        pg.wait_for_timeout(50)


LAYOUT_SETTLED_JS = """([width, polls]) => {
  if (window.innerWidth !== width) return false;
  const m = document.querySelector('[data-testid="stMain"]');
  const sig = [document.documentElement.scrollWidth, document.documentElement.scrollHeight,
               m ? m.scrollWidth : 0, m ? m.scrollHeight : 0, m ? m.clientWidth : 0].join();
  window.__layoutSame = window.__layoutSig === sig ? (window.__layoutSame || 0) + 1 : 0;
  window.__layoutSig = sig;
  return window.__layoutSame >= polls && Array.from(document.images).every(i => i.complete);
}"""


def cut_chart_texts(root, require=True):
    """The shown texts of the charts in ``root`` (a page or a locator: labels, legends, titles) that run past their
    chart's box or its column's by over 3 px (a text's box is a little wider than its glyphs): cut off on the page.
    Vega hides overlapping axis labels with opacity 0; those are not shown. Charts zoomed by CSS (presenter mode)
    are left out: there a text's box and its chart's are not in one scale."""
    texts = root.locator('[data-testid="stVegaLiteChart"] text')
    assert texts.count() > 0 or not require, "no chart text to check"
    return texts.evaluate_all(
        """(els) => els.filter(e => (e.textContent || '').trim()).filter(e => {
                const r = e.getBoundingClientRect();
                if (getComputedStyle(e).opacity === '0' || e.getAttribute('opacity') === '0') return false;
                const chart = e.closest('[data-testid="stVegaLiteChart"]');
                if (getComputedStyle(chart).zoom !== '1') return false;  // boxes in two scales: checked by eye
                return ['[data-testid="stVegaLiteChart"]', '[data-testid="stColumn"]'].some(sel => {
                    const box = e.closest(sel) && e.closest(sel).getBoundingClientRect();
                    return box && (r.left < box.left - 3 || r.right > box.right + 3);
                });
            }).map(e => e.textContent)""")


def wait_for_layout(pg, width, timeout=15_000):
    """Wait until the window is ``width`` px wide and the page's size has held still for 3 polls 100 ms apart
    (charts and LaTeX re-lay themselves out after a resize), with every image loaded."""
    pg.evaluate("() => { window.__layoutSig = null; window.__layoutSame = 0; }")
    pg.wait_for_function(LAYOUT_SETTLED_JS, arg=[width, 3], polling=100, timeout=timeout)
