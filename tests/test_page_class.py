"""The Class page under AppTest: joining, creating an experiment, the board, the teacher's controls, restoring runs."""

from __future__ import annotations

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from lab import class_store as cs

PAGE = str(ROOT / "pages" / "class_page.py")
HOSTILE = "[a](https://x.io)![i](http://x/i)$x$"


@pytest.fixture
def db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'class.sqlite'}"
    monkeypatch.setenv(cs.DATABASE_ENV, url)
    from ui import class_session

    class_session.store.clear()
    yield cs.Store.open(url)
    class_session.store.clear()


def page(query=None):
    at = AppTest.from_file(PAGE, default_timeout=60)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return at.run()


def texts(at):
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [e.value for e in at.error]
                    + [w.value for w in at.warning] + [i.value for i in at.info] + [s.value for s in at.success])


def join(at, name):
    at.text_input[0].input(name)
    at.button[0].click()
    return at.run()


def test_a_teacher_creates_an_experiment_and_sees_the_join_code_and_teacher_link(db):
    at = join(page(), "Ms Teacher")
    assert not at.exception
    assert "You are **Ms Teacher**" in texts(at)
    at.text_input[0].input("Which learning rate?")
    at.text_area[0].input("Train with your own rate.")
    at.selectbox[0].set_value("lr")
    at.button[0].click()
    at.run()
    assert not at.exception
    code = at.session_state["class_code"]
    exp = db.experiment(code)
    assert exp.title == "Which learning rate?" and exp.varied == "lr"
    assert any(c.value.endswith(f"/train?class={code}") for c in at.code)
    teacher = [c.value for c in at.code if "teacher=" in c.value]
    assert len(teacher) == 1 and db.is_teacher(code, teacher[0].rsplit("teacher=", 1)[1])
    assert [b.label for b in at.button if b.key == "class_close"] == ["Close to new runs"]


def test_the_board_shows_every_run_and_hides_what_the_teacher_hides(db):
    exp, key = db.create_experiment("LR", "Which?", {"hidden": 32}, "lr")
    for name, lr, valid in (("Ada", 0.01, 0.81), (HOSTILE, 0.3, 0.9)):
        _, token = db.join(name)
        db.post_run(token, {"uid": name[:8], "status": "finished", "hyper": {"lr": lr}, "history": [
            {"epoch": 1, "valid_acc": valid}], "valid_acc": valid}, exp.code)
    student = page({"class": exp.code})
    assert not student.exception
    table = student.dataframe[0].value
    assert list(table["name"]) == [HOSTILE, "Ada"] and list(table["valid acc"]) == [0.9, 0.81]
    assert not [b for b in student.button if b.key == "class_hide"]  # no teacher controls without the key
    assert "](https://x.io)" not in texts(student)  # the name never reaches markdown unescaped
    teacher = page({"class": exp.code, "teacher": key})
    assert "teacher" not in teacher.query_params  # taken in and removed from the address bar
    teacher.selectbox(key="class_hide_pick").set_value(db.board(exp.code)[0]["id"])
    teacher.button(key="class_hide").click()
    teacher.run()
    assert [r["name"] for r in db.board(exp.code)] == ["Ada"]
    assert list(page({"class": exp.code}).dataframe[0].value["name"]) == ["Ada"]


def test_a_wrong_teacher_key_gives_no_controls(db):
    exp, key = db.create_experiment("LR", "Which?", {}, "lr")
    at = page({"class": exp.code, "teacher": key[:-1] + ("x" if key[-1] != "x" else "y")})
    assert not [b for b in at.button if b.key in ("class_hide", "class_close")]
    assert "class_csv" not in [d.key for d in at.get("download_button")]


def test_an_unknown_code_is_said_and_the_page_works(db):
    at = page({"class": "NOPE1234"})
    assert not at.exception
    assert "There is no class experiment with the code NOPE1234" in texts(at)


