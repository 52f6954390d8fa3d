"""`make bench`: what the harness costs, measured side by side in one run.

Every comparison alternates its two sides, repeats them, and reports medians and their ratio:

- harness overhead: training steps/s of an rnnmem run (Lightning, callbacks, logging) against a
  hand-written PyTorch loop (cuDNN's fused kernels on a GPU) with the same model, batch,
  optimiser, clipping and on-device data, per cell at the default sweep's small size (32 units,
  64 sequences, T = 10) and a large one (128 units, 128 sequences, T = 50)
  (goal: ratio >= 0.95 at both);
- job packing: the wall time of a fixed amount of work, 8 small jobs of N steps each (5000 on a
  GPU, 500 on a CPU), run 1, 2, 4 and 8 at a time by the local launcher on one GPU (on a
  CPU-only machine: on its cores, one torch thread each): the speed-up over one at a time is
  what `jobs_per_gpu` should be set from;
- determinism: the plain loop's steps/s with CUDA's deterministic kernels against without
  (CUDA only: on the CPU `trainer.deterministic` switches nothing);
- probe overhead: time in the gradient probe per training time at the paper preset's probe
  interval, item memory's gradient view included (goal: <= 5%);
- heavy probe: one warm probe of the paper preset's heaviest run (3-layer bidirectional LSTM,
  128 units, copy task T = 1000, 128 sequences) at probe.chunk_size 32 and 128; on a CPU the
  length is scaled down (`--heavy-probe-len`, default 20) so that the bench stays runnable;
- fixed cost per run: Lightning set-up, W&B init and finish, held-out sets, record writing, a
  one-step run in a warm process (goal: <= 2 s);
- sweep throughput: jobs/hour of the smoke sweep with the parallel launcher against one job at a
  time (goal: >= 1.7x on 2 cores);
- unrolled vs fused: forward+backward time of the probe's unrolled path against the fused
  module (reported: why training uses the fused path and the probe only every N steps);
- modern: per linear diagonal cell (minGRU, minLSTM, LRU, S6), ms per training step (forward,
  backward, clipping, Adam) of its step path (the probe's unrolled loop), its parallel path (the
  scan it trains with) and the fused LSTM of the same hidden size, at T = 100 and 1000, the
  three alternated in rotating order and repeated; medians and ratios;
- flush: ms per training step (sample, forward, backward, clip, Adam) without and with subnormal
  floats flushed to zero (`trainer.flush_denormal`, `rnnmem.models.denormals`), from the same
  initial weights, for the tanh RNN at T = 200 and the LSTM at T = 1000 on the adding problem,
  at the large size (128 units, 128 sequences): the speed that the option's default is chosen
  from.

TF32 is off and, on CUDA, deterministic kernels are on (the harness's defaults) from the start,
for both sides of every comparison.

Usage: python benchmarks/bench.py [--reps 5] [--out benchmarks/results.json] [--quick]
       [--only harness,jobs,...] [--jobs-steps N] [--heavy-probe-len T] [--modern-lengths ..]
       [--flush-steps N]
       (make bench ARGS="--quick --reps 3 --only harness")
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from rnnmem import hardware
from rnnmem.config import register_config
from rnnmem.measures.probe import probe
from rnnmem.models import CELLS as REGISTERED_CELLS
from rnnmem.models import RecurrentNet, denormals
from rnnmem.models.scan import ScanCell
from rnnmem.tasks import make_task
from rnnmem.train import train_one
from rnnmem.training import precision

ROOT = Path(__file__).resolve().parents[1]
CELLS = tuple(REGISTERED_CELLS)  # every registered cell, fused or not
# (hidden units, sequences per batch, T): the default sweep's size and a large one
SIZES = {"small": (32, 64, 10), "large": (128, 128, 50)}
CONCURRENT_JOBS = (1, 2, 4, 8)
PROBE_GOAL = 0.05  # probe time per training time at the paper preset's interval
PACKED_JOBS = 8  # the fixed work of the packing measurement: this many jobs, N steps each
# the paper preset's heaviest probe: (cell, depth, bidirectional, hidden, task, T, sequences)
HEAVY_PROBE = ("lstm", 3, True, 128, "copy", 1000, 128)
# (cell, T) of the flush section, at the large size: where float32 gradients turn subnormal
FLUSH_RUNS = (("rnn", 200), ("lstm", 1000))
SECTIONS = ("harness", "jobs", "determinism", "step_overhead", "probe", "heavy_probe",
            "fixed_cost", "sweep", "unrolled", "modern", "flush")
# the modern section: the linear diagonal cells, against the fused LSTM of their hidden size
MODERN_CELLS = tuple(name for name, spec in REGISTERED_CELLS.items()
                     if issubclass(spec, ScanCell))
MODERN_SIZE = (64, 32)  # (hidden units, sequences per batch)
MODERN_LENGTHS = (100, 1000)
precision.deterministic_environment(True)  # before anything calls cuBLAS
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def sync() -> None:
    """Wait for queued GPU work, so that host clocks measure it."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def config(*overrides: str):
    register_config()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=list(overrides))


