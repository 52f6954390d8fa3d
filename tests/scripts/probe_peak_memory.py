"""Peak anonymous memory (MiB) that one float64 probe of a 1-layer LSTM adds, in a fresh process.

    python probe_peak_memory.py probe|bare HIDDEN LENGTH BATCH

`probe` runs `rnnmem.measures.probe.probe` (gate statistics included); `bare` only the same float64
unrolled pass and its state and input gradients, without gates: the floor any probe pays.
A thread samples RssAnon (the process's own heap, not the shared libraries' pages, which a
busy machine may evict) every millisecond. Prints `<MiB before> <peak MiB during the work>`.
"""

import sys
import threading
from pathlib import Path

import torch

from rnnmem.measures.probe import float64_twin, probe
from rnnmem.models import RecurrentNet
from rnnmem.tasks import make_task


def anonymous_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    raise KeyError("RssAnon")


class PeakSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = anonymous_mib()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.001):
            self.peak = max(self.peak, anonymous_mib())


def main() -> None:
    mode, hidden, length, batch = sys.argv[1], *map(int, sys.argv[2:])
    torch.set_num_threads(1)
    torch.manual_seed(0)
    task = make_task("adding", length)
    net = RecurrentNet("lstm", 2, hidden, depth=1, num_outputs=1, per_step_output=False)
    x, y = task.sample(batch, torch.Generator().manual_seed(0))
    before = anonymous_mib()
    sampler = PeakSampler()
    sampler.start()
    if mode == "probe":
        probe(net, task, x, y, chunk_size=batch)
    else:
        twin = float64_twin(net)
        xd = x.double().requires_grad_(True)
        out = twin.unrolled(xd)
        loss = task.memory_loss(out.output, y.double())
        torch.autograd.grad(loss, [*out.h[0][0], *out.c[0][0], xd])
    sampler.done.set()
    sampler.join()
    print(f"{before:.1f} {max(sampler.peak, anonymous_mib()):.1f}")


if __name__ == "__main__":
    main()
