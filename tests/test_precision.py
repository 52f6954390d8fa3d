"""Evaluation precision: validation, test and `solved` in float32 under bf16 autocast training."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from rnnmem.models import RecurrentNet
from rnnmem.module import MemoryTaskModule, device_batches, metrics_of
from rnnmem.tasks import make_task


def test_bf16_training_is_evaluated_in_float32(tmp_path):
    task = make_task("adding", 20)
    torch.manual_seed(0)
    net = RecurrentNet("lstm", task.input_size, 16, 1, task.num_outputs, task.per_step_output)
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
