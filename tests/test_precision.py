"""Precision that is what it says: bf16-mixed refused where autocast would not run the
recurrence in bf16 (cuDNN's fused RNNs on CUDA run in float16), the recurrence's dtype recorded,
and evaluation (validation, test, `solved`) in float32 under bf16 autocast training."""

from __future__ import annotations

import contextlib

import pytest
import pytorch_lightning as pl
import torch

from conftest import compose_config
from rnnmem.config import ConfigError
from rnnmem.models import CELLS, RecurrentNet
from rnnmem.preflight import check_devices
from rnnmem.tasks import make_task
from rnnmem.train import train_one
from rnnmem.training import precision
from rnnmem.training.module import MemoryTaskModule, device_batches, metrics_of

ONEDNN_BF16 = torch.ops.mkldnn._is_mkldnn_bf16_supported()


@pytest.fixture
def fake_cuda(monkeypatch):
    """A CUDA device of compute capability 9.0, as far as the precision checks can tell."""
    monkeypatch.setattr(precision, "trains_on_cuda", lambda accelerator: accelerator != "cpu")
    monkeypatch.setattr(precision.torch.cuda, "get_device_capability", lambda *args: (9, 0))


@pytest.mark.parametrize("cell", sorted(name for name in CELLS if CELLS[name].fused is not None))
def test_bf16_mixed_is_refused_for_fused_cudnn_cells_on_cuda(fake_cuda, cell):
    assert precision.fused_cudnn_cell(cell)
    with pytest.raises(ConfigError) as refused:
        check_devices(compose_config(f"model={cell}", "trainer.precision=bf16-mixed"))
    assert str(refused.value) == (
        f"trainer.precision=bf16-mixed is refused for model.cell={cell} on CUDA: PyTorch's "
        f"autocast runs cuDNN RNNs in float16, not bf16 (aten/src/ATen/cudnn/AutocastRNN.cpp), "
        f"without loss scaling; use trainer.precision=32-true")
    assert check_devices(compose_config(f"model={cell}", "trainer.precision=32-true")) >= 1
    # the same cell on the CPU is not refused on that ground
    assert precision.check_precision("bf16-mixed", "cpu", cell) in (
        None, precision.cpu_bf16_refusal(cell, ONEDNN_BF16))


def test_a_cell_without_a_fused_kernel_takes_bf16_on_ampere_and_later():
    assert sorted(name for name in CELLS if CELLS[name].fused is None) == [
        "lru", "mingru", "minlstm", "orth", "s6"]
    assert not precision.fused_cudnn_cell("orth")
    assert precision.bf16_refusal("orth", (8, 0)) is None
    assert precision.bf16_refusal("orth", (7, 5)) == (
        "trainer.precision=bf16-mixed needs a GPU of compute capability >= 8.0 (this one: 7.5); "
        "use trainer.precision=32-true")


def test_bf16_lstm_is_refused_exactly_where_this_cpu_cannot_run_it():
    """The refusal against the real thing: an LSTM forward under CPU bf16 autocast."""
    lstm = torch.nn.LSTM(2, 16, batch_first=True)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            lstm(torch.randn(4, 5, 2))
        runs = True
    except RuntimeError as err:
        assert "primitive descriptor" in str(err)
        runs = False
    refusal = precision.check_precision("bf16-mixed", "cpu", "lstm")
    assert (refusal is None) == runs
    assert precision.cpu_bf16_refusal("lstm", False) == (
        "trainer.precision=bf16-mixed: this CPU has no bf16 support in oneDNN, through which "
        "autocast runs model.cell=lstm; use trainer.precision=32-true")
    assert precision.cpu_bf16_refusal("lstm", True) is None
    assert precision.cpu_bf16_refusal("gru", False) is None


@pytest.mark.parametrize("cell,context,expected", [
    ("rnn", "bf16", "bfloat16"), ("gru", "bf16", "float32"),  # CPU autocast's own policy
    ("rnn", "none", "float32"), ("gru", "none", "float32"),
])
def test_recurrent_dtype_is_the_dtype_the_recurrence_computes_in(cell, context, expected):
    net = RecurrentNet(cell, 3, 8, depth=2, num_outputs=1, per_step_output=False,
                       bidirectional=True)
    forward = (torch.autocast("cpu", dtype=torch.bfloat16) if context == "bf16"
               else contextlib.nullcontext())
    assert precision.recurrent_dtype(net, forward, 3, torch.device("cpu")) == expected


def test_a_bf16_run_records_the_recurrence_in_bf16(tmp_path):
    record = train_one(compose_config(
        "logger=none", "trainer.progress_bar=false", "data.val_size=64", "data.test_size=64",
        "model=rnn", "model.hidden_size=8", "task.seq_len=6", "trainer.max_steps=10",
        "trainer.val_every_n_steps=10", "probe.enabled=false", "trainer.precision=bf16-mixed",
    ), tmp_path)
    assert record["status"] == "finished"
    assert record["precision"]["training"] == "bf16-mixed"
    assert record["precision"]["recurrent_dtype"] == "bfloat16"


def test_bf16_training_is_evaluated_in_float32(tmp_path):
    task = make_task("adding", 20)
    torch.manual_seed(0)
    # rnn: CPU autocast runs it in bf16 on any CPU (an LSTM needs oneDNN's bf16 support)
    net = RecurrentNet("rnn", task.input_size, 16, depth=1, num_outputs=task.num_outputs,
                       per_step_output=task.per_step_output)
    module = MemoryTaskModule(task, net, batch_size=16, seed=0, lr=1e-2, check_every_n_steps=5)
    trainer = pl.Trainer(accelerator="cpu", devices=1, precision="bf16-mixed", max_steps=10,
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=str(tmp_path))
    trainer.fit(module)
    x, y = task.sample(256, torch.Generator().manual_seed(1))
    trainer.test(module, device_batches(x, y, torch.device("cpu"), 256), verbose=False)
    logged = metrics_of(trainer.callback_metrics, "test")["test_mse"]

    with torch.no_grad():
        float32 = float(task.metrics(net(x), y)["mse"])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = float(task.metrics(net(x), y)["mse"])
    # training did run under bf16 autocast: the same network evaluated in bf16 differs ...
    assert abs(bf16 - float32) > 1e-5 * float32
    # ... and what was logged (and decides `solved`) is the float32 number
    assert abs(logged - float32) <= 1e-6 * float32
