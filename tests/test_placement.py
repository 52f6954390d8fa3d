"""GPU placement of a local sweep's processes: least-loaded through the lock-file ledger, over
the GPUs of a (fake) SLURM allocation, left to SLURM under submitit. No GPU needed: the GPUs
are CUDA_VISIBLE_DEVICES entries, and the ledger's slots are real flocks held by real
processes, released by exit and by SIGKILL."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
from collections import Counter

import pytest
from hydra import compose, initialize_config_dir

from conftest import CONF
from rnnmem import hardware
from rnnmem.sweeps import placement
from rnnmem.sweeps.ledger import LOG_FILE, GpuLedger, ledger_dir

GPUS = [str(i) for i in range(8)]
WORKERS = 16
# a worker process: takes a slot, says which GPU, holds it until told to go (or killed)
WORKER = """
import sys
from rnnmem.sweeps.ledger import GpuLedger
slot = GpuLedger(sys.argv[1], sys.argv[2].split(",")).take()
print(slot.gpu, slot.path.name, flush=True)
if sys.stdin.readline().strip() == "release":
    slot.release()
"""


def balanced(loads: dict[str, int], workers: int) -> bool:
    """The ledger's promise: never more than ceil(W / G) on a GPU, and max - min <= 1 whenever
    all W workers hold a GPU."""
    values = list(loads.values())
    if max(values) > math.ceil(workers / len(values)):
        return False
    return sum(values) < workers or max(values) - min(values) <= 1


class Workers:
    """Real worker processes on one ledger, started and ended in the test's order."""

    def __init__(self, directory, gpus):
        self.directory, self.gpus = directory, gpus
        self.running: dict[int, tuple[subprocess.Popen, str, str]] = {}  # gpu, slot file
        self.removed: list[tuple[int, str]] = []  # (log lines before it, gpu) per killed one

    def start(self, count: int) -> None:
        """`count` workers at once (they race for the ledger); returns when all hold a slot."""
        started = [subprocess.Popen(
            [sys.executable, "-c", WORKER, str(self.directory), ",".join(self.gpus)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(count)]
        for process in started:
            self.running[process.pid] = (process, *process.stdout.readline().split())

    def end(self, pid: int, how: str) -> None:
        """Release and exit, exit without releasing (the kernel drops the flock) or SIGKILL."""
        process, gpu, _ = self.running.pop(pid)
        if how == "kill":
            process.send_signal(signal.SIGKILL)
        else:
            process.stdin.write("release\n" if how == "release" else "exit\n")
            process.stdin.flush()
        process.wait()
        if how != "release":  # not in the log: the kernel released it
            self.removed.append((len(log_lines(self.directory)), gpu))

    def stop_all(self) -> None:
        for pid in list(self.running):
            self.end(pid, "kill")


def log_lines(directory) -> list[dict]:
    path = directory / LOG_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_least_loaded_placement_keeps_8_gpus_balanced_under_16_workers(tmp_path):
    ledger = GpuLedger(tmp_path, GPUS)
    workers = Workers(tmp_path, GPUS)
    rng = random.Random(0)
    replaced = 0
    try:
        workers.start(WORKERS)
        assert Counter(gpu for _, gpu, _ in workers.running.values()) == {g: 2 for g in GPUS}
        for _ in range(12):  # end 1-4 workers in random order and ways, start as many at once
            ended = rng.sample(sorted(workers.running), rng.randint(1, 4))
            for pid in ended:
                workers.end(pid, rng.choice(["release", "exit", "kill"]))
            workers.start(len(ended))
            replaced += len(ended)
            with ledger.locked():
                assert ledger.loads() == {g: 2 for g in GPUS}
    finally:
        workers.stop_all()
    lines = log_lines(tmp_path)
    assert sum(line["event"] == "take" for line in lines) == WORKERS + replaced
    # every state the ledger went through (each line: the loads right after a take or release,
    # probed from the locks) keeps the promise, and equals the loads replayed from the events
    replayed = dict.fromkeys(GPUS, 0)
    removed = list(workers.removed)
    for index, line in enumerate(lines):
        while removed and removed[0][0] <= index:
            replayed[removed.pop(0)[1]] -= 1
        replayed[line["gpu"]] += 1 if line["event"] == "take" else -1
        assert line["loads"] == replayed, index
        assert balanced(line["loads"], WORKERS), line


def test_round_robin_by_job_index_fails_the_same_check():
    """The control: job i on GPU i mod G, with a pool of 16 workers that each take the next job
    when their own ends (as loky does), leaves many moments with 3 jobs on one GPU and 1 on
    another (the check above would fail)."""
    rng = random.Random(1)
    ends = [rng.expovariate(1.0) for _ in range(WORKERS)]  # job w runs on worker w first
    gpu_of_job = {w: GPUS[w % len(GPUS)] for w in range(WORKERS)}
    worker_job = list(range(WORKERS))
    unbalanced = 0
    for job in range(WORKERS, 540):  # the paper grid's 540 jobs
        w = min(range(WORKERS), key=ends.__getitem__)  # the next worker to be free
        worker_job[w] = job
        ends[w] += rng.expovariate(1.0)
        gpu_of_job[job] = GPUS[job % len(GPUS)]
        round_robin = Counter(gpu_of_job[j] for j in worker_job)
        unbalanced += not balanced({g: round_robin[g] for g in GPUS}, WORKERS)
    assert unbalanced > 0.5 * (540 - WORKERS)


def test_a_crashed_workers_slot_is_free_again(tmp_path):
    workers = Workers(tmp_path, ["0", "1"])
    try:
        workers.start(3)
        on_zero = {pid: name for pid, (_, gpu, name) in workers.running.items() if gpu == "0"}
        assert sorted(on_zero.values()) == ["gpu-0.0.slot", "gpu-0.1.slot"]  # 0, 1, 0 again
        killed = min(on_zero)
        workers.end(killed, "kill")
        ledger = GpuLedger(tmp_path, ["0", "1"])
        with ledger.locked():
            assert ledger.loads() == {"0": 1, "1": 1}
        slot = ledger.take()
        assert (slot.gpu, slot.path.name) == ("0", on_zero[killed])  # the killed one's slot
        slot.release()
    finally:
        workers.stop_all()


@pytest.fixture
def cuda_build(monkeypatch):
    """A CUDA build of torch, as far as the placement and the job count can tell."""
    monkeypatch.setattr(placement, "cuda_built", lambda: True)
    monkeypatch.setattr(hardware, "cuda_built", lambda: True)


def test_joblib_inside_a_slurm_allocation_places_over_its_gpus(tmp_path, cuda_build):
    # `sbatch --gres=gpu:4` then a local sweep: SLURM lists the allocation's GPUs
    allocation = {"SLURM_JOB_ID": "42", "SLURM_JOB_GPUS": "4,5,6,7",
                  "CUDA_VISIBLE_DEVICES": "4,5,6,7"}
    chosen = []
    for _ in range(8):  # eight worker processes, each with its own environment
        env = dict(allocation)
        assert placement.Placement().place(tmp_path, env, cuda_initialised=False) == 0
        chosen.append(env["CUDA_VISIBLE_DEVICES"])
        assert env[hardware.GPU_LIST_VARIABLE] == "4,5,6,7"
    # the Placement objects are gone but their slots' files are still open: still held
    assert Counter(chosen) == {"4": 2, "5": 2, "6": 2, "7": 2}
    assert (ledger_dir(tmp_path) / LOG_FILE).exists()


def test_slurm_gpu_lists_are_read_where_cuda_visible_devices_is_not_set(tmp_path, cuda_build):
    assert hardware.visible_gpus({"SLURM_STEP_GPUS": "2,3", "SLURM_JOB_GPUS": "0,1,2,3"}) == [
        "2", "3"]
    assert hardware.visible_gpus({"SLURM_JOB_GPUS": "0,1"}) == ["0", "1"]
    env = {"SLURM_JOB_ID": "9", "SLURM_JOB_GPUS": "6,7"}
    assert placement.Placement().place(tmp_path, env, cuda_initialised=False) == 0
    assert env["CUDA_VISIBLE_DEVICES"] == "6"


def test_sweep_jobs_count_the_allocations_gpus(monkeypatch, cuda_build):
    for name in ("CUDA_VISIBLE_DEVICES", hardware.GPU_LIST_VARIABLE, *hardware.SLURM_GPU_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3,4,5,6,7")
    monkeypatch.setattr(hardware.os, "sched_getaffinity", lambda pid: set(range(64)))
    assert hardware.sweep_jobs(2, "auto") == 16


def test_a_reused_worker_keeps_its_gpu_and_sees_no_other(tmp_path, cuda_build):
    env = {"CUDA_VISIBLE_DEVICES": "0,1,2"}
    worker = placement.Placement()
    assert worker.place(tmp_path, env, cuda_initialised=False) == 0
    assert env["CUDA_VISIBLE_DEVICES"] == "0"
    other = placement.Placement()  # another worker meanwhile takes GPU 1
    assert other.place(tmp_path, {"CUDA_VISIBLE_DEVICES": "0,1,2"}, cuda_initialised=False) == 0
    # the first worker's next job: CUDA is initialised with GPU 0 alone, and it stays there
    assert worker.place(tmp_path, env, cuda_initialised=True) == 0
    assert env["CUDA_VISIBLE_DEVICES"] == "0"
    ledger = GpuLedger(ledger_dir(tmp_path), ["0", "1", "2"])
    with ledger.locked():
        assert ledger.loads() == {"0": 1, "1": 1, "2": 0}


def test_cuda_initialised_before_placement_indexes_the_visible_gpus(tmp_path, cuda_build):
    GpuLedger(ledger_dir(tmp_path), ["3", "5", "7"]).take()  # held by this test: "3" is busy
    env = {"CUDA_VISIBLE_DEVICES": "3,5,7"}
    assert placement.Placement().place(tmp_path, env, cuda_initialised=True) == 1
    assert env["CUDA_VISIBLE_DEVICES"] == "3,5,7"


def test_one_visible_gpu_or_none_or_a_cpu_build_is_left_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(placement, "cuda_built", lambda: True)
    for listed in ("", "3"):
        env = {"CUDA_VISIBLE_DEVICES": listed}
        assert placement.Placement().place(tmp_path, env, cuda_initialised=False) is None
        assert env["CUDA_VISIBLE_DEVICES"] == listed
    monkeypatch.setattr(placement, "cuda_built", lambda: False)
    env = {"CUDA_VISIBLE_DEVICES": "0,1"}
    assert placement.Placement().place(tmp_path, env, cuda_initialised=False) is None
    assert env["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert not (tmp_path / ".gpus").exists()


@pytest.mark.parametrize("launcher,places", [("local", True), ("slurm", False),
                                             ("slurm_local", False)])
def test_the_launcher_decides_who_places(launcher, places):
    """joblib: rnnmem places over the machine's (or allocation's) GPUs; submitit: SLURM does."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[f"hydra/launcher={launcher}"],
                      return_hydra_config=True)
    assert placement.places_own_gpu(cfg.hydra.launcher._target_) is places


def test_ledgers_are_per_host(tmp_path):
    assert ledger_dir(tmp_path) == tmp_path / ".gpus" / os.uname().nodename
