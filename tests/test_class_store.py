"""lab.class_store on SQLite and on a real PostgreSQL server: students, runs, experiments, limits, durability."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
import textwrap

import pytest
import sqlalchemy as sa
from conftest import IN_CI, ROOT
from pg import PostgresServer, pg_bin

from lab import class_store as cs
from mlp.limits import MAX_CLASS_NAME_CHARS, MAX_STORED_RUNS_PER_STUDENT


@pytest.fixture(scope="module")
def postgres():
    if pg_bin() is None:
        if IN_CI:
            pytest.fail("PostgreSQL (Debian's postgresql) is required in CI")
        pytest.skip("PostgreSQL binaries not installed")
    server = PostgresServer().start()
    yield server
    server.cleanup()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'class.sqlite'}"
    server = request.getfixturevalue("postgres")
    engine = sa.create_engine(server.url)
    cs.meta.drop_all(engine)  # a clean schema for each test
    engine.dispose()
    return server.url


@pytest.fixture
def store(url):
    s = cs.Store.open(url)
    yield s
    s.engine.dispose()


def a_run(uid, lr=0.1, valid=0.9, weights=b"w" * 1000, status="finished", epochs=3):
    history = [{"epoch": e, "valid_acc": valid - 0.01 * (epochs - e)} for e in range(1, epochs + 1)]
    return {"uid": uid, "status": status, "hyper": {"lr": lr, "hidden": 64, "epochs": epochs}, "history": history,
            "valid_acc": valid, "train_acc": valid + 0.01, "test_acc": valid - 0.01, "weights": weights}


def test_a_student_is_known_by_the_token_and_the_database_keeps_only_its_hash(store):
    sid, token = store.join("  Ada   Lovelace ")
    assert store.student(token) == (sid, "Ada Lovelace")
    assert store.student(token + "x") is None and store.student("") is None
    with store.engine.connect() as conn:
        hashes = [r.token_hash for r in conn.execute(sa.select(cs.students))]
    assert token not in hashes and cs.digest(token) in hashes


def test_names_and_titles_are_length_limited(store):
    with pytest.raises(cs.StoreError, match=str(MAX_CLASS_NAME_CHARS)):
        store.join("x" * (MAX_CLASS_NAME_CHARS + 1))
    with pytest.raises(cs.StoreError, match="empty"):
        store.join("   ")
    with pytest.raises(cs.StoreError, match="varied setting"):
        store.create_experiment("t", "q", {}, "colour")


def test_runs_come_back_to_their_student_and_no_one_else(store):
    _, ada = store.join("Ada")
    _, bob = store.join("Bob")
    rid, note = store.post_run(ada, a_run("r1"))
    assert note is None
    assert store.post_run(ada, a_run("r1")) == (rid, None)  # posted twice (a retry): kept once
    mine = store.runs_of(ada)
    assert [(r["id"], r["uid"], r["valid_acc"], r["hyper"]["lr"], len(r["history"])) for r in mine] == \
        [(rid, "r1", 0.9, 0.1, 3)]
    assert store.run_weights(ada, rid) == b"w" * 1000
    assert store.runs_of(bob) == []
    with pytest.raises(cs.Forbidden):
        store.run_weights(bob, rid)
    with pytest.raises(cs.Forbidden):
        store.delete_run(bob, rid)
    with pytest.raises(cs.Forbidden):
        store.post_run("not-a-token", a_run("r2"))
    store.delete_run(ada, rid)
    assert store.runs_of(ada) == []


def test_the_teacher_key_is_needed_for_every_teacher_action(store):
    exp, key = store.create_experiment("Learning rates", "Which lr is best?", {"hidden": 64}, "lr")
    assert len(exp.code) == cs.CODE_LENGTH and set(exp.code) <= set(cs.CODE_ALPHABET)
    assert store.experiment(exp.code.lower()) == exp
    _, ada = store.join("Ada")
    rid, _ = store.post_run(ada, a_run("r1", lr=0.3), exp.code)
    for wrong in (None, "", "guess", key + "x"):
        with pytest.raises(cs.Forbidden):
            store.hide_run(exp.code, wrong, rid)
        with pytest.raises(cs.Forbidden):
            store.close_experiment(exp.code, wrong)
        with pytest.raises(cs.Forbidden):
            store.csv(exp.code, wrong)
        assert not store.is_teacher(exp.code, wrong)
    assert store.is_teacher(exp.code, key)
    store.hide_run(exp.code, key, rid)
    assert store.board(exp.code) == []
    assert [r["hidden"] for r in store.board(exp.code, key)] == [True]
    assert "0.3" in store.csv(exp.code, key).splitlines()[1]
    store.close_experiment(exp.code, key)
    with pytest.raises(cs.StoreError, match="closed"):
        store.post_run(ada, a_run("r2"), exp.code)


def test_the_board_is_sorted_by_validation_accuracy_with_the_varied_setting(store):
    exp, _ = store.create_experiment("Learning rates", "Which lr?", {"hidden": 64}, "lr")
    names = {}
    for i, (lr, valid) in enumerate([(0.01, 0.8), (0.1, 0.93), (1.0, float("nan"))]):
        _, token = store.join(f"s{i}")
        names[token] = f"s{i}"
        status = "diverged" if valid != valid else "finished"
        store.post_run(token, a_run(f"u{i}", lr=lr, valid=valid, status=status), exp.code)
    board = store.board(exp.code)
    assert [(r["name"], r["varied_value"], r["valid_acc"], r["status"]) for r in board] == [
        ("s1", 0.1, 0.93, "finished"), ("s0", 0.01, 0.8, "finished"), ("s2", 1.0, None, "diverged")]
    assert board[0]["valid_curve"] == pytest.approx([0.91, 0.92, 0.93])


def test_limits_are_said_never_silent(store, monkeypatch):
    _, ada = store.join("Ada")
    monkeypatch.setattr(cs, "MAX_STORED_WEIGHT_BYTES_PER_STUDENT", 2500)
    assert store.post_run(ada, a_run("a"))[1] is None
    assert store.post_run(ada, a_run("b"))[1] is None
    rid, note = store.post_run(ada, a_run("c"))
    assert "weights were not kept" in note and store.run_weights(ada, rid) is None
    assert [r["has_weights"] for r in store.runs_of(ada)] == [True, True, False]
    monkeypatch.setattr(cs, "POSTS_PER_MINUTE", 3)
    with pytest.raises(cs.StoreError, match="last minute"):
        store.post_run(ada, a_run("d"))
    monkeypatch.setattr(cs, "POSTS_PER_MINUTE", 1000)
    monkeypatch.setattr(cs, "MAX_STORED_RUNS_PER_STUDENT", 3)
    with pytest.raises(cs.StoreError, match="MAX_STORED_RUNS_PER_STUDENT"):
        store.post_run(ada, a_run("e"))
    assert len(store.runs_of(ada)) == 3 and MAX_STORED_RUNS_PER_STUDENT >= 50


def test_migrate_is_idempotent_and_refuses_a_newer_schema(url):
    engine = cs.make_engine(url)
    cs.migrate(engine)
    cs.migrate(engine)
    with engine.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(cs.schema_version)).scalar() == 1
        conn.execute(cs.schema_version.update().values(version=cs.SCHEMA_VERSION + 1))
    with pytest.raises(cs.StoreError, match="newer"):
        cs.migrate(engine)
    engine.dispose()


def _poster(url, tokens, code, out):
    """One worker process of the classroom: its own engine, three threads posting one run per token."""
    import threading

    store = cs.Store(cs.make_engine(url))
    errors = []

    def post(token, i):
        try:
            store.post_run(token, a_run(f"{token[:8]}-{i}", lr=0.001 * (i + 1), valid=0.5 + i / 100), code)
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            errors.append(repr(exc))

    threads = [threading.Thread(target=post, args=(t, i)) for i, t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(errors)


def test_thirty_sessions_posting_at_once_lose_nothing(store, url):
    exp, key = store.create_experiment("Thirty", "q", {}, "lr")
    tokens = [(i, store.join(f"student {i}")[1]) for i in range(30)]
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_poster, args=(url, tokens[k::3], exp.code, out)) for k in range(3)]
    for p in procs:
        p.start()
    errors = [e for _ in procs for e in out.get(timeout=120)]
    for p in procs:
        p.join(timeout=60)
    assert errors == []
    board = store.board(exp.code, key)
    assert len(board) == 30
    assert sorted((r["name"], r["varied_value"], r["valid_acc"]) for r in board) == \
        sorted((f"student {i}", pytest.approx(0.001 * (i + 1)), pytest.approx(0.5 + i / 100)) for i in range(30))


ACKNOWLEDGE = textwrap.dedent("""
    import sys
    from lab import class_store as cs
    store = cs.Store.open(sys.argv[1])
    _, token = store.join("Ada")
    rid, _ = store.post_run(token, {"uid": "kept", "status": "finished", "hyper": {"lr": 0.1}, "history": [],
                                    "valid_acc": 0.91, "weights": b"x" * 100})
    print(token, rid, flush=True)
    import time
    time.sleep(60)
