"""Benchmark of the Training page: its overhead over the command line, and the Quick demo's time to 0.90.

1. Epochs per second for the same settings (the Quick demo's network, more epochs):
   * ``python -m mlp train``: its own timings of the training (from the network's initialisation) and of
     the test accuracy that follows (the page too evaluates the final weights before it says a run
     finished); process start and data loading are left out;
   * the page in a real browser (Debian's chromium via Playwright): from the click on Train to
     "Run N finished" on screen, so every chunk, rerun, chart redraw, the final evaluation and the
     browser's own work count;
   * the page under Streamlit's AppTest (no browser; each chunk is a full script run).
   Runs alternate (CLI, browser, AppTest, CLI, ...) so a change in machine load hits all alike;
   the medians are compared. Target: the page's overhead <= 10 %.
2. Quick demo: choose the preset, click Train, and time until the page shows a validation accuracy
   >= 0.90. Target: <= 5 s.
3. Stop: during a long Quick demo run (every other time right after a Pause and a Resume), the time from
   one click on Stop, held 80 ms, to the run's end on screen, and how many clicks were lost.

Usage::

    .venv/bin/python bench/train_page.py [--data PATH] [--epochs 30] [--repeat 3] [--full-batch-epochs 30]

Prints one line per measurement, the medians, and the load average before and after (other
processes on the machine share its 2 cores; say so when you quote the numbers).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.settings import hyper_to_query  # noqa: E402
from mlp.data import EMBEDDED_FILE, REAL_CANDIDATES, default_data_path  # noqa: E402
from mlp.train import PRESETS  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def load():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir, log):
    port = free_port()
    env = dict(os.environ, MLP_LAB_DATA_DIR=str(data_dir))
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("streamlit did not start")


def cli_seconds(data, hyper):
    """Seconds ``python -m mlp train`` reports for training ``hyper`` and for its test accuracy.

    The page also ends a run by evaluating the final weights on the test images before it says
    "finished", so both sides count that; process start and data loading are left out.
    """
    batch = "full" if hyper.batch_size is None else str(hyper.batch_size)
    cmd = [sys.executable, "-m", "mlp", "train", "--data", str(data), "--quiet", "--hidden", str(hyper.hidden),
           "--lr", str(hyper.lr), "--momentum", str(hyper.momentum), "--epochs", str(hyper.epochs),
           "--batch-size", batch, "--seed", str(hyper.seed), "--dtype", hyper.dtype]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    train = float(re.search(r"trained \d+ epochs in ([\d.]+) s", out).group(1))
    test = float(re.search(r"test accuracy \S+ \(final weights; \d+ images in ([\d.]+) s\)", out).group(1))
    return train + test


def open_page(browser, url, query):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(600_000)
    page.goto(url)  # the root first: it makes Streamlit use st.navigation's routing
    page.get_by_role("link", name="Training").wait_for()
    page.goto(f"{url}/train?{query}")
    page.get_by_role("button", name="Train", exact=True).wait_for()
    page.wait_for_timeout(1000)
    return page


def browser_seconds(page, run_number):
    """Click Train; seconds until "Run N finished" is on screen, and the page's own training-time figure."""
    button = page.get_by_role("button", name="Train", exact=True)
    button.wait_for()
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')")
    t0 = time.perf_counter()
    button.click()
    page.get_by_text(f"Run {run_number} finished").wait_for()
    seconds = time.perf_counter() - t0
    shown = page.locator('[data-testid="stMetric"]', has_text="Training time").locator(
        '[data-testid="stMetricValue"]').inner_text()
    return seconds, float(shown.split()[0])


def apptest_seconds(data_dir, hyper):
    """Seconds of AppTest script runs from the Train click to the run's end (each run does one chunk)."""
    os.environ["MLP_LAB_DATA_DIR"] = str(data_dir)
    from streamlit.testing.v1 import AppTest

    import ui.keys as keys

    at = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=600)
    for key, value in hyper_to_query(hyper).items():
        at.query_params[key] = value
    at.run()
    t0 = time.perf_counter()
    at.button(key="train_start").click().run()
    while at.session_state[keys.LIVE] is not None:
        at.run()
    return time.perf_counter() - t0


def quick_demo_seconds(page, run_number):
    """Quick demo preset, Train; seconds until a validation accuracy >= 0.90 is on screen (and until finished)."""
    page.get_by_role("button", name="Quick demo").click()
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')")
    page.wait_for_timeout(500)
    t0 = time.perf_counter()
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_function(
        """n => {  // run n's live figure, or once it finished, its final figure
            const text = document.body.innerText;
            const live = text.includes(`Run ${n}, training`) || text.includes(`Run ${n}, paused`);
            const done = text.includes(`Run ${n} finished`);
            const label = live ? 'Valid accuracy' : done ? 'Validation accuracy' : null;
            return label && [...document.querySelectorAll('[data-testid="stMetric"]')].some(m =>
                m.innerText.startsWith(label) &&
                parseFloat(m.querySelector('[data-testid="stMetricValue"]').innerText) >= 0.90);
        }""",
        arg=run_number,
        polling=20,
    )
    hit = time.perf_counter() - t0
    page.get_by_text(f"Run {run_number} finished").wait_for()
    return hit, time.perf_counter() - t0


