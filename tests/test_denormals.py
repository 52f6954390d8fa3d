"""Subnormal flushing (`trainer.flush_denormal`, rnnmem.models.denormals): on every torch
thread while training, never in the float64 measures. The float64 probe and item memory give
the same bits with flushing on and off, on a network whose gradients reach float64's subnormal
range, where flushing them would change the numbers; item memory's float32 probe view always
flushes, whatever the caller set."""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from conftest import compose_config
from rnnmem.measures.item_memory import gradient_scores, item_memory, probe_twin, probe_view
from rnnmem.measures.probe import FLOOR, float64_twin, probe
from rnnmem.models import RecurrentNet, denormals
from rnnmem.rundir.identity import run_hash
from rnnmem.tasks import make_task
from rnnmem.training.lifecycle import weights_digest
from rnnmem.training.module import MemoryTaskModule

SUBNORMAL32 = 1e-39  # below float32's smallest normal number, 1.2e-38


@pytest.fixture
def flushing_off_after():
    """Flushing and torch's thread count as they were, whatever the test left."""
    threads = torch.get_num_threads()
    yield
    denormals.set_flushing(False)
    torch.set_num_threads(threads)


def test_flushing_reaches_every_thread_torch_computes_on(flushing_off_after):
    torch.set_num_threads(2)
    x = torch.full((4_000_000,), SUBNORMAL32)  # elementwise ops split it over both threads
    ones = torch.ones_like(x)
    assert int(((x * ones) == 0).sum()) == 0
    denormals.set_flushing(True)
    assert int(((x * ones) == 0).sum()) == x.numel(), "flushed on every thread"
    with denormals.exact():
        assert int(((x * ones) == 0).sum()) == 0, "and off on every thread inside exact()"
    assert denormals.flushing() and int(((x * ones) == 0).sum()) == x.numel()
    denormals.set_flushing(False)
    assert int(((x * ones) == 0).sum()) == 0


def test_training_context_restores_the_mode_after_an_error(flushing_off_after):
    with pytest.raises(ZeroDivisionError), denormals.training(True):
        assert denormals.flushing()
        _ = 1 / 0
    assert not denormals.flushing()
    with denormals.training(False):
        assert not denormals.flushing()


def subnormal_gradient_net(length: int) -> tuple[RecurrentNet, object, torch.Tensor,
                                                 torch.Tensor]:
    """A tanh RNN in its linear regime with W_hh = 0.1 Q (Q orthogonal): g_t falls by 10 per
    step back from the readout, through float64's subnormal range (2.2e-308 .. 4.9e-324)
    near distance 310 of `length` steps."""
    task = make_task("adding", length)
    torch.manual_seed(0)
    net = RecurrentNet("rnn", task.input_size, 8, num_outputs=task.num_outputs)
    with torch.no_grad():
        net.rnn.weight_hh_l0.copy_(0.1 * torch.linalg.qr(torch.randn(8, 8))[0])
        net.rnn.weight_ih_l0.mul_(0.01)
        net.rnn.bias_ih_l0.zero_()
        net.rnn.bias_hh_l0.zero_()
    x, y = task.sample(4, torch.Generator().manual_seed(1))
    return net, task, x, y


def measures(net: RecurrentNet, task, x: torch.Tensor, y: torch.Tensor, raw: bool = False
             ) -> dict[str, np.ndarray]:
    """The probe's arrays and both views of item memory; `raw`: the undecorated functions,
    which run in whatever mode the caller set."""
    run_probe = probe.__wrapped__ if raw else probe
    run_items = item_memory.__wrapped__ if raw else item_memory
    result = run_probe(net, task, x, y, chunk_size=2)
    return {"h_norm": result.h_norm, "x_norm": result.x_norm, "loss": np.array(result.loss),
            "gradient": run_items(float64_twin(net), task, x, "gradient"),
            "intervention": run_items(net, task, x, "intervention")}


def test_probe_and_item_memory_are_bit_identical_with_flushing_on_and_off(flushing_off_after):
    net, task, x, y = subnormal_gradient_net(330)
    reference = measures(net, task, x, y)
    g = reference["h_norm"][0, 0]  # (T,)
    subnormal = (g > 0) & (g < FLOOR)
    assert subnormal.sum() >= 5, "the net reaches float64's subnormal range"
    assert (g[-300:] >= FLOOR).all() and g[-1] > 1e-3
    denormals.set_flushing(True)
    flushed = measures(net, task, x, y)
    for name, value in reference.items():
        assert np.array_equal(flushed[name], value, equal_nan=True), name
    # the same computation without the measures' guard: flushing would change it
    unguarded = measures(net, task, x, y, raw=True)
    assert not np.array_equal(unguarded["h_norm"], reference["h_norm"])
    assert (unguarded["h_norm"][0, 0][subnormal] == 0).all()


