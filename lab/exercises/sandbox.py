"""Run a learner's code away from the server: a child process inside bubblewrap, with limits.

The child (``lab.exercises.child``) sees a read-only file system holding only the Python install, numpy,
``mlp/`` and ``lab/exercises/``; a private 16 MiB /tmp; no network (its own empty network namespace);
its own PID, IPC and UTS namespaces. It sets rlimits (CPU time, address space, processes, file size,
open files) and, when the server runs as root, becomes an unprivileged user of its own before any
learner code runs. The parent keeps a wall-clock deadline, reads at most ``output_bytes`` of printed
output, kills the whole process group at the end, and parses the JSON result as untrusted.

Where bubblewrap is missing or cannot start, ``policy`` allows code only on a server that listens on
loopback (a learner's own machine), with the limits alone; ``MLP_LAB_EXERCISES=off`` switches code
exercises off; ``MLP_LAB_BWRAP`` names another bwrap binary ("none": behave as if there were none).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import random
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .report import MAX_OUTPUT, Report

ROOT = Path(__file__).resolve().parents[2]  # the project: mlp/ and lab/ live here
BOOT = "import sys; sys.path[:0] = {path!r}; from lab.exercises.child import main; main()"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
MAX_PARALLEL = 4  # sandboxes running at once; more wait for a free slot
_SLOTS = threading.BoundedSemaphore(MAX_PARALLEL)


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int = 10
    wall_seconds: float = 15.0
    memory_bytes: int = 512 << 20  # address space of each process (the grader needs about 200 MiB)
    processes: int = 4  # processes and threads of the run's own uid: at most 4 x 512 MiB in all
    file_bytes: int = 16 << 20
    open_files: int = 64
    tmp_bytes: int = 16 << 20  # the private /tmp
    output_bytes: int = 1 << 20  # printed output read before the run is stopped
    result_bytes: int = 4 << 20
    source_bytes: int = 200_000
    queue_seconds: float = 30.0  # waiting for a free slot


LIMITS = Limits()


@dataclass(frozen=True)
class Policy:
    mode: str  # "sandbox", "limits" (no bubblewrap, loopback server) or "off"
    message: str


def bwrap_binary():
    override = os.environ.get("MLP_LAB_BWRAP")
    if override:
        return None if override == "none" else override
    return shutil.which("bwrap")


def _python():
    return os.path.realpath(sys.executable)


def _site():
    """The folder numpy is installed in (found without importing it)."""
    return Path(importlib.util.find_spec("numpy").submodule_search_locations[0]).resolve().parent


def _site_binds():
    """(host path, sandbox path) of numpy and its bundled libraries."""
    site = _site()
    return [(str(site / name), f"/opt/site/{name}") for name in ("numpy", "numpy.libs") if (site / name).exists()]


def _system_binds():
    """bwrap arguments for the shared libraries and the Python install, read-only."""
    args = []
    for d in ("/usr/lib", "/usr/lib64"):
        if os.path.isdir(d):
            args += ["--ro-bind", d, d]
    for link in ("/lib", "/lib64"):
        if os.path.islink(link):
            args += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            args += ["--ro-bind", link, link]
    prefix = os.path.realpath(sys.base_prefix)
    if not prefix.startswith("/usr/lib"):
        target = prefix if prefix != "/usr" else _python()
        args += _parents(target) + ["--ro-bind", target, target]
    return args


def _parents(path):
    """bwrap arguments creating the parent folders of ``path`` as 0755 (bwrap would make /root 0700)."""
    parents = [str(p) for p in reversed(Path(path).parents) if str(p) != "/"]
    return [a for p in parents for a in ("--perms", "0755", "--dir", p)]


def bwrap_command(binary, limits, submission, python_args):
    """The bwrap command line that runs ``python_args`` in the sandbox."""
    root = os.geteuid() == 0
    ns = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    ns += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"] if root else ["--unshare-user"]
    binds = _system_binds()
    for host, inside in _site_binds() + [(str(ROOT / "mlp"), "/opt/grader/mlp"),
                                         (str(ROOT / "lab" / "__init__.py"), "/opt/grader/lab/__init__.py"),
                                         (str(ROOT / "lab" / "exercises"), "/opt/grader/lab/exercises"),
                                         (submission, "/run/submission.json")]:
        binds += _parents(inside) + ["--ro-bind", host, inside]
    fs = ["--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
          "--remount-ro", "/", "--chdir", "/tmp", "--clearenv"]
    env = [a for k, v in _child_env().items() for a in ("--setenv", k, v)]
    return [binary, *ns, "--die-with-parent", "--new-session", *binds, *fs, *env, "--", *python_args]


def _child_env():
    return {"PYTHONDONTWRITEBYTECODE": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "HOME": "/tmp", "LANG": "C.UTF-8", "PATH": "/nonexistent"}


def _python_args(config, sandboxed):
    path = ["/opt/grader", "/opt/site"] if sandboxed else [str(ROOT), str(_site())]
    return [_python(), "-I", "-S", "-B", "-c", BOOT.format(path=path), json.dumps(config)]


def _spawn(chunks, only, limits, binary, workdir):
    """Start the child; returns (process, read end of the result pipe)."""
    host_file = Path(workdir) / "submission.json"
    host_file.write_text(json.dumps({"chunks": chunks, "only": only}), encoding="utf-8")
    os.chmod(host_file, 0o600)
    read_fd, write_fd = os.pipe()
    uid = random.randrange(200_000, 260_000) if os.geteuid() == 0 else None
    config = {"submission": "/run/submission.json" if binary else str(host_file), "result_fd": write_fd,
              "uid": uid, "limits": asdict(limits)}
    args = _python_args(config, bool(binary))
    cmd = bwrap_command(binary, limits, str(host_file), args) if binary else args
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                pass_fds=(write_fd,), start_new_session=True, cwd="/" if binary else workdir,
                                env=_child_env())  # bwrap too: nothing of the server's environment
    finally:
        os.close(write_fd)
    return proc, read_fd, uid


def _collect(proc, result_fd, limits, deadline):
    """Read the child's pipes until they close; returns (result bytes, output bytes, why it was stopped or None)."""
    sel = selectors.DefaultSelector()
    sel.register(result_fd, selectors.EVENT_READ, "result")
    sel.register(proc.stdout.fileno(), selectors.EVENT_READ, "output")
    sel.register(proc.stderr.fileno(), selectors.EVENT_READ, "output")
    result, output, printed = bytearray(), bytearray(), 0
    try:
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return result, output, "timeout"
            for key, _ in sel.select(min(left, 0.5)):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    sel.unregister(key.fd)
                elif key.data == "result":
                    result += chunk
                    if len(result) > limits.result_bytes:
                        return result, output, "sandbox"
                else:
                    printed += len(chunk)
                    output += chunk[: max(0, MAX_OUTPUT - len(output))]
                    if printed > limits.output_bytes:
                        return result, output, "output"
        return result, output, None
    finally:
        sel.close()


