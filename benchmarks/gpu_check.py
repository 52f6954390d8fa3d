"""The checks of benchmarks/gpu_check.sh: what a first run on a GPU box must show, as a table.

Each check runs the real entry point (`python -m rnnmem.train`) in fresh processes and reads
the records it leaves:

- placement: a local sweep of 2 jobs per visible GPU (jobs_per_gpu=2); every job trains on its
  process's `cuda:0` and the ledger (`<sweep>/.gpus/<host>/ledger.log`) spreads the worker
  processes over the GPUs, max - min <= 1 (one GPU: nothing to place, both jobs on it);
- precision: the dtype the recurrence computes in (`precision.recurrent_dtype`) under 32-true,
  and under bf16-mixed for every cell (refused on CUDA for the fused cuDNN cells, in one line);
  on CUDA also the dtype autocast gives nn.RNN/LSTM/GRU under bf16, the refusal's premise
  (float16: aten/src/ATen/cudnn/AutocastRNN.cpp);
- determinism: two identical runs, and the same run at 5 steps per batch, end with equal
  `weights_sha256`; the record's `device` is the training device (cuda:0 on a GPU);
- bench: `benchmarks/bench.py --only harness,jobs,determinism,heavy_probe` (CUDA only).

Checks that need CUDA say so and are skipped without it. Usage: see gpu_check.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
CUDA = torch.cuda.is_available()
TINY = ("logger=none", "trainer.progress_bar=false", "data.val_size=64", "data.test_size=64",
        "task=copy", "task.seq_len=10", "model.hidden_size=32", "trainer.max_steps=200",
        "trainer.val_every_n_steps=100", "trainer.log_every_n_steps=50",
        "probe.every_n_steps=100", "threads=1")
CELLS = ("rnn", "lstm", "gru")
BENCH = ("--only", "harness,jobs,determinism,heavy_probe", "--reps", "2", "--jobs-steps", "2000")


class Table:
    """Rows of (check, device, result, detail), printed as they come and as Markdown."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, check: str, result: str, detail: str, device: str | None = None) -> None:
        device = device or ("cuda" if CUDA else "cpu")
        self.rows.append((check, device, result, detail))
        print(f"[{result:7s}] {check} ({device}): {detail}", flush=True)

    def skip(self, check: str, why: str) -> None:
        self.add(check, "skipped", why, "-")

    def markdown(self) -> str:
        lines = ["| check | device | result | detail |", "|---|---|---|---|"]
        lines += [f"| {' | '.join(cell.replace('|', '/') for cell in row)} |"
                  for row in self.rows]
        return "\n".join(lines)


def train(out: Path, name: str, *overrides: str, sweep: bool = False
          ) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """`python -m rnnmem.train` with TINY and `overrides` into `out/name`; the records."""
    where = out / name
    place = f"hydra.sweep.dir={where}" if sweep else f"hydra.run.dir={where}"
    args = [sys.executable, "-m", "rnnmem.train", *(["-m"] if sweep else []), *TINY,
            *overrides, place]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, PYTHONWARNINGS="ignore"))
    records = [json.loads(p.read_text()) for p in sorted(where.rglob("record.json"))]
    return result, records


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def check_placement(table: Table, out: Path) -> None:
    if not CUDA:
        table.skip("placement over the visible GPUs", "needs CUDA (the CPU tests fake it: "
                   "tests/test_placement.py)")
        return
    gpus = torch.cuda.device_count()
    seeds = ",".join(str(seed) for seed in range(max(2, 2 * gpus)))
    result, records = train(out, "placement", "hydra/launcher=local", "jobs_per_gpu=2",
                            f"seed={seeds}", "probe.enabled=false", sweep=True)
    finished = [r for r in records if r.get("status") == "finished"]
    on_cuda = all(r.get("device") == "cuda:0" for r in finished)
    logs = list((out / "placement" / ".gpus").glob("*/ledger.log"))
    takes = Counter(json.loads(line)["gpu"] for log in logs for line in log.read_text().split(
        "\n") if line and json.loads(line)["event"] == "take")
    names = sorted({r["environment"]["device_name"] for r in finished})
    if gpus == 1:
        ok = result.returncode == 0 and len(finished) == 2 and on_cuda and not takes
        detail = f"1 GPU: nothing to place; {len(finished)}/2 jobs finished on cuda:0 ({names})"
    else:
        per_gpu = [takes.get(str(i), 0) for i in range(gpus)]
        ok = (result.returncode == 0 and len(finished) == 2 * gpus and on_cuda
              and max(per_gpu) - min(per_gpu) <= 1 and sum(per_gpu) > 0)
        detail = (f"{len(finished)}/{2 * gpus} jobs finished, each on its process's cuda:0; "
                  f"worker processes per GPU (ledger) {per_gpu}; {names}")
    table.add("placement over the visible GPUs", "pass" if ok else "FAIL",
              detail if ok or result.returncode == 0 else f"{detail}; {last_line(result.stderr)}")


