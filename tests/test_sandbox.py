"""Hostile submissions are contained: each is run through the sandbox and must neither escape nor hang the caller.

They run with short limits (2 s CPU, 4 s wall) so the file stays quick, each while an app page (Home, under
AppTest) is run in this process, which must keep working.
"""

import os
import socket
import threading
import time
from pathlib import Path

import pytest
from exercise_solutions import CORRECT
from streamlit.testing.v1 import AppTest

from lab.exercises import sandbox
from lab.exercises.sandbox import Limits, policy, probe, run_code

ROOT = Path(__file__).resolve().parent.parent
SHORT = Limits(cpu_seconds=2, wall_seconds=4.0)
HAS_BWRAP = probe(sandbox.bwrap_binary())[0]
pytestmark = [pytest.mark.serial,  # seconds-long limits: another test process beside them would decide the outcome
              pytest.mark.skipif(not HAS_BWRAP and os.environ.get("CI") != "true", reason="bubblewrap not usable")]

RELU = "\n\ndef relu(x):\n    return np.maximum(x, 0)\n"


def run(top_level, limits=SHORT, beside_page=True):
    """Grade `import numpy as np` + hostile top-level code + a correct relu in the sandbox, while an app page is
    run in this process (it must keep working); returns (report, seconds of the sandboxed run)."""
    result = {}

    def grade():
        start = time.monotonic()
        result["report"] = run_code([("hostile.py", "import numpy as np\n" + top_level + RELU)], only=["relu"],
                                    limits=limits)
        result["seconds"] = time.monotonic() - start

    worker = threading.Thread(target=grade)
    worker.start()
    if beside_page:
        assert page_keeps_working()
    worker.join(limits.wall_seconds + 30)
    return result["report"], result["seconds"]


def sandbox_uids_alive():
    """Processes still running as one of the sandbox's unprivileged uids."""
    alive = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            uid = os.stat(f"/proc/{pid}").st_uid
        except FileNotFoundError:
            continue
        if 200_000 <= uid < 260_000:
            alive.append(pid)
    return alive


def page_keeps_working():
    at = AppTest.from_file(str(ROOT / "pages" / "home.py"), default_timeout=60).run()
    return not at.exception


def test_correct_code_passes_in_the_sandbox():
    report = run_code([("my_solution.py", CORRECT)])
    assert report.passed, report.card()
    assert report.output == ""


def test_infinite_loop_is_stopped_at_the_time_limit():
    report, seconds = run("while True:\n    pass\n")
    assert report.error_kind == "timeout" and "time limit" in report.error
    assert seconds < SHORT.wall_seconds + 3
    assert not sandbox_uids_alive()


def test_sleeping_forever_is_stopped_at_the_wall_clock_limit():
    report, seconds = run("import time\ntime.sleep(600)\n")
    assert report.error_kind == "timeout" and seconds < SHORT.wall_seconds + 3


def test_memory_bomb_hits_the_memory_limit():
    # the time limits of the defaults: on a loaded machine the growing loop must meet the memory limit
    # first (with SHORT's 4 s it once met the wall-clock limit while another test process ran)
    limits = Limits(memory_bytes=SHORT.memory_bytes)
    report, _ = run("hog = bytearray(8 << 30)\n", limits)
    assert report.error_kind == "memory" and "MemoryError" in report.error
    report, _ = run("hog = []\nwhile True:\n    hog.append(bytearray(1 << 24))\n", limits)
    assert report.error_kind == "memory"


def test_shell_and_subprocess_do_not_run(tmp_path):
    marker = tmp_path / "pwned"
    report, _ = run(f"import os\nassert os.system('touch {marker}') != 0\nimport subprocess\n"
                    f"subprocess.run(['touch', '{marker}'])\n")
    assert "FileNotFoundError" in report.error
    assert not marker.exists()


def test_shared_folder_data_and_project_are_not_readable():
    for path in (ROOT.parent / "shared" / "seed", ROOT / "data" / "letters.npz", ROOT / "README.md",
                 ROOT / "tests" / "test_sandbox.py", Path("/etc/passwd"), Path("/root")):
        report, _ = run(f"open({str(path)!r}, 'rb').read()\n")
        assert report.error and ("FileNotFoundError" in report.error or "IsADirectoryError" in report.error
                                 or "PermissionError" in report.error), (path, report.error)


