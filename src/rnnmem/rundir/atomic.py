"""Files written whole or not at all, and the leftovers of the writes that a kill interrupted.

    write_atomically(path, write)   write a temporary sibling, fsync it, rename it over `path`
                                    (`os.replace`: atomic on one file system), so that a reader
                                    sees the old file or the new one, never a part
    temporary name                  .<name>.<pid>-<host>.<random>.tmp   (a file or a folder)

A SIGKILL between the first byte and the rename leaves the temporary behind. Its name says
which process wrote it, so that a later start can tell a leftover (its writer no longer runs on
this host) from a write in progress in another process:

- where several processes write (the held-out cache, a figures folder, a sweep directory),
  `remove_stale` removes the temporaries of this host whose writer is dead;
- a run directory has one writer at a time, the holder of its lock (`rnnmem.rundir.lock`), which
  removes every temporary there when it starts (`remove_temporaries`), older names included.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

TEMPORARY = re.compile(r"^\..+\.(?P<pid>\d+)-(?P<host>[A-Za-z0-9]+)\.[A-Za-z0-9_]+\.tmp$")


def host_slug() -> str:
    """This host's name with its letters and digits only (a temporary's name part)."""
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:40] or "host"


def _prefix(name: str) -> str:
    return f".{name}.{os.getpid()}-{host_slug()}."


def umask() -> int:
    """This process's umask, read without changing it (`/proc/self/status`; 0o022 where that
    cannot be read): setting it to read it would race the process's other threads."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def write_atomically(path: Path, write: Callable[[IO[Any]], object], binary: bool = False
                     ) -> None:
    """Write `path` through `write(handle)` into a temporary sibling, fsync it and rename it
    over `path`, with the permissions a plain write would give it (0o666 less the umask); on
    any failure (an exception, Ctrl-C) the temporary is removed and `path` is as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_prefix(path.name), suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~umask())
        with os.fdopen(fd, "wb" if binary else "w") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomically(path: Path, text: str) -> None:
    """`path.write_text(text)`, atomically (`write_atomically`)."""
    write_atomically(path, lambda handle: handle.write(text))


def temporary_dir(parent: Path, name: str) -> Path:
    """A new empty folder in `parent` named as a temporary of `name` (module docstring): what
    a folder is built in before it is renamed into place."""
    Path(parent).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=parent, prefix=_prefix(name), suffix=".tmp"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def stale(path: Path) -> bool:
    """Whether `path` is a temporary (module docstring) of this host whose writer is dead."""
    match = TEMPORARY.match(Path(path).name)
    return (match is not None and match["host"] == host_slug()
            and int(match["pid"]) != os.getpid() and not _alive(int(match["pid"])))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_stale(directory: Path) -> list[Path]:
    """Remove the stale temporaries directly in `directory` (`stale`); the paths removed. A
    folder that cannot be read or written is left as it is."""
    try:
        found = sorted(path for path in Path(directory).iterdir() if stale(path))
    except OSError:
        return []
    return _remove_each(found)


def remove_temporaries(run_dir: Path) -> list[Path]:
    """Remove every temporary (`.*.tmp`) directly in a run directory, whoever wrote it: called
    by the holder of its lock, the one process that writes there."""
    try:
        found = sorted(Path(run_dir).glob(".*.tmp"))
    except OSError:
        return []
    return _remove_each(found)


def _remove_each(paths: list[Path]) -> list[Path]:
    """Remove each of `paths` (`_remove`), passing over those that cannot be; `paths`."""
    for path in paths:
        try:
            _remove(path)
        except OSError:
            continue
    return paths