def stop_seconds(page, run_number, after_resume=False):
    """A long Quick demo run; after 1.5 s of training (and, if ``after_resume``, a Pause and a Resume just
    before) one click on Stop held 80 ms: (seconds until the page says it stopped, clicks it took).

    A click that has not stopped the run after 5 s counts as lost; the Stop is clicked again (at most
    twice more) and the lost clicks are reported, never hidden.
    """
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text(f"Run {run_number}, training").wait_for()
    page.wait_for_timeout(1500)
    if after_resume:
        page.get_by_role("button", name="Pause").click()
        page.get_by_text(f"Paused run {run_number}").wait_for()
        page.get_by_role("button", name="Resume").click()
        page.get_by_text(f"Training run {run_number}").wait_for()
    stopped = page.get_by_text(f"Run {run_number} stopped after")
    t0 = time.perf_counter()
    for clicks in (1, 2, 3):
        page.get_by_role("button", name="Stop").click(delay=80)
        try:
            stopped.wait_for(timeout=5000)
            break
        except Exception:  # a lost click: counted, then one more
            if clicks == 3:
                raise
    seconds = time.perf_counter() - t0
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')")
    page.wait_for_timeout(500)
    return seconds, clicks


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="data set file (default: the app's, data/letters.npz or a real notMNIST)")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of the Quick demo network per timed run")
    parser.add_argument("--full-batch-epochs", type=int, default=30,
                        help="epochs of a full-batch H=1000 run (the Assignment network); 0 to skip")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick-repeat", type=int, default=3)
    parser.add_argument("--no-apptest", action="store_true")
    parser.add_argument("--stop-repeat", type=int, default=5, help="Stop clicks to time (0 to skip)")
    args = parser.parse_args(argv)

    data = Path(args.data) if args.data else default_data_path()
    with tempfile.TemporaryDirectory() as tmp:
        # the server sees only this data set: a link to it, under a name the app looks for
        data_dir = Path(tmp)
        name = data.name if data.name in (EMBEDDED_FILE, *REAL_CANDIDATES) else EMBEDDED_FILE
        (data_dir / name).symlink_to(data.resolve())
        print(f"data: {data}; load average before: {load()}; cores: {os.cpu_count()}")
        cases = [("mini-batch", replace(PRESETS["quick"], epochs=args.epochs))]
        if args.full_batch_epochs:
            cases.append(("full batch", replace(PRESETS["assignment"], epochs=args.full_batch_epochs)))
        log = open(data_dir / "server.log", "w")
        server, url = start_server(data_dir, log)
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                            args=["--no-sandbox", "--disable-gpu"])
                for name, hyper in cases:
                    page = open_page(browser, url, "&".join(f"{k}={v}" for k, v in hyper_to_query(hyper).items()))
                    cli, web, web_shown, app = [], [], [], []
                    for i in range(args.repeat):
                        cli.append(cli_seconds(data, hyper))
                        seconds, shown = browser_seconds(page, i + 1)
                        web.append(seconds)
                        web_shown.append(shown)
                        if not args.no_apptest:
                            app.append(apptest_seconds(data_dir, hyper))
                        print(f"  {name} #{i + 1}: CLI {cli[-1]:.2f} s, browser {web[-1]:.2f} s click-to-finished "
                              f"(page says {shown:.1f} s)" + (f", AppTest {app[-1]:.2f} s" if app else "")
                              + f"  [load {load()}]", flush=True)
                    page.close()
                    e = hyper.epochs
                    c, w = statistics.median(cli), statistics.median(web)
                    print(f"{name} ({hyper.hidden} hidden, batch {hyper.batch_size or 'full'}, {e} epochs): "
                          f"CLI {e / c:.2f} epochs/s, browser {e / w:.2f} epochs/s -> page overhead "
                          f"{(w / c - 1) * 100:+.1f} %", end="")
                    if app:
                        a = statistics.median(app)
                        print(f"; AppTest {e / a:.2f} epochs/s -> {(a / c - 1) * 100:+.1f} %", end="")
                    print(" (target <= +10 %)")

                page = open_page(browser, url, "")
                hits = []
                for i in range(args.quick_repeat):
                    hit, total = quick_demo_seconds(page, i + 1)
                    hits.append(hit)
                    print(f"  Quick demo #{i + 1}: validation accuracy >= 0.90 on screen {hit:.2f} s after the click "
                          f"(run finished at {total:.2f} s)  [load {load()}]", flush=True)
                print(f"Quick demo: median {statistics.median(hits):.2f} s from the Train click to 0.90 validation "
                      f"accuracy on screen (target <= 5 s)")
                page.close()
                if args.stop_repeat:
                    page = open_page(browser, url, "&".join(
                        f"{k}={v}" for k, v in hyper_to_query(replace(PRESETS["quick"], epochs=500)).items()))
                    stops = [stop_seconds(page, i + 1, after_resume=i % 2 == 1) for i in range(args.stop_repeat)]
                    seconds = [x for x, _ in stops]
                    lost = sum(c - 1 for _, c in stops)
                    print(f"Stop: {', '.join(f'{x:.2f}' for x in seconds)} s from the first click to the run's end "
                          f"on screen (median {statistics.median(seconds):.2f} s; target: a click takes effect within "
                          f"1 s); every other one right after Resume; {lost} of {len(stops) + lost} clicks lost")
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=20)
            log.close()
        print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
