"""A real PostgreSQL server for tests: Debian's ``postgresql`` binaries, a temporary cluster run as the
``postgres`` user on a free loopback port, stopped by PID. CI must have it (``CI=true``): elsewhere the
tests that need it are skipped when the binaries are missing."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BIN_GLOB = "/usr/lib/postgresql/*/bin"


def pg_bin():
    found = sorted(glob.glob(BIN_GLOB))
    return Path(found[-1]) if found and (Path(found[-1]) / "initdb").exists() else None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(*cmd):
    return subprocess.run(["runuser", "-u", "postgres", "--", *map(str, cmd)], capture_output=True, text=True,
                          timeout=120)


class PostgresServer:
    """initdb + postgres in a temporary directory; ``url`` for SQLAlchemy; ``kill()`` / ``start()`` / ``stop()``."""

    def __init__(self):
        self.bin = pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="mlp-lab-pg-"))
        shutil.chown(self.dir, "postgres")
        self.data = self.dir / "data"
        self.port = _free_port()
        res = _as_postgres(self.bin / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")
        if res.returncode:
            raise RuntimeError(f"initdb failed: {res.stderr[-2000:]}")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self):
        res = _as_postgres(self.bin / "pg_ctl", "-D", self.data, "-l", self.dir / "log", "-w", "-t", "60", "-o",
                           f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=on", "start")
        if res.returncode:
            raise RuntimeError(f"postgres did not start: {res.stdout[-1000:]} {res.stderr[-1000:]}")
        return self

    def pid(self):
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def kill(self):
        """SIGKILL the server and its backends at once (no shutdown: what was committed must survive)."""
        pid = self.pid()
        kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        for p in [pid, *map(int, kids)]:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        for _ in range(100):
            if all(not Path(f"/proc/{p}").exists() for p in [pid, *map(int, kids)]):
                break
            time.sleep(0.05)

    def stop(self):
        try:
            os.kill(self.pid(), signal.SIGINT)  # fast shutdown
        except (OSError, ValueError):
            return
        for _ in range(100):
            if not (self.data / "postmaster.pid").exists():
                break
            time.sleep(0.1)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
