"""The Exercises page (AppTest): stubs to start from, code kept in the session, Run grades in the sandbox,
the report card (table, diagnoses, heatmap), the course report's button, the policy when bubblewrap is
missing or a teacher switched exercises off, and hostile code that leaves the page working."""

import json
import os
import threading
import time
from pathlib import Path

import pytest
from exercise_solutions import CORRECT
from streamlit.testing.v1 import AppTest

from lab.exercises import BY_NAME, NAMES
from lab.exercises import sandbox as sb

pytestmark = [pytest.mark.serial,  # grading within seconds-long limits (see pytest.ini)
              pytest.mark.skipif(not sb.probe(sb.bwrap_binary())[0] and os.environ.get("CI") != "true",
                                 reason="bubblewrap not usable")]
PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "exercises.py")
WRONG_SOFTMAX = ("import numpy as np\n\n\ndef softmax(x):\n    e = np.exp(x)\n"
                 "    return e / e.sum(axis=1, keepdims=True)\n")
GOOD_SOFTMAX = ("import numpy as np\n\n\ndef softmax(x):\n    e = np.exp(x - x.max(axis=1, keepdims=True))\n"
                "    return e / e.sum(axis=1, keepdims=True)\n")


def page():
    return AppTest.from_file(PAGE, default_timeout=90).run()


def choose(at, name):
    title = next(t for t in at.radio[0].options if BY_NAME[name].title == t)
    at.radio[0].set_value(title).run()
    return at


def run(at, code=None):
    if code is not None:
        at.text_area[0].set_value(code).run()
    at.button(key="ex_run").click().run()
    return at


def failures(at):
    return [m.value for m in at.markdown if m.value.startswith(":red[**FAIL**]")]


def summary(at):
    return " ".join(e.value for e in at.success) + " ".join(e.value for e in at.error)


def test_page_starts_with_the_stubs_in_the_assignments_order():
    at = page()
    assert not at.exception
    assert [t.split(". ", 1)[1] for t in at.radio[0].options][:2] == ["ReLU", "Softmax"]
    assert len(at.radio[0].options) == len(NAMES) == 8
    assert "def relu(x):" in at.text_area[0].value
    assert "bubblewrap sandbox" in summary(at)


def test_wrong_softmax_gets_the_overflow_diagnosis_then_the_fix_passes():
    at = run(choose(page(), "softmax"), WRONG_SOFTMAX)
    assert not at.exception
    text = " ".join(failures(at))
    assert "logits up to" in text and "exp overflowed" in text
    table = at.dataframe[0].value
    assert set(table["exercise"]) == {"softmax"} and "FAIL" in set(table["result"])
    at = run(at, GOOD_SOFTMAX)
    assert not failures(at) and set(at.dataframe[0].value["result"]) == {"pass"}
    assert "exercises passed\\:\u2060 1\\/1" in summary(at)


def test_code_is_kept_in_the_session_across_exercises():
    at = choose(page(), "softmax")
    at.text_area[0].set_value(WRONG_SOFTMAX).run()
    at = choose(choose(at, "relu"), "softmax")
    assert at.text_area[0].value == WRONG_SOFTMAX
    at.button(key="ex_reset").click().run()
    assert at.text_area[0].value == BY_NAME["softmax"].stub


def test_run_all_with_every_solution_and_the_backprop_heatmap():
    at = page()
    for name in NAMES:  # every editor holds the whole correct file (the editors run in the assignment's order)
        choose(at, name).text_area[0].set_value(CORRECT).run()
    at.button(key="ex_run_all").click().run()
    assert not at.exception and not failures(at)
    table = at.dataframe[0].value
    assert list(dict.fromkeys(table["exercise"])) == list(NAMES) and set(table["result"]) == {"pass"}
    assert len(heat_cells(at)) == 6 * 4


def test_course_report_button_catches_both_writes_and_draws_the_heatmap():
    at = page()
    at.button(key="ex_report").click().run()
    text = " ".join(failures(at))
    assert len(failures(at)) == 2
    assert "prediction" in text and "line 18" in text and "o\\[o \\>\\= 0\\] \\= 1" in text
    cells = heat_cells(at)
    assert len(cells) == 6 * 4 and {c["block"] for c in cells} == {"W_o", "b_o", "W_h", "b_h"}
    assert all(c["verdict"] == "right" for c in cells)  # its gradients are right


def heat_cells(at):
    """The rows of the page's one heatmap (its Arrow dataset)."""
    import pyarrow as pa

    charts = at.get("vega_lite_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    assert {layer["encoding"]["x"]["field"] for layer in spec["layer"]} == {"block"}
    return [row for ds in charts[0].proto.datasets for row in pa.ipc.open_stream(ds.data.data).read_all().to_pylist()]


def test_teacher_can_switch_exercises_off(monkeypatch):
    monkeypatch.setenv("MLP_LAB_EXERCISES", "off")
    at = page()
    assert "switched code exercises off" in " ".join(e.value for e in at.error)
    assert at.button(key="ex_run").disabled and at.button(key="ex_report").disabled


def test_without_bubblewrap_only_a_loopback_server_runs_code(monkeypatch):
    monkeypatch.setenv("MLP_LAB_BWRAP", "none")
    at = page()
    assert at.button(key="ex_run").disabled and "every interface" in " ".join(e.value for e in at.error)
    monkeypatch.setattr(sb, "LOOPBACK", sb.LOOPBACK + ("",))  # AppTest's address counts as loopback here
    at = run(choose(page(), "softmax"), GOOD_SOFTMAX)
    assert "without a sandbox" in " ".join(e.value for e in at.warning)
    assert not failures(at) and set(at.dataframe[0].value["result"]) == {"pass"}


def test_infinite_loop_is_stopped_and_the_page_keeps_working(monkeypatch):
    monkeypatch.setattr(sb, "LIMITS", sb.Limits(cpu_seconds=2, wall_seconds=3.0))
    at = run(page(), "def relu(x):\n    while True:\n        pass\n")
    assert not at.exception
    assert "time limit" in " ".join(e.value for e in at.error)
    at = run(at, "import numpy as np\n\ndef relu(x):\n    return np.maximum(x, 0)\n")
    assert not failures(at) and set(at.dataframe[0].value["result"]) == {"pass"}


def test_another_session_is_graded_while_a_hostile_one_runs(monkeypatch):
    monkeypatch.setattr(sb, "LIMITS", sb.Limits(cpu_seconds=4, wall_seconds=6.0))
    hostile = threading.Thread(target=lambda: sb.run_code([("bomb.py", "import os\nwhile True:\n    try:\n"
                                                            "        os.fork()\n    except OSError:\n        pass\n")],
                                                          limits=sb.LIMITS))
    hostile.start()
    start = time.monotonic()
    at = run(choose(page(), "softmax"), GOOD_SOFTMAX)
    took = time.monotonic() - start
    assert not failures(at) and set(at.dataframe[0].value["result"]) == {"pass"}
    assert hostile.is_alive() or took < 6.0
    hostile.join(20)


@pytest.mark.parametrize("code", ["print('x' * 10_000_000)\n", "import sys\nsys.exit(3)\n", "def relu(x:\n"])
def test_hostile_or_broken_code_gives_a_message(code):
    at = run(page(), code)
    assert not at.exception
    assert summary(at)  # a summary with the error, never a traceback on the page
