"""Tests for the memory benchmarks: layouts, baselines, metrics, seeding, held-out cache."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset
from torch import Tensor

from rnnmem.tasks import (
    TASKS,
    AddingTask,
    CopyTask,
    MemoryTask,
    MQARTask,
    SelectiveCopyTask,
    heldout_fingerprint,
    heldout_set,
    make_task,
)
from rnnmem.tasks.heldout import _save_atomically


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_copy_layout_places_symbols_delimiter_and_recall() -> None:
    T, B = 7, 64
    task = CopyTask(T)
    x, y = task.sample(B, _gen(0))
    assert x.shape == (B, T + 20, 10) and x.dtype == torch.float32
    assert y.shape == (B, T + 20) and y.dtype == torch.int64
    assert task.length == T + 20 and task.loss_anchor == T + 10
    assert torch.all((x == 0) | (x == 1)) and torch.all(x.sum(dim=-1) == 1)
    ids = x.argmax(dim=-1)  # (B, T+20)
    symbols = ids[:, :10]
    assert torch.all((symbols >= 1) & (symbols <= 8))
    assert torch.all(ids[:, 10 : T + 9] == 0)
    assert torch.all(ids[:, T + 9] == 9)
    assert torch.all(ids[:, T + 10 :] == 0)
    assert torch.all(y[:, : T + 10] == 0)
    assert torch.equal(y[:, T + 10 :], symbols)


def test_copy_delay_one_has_no_blank_before_delimiter() -> None:
    ids = CopyTask(1).sample(4, _gen(0))[0].argmax(dim=-1)  # (B, 21)
    assert torch.all(ids[:, 10] == 9) and torch.all(ids[:, :10] > 0)


def test_copy_symbols_cover_alphabet_uniformly() -> None:
    _, y = CopyTask(1).sample(4000, _gen(1))
    counts = torch.bincount(y[:, -10:].flatten(), minlength=10).float()  # (10,)
    assert counts[0] == 0 and counts[9] == 0
    expected = counts.sum() / 8
    chi2 = ((counts[1:9] - expected) ** 2 / expected).sum()
    assert chi2 < 24.3  # chi-square, 7 dof, p = 0.001


def test_adding_layout_two_markers_one_per_half_and_target_is_their_sum() -> None:
    T, B = 9, 256
    task = AddingTask(T)
    x, y = task.sample(B, _gen(0))
    assert x.shape == (B, T, 2) and x.dtype == torch.float32
    assert y.shape == (B,) and y.dtype == torch.float32
    assert task.length == T and task.loss_anchor == T - 1
    values, markers = x[..., 0], x[..., 1]
    assert torch.all((values >= 0) & (values <= 1))
    assert torch.all((markers == 0) | (markers == 1))
    assert torch.all(markers[:, : T // 2].sum(dim=1) == 1)
    assert torch.all(markers[:, T // 2 :].sum(dim=1) == 1)
    torch.testing.assert_close(y, (values * markers).sum(dim=1))


def test_adding_marker_positions_cover_each_half_uniformly() -> None:
    T, B = 21, 20000
    x, _ = AddingTask(T).sample(B, _gen(2))
    counts = x[..., 1].sum(dim=0)  # (T,) marker hits per position
    for half in (counts[: T // 2], counts[T // 2 :]):
        expected = B / len(half)
        chi2 = ((half - expected) ** 2 / expected).sum().item()
        assert torch.all(half > 0)
        assert chi2 < 32.0  # chi-square with <= 10 dof, p < 0.001


def test_copy_memoryless_predictor_loss_equals_baseline() -> None:
    T, B = 30, 128
    task = CopyTask(T)
    _, y = task.sample(B, _gen(3))
    logits = torch.full((B, task.length, 10), -100.0)  # (B, T+20, 10)
    logits[:, : T + 10, 0] = 100.0
    logits[:, T + 10 :, 1:9] = 0.0
    loss = task.loss(logits, y).item()
    assert task.baseline == pytest.approx(10 * math.log(8) / (T + 20))
    assert loss == pytest.approx(task.baseline, rel=1e-6)


def test_adding_constant_one_predictor_mse_equals_baseline() -> None:
    task = AddingTask(10)
    B = 200_000
    _, y = task.sample(B, _gen(4))
    mse = task.loss(torch.ones(B, 1), y).item()
    assert task.baseline == pytest.approx(1 / 6)
    # sd of the mean of (y - 1)^2 is sqrt((1/15 - 1/36) / B) ~ 4.4e-4; allow 4.5 sd
    assert mse == pytest.approx(1 / 6, abs=2e-3)


def test_copy_metrics_perfect_and_one_miss() -> None:
    T, B = 5, 8
    task = CopyTask(T)
    _, y = task.sample(B, _gen(5))
    logits = (10.0 * F.one_hot(y, 10).float()).requires_grad_()  # (B, T+20, 10)
    m = task.metrics(logits, y)
    assert set(m) == {"loss", "acc", "exact"}
    assert all(v.dim() == 0 and not v.requires_grad for v in m.values())
    assert m["acc"].item() == 1.0 and m["exact"].item() == 1.0
    assert m["loss"].item() < 1e-3
    wrong = logits.detach().clone()
    wrong[0, T + 12] = 0.0
    wrong[0, T + 12, 9 - y[0, T + 12]] = 10.0  # a different class at one recall position
    m = task.metrics(wrong, y)
    assert m["acc"].item() == pytest.approx(1 - 1 / (10 * B))
    assert m["exact"].item() == pytest.approx(1 - 1 / B)


def test_adding_metrics_perfect_predictor_and_shapes() -> None:
    task = AddingTask(6)
    _, y = task.sample(16, _gen(6))
    m = task.metrics(y[:, None].clone().requires_grad_(), y)
    assert set(m) == {"loss", "mse"}
    assert all(v.dim() == 0 and not v.requires_grad for v in m.values())
    assert m["mse"].item() == 0.0
    assert task.loss(y + 1, y).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"\(16, 2\)"):
        task.loss(torch.zeros(16, 2), y)


def test_solved_thresholds() -> None:
    copy, adding = CopyTask(10), AddingTask(10)
    assert copy.solved({"acc": 0.99}) and not copy.solved({"acc": 0.9899})
    assert copy.solved({"acc": torch.tensor(1.0)})
    assert adding.solved({"mse": 0.0099}) and not adding.solved({"mse": 0.01})


@pytest.mark.parametrize("name", sorted(TASKS))
def test_same_seed_same_data_different_seed_different_data(name: str) -> None:
    task = make_task(name, 16)
    torch.manual_seed(0)
    x1, y1 = task.sample(32, _gen(7))
    torch.manual_seed(1)  # the global RNG must not matter
    x2, y2 = task.sample(32, _gen(7))
    x3, y3 = task.sample(32, _gen(8))
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, x3) and not torch.equal(y1, y3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("name", sorted(TASKS))
def test_sample_draws_on_generator_device(name: str) -> None:
    x, y = make_task(name, 16).sample(4, torch.Generator("cuda").manual_seed(0))
    assert x.is_cuda and y.is_cuda


@pytest.mark.parametrize("name", sorted(TASKS))
def test_class_attributes_match_sampled_shapes(name: str) -> None:
    task = make_task(name, 16)
    assert isinstance(task, TASKS[name]) and task.name == name
    x, y = task.sample(3, _gen(0))
    assert x.shape == (3, task.length, task.input_size)
    assert y.shape == ((3, task.length) if task.per_step_output else (3,))
    assert task.params()["task"] == name and task.params()["seq_len"] == 16


@pytest.mark.parametrize(("name", "bad"), [("copy", 0), ("copy", -3), ("adding", 1), ("copy", 2.5)])
def test_bad_seq_len_raises_naming_the_value(name: str, bad: float) -> None:
    with pytest.raises(ValueError, match=f"got {bad}") as info:
        make_task(name, bad)
    assert "\n" not in str(info.value)


def test_unknown_task_raises_naming_it_and_the_choices() -> None:
    with pytest.raises(ValueError, match="'copyy'.*adding.*copy"):
        make_task("copyy", 10)


def _only_dir(root: Path) -> Path:
    (path,) = list(root.iterdir())
    return path


def test_heldout_matches_sample_dtypes_and_is_reused(tmp_path: Path, monkeypatch) -> None:
    task = CopyTask(5)
    x, y = heldout_set(task, "val", 12, seed=0, cache_dir=tmp_path)
    ref_x, ref_y = task.sample(12, _gen(0))
    assert x.shape == ref_x.shape and x.dtype == ref_x.dtype
    assert y.shape == ref_y.shape and y.dtype == ref_y.dtype
    path = _only_dir(tmp_path)
    fingerprint = heldout_fingerprint(task, "val", 12, 0)
    assert path.name == f"copy-val-{fingerprint[:16]}"
    (path / "sentinel").touch()

    def fail(*_: object) -> None:
        raise AssertionError("regenerated a cached set")

    monkeypatch.setattr(CopyTask, "sample", fail)
    x2, y2 = heldout_set(CopyTask(5), "val", 12, seed=0, cache_dir=tmp_path)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert _only_dir(tmp_path) == path and (path / "sentinel").exists()


def test_heldout_val_and_test_differ_and_regenerate_identically(tmp_path: Path) -> None:
    task = AddingTask(8)
    xv, yv = heldout_set(task, "val", 50, seed=0, cache_dir=tmp_path)
    xr, yr = heldout_set(task, "val", 50, seed=0, cache_dir=tmp_path / "elsewhere")
    assert torch.equal(xv, xr) and torch.equal(yv, yr)
    xt, yt = heldout_set(task, "test", 50, seed=0, cache_dir=tmp_path)
    assert xv.shape == xt.shape == (50, 8, 2) and yv.dtype == torch.float32
    assert not torch.equal(xv, xt) and not torch.equal(yv, yt)
    with pytest.raises(ValueError, match="'train'"):
        heldout_set(task, "train", 50, seed=0, cache_dir=tmp_path)


class HalvedAddingTask(AddingTask):
    """The adding problem with values halved: another generator, in another source file."""

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        x, y = super().sample(batch_size, generator)
        return x * torch.tensor([0.5, 1.0]), y * 0.5


def test_heldout_new_set_on_param_or_generator_change(tmp_path: Path) -> None:
    heldout_set(AddingTask(8), "val", 10, seed=0, cache_dir=tmp_path)
    heldout_set(AddingTask(9), "val", 10, seed=0, cache_dir=tmp_path)
    assert len(list(tmp_path.iterdir())) == 2
    base = heldout_fingerprint(AddingTask(8), "val", 10, 0)
    assert heldout_fingerprint(HalvedAddingTask(8), "val", 10, 0) != base
    x, y = heldout_set(HalvedAddingTask(8), "val", 10, seed=0, cache_dir=tmp_path)
    assert len(list(tmp_path.iterdir())) == 3
    x8, y8 = heldout_set(AddingTask(8), "val", 10, seed=0, cache_dir=tmp_path)
    assert torch.equal(y, y8 * 0.5), "the halved generator's own set, not the cached one"
    assert heldout_fingerprint(AddingTask(8), "val", 10, 1) != heldout_fingerprint(
        AddingTask(8), "val", 11, 0
    )


def test_heldout_losing_writer_keeps_the_winners_set(tmp_path: Path) -> None:
    path = tmp_path / "set"
    _save_atomically(Dataset.from_dict({"x": [1, 2]}), path)
    (path / "sentinel").touch()
    _save_atomically(Dataset.from_dict({"x": [3, 4]}), path)
    assert (path / "sentinel").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["set"]  # no temporary directory left behind


def test_registry_holds_the_memory_tasks() -> None:
    assert TASKS == {"copy": CopyTask, "adding": AddingTask,
                     "selective_copy": SelectiveCopyTask, "mqar": MQARTask}
    assert all(issubclass(cls, MemoryTask) for cls in TASKS.values())


def test_variable_delay_copy_places_each_sequence_delimiter_and_recall_at_its_own_delay() -> None:
    T, B = 12, 2000
    task = CopyTask(T, "variable")
    x, y = task.sample(B, _gen(5))
    assert x.shape == (B, T + 20, 10) and task.length == T + 20
    ids = x.argmax(dim=-1)
    delimiter = (ids == 9).int().argmax(dim=1)  # D + 9
    assert torch.all((ids == 9).sum(dim=1) == 1)
    delay = delimiter - 9
    assert set(delay.tolist()) == set(range(1, T + 1)), "every delay 1..T is drawn"
    for b in range(0, B, 97):
        d = int(delay[b])
        assert torch.all(ids[b, 10 : d + 9] == 0) and torch.all(ids[b, d + 10 :] == 0)
        assert torch.equal(y[b, d + 10 : d + 20], ids[b, :10])
        assert torch.all(y[b, : d + 10] == 0) and torch.all(y[b, d + 20 :] == 0)
    perfect = F.one_hot(y, 10).float() * 50.0
    metrics = task.metrics(perfect, y)
    assert metrics["acc"] == 1.0 and metrics["exact"] == 1.0
    assert task.memory_loss(perfect, y) < 1e-20
    uniform = torch.zeros_like(perfect)
    uniform[..., 0] = uniform[..., 9] = -1e4  # a uniform guess over the 8 symbols
    assert task.memory_loss(uniform, y).item() == pytest.approx(math.log(8))
    items = task.recall_items(x, perfect, y)
    assert set(items["lag"].tolist()) == set(range(11, T + 11))
    assert task.loss_anchor == 11
    named = task.baselines
    assert named["recall position known, symbols ignored"] == CopyTask(T).baseline
    assert named["inputs ignored"] == task.baseline > CopyTask(T).baseline


@pytest.mark.parametrize("T,expected", [(10, 1.0206052), (30, 0.8349782)])
def test_variable_delay_baselines_are_the_losses_of_their_memoryless_predictors(T, expected):
    """Inputs ignored: at each step the targets' own distribution (a symbol with the share of
    delays whose recall covers the step, uniform over the 8; else blank), the same for every
    sequence; recall position known, symbols ignored: blank outside the sequence's recall,
    uniform over the symbols in it. Each one's loss over 20,000 sequences is its baseline."""
    task = CopyTask(T, "variable")
    x, y = task.sample(20_000, _gen(8))
    share = (y != 0).float().mean(dim=0)  # (L,): q_t, estimated
    exact = torch.tensor([sum(1 for d in range(1, T + 1) if d + 10 <= t <= d + 19) / T
                          for t in range(task.length)])
    torch.testing.assert_close(share, exact, atol=0.012, rtol=0)
    blind = torch.empty(task.length, 10)
    blind[:, 0] = torch.log((1 - exact).clamp_min(1e-30))
    blind[:, 1:9] = torch.log((exact / 8).clamp_min(1e-30))[:, None]
    blind[:, 9] = -1e30
    loss = task.loss(blind.expand(len(y), -1, -1), y).item()
    assert task.baseline == pytest.approx(expected, abs=1e-6)
    assert loss == pytest.approx(task.baseline, abs=0.01)
    placed = torch.full((len(y), task.length, 10), -1e4)
    placed[..., 0] = 0.0
    recall = y != 0
    placed[recall] = torch.tensor([-1e4] + [0.0] * 8 + [-1e4])
    assert task.loss(placed, y).item() == pytest.approx(
        task.baselines["recall position known, symbols ignored"], rel=1e-4)


def test_variable_delay_keys_its_own_heldout_set_and_leaves_fixed_keys_alone() -> None:
    fixed, variable = CopyTask(8), CopyTask(8, "variable")
    assert fixed.params() == {"task": "copy", "seq_len": 8, "num_symbols": 8, "recall_len": 10}
    assert variable.params()["delay"] == "variable"
    assert variable.params()["delay_range"] == [1, 8]
    assert heldout_fingerprint(fixed, "val", 10, 0) != heldout_fingerprint(variable, "val", 10, 0)


def test_variable_delay_is_refused_where_the_task_has_none() -> None:
    with pytest.raises(ValueError, match="adding: delay='variable' is not one of: fixed"):
        make_task("adding", 10, "variable")
