"""Least-loaded GPU placement for the processes of a local sweep: a lock-file ledger.

The ledger of one machine lives in `<sweep_dir>/.gpus/<host>/`. A process that trains on GPU g
holds an exclusive `fcntl.flock` on one slot file of g, `gpu-<g>.<n>.slot`, and

    load(g) = |{slot files of g whose lock is held}|.

`take()` runs under the ledger's own lock (`ledger.lock`): it counts every GPU's load, picks the
least-loaded GPU (the first listed among equals) and locks the first free slot file of it. So
with W processes on G GPUs, each taking its slot when it starts,

    max_g load(g) <= ceil(W / G) at every moment, and max - min <= 1 whenever all W hold one

(a process takes a GPU whose load is below ceil(W / G) while fewer than W hold slots).
The kernel drops a flock when its holder's file is closed, which exit does however the process
ends (a crash, SIGKILL): a slot is never leaked. Every take and release appends one JSON line to
`ledger.log` (time, pid, event, gpu, every GPU's load after it), written under the ledger's
lock, so the log is the ledger's history in order. flock is local to a machine, hence one
ledger per host.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

LEDGER_DIR = ".gpus"
LOG_FILE = "ledger.log"


def ledger_dir(sweep_dir: Path) -> Path:
    """This machine's ledger in the sweep directory."""
    return Path(sweep_dir) / LEDGER_DIR / socket.gethostname()


def _file_name(gpu: str) -> str:
    """A GPU's CUDA_VISIBLE_DEVICES entry (an index or a UUID) as a file name prefix."""
    return "gpu-" + re.sub(r"[^A-Za-z0-9_-]", "_", gpu)


def _held(path: Path) -> bool:
    """Whether another open file holds the flock of `path` (probed without waiting)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock taken by the probe
    return False


@dataclass
class Slot:
    """One held slot: GPU `gpu`, locked through `fd` until `release()` or process exit."""

    ledger: GpuLedger
    gpu: str
    path: Path
    fd: int | None

    def release(self) -> None:
        if self.fd is None:
            return
        with self.ledger.locked():
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
            self.ledger.log("release", self.gpu)


class GpuLedger:
    """The slots of `gpus` (CUDA_VISIBLE_DEVICES entries) in `directory`."""

    def __init__(self, directory: Path, gpus: Sequence[str]) -> None:
        if not gpus:
            raise ValueError("no GPU to place a job on")
        self.directory = Path(directory)
        self.gpus = list(gpus)
        self.directory.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """The ledger's own lock: one take or release at a time on this machine."""
        fd = os.open(self.directory / "ledger.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _slots(self, gpu: str) -> list[Path]:
        """The slot files of `gpu` made so far, in slot order."""
        prefix = _file_name(gpu)
        found = self.directory.glob(f"{prefix}.*.slot")
        return sorted(found, key=lambda path: int(path.name[len(prefix) + 1:-len(".slot")]))

    def loads(self) -> dict[str, int]:
        """Held slots per GPU now (call under `locked()` for a consistent picture)."""
        return {gpu: sum(_held(path) for path in self._slots(gpu)) for gpu in self.gpus}

    def log(self, event: str, gpu: str) -> None:
        line = {"time": time.time(), "pid": os.getpid(), "event": event, "gpu": gpu,
                "loads": self.loads()}
        with open(self.directory / LOG_FILE, "a") as log:
            log.write(json.dumps(line) + "\n")

    def take(self) -> Slot:
        """Lock a free slot of the least-loaded GPU (the first listed among equals)."""
        with self.locked():
            loads = self.loads()
            gpu = min(self.gpus, key=lambda name: loads[name])
            slots = self._slots(gpu)
            for path in [*slots, self.directory / f"{_file_name(gpu)}.{len(slots)}.slot"]:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                slot = Slot(self, gpu, path, fd)
                self.log("take", gpu)
                return slot
        raise RuntimeError(f"no free slot for GPU {gpu} in {self.directory}")  # unreachable
