"""One trainer per run directory: an exclusive `fcntl.flock` on `<run_dir>/.lock`.

Two invocations of one sweep directory (or the same `make train` twice) may reach the same job;
the first takes the lock and trains, the second finds it held and skips the job, saying so. The
kernel drops the lock when its holder exits, however it exits (SIGKILL included), so a stale lock
never blocks a resume. flock is local to one machine; on NFS, SLURM runs each job once anyway.

`lock_held(run_dir)` says whether some process holds a run directory's lock without taking it (a
reader that took it, even for a moment, could make a starting run skip its job): from the
kernel's table of locks, `/proc/locks`, matched by the lock file's device and inode.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from rnnmem.rundir.paths import RunDir

PROC_LOCKS = Path("/proc/locks")


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


def lock_held(run_dir: Path) -> bool:
    """Whether a process (this one included) holds the lock of `run_dir` now, read from
    `/proc/locks`; where that table cannot be read, by trying the lock without waiting."""
    path = RunDir(run_dir).lock
    try:
        stat = path.stat()
    except OSError:
        return False  # no lock file: nobody ever trained here
    key = (os.major(stat.st_dev), os.minor(stat.st_dev), stat.st_ino)
    try:
        table = PROC_LOCKS.read_text()
    except OSError:
        lock = RunLock(run_dir)
        if lock.acquire():
            lock.release()
            return False
        return True
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 6 or fields[1] != "FLOCK":  # "->" marks a waiter, not a holder
            continue
        major, minor, inode = fields[5].split(":")
        if (int(major, 16), int(minor, 16), int(inode)) == key:
            return True
    return False