def _kill(proc, uid):
    """SIGKILL the child's whole process group (inside bubblewrap its PID namespace dies with it), then wait
    up to 2 s until no process of the run's own uid is left."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        pipe.close()
    deadline = time.monotonic() + 2
    while uid is not None and processes_of(uid) and time.monotonic() < deadline:
        time.sleep(0.02)


def processes_of(uid):
    """PIDs of the processes running as ``uid``."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}").st_uid == uid:
                pids.append(int(pid))
        except OSError:
            continue
    return pids


STOPPED = {"timeout": "stopped at the time limit of {wall:g} s wall clock / {cpu} s CPU (an infinite loop?)",
           "output": "stopped: it printed more than {out} bytes",
           "memory": "stopped: it ran out of its {mem} MiB of memory",
           "sandbox": "the grader's result was too large or not readable"}


def _stopped(kind, limits, output=b""):
    text = STOPPED[kind].format(wall=limits.wall_seconds, cpu=limits.cpu_seconds, out=limits.output_bytes,
                                mem=limits.memory_bytes >> 20)
    return Report(error=text, error_kind=kind, output=output.decode("utf-8", "replace"))


def _finish(returncode, result, output, why, limits):
    """The Report of a finished child: its JSON, or why there is none."""
    if why:
        return _stopped(why, limits, output)
    if not result:
        if returncode in (-signal.SIGXCPU, 128 + signal.SIGXCPU, -signal.SIGKILL, 128 + signal.SIGKILL):
            return _stopped("timeout", limits, output)
        text = output.decode("utf-8", "replace").strip().splitlines()[-3:]
        return Report(error=f"the code ended the grader without a result (exit code {returncode}) "
                            + " | ".join(text), error_kind="sandbox", output=output.decode("utf-8", "replace"))
    try:
        report = Report.from_dict(json.loads(result))
    except ValueError as exc:
        return Report(error=f"the grader's result is not readable ({exc})", error_kind="sandbox")
    report.output = output.decode("utf-8", "replace")
    return report