def test_no_network_not_even_to_the_server_on_loopback():
    seen = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(5)
    port = server.getsockname()[1]
    threading.Thread(target=lambda: seen.append(_accept(server)), daemon=True).start()
    report, _ = run(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n")
    assert "ConnectionRefusedError" in report.error or "OSError" in report.error
    time.sleep(0.5)
    server.close()
    assert seen in ([], [None])


def _accept(server):
    try:
        return server.accept()
    except OSError:
        return None


def test_writing_outside_tmp_fails_and_tmp_is_private(tmp_path):
    target = ROOT / "lab" / "exercises" / "pwned.py"
    report, _ = run(f"open({str(target)!r}, 'w').write('x')\n")
    assert "OSError" in report.error or "Read-only" in report.error or "FileNotFoundError" in report.error
    assert not target.exists()
    report, _ = run("open('/tmp/mine', 'w').write('ok')\nassert open('/tmp/mine').read() == 'ok'\n")
    assert report.passed, report.card()
    report, _ = run("open('/tmp/big', 'wb').write(b'x' * (64 << 20))\n")
    assert report.error and not report.passed


def test_fork_bomb_is_contained():
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    report, seconds = run(code)
    assert report.error_kind == "timeout" and seconds < SHORT.wall_seconds + 3
    assert not sandbox_uids_alive()


def test_printing_100_mb_is_cut_off():
    report, seconds = run("import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 1_000_000)\n")
    assert report.error_kind == "output" and len(report.output) <= 8192
    assert seconds < 10


def test_learner_output_is_kept_and_capped():
    report, _ = run("print('hello from the learner')\n")
    assert report.passed and "hello from the learner" in report.output


def test_forged_results_from_forked_children_are_ignored():
    code = "import os\nif os.fork() == 0:\n    pass\n"
    report, _ = run(code)
    assert report.passed or report.error  # one answer (the grader's), never a mix of two JSON documents


def test_too_long_code_is_refused():
    report = run_code([("big.py", "#" * 300_000)])
    assert report.error_kind == "sandbox" and "longer" in report.error


def test_policy(monkeypatch):
    monkeypatch.setenv("MLP_LAB_EXERCISES", "off")
    assert policy("127.0.0.1").mode == "off"
    monkeypatch.delenv("MLP_LAB_EXERCISES")
    monkeypatch.setenv("MLP_LAB_BWRAP", "none")
    assert policy("127.0.0.1").mode == "limits"
    off = policy("0.0.0.0")
    assert off.mode == "off" and "bubblewrap" in off.message
    assert policy("").mode == "off"
    report = run_code([("my_solution.py", CORRECT)])
    assert report.error_kind == "sandbox" and "bubblewrap" in report.error
    report = run_code([("my_solution.py", CORRECT)], sandboxed=False)
    assert report.passed


def test_limits_alone_still_stop_a_loop():
    report = run_code([("loop.py", "while True:\n    pass\n")], limits=SHORT, sandboxed=False)
    assert report.error_kind == "timeout"


def test_the_sandbox_sees_only_what_the_grader_needs():
    code = ("import os, json\nseen = {d: sorted(os.listdir(d)) for d in ('/', '/opt', '/opt/grader', '/opt/grader/lab',"
            " '/opt/site', '/run', '/tmp')}\nprint(json.dumps(seen))\nprint('uid', os.getuid())\n")
    report, _ = run(code, beside_page=False)
    assert report.passed, report.card()
    import json

    seen = json.loads(report.output.splitlines()[0])
    assert set(seen["/"]) <= {"usr", "lib", "lib64", "bin", "root", "opt", "run", "tmp", "dev", "proc"}
    assert seen["/opt"] == ["grader", "site"] and seen["/opt/grader"] == ["lab", "mlp"]
    assert seen["/opt/grader/lab"] == ["__init__.py", "exercises"]
    assert set(seen["/opt/site"]) <= {"numpy", "numpy.libs"} and seen["/run"] == ["submission.json"]
    assert seen["/tmp"] == []
    if os.geteuid() == 0:
        assert 200_000 <= int(report.output.split("uid ")[1].split()[0]) < 260_000


def test_no_environment_of_the_server_reaches_the_sandbox(monkeypatch):
    monkeypatch.setenv("MLP_LAB_TEST_SECRET", "s3cret")
    code = ("import os\nprint(sorted(os.environ))\nfor p in ('/proc/1/environ', '/proc/self/environ'):\n"
            "    try:\n        print(p, open(p, 'rb').read())\n"
            "    except OSError as e:\n        print(p, 'denied', e.errno)\n")
    report, _ = run(code, beside_page=False)
    assert report.passed and "s3cret" not in report.output and "MLP_LAB_TEST_SECRET" not in report.output