def test_the_float32_probe_view_flushes_whatever_the_caller_set(flushing_off_after):
    """Item memory's probe view computes in float32 with subnormals flushed: a derivative
    below 1.2e-38 reads 0 (never a reported digit: memory is on [0, 1]), and the caller's mode
    changes no bit."""
    net, task, _, _ = subnormal_gradient_net(60)
    x = task.memory_set(1, torch.Generator().manual_seed(2))  # an item at every lag
    reference = probe_view(net, task, x)
    denormals.set_flushing(True)
    assert np.array_equal(probe_view(net, task, x).numerator, reference.numerator)
    denormals.set_flushing(False)
    unflushed = gradient_scores(probe_twin(net), task, x)  # the same float32 pass, unguarded
    tiny = torch.finfo(torch.float32).tiny  # float32's smallest normal number, 1.2e-38
    subnormal = (unflushed.numerator != 0) & (np.abs(unflushed.numerator) < tiny)
    assert subnormal.sum() >= 3, "the float32 derivatives reach the subnormal range"
    assert (reference.numerator[subnormal] == 0).all()
    away = np.abs(unflushed.numerator) > 1e-30  # far from the range: untouched
    np.testing.assert_allclose(reference.numerator[away], unflushed.numerator[away], rtol=1e-6)


class ModeRecorder(pl.Callback):
    """The flushing mode where the probe runs (batch start) and where validation runs."""

    def __init__(self) -> None:
        self.seen: dict[str, set[bool]] = {"batch_start": set(), "validation": set()}

    def on_train_batch_start(self, *args) -> None:
        self.seen["batch_start"].add(denormals.flushing())

    def on_validation_start(self, *args) -> None:
        self.seen["validation"].add(denormals.flushing())


def train_tanh(flush: bool, recorder: pl.Callback | None = None) -> RecurrentNet:
    """A tanh RNN trained 20 steps (Adam) on adding T = 50 through the harness's module, whose
    readout weights are held at a subnormal 1e-39 and whose biases start at 0: every gradient
    of its recurrent stack is subnormal, and Adam, which divides by sqrt(v) + 1e-8, moves the
    biases by about 1e-34 on them, unless they are flushed to zero."""
    task = make_task("adding", 50)
    torch.manual_seed(0)
    net = RecurrentNet("rnn", task.input_size, 16, num_outputs=task.num_outputs)
    with torch.no_grad():
        net.head.weight.fill_(SUBNORMAL32)
        net.head.weight.requires_grad_(False)
        net.rnn.bias_ih_l0.zero_()
        net.rnn.bias_hh_l0.zero_()
    module = MemoryTaskModule(task, net, batch_size=16, seed=0, check_every_n_steps=5,
                              steps_per_batch=5, flush_denormal=flush)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=20, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0,
                         val_check_interval=2, check_val_every_n_epoch=None,
                         callbacks=[recorder] if recorder else [])
    val = [task.sample(8, torch.Generator().manual_seed(2))]
    trainer.fit(module, val_dataloaders=torch.utils.data.DataLoader(val, batch_size=None))
    return net


def test_flushing_acts_in_the_training_steps_only_and_changes_their_numbers(flushing_off_after):
    recorder = ModeRecorder()
    flushed = train_tanh(True, recorder)
    assert recorder.seen == {"batch_start": {False}, "validation": {False}}
    assert not denormals.flushing()
    kept = train_tanh(False)
    assert weights_digest(kept) == weights_digest(train_tanh(False)), "the comparison can hold"
    assert (flushed.rnn.bias_ih_l0 == 0).all(), "subnormal gradients flushed: no update"
    assert (kept.rnn.bias_ih_l0 != 0).any() and weights_digest(kept) != weights_digest(flushed)


def test_flushing_is_part_of_the_run_hash():
    assert (run_hash(compose_config("trainer.flush_denormal=true"))
            != run_hash(compose_config("trainer.flush_denormal=false")))