def _run_child(chunks, only, limits, binary):
    with tempfile.TemporaryDirectory(prefix="mlp-lab-exercise-") as work:
        deadline = time.monotonic() + limits.wall_seconds
        proc, result_fd, uid = _spawn(chunks, only, limits, binary, work)
        try:
            result, output, why = _collect(proc, result_fd, limits, deadline)
            if why is None:
                try:
                    proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    why = "timeout"
        finally:
            os.close(result_fd)
            _kill(proc, uid)
        return _finish(proc.returncode, bytes(result), bytes(output), why, limits)


def run_code(chunks, only=None, limits=LIMITS, sandboxed=True):
    """Grade source files [(filename, source), ...] in a child process -> Report.

    sandboxed: inside bubblewrap (refused when it is not available); False: the limits alone.
    """
    chunks = [(str(n), str(s)) for n, s in chunks]
    if sum(len(s) for _, s in chunks) > limits.source_bytes:
        return Report(error=f"the code is longer than {limits.source_bytes} characters", error_kind="sandbox")
    binary = bwrap_binary() if sandboxed else None
    if sandboxed and not probe(binary)[0]:
        return Report(error=f"bubblewrap is not available: {probe(binary)[1]}", error_kind="sandbox")
    if not _SLOTS.acquire(timeout=limits.queue_seconds):
        return Report(error="the grader is busy with other learners' code; try again", error_kind="sandbox")
    try:
        return _run_child(chunks, list(only) if only else None, limits, binary)
    finally:
        _SLOTS.release()


@functools.lru_cache(maxsize=4)
def probe(binary):
    """(works, message): can this bwrap start the sandbox and Python in it? (numpy is not imported: that would
    double the time of a first run; a broken numpy shows in the run's own message.)"""
    if not binary:
        return False, "no bwrap program found (Debian: apt-get install bubblewrap)"
    with tempfile.TemporaryDirectory(prefix="mlp-lab-probe-") as work:
        dummy = Path(work) / "submission.json"
        dummy.write_text("{}")
        args = [_python(), "-I", "-S", "-B", "-c", "pass"]
        try:
            done = subprocess.run(bwrap_command(binary, LIMITS, str(dummy), args), capture_output=True, timeout=30,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, f"{binary} did not start ({exc})"
    if done.returncode != 0:
        return False, f"{binary} failed: {done.stderr.decode('utf-8', 'replace').strip()[-300:]}"
    return True, f"bubblewrap at {binary}"


def exercises_switched_off():
    return os.environ.get("MLP_LAB_EXERCISES", "").strip().lower() in ("off", "0", "false", "no")


def policy(server_address):
    """How this server may run learners' code, given the address it listens on ('' or None: every interface)."""
    if exercises_switched_off():
        return Policy("off", "A teacher switched code exercises off on this server (MLP_LAB_EXERCISES=off).")
    ok, why = probe(bwrap_binary())
    if ok:
        return Policy("sandbox", "Your code runs in a bubblewrap sandbox: no network, a read-only view of the "
                                 "grader only, a private /tmp, and limits on time, memory and processes.")
    if (server_address or "") in LOOPBACK:
        return Policy("limits", f"bubblewrap is not available ({why}). This server listens only on this machine "
                                f"({server_address}), so your code runs in a child process with time, memory and "
                                "process limits, but without a sandbox.")
    return Policy("off", f"bubblewrap is not available ({why}) and this server is reachable from other machines "
                         f"({server_address or 'every interface'}): code exercises are off. Install bubblewrap "
                         "(apt-get install bubblewrap) or serve on 127.0.0.1.")