def check_precision(table: Table, out: Path) -> None:
    result, records = train(out, "precision-32", "model=lstm")
    dtype = records[0].get("precision", {}).get("recurrent_dtype") if records else None
    table.add("32-true: recurrence dtype", "pass" if dtype == "float32" else "FAIL",
              f"recorded {dtype}" if records else last_line(result.stderr))
    for cell in CELLS:
        result, records = train(out, f"precision-bf16-{cell}", f"model={cell}",
                                "trainer.precision=bf16-mixed")
        if result.returncode == 2:
            refusal = last_line(result.stderr)
            expected = "float16" in refusal if CUDA else "oneDNN" in refusal
            table.add(f"bf16-mixed, {cell}", "pass" if expected else "FAIL",
                      f"refused: {refusal}")
        elif records and records[0].get("status") == "finished":
            dtype = records[0]["precision"]["recurrent_dtype"]
            table.add(f"bf16-mixed, {cell}", "FAIL" if CUDA else "pass",
                      f"trained; recurrence in {dtype}"
                      + (" (expected a refusal on CUDA)" if CUDA else ""))
        else:
            table.add(f"bf16-mixed, {cell}", "FAIL", last_line(result.stderr))
    if not CUDA:
        table.skip("autocast(cuda, bf16) dtype of cuDNN RNNs", "needs CUDA")
        return
    seen = {}
    for cell, module in (("rnn", torch.nn.RNN), ("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)):
        net = module(4, 32, batch_first=True).cuda()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            seen[cell] = str(net(torch.randn(8, 5, 4, device="cuda"))[0].dtype)
    premise = all(dtype == "torch.float16" for dtype in seen.values())
    table.add("autocast(cuda, bf16) dtype of cuDNN RNNs", "pass" if premise else "FAIL",
              f"{seen}" + ("" if premise else ": the bf16 refusal's premise does not hold here"))


def check_determinism(table: Table, out: Path) -> None:
    runs = {}
    for name, extra in (("a", ()), ("b", ()), ("k5", ("trainer.steps_per_batch=5",))):
        result, records = train(out, f"determinism-{name}", "model=lstm", *extra)
        if not records or records[0].get("status") != "finished":
            table.add("determinism", "FAIL", f"run {name}: {last_line(result.stderr)}")
            return
        runs[name] = records[0]
    digests = {name: run["weights_sha256"][:12] for name, run in runs.items()}
    same = digests["a"] == digests["b"]
    switches = runs["a"]["determinism"]
    table.add("two identical runs: weights_sha256", "pass" if same else "FAIL",
              f"{digests['a']} vs {digests['b']} (deterministic algorithms "
              f"{switches['deterministic_algorithms']}, cuDNN deterministic "
              f"{switches['cudnn_deterministic']})")
    table.add("5 steps per batch vs 1: weights_sha256",
              "pass" if digests["k5"] == digests["a"] else "FAIL",
              f"{digests['k5']} vs {digests['a']}")
    device = "cuda:0" if CUDA else "cpu"
    recorded = (runs["a"]["device"], runs["a"]["environment"]["device"])
    table.add("record: training device", "pass" if recorded == (device, device) else "FAIL",
              f"device {recorded[0]}, environment.device {recorded[1]} "
              f"({runs['a']['environment']['device_name']})")


def check_bench(table: Table, out: Path) -> str:
    if not CUDA:
        table.skip("bench (GPU sections)", "needs CUDA (`make bench` measures the CPU)")
        return ""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "benchmarks/bench.py", *BENCH, "--out",
                             str(out / "bench.json")], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        table.add("bench", "FAIL", last_line(result.stderr))
        return ""
    table.add("bench", "pass", f"{' '.join(BENCH)}: {seconds:.0f} s, table below")
    return json.loads((out / "bench.json").read_text())["table"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--no-bench", action="store_true", help="skip the bench")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("RNNMEM_CACHE", str(args.out.resolve() / "cache"))
    started = time.perf_counter()
    table = Table()
    gpus = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    table.add("environment", "info",
              f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN "
              f"{torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None}"
              f", GPUs: {gpus or 'none'}")
    check_placement(table, args.out)
    check_precision(table, args.out)
    check_determinism(table, args.out)
    bench = "" if args.no_bench else check_bench(table, args.out)
    if args.no_bench:
        table.skip("bench (GPU sections)", "--no-bench")
    report = (f"## rnnmem gpu_check ({time.perf_counter() - started:.0f} s)\n\n"
              f"{table.markdown()}\n" + (f"\n### bench\n\n{bench}\n" if bench else ""))
    (args.out / "gpu_check.md").write_text(report)
    print(f"\n{report}\nwritten to {args.out / 'gpu_check.md'}")
    sys.exit(1 if any(row[2] == "FAIL" for row in table.rows) else 0)


if __name__ == "__main__":
    main()
