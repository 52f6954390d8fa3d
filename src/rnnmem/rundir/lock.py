"""One trainer per run directory: an exclusive `fcntl.flock` on `<run_dir>/.lock`.

Two invocations of one sweep directory (or the same `make train` twice) may reach the same job;
the first takes the lock and trains, the second finds it held and skips the job, saying so. The
kernel drops the lock when its holder exits, however it exits (SIGKILL included), so a stale lock
never blocks a resume. flock is local to one machine; on NFS, SLURM runs each job once anyway.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from rnnmem.rundir.paths import RunDir


class RunLock:
    """`acquire()` takes the lock without waiting (False when another process holds it);
    `release()` (or process exit) gives it back."""

    def __init__(self, run_dir: Path) -> None:
        self.path = RunDir(run_dir).lock
        self._fd: int | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
