"""One runtime per data directory: an flock'ed pid file, and the reset that respects it."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

from .options import LOCK_FILE, LOG_FILE, PGDATA, DevError


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DevLock:
    """``<data dir>/dev.lock``: an exclusive flock plus our pid, so two runtimes never share a data dir.

    The kernel drops the flock when its holder dies (even on SIGKILL), so a stale file never blocks;
    the pid is only there to tell the user which process holds it.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def holder(self) -> int | None:
        try:
            text = self.path.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def acquire(self) -> None:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = self.holder()
            who = f"pid {pid}" if pid and process_alive(pid) else "another process"
            raise DevError(
                f"ecommerce dev is already running on {self.path.parent} ({who}); "
                "stop it (Ctrl-C) or pick another --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> DevLock:
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def reset(data_dir: Path) -> list[Path]:
    """Delete the local database and log (refusing while a runtime uses them); returns what went."""
    data_dir = data_dir.resolve()
    removed: list[Path] = []
    if not data_dir.exists():
        return removed
    with DevLock(data_dir):
        stop_orphan_postgres(data_dir / PGDATA)
        for name in (PGDATA, LOG_FILE):
            target = data_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            else:
                continue
            removed.append(target)
    return removed


def stop_orphan_postgres(pgdata: Path, timeout: float = 10.0) -> None:
    """A server left behind by a killed runtime must stop before its files are deleted."""
    pidfile = pgdata / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return
    if not process_alive(pid):
        return
    os.kill(pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown
    deadline = time.monotonic() + timeout
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if process_alive(pid):
        raise DevError(f"PostgreSQL (pid {pid}) on {pgdata} did not stop; stop it and retry")