def test_saved_runs_come_back_into_the_training_history_in_one_click(db):
    at = join(page(), "Ada")
    token = at.session_state["class_token"]
    for i, lr in enumerate((0.05, 0.2)):
        db.post_run(token, {"uid": f"r{i}", "status": "finished", "hyper": {"lr": lr, "hidden": 16, "epochs": 1},
                            "history": [{"epoch": 1, "valid_acc": 0.5 + i / 10}], "valid_acc": 0.5 + i / 10})
    at.run()
    button = at.button(key="class_restore")
    assert button.label == "Bring back 2 saved runs"
    button.click()
    at.run()
    runs = at.session_state["train_runs"]
    assert [(r.hyper.lr, r.final["valid_acc"], r.status) for r in runs] == [(0.05, 0.5, "finished"),
                                                                            (0.2, 0.6, "finished")]
    assert not [b for b in at.button if b.key == "class_restore"]


OUTBOX_SCRIPT = """
import streamlit as st
from lab.runs import RunRecord
from mlp.train import PRESETS
from ui import class_session as cls
from ui.keys import RUNS

if "made" not in st.session_state:
    st.session_state.made = True
    st.session_state[RUNS] = [RunRecord(run_id=1, hyper=PRESETS["quick"], history=[{"epoch": 1, "valid_acc": 0.8}],
                                        status="finished", data_name="letters", final={"valid_acc": 0.8})]
cls.save_new_runs()
cls.show_messages()
"""


def test_a_run_is_kept_while_the_database_is_down_and_saved_when_it_is_back(tmp_path, monkeypatch):
    from ui import class_session

    monkeypatch.setenv(cs.DATABASE_ENV, f"sqlite:///{tmp_path / 'missing' / 'folder' / 'class.sqlite'}")
    class_session.store.clear()
    at = AppTest.from_string(OUTBOX_SCRIPT, default_timeout=60).run()
    assert not at.exception
    assert "cannot be reached" in texts(at)
    assert len(at.session_state["class_outbox"]) == 1
    (tmp_path / "missing" / "folder").mkdir(parents=True)  # the database is back
    class_session.store.clear()
    at.run()
    assert "Run 1 is saved in the class database" in texts(at)
    assert at.session_state["class_outbox"] == []
    token = at.session_state["class_token"]
    saved = cs.Store.open(f"sqlite:///{tmp_path / 'missing' / 'folder' / 'class.sqlite'}").runs_of(token)
    assert [(r["status"], r["valid_acc"], r["hyper"]["hidden"]) for r in saved] == [("finished", 0.8, 256)]
    at.run()  # seen once: not posted again
    assert len(cs.Store.open(f"sqlite:///{tmp_path / 'missing' / 'folder' / 'class.sqlite'}").runs_of(token)) == 1
    class_session.store.clear()


def test_the_exercises_code_is_kept_in_the_class_database_for_the_next_visit(db):
    at = AppTest.from_file(str(ROOT / "pages" / "exercises.py"), default_timeout=60).run()
    assert not at.exception
    mine = "import numpy as np\n\ndef relu(x):\n    return np.maximum(x, 0)  # my own\n"
    at.text_area(key="ex_editor_relu").input(mine)
    at.run()
    token = at.session_state["class_token"]
    assert db.codes_of(token) == {"relu": mine}
    again = AppTest.from_file(str(ROOT / "pages" / "exercises.py"), default_timeout=60)
    again.session_state["class_token"] = token  # the browser's cookie, on a reload
    again.run()
    assert again.text_area(key="ex_editor_relu").value == mine
    fresh = AppTest.from_file(str(ROOT / "pages" / "exercises.py"), default_timeout=60).run()
    assert fresh.text_area(key="ex_editor_relu").value != mine  # another browser has its own code
    assert "x" * 10 not in db.codes_of(token).get("softmax", "")
    with pytest.raises(cs.StoreError, match="MAX_STORED_CODE_CHARS"):
        db.save_code(token, "softmax", "x" * 20_001)
