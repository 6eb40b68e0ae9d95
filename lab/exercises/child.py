"""The child process that grades a learner's files: it limits itself, drops root, grades, writes JSON.

Started by ``lab.exercises.sandbox`` (inside bubblewrap where it can), never imported by the server.
Order matters: the limits and the unprivileged user are in place before any learner code runs; the
submission is read before root is dropped (it is a file only root may read).
argv[1]: JSON {"submission": path, "result_fd": int, "uid": int | None, "limits": {...}}.
"""

import importlib
import json
import os
import resource
import sys
import time

PRELOAD = ("numpy.random", "numpy.linalg", "random", "functools", "itertools", "collections", "math", "statistics")


def set_limits(limits):
    """setrlimit CPU time, address space, processes, file size, open files; no core dumps; nice 10, so the
    server's own threads come first on a busy machine."""
    os.nice(10)
    cpu = limits["cpu_seconds"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"],) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits["open_files"],) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def drop_root(uid):
    """As root, become an unprivileged user of our own: RLIMIT_NPROC does not bind root; drops all capabilities."""
    if uid is not None and os.getuid() == 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


def main():
    config, pid = json.loads(sys.argv[1]), os.getpid()
    out = os.fdopen(config["result_fd"], "w")
    set_limits(config["limits"])
    from lab.exercises.api import grade_sources

    for name in PRELOAD:  # before root is dropped: a Python install under /root is unreadable afterwards
        importlib.import_module(name)

    with open(config["submission"], encoding="utf-8") as f:
        submission = json.load(f)
    drop_root(config.get("uid"))
    start = time.perf_counter()
    chunks = [(str(name), str(source)) for name, source in submission["chunks"]]
    report = grade_sources(chunks, submission.get("only") or None)
    report.seconds = time.perf_counter() - start
    if os.getpid() != pid:  # a process the learner's code forked: only the grader itself answers
        os._exit(1)
    out.write(json.dumps(report.to_dict(), allow_nan=True))
    out.flush()
    for stream in (sys.stdout, sys.stderr):  # what the learner printed, then no atexit handlers or finalizers
        stream.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
