"""Flushing subnormal floats to zero while training, and where a measure cannot see it.

A subnormal float (float32 below 1.2e-38, float64 below 2.2e-308) is computed by x86 CPUs
through a slow microcode path: a tanh RNN whose gradients vanish into that range trains several
times slower on the CPU than one whose do not (`make bench`, section flush).
`torch.set_flush_denormal(True)` sets the CPU's flush-to-zero and denormals-are-zero modes (FTZ,
DAZ in the MXCSR register), under which such values are read and written as 0: for float32 and
float64 alike, and only on the thread that calls it. Torch computes on a pool of OpenMP threads
(`torch.get_num_threads()`), so `set_flushing` sets the mode on each of them, through an OpenMP
parallel region of the runtime torch itself loaded.

    training(enabled)   flushing inside (`trainer.flush_denormal`), restored after
    flushed()           flushing inside where the CPU can, whatever the caller set (item
                        memory's float32 probe view), restored after
    exact()             no flushing inside (the float64 probe, item memory's other views,
                        evaluation), restored after

rnnmem flushes inside `training`, around the optimiser steps of a batch
(`rnnmem.training.module`), and inside item memory's probe view, a float32 measurement on an
absolute scale where a derivative below 1.2e-38 is 0 in every digit it reports
(`rnnmem.measures.item_memory.probe_view`). Everything else between batches (the gradient probe,
validation) and after training (test, forgetting, item memory's end views) runs without: those
measures are exact down to float64's smallest normal number, 2.2e-308. Every measure sets its
own mode (`exact()` or `flushed()`), so a caller that left flushing on or off cannot change it
(tests/test_denormals.py). On a GPU the option changes only the CPU's share of the work.

It lives among the models, below the measures that guard themselves with it: flushing changes
the numbers a run trains to, so its code is a result source (`rnnmem.rundir.code`).
"""

from __future__ import annotations

import ctypes
import functools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch

log = logging.getLogger("rnnmem")
_flushing = False  # the mode rnnmem last set on every thread (torch has no getter for it)
_team = 1  # the most threads rnnmem has set the mode on: each is set again at every change
_lock = threading.Lock()


def flushing() -> bool:
    """Whether rnnmem has set flushing on (torch's threads hold the same mode)."""
    return _flushing


@functools.cache
def _openmp_runtime() -> ctypes.CDLL | None:
    """The OpenMP runtime torch loaded (GNU libgomp or LLVM's libomp, both with GOMP_parallel),
    found among this process's mapped libraries; None where there is none (a torch built
    without OpenMP computes on the calling thread alone)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    paths = {line.split()[-1] for line in maps.splitlines() if line.strip()}
    for path in sorted(paths):
        name = Path(path).name
        if name.startswith(("libgomp", "libomp", "libiomp5")):
            runtime = ctypes.CDLL(path)
            if hasattr(runtime, "GOMP_parallel"):
                return runtime
    return None


# the body of the parallel region: each thread of the team sets its own mode
_REGIONS = {enabled: ctypes.CFUNCTYPE(None, ctypes.c_void_p)(
    lambda _, enabled=enabled: torch.set_flush_denormal(enabled)) for enabled in (False, True)}


def set_flushing(enabled: bool) -> None:
    """Set flush-to-zero on (or off) on the calling thread and on every OpenMP thread torch
    computes on: a team as large as the most threads torch has had while rnnmem set the mode
    (an idle thread of a larger earlier team keeps no stale mode). RuntimeError where the CPU
    cannot flush (torch says so) and flushing is asked."""
    global _flushing, _team
    with _lock:
        if not torch.set_flush_denormal(enabled) and enabled:
            raise RuntimeError("this CPU cannot flush subnormal numbers (torch.set_flush_"
                               "denormal: no SSE3): set trainer.flush_denormal=false")
        _team = max(_team, torch.get_num_threads())
        runtime = _openmp_runtime() if _team > 1 else None
        if runtime is not None:
            runtime.GOMP_parallel(_REGIONS[enabled], None, ctypes.c_uint(_team),
                                  ctypes.c_uint(0))
        elif _team > 1 and enabled:
            _warn_calling_thread_only()
        _flushing = enabled


@functools.cache
def _warn_calling_thread_only() -> None:
    log.warning("no OpenMP runtime found in this process: subnormals are flushed on the calling "
                "thread only, not on torch's other %d threads (threads=1 flushes every step "
                "entirely)", torch.get_num_threads() - 1)


@functools.cache
def can_flush() -> bool:
    """Whether this CPU can flush subnormals (torch.set_flush_denormal says so: SSE3); asked
    once, on the calling thread, whose mode is then set back to rnnmem's."""
    with _lock:
        able = torch.set_flush_denormal(True)
        torch.set_flush_denormal(_flushing)
    return able


@contextmanager
def _in_mode(enabled: bool) -> Iterator[None]:
    """Flushing `enabled` inside; the mode before it after, also on an exception."""
    if _flushing == enabled:
        yield
        return
    set_flushing(enabled)
    try:
        yield
    finally:
        set_flushing(not enabled)


@contextmanager
def training(enabled: bool) -> Iterator[None]:
    """Flush subnormals to zero inside when `enabled` (else change nothing; RuntimeError where
    the CPU cannot flush); the previous mode after, also on an exception."""
    with _in_mode(True) if enabled else nullcontext():
        yield


@contextmanager
def flushed() -> Iterator[None]:
    """Flush subnormals to zero inside, whatever the caller set, where the CPU can (where it
    cannot, nothing changes: numbers below 1.2e-38 are kept, and it is slower); the caller's mode
    after."""
    with _in_mode(True) if can_flush() else nullcontext():
        yield


@contextmanager
def exact() -> Iterator[None]:
    """No flushing inside, whatever the caller set; the caller's mode after."""
    with _in_mode(False):
        yield