def median_pair(first: Callable[[], float], second: Callable[[], float], reps: int
                ) -> tuple[float, float]:
    """Medians of `reps` measurements of each of two competitors, in the order A B, B A, A B,
    ... so that a drift of the machine's speed favours neither."""
    a, b = [], []
    for rep in range(reps):
        if rep % 2:
            b.append(second())
            a.append(first())
        else:
            a.append(first())
            b.append(second())
    return statistics.median(a), statistics.median(b)


def plain_steps_per_sec(cell: str, task_name: str, seq_len: int, hidden: int, batch: int,
                        steps: int, seed: int = 0) -> float:
    """The hand-written loop: sample on the device, forward, loss, backward, clip, Adam."""
    torch.manual_seed(seed)
    task = make_task(task_name, seq_len)
    net = RecurrentNet(cell, task.input_size, hidden, depth=1, num_outputs=task.num_outputs,
                       per_step_output=task.per_step_output)
    net = net.to(DEVICE)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    generator = torch.Generator(device=DEVICE).manual_seed(seed)
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        x, y = task.sample(batch, generator)
        loss = task.loss(net(x), y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimiser.step()
    sync()
    return steps / (time.perf_counter() - start)


def harness_run(workdir: Path, *overrides: str) -> dict:
    cfg = config("logger=none", "trainer.progress_bar=false", "data.val_size=256",
                 "data.test_size=256", f"threads={torch.get_num_threads()}", *overrides)
    return train_one(cfg, Path(tempfile.mkdtemp(dir=workdir)))


def bench_harness(workdir: Path, reps: int, sizes: dict[str, tuple[int, int, int]],
                  seconds: float) -> list[dict]:
    """rnnmem against the plain loop at each size, each measurement about `seconds` long. The
    run's schedules are the default sweep's (logging every 50 steps), so the harness takes the
    steps per batch a sweep would (`steps_per_batch` in the rows)."""
    rows = []
    for size, (hidden, batch, seq_len) in sizes.items():
        for cell in CELLS:
            rate = plain_steps_per_sec(cell, "adding", seq_len, hidden, batch, 10)
            steps = 50 * int(min(max(seconds * rate, 100), 2000) // 50)  # >= 2 batches
            overrides = (f"model={cell}", f"task.seq_len={seq_len}", "task=adding",
                         f"model.hidden_size={hidden}", f"data.batch_size={batch}",
                         f"trainer.max_steps={steps}", f"trainer.val_every_n_steps={steps}",
                         "trainer.log_every_n_steps=50", "probe.enabled=false")
            runs: list[dict] = []

            def harness(overrides: tuple[str, ...] = overrides, runs: list = runs) -> float:
                runs.append(harness_run(workdir, *overrides))
                return runs[-1]["train_steps_per_sec"]

            plain, rnnmem = median_pair(
                partial(plain_steps_per_sec, cell, "adding", seq_len, hidden, batch, steps),
                harness, reps,
            )
            rows.append({"size": size, "cell": cell, "task": "adding", "seq_len": seq_len,
                         "hidden": hidden, "batch": batch, "steps": steps,
                         "steps_per_batch": runs[-1]["steps_per_batch"],
                         "plain_steps_per_sec": plain, "rnnmem_steps_per_sec": rnnmem,
                         "ratio": rnnmem / plain})
            print(f"  harness  {size:5s} {cell:4s} H={hidden:<3d} B={batch:<3d} T={seq_len:<4d} "
                  f"plain {plain:7.1f}/s  rnnmem {rnnmem:7.1f}/s "
                  f"(k={runs[-1]['steps_per_batch']})  ratio {rnnmem / plain:.3f}", flush=True)
    return rows


def packed_jobs(workdir: Path, at_once: int, jobs: int, steps: int) -> dict:
    """`jobs` identical small runs (seeds 0..jobs-1) of `steps` steps, `at_once` at a time (the
    local launcher's n_jobs), all on the first GPU (or on the CPU, one torch thread each): the
    seconds of the whole sweep command, and from the first job's start to the last job's end."""
    hidden, batch, seq_len = SIZES["small"]
    sweep_dir = Path(tempfile.mkdtemp(dir=workdir))
    args = [sys.executable, "-m", "rnnmem.train", "-m", "hydra/launcher=local", "logger=none",
            "model=lstm", "task=adding", f"task.seq_len={seq_len}",
            f"model.hidden_size={hidden}", f"data.batch_size={batch}",
            f"trainer.max_steps={steps}", f"trainer.val_every_n_steps={steps}",
            "trainer.progress_bar=false", "probe.enabled=false", "data.val_size=256",
            "data.test_size=256", "threads=1", f"hydra.launcher.n_jobs={at_once}",
            f"seed={','.join(str(seed) for seed in range(jobs))}",
            f"hydra.sweep.dir={sweep_dir}"]
    env = dict(os.environ)
    if DEVICE.type == "cuda":
        env["CUDA_VISIBLE_DEVICES"] = env.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]
        env.pop(hardware.GPU_LIST_VARIABLE, None)
    start = time.perf_counter()
    subprocess.run(args, cwd=ROOT, env=env, check=True, capture_output=True)
    command = time.perf_counter() - start
    records = [json.loads(p.read_text()) for p in sweep_dir.rglob("record.json")]
    assert len(records) == jobs and all(r["train_steps"] == steps for r in records), records
    return {"devices": sorted({r["device"] for r in records}), "command_seconds": command,
            "seconds": max(r["finished_at"] for r in records)
            - min(r["started_at"] for r in records)}


def bench_jobs(workdir: Path, reps: int, counts: tuple[int, ...], jobs: int, steps: int
               ) -> list[dict]:
    """The same work (`jobs` jobs of `steps` steps) run `counts` at a time on one device: wall
    time, and its speed-up over one at a time (the ratio of wall times, the work being equal),
    from the first job's start to the last's end and for the whole command (Python start,
    Hydra and the workers' start included)."""
    rows = []
    for at_once in counts:
        measured = [packed_jobs(workdir, at_once, jobs, steps) for _ in range(reps)]
        rows.append({"at_once": at_once, "jobs": jobs, "steps": steps,
                     "devices": measured[0]["devices"],
                     "seconds": statistics.median(m["seconds"] for m in measured),
                     "command_seconds": statistics.median(m["command_seconds"]
                                                          for m in measured)})
    for row in rows:
        row["speedup"] = rows[0]["seconds"] / row["seconds"]
        row["speedup_command"] = rows[0]["command_seconds"] / row["command_seconds"]
        print(f"  jobs     {jobs} x {steps} steps, {row['at_once']} at a time on {DEVICE.type}: "
              f"{row['seconds']:6.1f} s ({row['speedup']:.2f}x one at a time), whole command "
              f"{row['command_seconds']:6.1f} s ({row['speedup_command']:.2f}x)", flush=True)
    return rows


def bench_determinism(reps: int) -> list[dict]:
    """The plain loop at the large size with CUDA's deterministic kernels (cuDNN deterministic,
    torch.use_deterministic_algorithms) against without, per cell; left on afterwards."""
    if DEVICE.type != "cuda":
        print("  determinism: skipped on the CPU (trainer.deterministic switches nothing there)",
              flush=True)
        return []
    hidden, batch, seq_len = SIZES["large"]
    rows = []

    def steps_per_sec(cell: str, deterministic: bool) -> float:
        precision.set_determinism(deterministic, DEVICE)
        return plain_steps_per_sec(cell, "adding", seq_len, hidden, batch, 300)

    for cell in CELLS:
        free, fixed = median_pair(partial(steps_per_sec, cell, False),
                                  partial(steps_per_sec, cell, True), reps)
        rows.append({"cell": cell, "hidden": hidden, "batch": batch, "seq_len": seq_len,
                     "steps_per_sec": free, "deterministic_steps_per_sec": fixed,
                     "ratio": fixed / free})
        print(f"  determinism {cell:4s} H={hidden} B={batch} T={seq_len}: {free:7.1f}/s free, "
              f"{fixed:7.1f}/s deterministic ({fixed / free:.3f})", flush=True)
    precision.set_determinism(True, DEVICE)
    return rows


def bench_step_overhead(workdir: Path, reps: int) -> dict:
    """Lightning's own cost per optimiser step, with the steps per batch a default-sweep run
    takes (log every 50 steps: k = 10) and with one step per batch: both against the plain loop
    on a model that computes nothing worth timing (4 units, 2 steps, 8 sequences), 1000 steps."""
    overrides = ("model=rnn", "task=adding", "task.seq_len=2", "model.hidden_size=4",
                 "data.batch_size=8", "trainer.max_steps=1000",
                 "trainer.val_every_n_steps=1000", "trainer.log_every_n_steps=50",
                 "probe.enabled=false")
    runs: list[dict] = []

    def harness(*extra: str) -> float:
        runs.append(harness_run(workdir, *overrides, *extra))
        return runs[-1]["train_steps_per_sec"]

    plain, amortised = median_pair(partial(plain_steps_per_sec, "rnn", "adding", 2, 4, 8, 1000),
                                   harness, reps)
    k = runs[-1]["steps_per_batch"]
    plain_again, one = median_pair(partial(plain_steps_per_sec, "rnn", "adding", 2, 4, 8, 1000),
                                   partial(harness, "trainer.steps_per_batch=1"), reps)
    row = {"plain_ms": 1e3 / plain, "rnnmem_ms": 1e3 / amortised, "steps_per_batch": k,
           "overhead_ms": 1e3 / amortised - 1e3 / plain,
           "overhead_ms_one_step_per_batch": 1e3 / one - 1e3 / plain_again}
    print(f"  step     empty model: plain {row['plain_ms']:.2f} ms, rnnmem {row['rnnmem_ms']:.2f}"
          f" ms per step: Lightning adds {row['overhead_ms']:.2f} ms at k={k}, "
          f"{row['overhead_ms_one_step_per_batch']:.2f} ms at k=1", flush=True)
    return row


def bench_probe(workdir: Path, reps: int, lengths: tuple[int, ...]) -> list[dict]:
    """Steady-state probe overhead at the paper preset's model (128 units, 128 sequences, probe
    batch 128), on both tasks (the probe includes item memory's gradient view: derivatives on
    adding, a swap per sequence on copy): one probe per the paper's `probe.every_n_steps`
    training steps."""
    rows = []
    every = int(OmegaConf.load(ROOT / "conf" / "experiment" / "paper.yaml").probe.every_n_steps)
    for task, seq_len, cell in itertools.product(("adding", "copy"), lengths, CELLS):
        ratios, probe_s, step_s = [], [], []
        for _ in range(min(reps, 3)):
            record = harness_run(
                workdir, f"model={cell}", f"task={task}", f"task.seq_len={seq_len}",
                "model.hidden_size=128", "data.batch_size=128", "probe.batch_size=128",
                "trainer.max_steps=20", "trainer.val_every_n_steps=20",
                "trainer.log_every_n_steps=10", "probe.every_n_steps=10",
            )
            per_probe = record["probe"]["seconds"] / len(record["probe"]["steps"])
            per_step = record["train_seconds"] / record["train_steps"]
            probe_s.append(per_probe)
            step_s.append(per_step)
            ratios.append(per_probe / (every * per_step))
        row = {"task": task, "cell": cell, "seq_len": seq_len, "every_n_steps": every,
               "probe_seconds": statistics.median(probe_s),
               "step_seconds": statistics.median(step_s),
               "overhead": statistics.median(ratios)}
        rows.append(row)
        print(f"  probe    {task:6s} {cell:4s} T={seq_len:<4d} "
              f"{row['probe_seconds'] * 1e3:7.1f} ms per probe, "
              f"{row['step_seconds'] * 1e3:6.2f} ms per step: overhead "
              f"{row['overhead']:.1%} at every {every} steps", flush=True)
    return rows


def bench_heavy_probe(reps: int, seq_len: int, chunks: tuple[int, ...] = (32, 128)) -> list[dict]:
    """One probe of HEAVY_PROBE's network (at `seq_len` instead of its T where the device asks
    for less) on its probe batch, timed warm: a first probe at each chunk size, untimed, then
    the median of `reps`."""
    cell, depth, bidirectional, hidden, task_name, _, batch = HEAVY_PROBE
    task = make_task(task_name, seq_len)
    torch.manual_seed(0)
    net = RecurrentNet(cell, task.input_size, hidden, depth=depth, num_outputs=task.num_outputs,
                       per_step_output=task.per_step_output, bidirectional=bidirectional).to(DEVICE)
    x, y = (t.to(DEVICE) for t in task.sample(batch, torch.Generator().manual_seed(0)))
    rows = []
    for chunk in chunks:
        def timed(chunk: int = chunk) -> float:
            sync()
            start = time.perf_counter()
            probe(net, task, x, y, chunk_size=chunk)
            sync()
            return time.perf_counter() - start

        timed()  # warm: kernels loaded, the allocator's cache filled
        seconds = statistics.median(timed() for _ in range(reps))
        rows.append({"cell": cell, "depth": depth, "bidirectional": bidirectional,
                     "hidden": hidden, "task": task_name, "seq_len": seq_len, "batch": batch,
                     "chunk_size": chunk, "seconds": seconds})
        print(f"  heavy probe {depth}-layer bi {cell} H={hidden} {task_name} T={seq_len} "
              f"B={batch} chunk {chunk}: {seconds:.2f} s per probe (warm)", flush=True)
    return rows


def bench_fixed_cost(workdir: Path, reps: int) -> dict:
    """Wall time of a whole one-step run with W&B (offline, init to finish) and the probe, in a
    warm process: what every job of a sweep pays besides training."""
    overrides = ("logger=wandb", "trainer.max_steps=1", "trainer.val_every_n_steps=1",
                 "task=adding", "task.seq_len=20", "model.hidden_size=32")
    harness_run(workdir, *overrides)  # warm: imports, W&B service, held-out sets built once
    walls = []
    for _ in range(reps):
        start = time.perf_counter()
        harness_run(workdir, *overrides)
        walls.append(time.perf_counter() - start)
    row = {"seconds": statistics.median(walls), "all": walls}
    print(f"  fixed    {row['seconds']:.2f} s per run (median of {reps})", flush=True)
    return row


SWEEP_GRID = ("model.cell=rnn,lstm,gru", "task.seq_len=6,8", "model.depth=1,2",
              "trainer.max_steps=200")


def sweep_seconds(workdir: Path, n_jobs: int) -> tuple[float, float]:
    """The smoke sweep over SWEEP_GRID: (seconds of the whole command, seconds from the first
    job's start to the last job's end, which excludes the Python start, Hydra's up-front
    composition of every job's config and the start of the parallel workers)."""
    sweep_dir = Path(tempfile.mkdtemp(dir=workdir))
    args = [sys.executable, "-m", "rnnmem.train", "+experiment=smoke", *SWEEP_GRID,
            f"hydra.launcher.n_jobs={n_jobs}", f"hydra.sweep.dir={sweep_dir}"]
    start = time.perf_counter()
    subprocess.run(args, cwd=ROOT, check=True, capture_output=True)
    command = time.perf_counter() - start
    records = [json.loads(p.read_text()) for p in sweep_dir.rglob("record.json")]
    jobs = max(r["finished_at"] for r in records) - min(r["started_at"] for r in records)
    return command, jobs


def bench_sweep(workdir: Path, reps: int) -> dict:
    jobs = 12
    serial, parallel = [], []
    for _ in range(reps):
        serial.append(sweep_seconds(workdir, 1))
        parallel.append(sweep_seconds(workdir, -1))
    serial_cmd, parallel_cmd = (statistics.median(s[0] for s in runs)
                                for runs in (serial, parallel))
    serial_jobs, parallel_jobs = (statistics.median(s[1] for s in runs)
                                  for runs in (serial, parallel))
    row = {"jobs": jobs, "cores": len(os.sched_getaffinity(0)),
           "serial_jobs_per_hour": jobs * 3600 / serial_jobs,
           "parallel_jobs_per_hour": jobs * 3600 / parallel_jobs,
           "ratio": serial_jobs / parallel_jobs,
           "serial_command_seconds": serial_cmd, "parallel_command_seconds": parallel_cmd,
           "command_ratio": serial_cmd / parallel_cmd}
    print(f"  sweep    {jobs} smoke jobs: {row['serial_jobs_per_hour']:.0f} jobs/h one at a time, "
          f"{row['parallel_jobs_per_hour']:.0f} jobs/h parallel: {row['ratio']:.2f}x; whole "
          f"command {serial_cmd:.1f} s vs {parallel_cmd:.1f} s: {row['command_ratio']:.2f}x",
          flush=True)
    return row


def fwd_bwd_seconds(net: RecurrentNet, x: torch.Tensor, unrolled: bool, reps: int) -> float:
    times = []
    for _ in range(reps):
        sync()
        start = time.perf_counter()
        out = net.unrolled(x).output if unrolled else net(x)
        out.square().mean().backward()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_unrolled(reps: int, lengths: tuple[int, ...]) -> list[dict]:
    rows = []
    torch.manual_seed(0)
    for seq_len in lengths:
        for cell in CELLS:
            net = RecurrentNet(cell, 2, 128, depth=1, num_outputs=1,
                               per_step_output=False).to(DEVICE)
            x = torch.rand(64, seq_len, 2, device=DEVICE)
            fwd_bwd_seconds(net, x, True, 1)
            fused = fwd_bwd_seconds(net, x, False, reps + 2)
            unrolled = fwd_bwd_seconds(net, x, True, reps + 2)
            rnn = next((row["fused_seconds"] for row in rows
                        if row["cell"] == "rnn" and row["seq_len"] == seq_len), fused)
            rows.append({"cell": cell, "seq_len": seq_len, "fused_seconds": fused,
                         "unrolled_seconds": unrolled, "ratio": unrolled / fused,
                         "fused_kernel": REGISTERED_CELLS[cell].fused is not None,
                         "training_vs_rnn": fused / rnn})
            print(f"  unrolled {cell:4s} T={seq_len:<4d} training {fused * 1e3:7.2f} ms  "
                  f"unrolled {unrolled * 1e3:7.2f} ms  {unrolled / fused:5.1f}x  "
                  f"training / fused rnn {fused / rnn:5.1f}x", flush=True)
    return rows


def median_each(competitors: dict[str, Callable[[], float]], reps: int) -> dict[str, float]:
    """Medians of `reps` measurements of each competitor, in rotating order (A B C, B C A,
    C A B, ...), so that a drift of the machine's speed favours none."""
    names, measured = list(competitors), {name: [] for name in competitors}
    for rep in range(reps):
        for name in names[rep % len(names):] + names[: rep % len(names)]:
            measured[name].append(competitors[name]())
    return {name: statistics.median(values) for name, values in measured.items()}


def training_step_ms(cell: str, path: str, seq_len: int, steps: int) -> float:
    """ms per training step (sample, forward, loss, backward, clip at 1, Adam) of a one-layer
    net of `cell` at MODERN_SIZE on adding T = `seq_len`, through `path`: "parallel" (net(x),
    the training path), "step" (net.unrolled(x).output, the probe's loop); one untimed step
    first, then the mean of `steps`."""
    hidden, batch = MODERN_SIZE
    task = make_task("adding", seq_len)
    torch.manual_seed(0)
    net = RecurrentNet(cell, task.input_size, hidden, num_outputs=task.num_outputs,
                       per_step_output=task.per_step_output).to(DEVICE)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    generator = torch.Generator(device=DEVICE).manual_seed(0)

    def step() -> None:
        x, y = task.sample(batch, generator)
        output = net.unrolled(x).output if path == "step" else net(x)
        loss = task.loss(output, y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimiser.step()

    step()
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return 1e3 * (time.perf_counter() - start) / steps


def bench_modern(reps: int, lengths: tuple[int, ...]) -> list[dict]:
    """Per cell of MODERN_CELLS and length: its step path, its parallel path and the fused
    LSTM (`median_each`), each measurement a few training steps (5 at T <= 100, else 2)."""
    rows = []
    hidden, batch = MODERN_SIZE
    for seq_len, cell in itertools.product(lengths, MODERN_CELLS):
        steps = 5 if seq_len <= 100 else 2
        ms = median_each({
            "step": partial(training_step_ms, cell, "step", seq_len, steps),
            "parallel": partial(training_step_ms, cell, "parallel", seq_len, steps),
            "lstm": partial(training_step_ms, "lstm", "parallel", seq_len, steps),
        }, reps)
        row = {"cell": cell, "seq_len": seq_len, "hidden": hidden, "batch": batch,
               "step_ms": ms["step"], "parallel_ms": ms["parallel"], "lstm_ms": ms["lstm"],
               "step_over_parallel": ms["step"] / ms["parallel"],
               "parallel_over_lstm": ms["parallel"] / ms["lstm"]}
        rows.append(row)
        print(f"  modern   {cell:7s} H={hidden} B={batch} T={seq_len:<4d} ms per training step: "
              f"step path {ms['step']:8.1f}  parallel {ms['parallel']:8.1f}  fused lstm "
              f"{ms['lstm']:7.1f}  step/parallel {row['step_over_parallel']:5.2f}x  "
              f"parallel/lstm {row['parallel_over_lstm']:5.2f}x", flush=True)
    return rows


def flush_step_ms(cell: str, seq_len: int, flush: bool, steps: int) -> float:
    """ms per plain-loop training step on adding T = `seq_len` (128 units, 128 sequences, Adam,
    clip 1), from the same initial weights and batches every time, after one warm-up step;
    subnormals flushed to zero in the steps when `flush`."""
    hidden, batch, _ = SIZES["large"]
    torch.manual_seed(0)
    task = make_task("adding", seq_len)
    net = RecurrentNet(cell, task.input_size, hidden, depth=1, num_outputs=task.num_outputs,
                       per_step_output=task.per_step_output).to(DEVICE)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    generator = torch.Generator(device=DEVICE).manual_seed(0)

    def step() -> None:
        x, y = task.sample(batch, generator)
        loss = task.loss(net(x), y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimiser.step()

    with denormals.training(flush):
        step()
        sync()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
    return (time.perf_counter() - start) / steps * 1e3


def bench_flush(reps: int, steps: int) -> list[dict]:
    rows = []
    hidden, batch, _ = SIZES["large"]
    for cell, seq_len in FLUSH_RUNS:
        off, on = median_pair(partial(flush_step_ms, cell, seq_len, False, steps),
                              partial(flush_step_ms, cell, seq_len, True, steps), reps)
        rows.append({"cell": cell, "seq_len": seq_len, "hidden": hidden, "batch": batch,
                     "steps": steps, "off_ms": off, "on_ms": on, "speedup": off / on})
        print(f"  flush {cell:4s} T={seq_len:<5d} {off:8.1f} ms per step, flushed {on:8.1f} ms:"
              f" {off / on:5.1f}x", flush=True)
    return rows


def report(results: dict) -> str:
    """The table of ratios against the goals."""
    lines = ["| measurement | median | goal | met |", "|---|---|---|---|"]
    for row in results.get("harness", []):
        lines.append(f"| rnnmem / plain loop steps/s, {row['size']} {row['cell']} "
                     f"H={row['hidden']} B={row['batch']} T={row['seq_len']} "
                     f"(k={row['steps_per_batch']}) | {row['ratio']:.3f} | >= 0.95 | "
                     f"{'yes' if row['ratio'] >= 0.95 else 'NO'} |")
    for row in results.get("jobs", []):
        lines.append(f"| {row['jobs']} small jobs x {row['steps']} steps, {row['at_once']} at a "
                     f"time on one {DEVICE.type}: speed-up over one at a time, first start to "
                     f"last end (whole command) | {row['speedup']:.2f}x "
                     f"({row['speedup_command']:.2f}x) | (reported) | |")
    for row in results.get("determinism", []):
        lines.append(f"| deterministic / free CUDA kernels, plain loop steps/s, {row['cell']} "
                     f"H={row['hidden']} B={row['batch']} T={row['seq_len']} | "
                     f"{row['ratio']:.3f} | (reported) | |")
    if "step_overhead" in results:
        lines.append(f"| Lightning's cost per training step (ms, empty model, k="
                     f"{results['step_overhead']['steps_per_batch']}) | "
                     f"{results['step_overhead']['overhead_ms']:.2f} | (reported) | |")
    for row in results.get("probe", []):
        lines.append(f"| probe overhead, {row.get('task', 'adding')} {row['cell']} "
                     f"T={row['seq_len']}, every {row['every_n_steps']} steps | "
                     f"{row['overhead']:.1%} | <= {PROBE_GOAL:.0%} | "
                     f"{'yes' if row['overhead'] <= PROBE_GOAL else 'NO'} |")
    for row in results.get("heavy_probe", []):
        lines.append(f"| heavy probe (warm), {row['depth']}-layer bi {row['cell']} "
                     f"H={row['hidden']} {row['task']} T={row['seq_len']} B={row['batch']}, "
                     f"chunk {row['chunk_size']} (s) | {row['seconds']:.2f} | (reported) | |")
    if "fixed_cost" in results:
        fixed = results["fixed_cost"]["seconds"]
        lines.append(f"| fixed cost per run (s) | {fixed:.2f} | <= 2 | "
                     f"{'yes' if fixed <= 2 else 'NO'} |")
    if "sweep" in results:
        sweep = results["sweep"]
        lines.append(f"| sweep throughput (jobs/h), parallel / one at a time ({sweep['cores']} "
                     f"cores) | {sweep['ratio']:.2f}x | >= 1.7x | "
                     f"{'yes' if sweep['ratio'] >= 1.7 else 'NO'} |")
        lines.append(f"| same, whole `{sweep['jobs']}`-job command with Python start | "
                     f"{sweep['command_ratio']:.2f}x | (reported) | |")
    for row in results.get("unrolled", []):
        lines.append(f"| unrolled / training path fwd+bwd, {row['cell']} T={row['seq_len']} | "
                     f"{row['ratio']:.1f}x | (reported) | |")
    for row in results.get("unrolled", []):
        path = ("fused kernel" if row["fused_kernel"] else "parallel scan"
                if row["cell"] in MODERN_CELLS else "no fused kernel: unrolled loop")
        lines.append(f"| training fwd+bwd / fused rnn's, {row['cell']} ({path}) "
                     f"T={row['seq_len']} | {row['training_vs_rnn']:.1f}x | (reported) | |")
    for row in results.get("modern", []):
        lines.append(f"| ms per training step, {row['cell']} H={row['hidden']} "
                     f"B={row['batch']} T={row['seq_len']}: step path / parallel path / fused "
                     f"lstm | {row['step_ms']:.1f} / {row['parallel_ms']:.1f} / "
                     f"{row['lstm_ms']:.1f} | (reported) | |")
        lines.append(f"| step path / parallel path, {row['cell']} T={row['seq_len']} | "
                     f"{row['step_over_parallel']:.2f}x | (reported) | |")
        lines.append(f"| parallel path / fused lstm, {row['cell']} T={row['seq_len']} | "
                     f"{row['parallel_over_lstm']:.2f}x | (reported) | |")
    for row in results.get("flush", []):
        lines.append(f"| ms per training step without / with subnormals flushed, {row['cell']} "
                     f"H={row['hidden']} B={row['batch']} adding T={row['seq_len']} | "
                     f"{row['off_ms']:.0f} / {row['on_ms']:.0f} ({row['speedup']:.1f}x) | "
                     f"(reported) | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.json")
    parser.add_argument("--quick", action="store_true",
                        help="shorter measurements, one probe length, 1, 2 and 4 jobs")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections among: {', '.join(SECTIONS)}")
    parser.add_argument("--jobs-steps", type=int, default=None,
                        help="steps of each packed job (default: 5000 on a GPU, 500 on a CPU; "
                             "300 with --quick)")
    parser.add_argument("--modern-lengths", default=",".join(map(str, MODERN_LENGTHS)),
                        help="comma-separated T of the modern section (default: "
                             f"{','.join(map(str, MODERN_LENGTHS))})")
    parser.add_argument("--flush-steps", type=int, default=None,
                        help="training steps per flush measurement (default 5; 2 with --quick)")
    parser.add_argument("--heavy-probe-len", type=int, default=None,
                        help=f"T of the heavy probe (default: {HEAVY_PROBE[5]} on a GPU, 50 on "
                             f"a CPU; 10 with --quick)")
    args = parser.parse_args()
    only = args.only.split(",")
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        parser.error(f"--only {','.join(unknown)}: not among {', '.join(SECTIONS)}")
    os.environ.setdefault("WANDB_MODE", "offline")
    lengths = (50,) if args.quick else (50, 200)
    seconds = 0.5 if args.quick else 1.5
    counts = CONCURRENT_JOBS[:3] if args.quick else CONCURRENT_JOBS
    on_gpu = DEVICE.type == "cuda"
    jobs_steps = args.jobs_steps or (300 if args.quick else 5000 if on_gpu else 500)
    modern_lengths = tuple(int(t) for t in args.modern_lengths.split(","))
    heavy_len = args.heavy_probe_len or (10 if args.quick else HEAVY_PROBE[5] if on_gpu else 20)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        os.environ.setdefault("RNNMEM_CACHE", str(workdir / "cache"))
        # One torch thread on both sides of every comparison: on a small, shared machine two
        # threads mostly add noise; both sides get the same setting either way.
        torch.set_num_threads(1)
        # once, before either side of any comparison: TF32 off (the harness's default) and,
        # on CUDA, deterministic kernels (trainer.deterministic's default)
        precision.set_tf32(False)
        precision.set_determinism(True, DEVICE)
        print(f"rnnmem bench on {DEVICE}: {args.reps} repetitions, torch {torch.__version__}, "
              f"{torch.get_num_threads()} thread per run", flush=True)
        run = {
            "harness": lambda: bench_harness(workdir, args.reps, SIZES, seconds),
            "jobs": lambda: bench_jobs(workdir, 1, counts,
                                       counts[-1] if args.quick else PACKED_JOBS, jobs_steps),
            "determinism": lambda: bench_determinism(args.reps),
            "step_overhead": lambda: bench_step_overhead(workdir, args.reps),
            "probe": lambda: bench_probe(workdir, args.reps, lengths),
            "heavy_probe": lambda: bench_heavy_probe(min(args.reps, 2), heavy_len),
            "fixed_cost": lambda: bench_fixed_cost(workdir, args.reps),
            "sweep": lambda: bench_sweep(workdir, 1 if args.quick else 2),
            "unrolled": lambda: bench_unrolled(args.reps, lengths),
            "modern": lambda: bench_modern(args.reps, modern_lengths),
            "flush": lambda: bench_flush(args.reps,
                                         args.flush_steps or (2 if args.quick else 5)),
        }
        results = {name: run[name]() for name in SECTIONS if name in only}
    results["seconds"] = time.perf_counter() - started
    results["device"] = (torch.cuda.get_device_name() if DEVICE.type == "cuda"
                         else f"cpu, {os.cpu_count()} cores")
    table = report(results)
    print("\n" + table + f"\n\nbench took {results['seconds']:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**results, "table": table}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
