"""Peak resident memory (MiB) of one float64 probe of a 1-layer LSTM, in a fresh process.

    python probe_peak_memory.py probe|bare HIDDEN LENGTH BATCH

`probe` runs `rnnmem.probe.probe` (gate statistics included); `bare` only the same float64
unrolled pass and its state and input gradients, without gates: the floor any probe pays.
Prints `<peak MiB before> <peak MiB after>`.
"""

import resource
import sys

import torch

from rnnmem.models import RecurrentNet
from rnnmem.probe import float64_twin, probe
from rnnmem.tasks import make_task


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    mode, hidden, length, batch = sys.argv[1], *map(int, sys.argv[2:])
    torch.set_num_threads(1)
    torch.manual_seed(0)
    task = make_task("adding", length)
    net = RecurrentNet("lstm", 2, hidden, 1, 1, False)
    x, y = task.sample(batch, torch.Generator().manual_seed(0))
    before = peak_mib()
    if mode == "probe":
        probe(net, task, x, y, chunk_size=batch)
    else:
        twin = float64_twin(net)
        xd = x.double().requires_grad_(True)
        out = twin.unrolled(xd)
        loss = task.memory_loss(out.output, y.double())
        torch.autograd.grad(loss, [*out.h[0][0], *out.c[0][0], xd])
    print(f"{before:.1f} {peak_mib():.1f}")


if __name__ == "__main__":
    main()
