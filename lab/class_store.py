"""The class store: students, their runs and the class experiments, kept in a real database.

SQLAlchemy Core on SQLite (the default: ``data/class.sqlite``, WAL mode so that the classroom's
worker processes can write at once) or PostgreSQL (``MLP_LAB_DATABASE_URL=postgresql+psycopg://…``).
The schema is created and migrated on start (table ``schema_version``; no hand-run SQL).

Recognising a student without accounts: joining gives the browser a random token (kept in a cookie
by the page, and shown once as a return code for another device); the database keeps only its
SHA-256, so the database alone cannot be used to act as a student. A teacher's key works the same
way. Every write is committed before the call returns, so the page says "saved" only after the
commit. Limits are explicit (``mlp.limits``) and a refusal says which limit it hit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from mlp.limits import (
    MAX_CLASS_NAME_CHARS,
    MAX_CLASS_QUESTION_CHARS,
    MAX_CLASS_TITLE_CHARS,
    MAX_STORED_CODE_CHARS,
    MAX_STORED_RUNS_PER_STUDENT,
    MAX_STORED_WEIGHT_BYTES_PER_STUDENT,
)

DATABASE_ENV = "MLP_LAB_DATABASE_URL"
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "class.sqlite"
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read off a projector
CODE_LENGTH = 8  # 31^8 ≈ 8.5e11 codes
VARIED = {"lr": "learning rate", "hidden": "hidden units", "batch_size": "batch size", "momentum": "momentum",
          "epochs": "epochs"}

meta = sa.MetaData()
schema_version = sa.Table("schema_version", meta, sa.Column("version", sa.Integer, nullable=False))
experiments = sa.Table(
    "experiments", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.String(16), nullable=False, unique=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("base_hyper", sa.Text, nullable=False),  # JSON of mlp.train.Hyper
    sa.Column("varied", sa.String(20), nullable=False),
    sa.Column("teacher_hash", sa.String(64), nullable=False),
    sa.Column("closed", sa.Boolean, nullable=False, default=False),
    sa.Column("created", sa.Float, nullable=False),
)
students = sa.Table(
    "students", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("created", sa.Float, nullable=False),
)
runs = sa.Table(
    "runs", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("uid", sa.String(40), nullable=False, unique=True),  # a run's own id: posting it twice keeps one
    sa.Column("student_id", sa.Integer, sa.ForeignKey("students.id"), nullable=False, index=True),
    sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.id"), index=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("hyper", sa.Text, nullable=False),
    sa.Column("history", sa.Text, nullable=False),  # JSON list of per-epoch records
    sa.Column("valid_acc", sa.Float),
    sa.Column("train_acc", sa.Float),
    sa.Column("test_acc", sa.Float),
    sa.Column("varied_value", sa.Float),
    sa.Column("weights", sa.LargeBinary),  # the model .npz, or NULL past the weight budget
    sa.Column("weight_bytes", sa.Integer, nullable=False, default=0),
    sa.Column("hidden", sa.Boolean, nullable=False, default=False),
    sa.Column("created", sa.Float, nullable=False),
)
learner_code = sa.Table(
    "learner_code", meta,
    sa.Column("student_id", sa.Integer, sa.ForeignKey("students.id"), primary_key=True),
    sa.Column("exercise", sa.String(40), primary_key=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
)
SCHEMA_VERSION = 2  # 1: students, experiments, runs; 2: learner_code (the Exercises page's code)
MIGRATIONS = {2: ()}  # version -> statements after create_all (a new table needs none)


class StoreError(Exception):
    """The store refused or could not do something; the message says what and why."""


class Forbidden(StoreError):
    """The key or token given does not allow this."""


def digest(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def new_code():
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _sqlite_pragmas(dbapi_conn, _record):
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def database_url():
    return os.environ.get(DATABASE_ENV) or f"sqlite:///{DEFAULT_PATH}"


def make_engine(url=None):
    """An engine for ``url`` (default ``database_url()``); SQLite gets WAL and a busy timeout."""
    url = url or database_url()
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 10})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    timeout = {"connect_timeout": 3} if url.startswith("postgres") else {}  # an unreachable server fails fast
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args=timeout)


def migrate(engine):
    """Create the tables and bring the schema to SCHEMA_VERSION (idempotent; safe from several processes)."""
    meta.create_all(engine, checkfirst=True)
    with engine.begin() as conn:
        version = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
        if version is None:
            conn.execute(schema_version.insert().values(version=SCHEMA_VERSION))
        elif version > SCHEMA_VERSION:
            raise StoreError(f"the database's schema is version {version}, newer than this lab's {SCHEMA_VERSION}")
        elif version < SCHEMA_VERSION:
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[step]:
                    conn.execute(sa.text(statement))
            conn.execute(schema_version.update().values(version=SCHEMA_VERSION))


def _text(value, limit, what):
    value = " ".join(str(value or "").split())
    if not value:
        raise StoreError(f"the {what} is empty")
    if len(value) > limit:
        raise StoreError(f"the {what} has {len(value)} characters; the limit is {limit}")
    return value


def _finite(value):
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class Experiment:
    id: int
    code: str
    title: str
    question: str
    base_hyper: dict
    varied: str
    closed: bool


def _experiment(row):
    return Experiment(row.id, row.code, row.title, row.question, json.loads(row.base_hyper), row.varied,
                      bool(row.closed))


POSTS_PER_MINUTE = 12  # a student's runs posted in any 60 s; more is a flood (a Quick demo takes seconds)


class Store:
    """The class database. Every method is one transaction, committed before it returns."""

    def __init__(self, engine):
        self.engine = engine

    @classmethod
    def open(cls, url=None):
        engine = make_engine(url)
        migrate(engine)
        return cls(engine)

    # --- students -----------------------------------------------------------------------------------------

    def join(self, name):
        """A new student called ``name``; returns (student id, token). Only the token's hash is kept."""
        name = _text(name, MAX_CLASS_NAME_CHARS, "display name")
        token = secrets.token_urlsafe(16)
        with self.engine.begin() as conn:
            sid = conn.execute(students.insert().values(token_hash=digest(token), name=name,
                                                        created=time.time())).inserted_primary_key[0]
        return sid, token

    def student(self, token):
        """(id, display name) of the student holding ``token``, or None."""
        if not token or len(token) > 100:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(students.c.id, students.c.name)
                               .where(students.c.token_hash == digest(token))).first()
        return (row.id, row.name) if row else None

    def _student_id(self, conn, token):
        row = conn.execute(sa.select(students.c.id).where(students.c.token_hash == digest(token or ""))).first()
        if row is None:
            raise Forbidden("this browser's student token is not known to the class store")
        return row.id

    # --- experiments --------------------------------------------------------------------------------------

    def create_experiment(self, title, question, base_hyper, varied):
        """A new experiment; returns (Experiment, teacher key). The key is shown once and kept only hashed."""
        if varied not in VARIED:
            raise StoreError(f"the varied setting must be one of {sorted(VARIED)}, not {varied!r}")
        title = _text(title, MAX_CLASS_TITLE_CHARS, "title")
        question = _text(question, MAX_CLASS_QUESTION_CHARS, "question")
        key = secrets.token_urlsafe(18)
        with self.engine.begin() as conn:
            for _ in range(5):
                code = new_code()
                if conn.execute(sa.select(experiments.c.id).where(experiments.c.code == code)).first() is None:
                    break
            conn.execute(experiments.insert().values(
                code=code, title=title, question=question, base_hyper=json.dumps(base_hyper), varied=varied,
                teacher_hash=digest(key), closed=False, created=time.time()))
        return self.experiment(code), key

    def experiment(self, code):
        """The experiment with this join code, or None (codes are compared as typed, upper case)."""
        code = str(code or "").strip().upper()
        if not code or len(code) > 16:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(experiments).where(experiments.c.code == code)).first()
        return _experiment(row) if row else None

    def _teacher(self, conn, code, key):
        row = conn.execute(sa.select(experiments).where(experiments.c.code == str(code).upper())).first()
        if row is None or not key or not hmac.compare_digest(digest(key), row.teacher_hash):
            raise Forbidden("this needs the experiment's teacher key")
        return row

    def is_teacher(self, code, key):
        try:
            with self.engine.connect() as conn:
                self._teacher(conn, code, key)
            return True
        except Forbidden:
            return False

    def close_experiment(self, code, key, closed=True):
        with self.engine.begin() as conn:
            row = self._teacher(conn, code, key)
            conn.execute(experiments.update().where(experiments.c.id == row.id).values(closed=closed))

    def hide_run(self, code, key, run_id, hidden=True):
        with self.engine.begin() as conn:
            row = self._teacher(conn, code, key)
            conn.execute(runs.update().where(runs.c.id == run_id, runs.c.experiment_id == row.id)
                         .values(hidden=hidden))

    # --- runs ---------------------------------------------------------------------------------------------

    def post_run(self, token, run, code=None):
        """Keep a finished, stopped or diverged run; returns (run id, note or None). Idempotent by ``run['uid']``.

        ``run``: uid, status, hyper (dict), history (list of records), valid_acc, train_acc, test_acc, and
        weights (the model .npz bytes, or None). Past the student's weight budget the run is kept without
        its weights and the note says so; past the run limit, or into a closed experiment, StoreError.
        """
        with self.engine.begin() as conn:
            sid = self._student_id(conn, token)
            known = conn.execute(sa.select(runs.c.id).where(runs.c.uid == run["uid"],
                                                            runs.c.student_id == sid)).first()
            if known:
                return known.id, None
            self._check_limits(conn, sid)
            exp = self._open_experiment(conn, code)
            weights, note = self._weights_within_budget(conn, sid, run.get("weights"))
            varied = exp.varied if exp is not None else None
            value = run["hyper"].get(varied) if varied else None
            rid = conn.execute(runs.insert().values(
                uid=run["uid"], student_id=sid, experiment_id=exp.id if exp is not None else None,
                status=run["status"], hyper=json.dumps(run["hyper"]), history=json.dumps(run["history"]),
                valid_acc=_finite(run.get("valid_acc")), train_acc=_finite(run.get("train_acc")),
                test_acc=_finite(run.get("test_acc")), varied_value=_finite(value) if value is not None else None,
                weights=weights, weight_bytes=len(weights or b""), hidden=False, created=time.time(),
            )).inserted_primary_key[0]
        return rid, note

    def _check_limits(self, conn, sid):
        count = conn.execute(sa.select(sa.func.count()).select_from(runs).where(runs.c.student_id == sid)).scalar()
        if count >= MAX_STORED_RUNS_PER_STUDENT:
            raise StoreError(f"you have {count} runs kept, the limit (mlp.limits.MAX_STORED_RUNS_PER_STUDENT); "
                             "delete some on the Class page to keep new ones")
        recent = conn.execute(sa.select(sa.func.count()).select_from(runs).where(
            runs.c.student_id == sid, runs.c.created > time.time() - 60)).scalar()
        if recent >= POSTS_PER_MINUTE:
            raise StoreError(f"{recent} runs posted in the last minute (the limit is {POSTS_PER_MINUTE}); "
                             "try again in a minute")

    def _open_experiment(self, conn, code):
        if not code:
            return None
        row = conn.execute(sa.select(experiments).where(experiments.c.code == str(code).upper())).first()
        if row is None:
            raise StoreError(f"there is no class experiment with the code {str(code)[:16]!r}")
        if row.closed:
            raise StoreError(f"the experiment {row.code} is closed to new runs")
        return _experiment(row)

    def _weights_within_budget(self, conn, sid, weights):
        if not weights:
            return None, None
        used = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(runs.c.weight_bytes), 0))
                            .where(runs.c.student_id == sid)).scalar()
        if used + len(weights) > MAX_STORED_WEIGHT_BYTES_PER_STUDENT:
            limit = MAX_STORED_WEIGHT_BYTES_PER_STUDENT / 2**20
            return None, (f"its weights were not kept: yours already take {used / 2**20:.1f} MiB of the "
                          f"{limit:.0f} MiB a student may keep (its settings and curves were kept)")
        return bytes(weights), None

    def runs_of(self, token):
        """The student's own runs, newest last: dicts without the weights (``has_weights`` says if kept)."""
        with self.engine.connect() as conn:
            sid = self._student_id(conn, token)
            rows = conn.execute(sa.select(runs, experiments.c.code).outerjoin(experiments)
                                .where(runs.c.student_id == sid).order_by(runs.c.id)).all()
        return [_run_dict(r) for r in rows]

    def run_weights(self, token, run_id):
        """The model .npz bytes of one of the student's runs, or None if they were not kept."""
        with self.engine.connect() as conn:
            sid = self._student_id(conn, token)
            row = conn.execute(sa.select(runs.c.weights, runs.c.student_id).where(runs.c.id == run_id)).first()
        if row is None or row.student_id != sid:
            raise Forbidden("that run is not yours")
        return row.weights

    def delete_run(self, token, run_id):
        with self.engine.begin() as conn:
            sid = self._student_id(conn, token)
            done = conn.execute(runs.delete().where(runs.c.id == run_id, runs.c.student_id == sid)).rowcount
        if not done:
            raise Forbidden("that run is not yours, or is gone already")

    # --- the Exercises page's code -----------------------------------------------------------------------------

    def save_code(self, token, exercise, source):
        """Keep the learner's code of one exercise (the newest replaces the last); StoreError past the limit."""
        if len(source) > MAX_STORED_CODE_CHARS:
            raise StoreError(f"the code has {len(source):,} characters; the limit is {MAX_STORED_CODE_CHARS:,} "
                             "(mlp.limits.MAX_STORED_CODE_CHARS)")
        exercise = _text(exercise, 40, "exercise name")
        with self.engine.begin() as conn:
            sid = self._student_id(conn, token)
            where = (learner_code.c.student_id == sid) & (learner_code.c.exercise == exercise)
            if conn.execute(learner_code.update().where(where).values(source=source, updated=time.time())).rowcount:
                return
            conn.execute(learner_code.insert().values(student_id=sid, exercise=exercise, source=source,
                                                      updated=time.time()))

    def codes_of(self, token):
        """{exercise: source} of the student's kept code."""
        with self.engine.connect() as conn:
            sid = self._student_id(conn, token)
            rows = conn.execute(sa.select(learner_code.c.exercise, learner_code.c.source)
                                .where(learner_code.c.student_id == sid)).all()
        return {r.exercise: r.source for r in rows}

    # --- the board ----------------------------------------------------------------------------------------

    def board(self, code, teacher_key=None):
        """The experiment's runs for its board, best validation accuracy first.

        Each: id, name (display name), student_id, varied_value, valid_acc, train_acc, test_acc, status,
        valid_curve (validation accuracy per epoch), hidden. Hidden runs are left out unless the teacher's key
        is given.
        """
        with self.engine.connect() as conn:
            exp = conn.execute(sa.select(experiments).where(experiments.c.code == str(code).upper())).first()
            if exp is None:
                raise StoreError(f"there is no class experiment with the code {str(code)[:16]!r}")
            teacher = bool(teacher_key) and hmac.compare_digest(digest(teacher_key), exp.teacher_hash)
            query = (sa.select(runs.c.id, runs.c.student_id, runs.c.varied_value, runs.c.valid_acc,
                               runs.c.train_acc, runs.c.test_acc, runs.c.status, runs.c.history, runs.c.hidden,
                               students.c.name).join(students).where(runs.c.experiment_id == exp.id))
            if not teacher:
                query = query.where(runs.c.hidden.is_(False))
            rows = conn.execute(query).all()
        board = [_board_row(r) for r in rows]
        return sorted(board, key=lambda r: (r["valid_acc"] is None, -(r["valid_acc"] or 0), r["id"]))

    def csv(self, code, teacher_key):
        """Every run of the experiment (hidden ones too) as CSV text; needs the teacher key."""
        import csv
        import io

        with self.engine.connect() as conn:
            self._teacher(conn, code, teacher_key)
        out = io.StringIO()
        fields = ["id", "name", "varied_value", "valid_acc", "train_acc", "test_acc", "status", "hidden", "epochs"]
        writer = csv.DictWriter(out, fields, extrasaction="ignore")
        writer.writeheader()
        for row in self.board(code, teacher_key):
            writer.writerow({**row, "epochs": len(row["valid_curve"])})
        return out.getvalue()


def _board_row(r):
    history = json.loads(r.history)
    return {"id": r.id, "student_id": r.student_id, "name": r.name, "varied_value": r.varied_value,
            "valid_acc": r.valid_acc, "train_acc": r.train_acc, "test_acc": r.test_acc, "status": r.status,
            "hidden": bool(r.hidden), "valid_curve": [h.get("valid_acc") for h in history]}


def _run_dict(r):
    return {"id": r.id, "uid": r.uid, "status": r.status, "hyper": json.loads(r.hyper),
            "history": json.loads(r.history), "valid_acc": r.valid_acc, "train_acc": r.train_acc,
            "test_acc": r.test_acc, "experiment": r.code, "has_weights": r.weight_bytes > 0, "created": r.created}