""")


def test_an_acknowledged_run_survives_killing_the_writer_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'class.sqlite'}"
    proc = subprocess.Popen([sys.executable, "-c", ACKNOWLEDGE, url], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    token, rid = proc.stdout.readline().split()
    proc.kill()  # SIGKILL right after the acknowledgement
    proc.wait()
    store = cs.Store.open(url)
    assert [(r["id"], r["valid_acc"]) for r in store.runs_of(token)] == [(int(rid), 0.91)]


@pytest.mark.postgres
def test_an_acknowledged_run_survives_killing_the_postgres_server(postgres):
    store = cs.Store.open(postgres.url)
    _, token = store.join("Ada")
    rid, _ = store.post_run(token, a_run("survivor"))
    store.engine.dispose()
    postgres.kill()  # SIGKILL: no shutdown, no checkpoint
    postgres.start()
    store = cs.Store.open(postgres.url)
    runs = store.runs_of(token)
    assert [(r["id"], r["uid"], json.dumps(r["hyper"])) for r in runs] == [(rid, "survivor", json.dumps(
        a_run("survivor")["hyper"]))]
    store.engine.dispose()


def test_a_version_1_database_is_migrated_to_the_current_schema(url):
    engine = cs.make_engine(url)
    cs.migrate(engine)
    cs.learner_code.drop(engine)  # as a database made before the Exercises page kept code
    with engine.begin() as conn:
        conn.execute(cs.schema_version.update().values(version=1))
    cs.migrate(engine)
    with engine.begin() as conn:
        assert conn.execute(sa.select(cs.schema_version.c.version)).scalar() == cs.SCHEMA_VERSION == 2
    store = cs.Store(engine)
    _, token = store.join("Ada")
    store.save_code(token, "relu", "def relu(x): ...")
    store.save_code(token, "relu", "def relu(x): return x")
    assert store.codes_of(token) == {"relu": "def relu(x): return x"}
    engine.dispose()
