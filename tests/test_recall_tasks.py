"""Selective copying and MQAR (docs/tasks.md, "Token recall tasks"): layouts against hand-built
sequences, the generators' invariants on many sequences (no key written twice, no filler
binding, power-law query gaps), seeding (only the given generator), scoring, the memoryless
baselines against explicit predictors, items and lags, config validation and run identity."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from conftest import compose_config
from make_figures import main as make_figures_main
from rnnmem.config import ConfigError, validate
from rnnmem.measures import item_memory as im
from rnnmem.measures.probe import memory_coverage, probe
from rnnmem.models import RecurrentNet
from rnnmem.reporting.labels import metric_spec, recorded_task
from rnnmem.reporting.records import flatten_record, runs_frame
from rnnmem.rundir.identity import identity_config, run_hash
from rnnmem.tasks import (
    AddingTask,
    CopyTask,
    MQARTask,
    SelectiveCopyTask,
    make_task,
    task_from_config,
)
from rnnmem.tasks.recall import IGNORE, RecallTask
from rnnmem.tasks.selective_copy import _expected_max_count
from rnnmem.train import train_one
from test_pipeline import run_sweep

NEW = ("selective_copy", "mqar")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _within(observed: float, expected: float, sd: float, sigmas: float = 4.5) -> bool:
    return abs(observed - expected) <= sigmas * sd


# --- layouts against hand-built sequences ---------------------------------------------------

def test_selective_copy_hand_built_sequence() -> None:
    """V = 5 (noise 0, data 1..3, marker 4), K = 3 tokens in a region of T = 6 steps."""
    task = SelectiveCopyTask(6, vocab_size=5, num_tokens=3)
    positions, tokens = torch.tensor([[1, 2, 5]]), torch.tensor([[3, 1, 3]])
    ids, y = task.layout(positions, tokens)
    assert ids.tolist() == [[0, 3, 1, 0, 0, 3, 4, 4, 4]]
    assert y.tolist() == [[IGNORE] * 6 + [3, 1, 3]]
    x = F.one_hot(ids, 5).float()
    items = task.items(x)
    assert items.position.tolist() == [[1, 2, 5]] and items.readout.tolist() == [[6, 7, 8]]
    assert items.token.tolist() == [[3, 1, 3]] and items.keys["k"].tolist() == [[0, 1, 2]]
    output = F.one_hot(torch.tensor([[0] * 6 + [3, 2, 3]]), 5).float()  # k = 1 wrong
    recalled = task.recall_items(x, output, y)
    assert recalled["lag"].tolist() == [5, 5, 3] and recalled["value"].tolist() == [1, 0, 1]
    assert task.length == 9 and task.loss_anchor == 6 and list(task.information_steps) == [
        0, 1, 2, 3, 4, 5]


def test_mqar_hand_built_sequence() -> None:
    """V = 8 (filler 0, keys 1..3, values 4..7), N = 2 pairs, T = 12: S = 4 query slots at
    steps 4, 6, 8, 10; pair 0 (3 -> 5) asked at slot 2, pair 1 (1 -> 6) at slot 0."""
    task = MQARTask(12, vocab_size=8, num_pairs=2)
    keys, values, slots = torch.tensor([[3, 1]]), torch.tensor([[5, 6]]), torch.tensor([[2, 0]])
    ids, y = task.layout(keys, values, slots)
    assert ids.tolist() == [[3, 5, 1, 6, 1, 0, 0, 0, 3, 0, 0, 0]]
    assert y.tolist() == [[IGNORE] * 4 + [6] + [IGNORE] * 3 + [5] + [IGNORE] * 3]
    x = F.one_hot(ids, 8).float()
    items = task.items(x)
    assert items.readout.tolist() == [[4, 8]] and items.keys["pair"].tolist() == [[1, 0]]
    assert items.position.tolist() == [[3, 1]] and items.token.tolist() == [[6, 5]]
    recalled = task.recall_items(x, F.one_hot(y.clamp(min=0), 8).float(), y)
    assert recalled["lag"].tolist() == [1, 7] and recalled["value"].tolist() == [1, 1]
    assert task.slots == 4 and task.loss_anchor == 4 and list(task.information_steps) == [
        0, 1, 2, 3]


@pytest.mark.parametrize("name", NEW)
def test_sample_is_the_layout_of_the_draws_of_the_same_generator_state(name: str) -> None:
    task = make_task(name, 24)
    x, y = task.sample(16, _gen(3))
    ids, target = task.layout(*task.draw(16, _gen(3)))
    assert torch.equal(x, F.one_hot(ids, task.vocab_size).float()) and torch.equal(y, target)
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.shape == (16, task.length, task.input_size) and y.shape == (16, task.length)
    assert task.input_size == task.num_outputs == task.vocab_size


# --- the generators' invariants on many sequences ------------------------------------------

def test_selective_copy_layout_on_many_sequences() -> None:
    T, K, V, B = 20, 5, 9, 4000
    task = SelectiveCopyTask(T, vocab_size=V, num_tokens=K)
    x, y = task.sample(B, _gen(1))
    ids = x.argmax(dim=-1)
    region = ids[:, :T]
    assert torch.all((region != 0).sum(dim=1) == K), "exactly K tokens in the region"
    assert torch.all((region >= 0) & (region <= V - 2))
    assert torch.all(ids[:, T:] == V - 1) and torch.all(y[:, :T] == IGNORE)
    in_order = torch.stack([r[r != 0] for r in region])  # (B, K) the tokens in time order
    assert torch.equal(y[:, T:], in_order)
    # positions: each step of the region holds a token with probability K / T
    hits = (region != 0).sum(dim=0).double()  # (T,)
    expected = B * K / T
    assert ((hits - expected) ** 2 / expected).sum() < 43.8  # chi-square, 19 dof, p = 0.001
    counts = torch.bincount(y[:, T:].flatten(), minlength=V - 1)[1:].double()  # tokens 1..7
    expected = counts.sum() / (V - 2)
    assert ((counts - expected) ** 2 / expected).sum() < 22.5  # 6 dof, p = 0.001


def test_mqar_no_key_twice_no_filler_binding_every_query_asks_a_written_key() -> None:
    """Zoology issue #29: with random non-query tokens a pair can be overwritten. Here the
    keys of a sequence are distinct, the query region holds only the filler and the queried
    keys, each written key is asked exactly once, and its target is the value written after
    it."""
    T, V, N, B = 40, 20, 6, 3000
    task = MQARTask(T, vocab_size=V, num_pairs=N)
    x, y = task.sample(B, _gen(2))
    ids = x.argmax(dim=-1)
    keys, values = ids[:, 0 : 2 * N : 2], ids[:, 1 : 2 * N : 2]
    assert torch.all((keys >= 1) & (keys < V // 2)) and torch.all(values >= V // 2)
    for tokens in (keys, values):
        assert torch.all(tokens.sort(dim=1).values.diff(dim=1) > 0), "distinct within a sequence"
    region, scored = ids[:, 2 * N :], y[:, 2 * N :] != IGNORE
    assert torch.all(region[~scored] == 0), "between queries only the filler"
    assert torch.all((region[scored] >= 1) & (region[scored] < V // 2)), "queries are keys"
    assert torch.all(y[:, : 2 * N] == IGNORE) and torch.all(scored.sum(dim=1) == N)
    asked = torch.where(scored, region, 0)
    for j in range(N):
        is_key = asked == keys[:, j : j + 1]  # (B, T - 2N)
        assert torch.all(is_key.sum(dim=1) == 1), "each written key asked exactly once"
        at = is_key.int().argmax(dim=1) + 2 * N
        assert torch.equal(y.gather(1, at[:, None])[:, 0], values[:, j])
    assert torch.all(((scored.nonzero()[:, 1]) % 2) == 0), "queries at even offsets"


def test_mqar_single_query_gap_follows_the_power_law() -> None:
    """N = 1: the slot is drawn with probability w_i / sum w exactly (w_i = a i^(a - 1))."""
    T, B, a = 30, 40_000, 0.3
    task = MQARTask(T, vocab_size=8, num_pairs=1, power_a=a)
    _, y = task.sample(B, _gen(4))
    slot = ((y != IGNORE).int().argmax(dim=1) - 2) // 2
    counts = torch.bincount(slot, minlength=task.slots).double()
    i = torch.arange(1, task.slots + 1, dtype=torch.float64)
    expected = B * (a * i ** (a - 1)) / (a * i ** (a - 1)).sum()
    assert ((counts - expected) ** 2 / expected).sum() < 34.5  # chi-square, 13 dof, p = 0.001
    zoology = MQARTask(T, vocab_size=8, num_pairs=1)  # a = 0.01: half the mass on 3 slots
    _, y = zoology.sample(B, _gen(5))
    slot = ((y != IGNORE).int().argmax(dim=1) - 2) // 2
    w = 0.01 * i ** (0.01 - 1)
    assert _within(float((slot == 0).double().mean()), float(w[0] / w.sum()),
                   math.sqrt(0.25 / B))


def test_mqar_queries_never_collide_and_the_first_one_asks_any_pair_alike() -> None:
    """N slots drawn without replacement (N distinct query steps), and pairs assigned to them
    uniformly: unlike Zoology's draw order, the first query asks each pair with 1/N."""
    T, N, B = 64, 8, 8000
    task = MQARTask(T, vocab_size=40, num_pairs=N)
    x, y = task.sample(B, _gen(6))
    assert torch.all((y != IGNORE).sum(dim=1) == N)
    first = task.items(x).keys["pair"][:, 0]
    counts = torch.bincount(first, minlength=N).double()
    expected = B / N
    assert ((counts - expected) ** 2 / expected).sum() < 24.3  # 7 dof, p = 0.001
    gap = (y != IGNORE).int().argmax(dim=1) - 2 * N  # the first query's offset
    i = torch.arange(1, task.slots + 1, dtype=torch.float64)
    w = 0.01 * i ** (0.01 - 1)
    assert float((gap == 0).double().mean()) > float(w[0] / w.sum()), "short gaps favoured"


# --- seeding ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NEW)
def test_only_the_given_generator_is_consumed(name: str) -> None:
    """MAD-lab drew its noise positions from numpy's global RNG: here neither numpy's nor
    torch's global state is read or advanced, and the same generator state gives the same
    batch whatever the global seeds."""
    task = make_task(name, 24)
    np.random.seed(0)
    torch.manual_seed(0)
    numpy_state, torch_state = np.random.get_state(), torch.get_rng_state()
    x1, y1 = task.sample(32, _gen(7))
    after = np.random.get_state()
    assert all(np.array_equal(a, b) for a, b in zip(numpy_state, after, strict=True))
    assert torch.equal(torch.get_rng_state(), torch_state)
    np.random.seed(1)
    torch.manual_seed(1)
    x2, y2 = task.sample(32, _gen(7))
    x3, y3 = task.sample(32, _gen(8))
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, x3)


@pytest.mark.parametrize("name", NEW)
def test_one_generator_continues_its_own_sequence_reproducibly(name: str) -> None:
    task = make_task(name, 24)
    first, second = _gen(9), _gen(9)
    batches = [task.sample(8, first) for _ in range(3)]
    again = [task.sample(8, second) for _ in range(3)]
    for (x, y), (x2, y2) in zip(batches, again, strict=True):
        assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(batches[0][0], batches[1][0])


# --- scoring ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NEW)
def test_metrics_perfect_and_one_miss_ignore_the_unscored_steps(name: str) -> None:
    task = make_task(name, 24)
    B = 8
    _, y = task.sample(B, _gen(10))
    n = int((y[0] != IGNORE).sum())
    logits = torch.randn(B, task.length, task.vocab_size, generator=_gen(11))  # unscored: noise
    scored = y != IGNORE
    logits[scored] = 30.0 * F.one_hot(y[scored], task.vocab_size).float()
    m = task.metrics(logits.requires_grad_(), y)
    assert set(m) == {"loss", "acc", "seq_acc"}
    assert all(v.dim() == 0 and not v.requires_grad for v in m.values())
    assert m["acc"] == 1.0 and m["seq_acc"] == 1.0 and m["loss"] < 1e-10
    wrong = logits.detach().clone()
    b, r = scored.nonzero()[0].tolist()
    wrong[b, r] = wrong[b, r].roll(1)
    m = task.metrics(wrong, y)
    assert m["acc"].item() == pytest.approx(1 - 1 / (B * n))
    assert m["seq_acc"].item() == pytest.approx(1 - 1 / B)
    assert m["loss"].item() == pytest.approx(30.0 / (B * n), rel=1e-4)
    assert torch.equal(task.memory_loss(wrong, y), task.loss(wrong, y))


def _uniform_logits(y: Tensor, vocab: int, allowed: slice) -> Tensor:
    logits = torch.full((*y.shape, vocab), -1e4, dtype=torch.float64)
    logits[..., allowed] = 0.0
    return logits


def test_selective_copy_memoryless_baselines_match_explicit_predictors() -> None:
    T, K, V, B = 16, 6, 10, 20_000
    task = SelectiveCopyTask(T, vocab_size=V, num_tokens=K)
    x, y = task.sample(B, _gen(12))
    closed = task.memoryless_baselines
    assert closed["uniform"] == {"loss": math.log(8), "acc": 1 / 8}
    assert task.baseline == math.log(8) and task.metric_baseline == 1 / 8
    uniform = _uniform_logits(y, V, slice(1, V - 1))
    assert task.loss(uniform, y).item() == pytest.approx(math.log(8), rel=1e-6)
    hits = (uniform.argmax(-1) == y)[:, T:].double().mean(dim=1)  # per sequence
    assert _within(hits.mean().item(), 1 / 8, hits.std().item() / math.sqrt(B))
    # bag of tokens: log of each token's share of the K tokens, the same at every recall step
    counts = x[:, :T, 1 : V - 1].sum(dim=1)  # (B, D)
    bag = torch.full((B, task.length, V), -1e4)
    bag[:, :, 1 : V - 1] = torch.log(counts / K).clamp(min=-1e4)[:, None, :]
    per_item = F.cross_entropy(bag.flatten(0, 1), y.flatten(), ignore_index=IGNORE,
                               reduction="none").reshape(B, -1)[:, T:]
    losses = per_item.double().mean(dim=1)
    assert _within(losses.mean().item(), closed["bag of tokens"]["loss"],
                   losses.std().item() / math.sqrt(B))
    hits = (bag.argmax(-1) == y)[:, T:].double().mean(dim=1)
    assert _within(hits.mean().item(), closed["bag of tokens"]["acc"],
                   hits.std().item() / math.sqrt(B))
    assert closed["bag of tokens"]["acc"] > 1 / 8


def test_expected_max_count_equals_enumeration() -> None:
    for draws, categories in ((1, 3), (3, 4), (5, 3), (4, 6)):
        total = sum(max(np.bincount(seq, minlength=categories))
                    for seq in itertools.product(range(categories), repeat=draws))
        assert _expected_max_count(draws, categories) == pytest.approx(
            total / categories ** draws, rel=1e-12)


def test_mqar_memoryless_baselines_match_explicit_predictors() -> None:
    T, V, N, B = 32, 16, 4, 20_000
    task = MQARTask(T, vocab_size=V, num_pairs=N)
    x, y = task.sample(B, _gen(13))
    closed = task.memoryless_baselines
    assert closed["uniform"] == {"loss": math.log(8), "acc": 1 / 8}
    assert closed["unbound values"] == {"loss": math.log(N), "acc": 1 / N}
    scored = y != IGNORE
    uniform = _uniform_logits(y, V, slice(V // 2, V))
    assert task.loss(uniform, y).item() == pytest.approx(math.log(8), rel=1e-6)
    hits = torch.where(scored, uniform.argmax(-1) == y, False).sum(1).double() / N
    assert _within(hits.mean().item(), 1 / 8, hits.std().item() / math.sqrt(B))
    # unbound values: a uniform guess over the values written in the sequence, at every step
    written = x[:, : 2 * N].sum(dim=1)  # (B, V) 1 for each of the N values (and keys)
    unbound = torch.full((B, T, V), -1e4, dtype=torch.float64)
    unbound[:, :, V // 2 :] = torch.where(written[:, None, V // 2 :] > 0, 0.0, -1e4)
    assert task.loss(unbound, y).item() == pytest.approx(math.log(N), rel=1e-6)
    hits = torch.where(scored, unbound.argmax(-1) == y, False).sum(1).double() / N
    assert _within(hits.mean().item(), 1 / N, hits.std().item() / math.sqrt(B))


# --- items and lags, the probe -----------------------------------------------------------------

def test_recall_items_lags_span_their_ranges() -> None:
    T, K = 12, 3
    task = SelectiveCopyTask(T, num_tokens=K)
    x, y = task.sample(3000, _gen(14))
    items = task.recall_items(x, F.one_hot(y.clamp(min=0), task.vocab_size).float(), y)
    assert set(items["lag"].tolist()) == set(range(K, T + 1))
    assert np.all(items["value"] == 1.0) and len(items["value"]) == 3000 * K
    mqar = MQARTask(20, num_pairs=3)
    x, y = mqar.sample(500, _gen(15))
    items = mqar.recall_items(x, torch.zeros(500, 20, mqar.vocab_size), y)
    ids = x.argmax(-1).numpy()
    b = np.repeat(np.arange(500), 3)
    assert np.all(ids[b, items["position"]] == items["token"]), "position holds the value"
    assert np.all(ids[b, items["position"] - 1] == ids[b, items["position"] + items["lag"]])
    assert items["lag"].min() >= 1 and np.all(items["value"] == 0.0)


@pytest.mark.parametrize("name", NEW)
def test_probe_runs_on_the_task_with_finite_norms(name: str) -> None:
    task = make_task(name, 16)
    torch.manual_seed(0)
    net = RecurrentNet("lstm", task.input_size, 8, num_outputs=task.num_outputs,
                       per_step_output=True)
    x, y = task.sample(6, _gen(16))
    result = probe(net, task, x, y, chunk_size=4)
    assert np.all(np.isfinite(result.x_norm)) and np.all(np.isfinite(result.h_norm))
    assert np.all(result.x_norm[task.information_steps] > 0)
    assert result.loss == pytest.approx(task.loss(net(x), y).item(), rel=1e-5)
    assert 0 < memory_coverage(result.x_norm, task) <= 1
    # the loss reads nothing after the last scored step: no gradient reaches inputs there
    last = int((y != IGNORE).nonzero()[:, 1].max())
    assert np.all(result.x_norm[last + 1 :] == 0)


# --- config: options, validation, identity ---------------------------------------------------

@pytest.mark.parametrize("name", NEW)
def test_config_group_builds_the_class_defaults(name: str) -> None:
    cfg = compose_config(f"task={name}")
    validate(cfg)
    assert task_from_config(cfg.task).params() == make_task(name, cfg.task.seq_len).params()


@pytest.mark.parametrize(("overrides", "message"), [
    (("task=selective_copy", "task.num_tokens=40"),
     r"num_tokens must be an int in \[1, seq_len=32\].*got 40"),
    (("task=selective_copy", "task.vocab_size=2"), r"task.vocab_size=2 must be >= 3"),
    (("task=mqar", "task.num_pairs=9"), r"num_pairs must be an int in \[1, 3\].*got 9"),
    (("task=mqar", "task.seq_len=6"), r"num_pairs must be an int in \[1, 1\].*got 2"),
    (("task=mqar", "task.vocab_size=3"), r"vocab_size must be an int >= 4.*got 3"),
    (("task=mqar", "task.power_a=0"), r"task.power_a=0.0 must be > 0.0"),
    (("task=copy", "task.vocab_size=12"), r"task.vocab_size=12 is not an option of task=copy"),
    (("task=adding", "task.name=mqar", "task.seq_len=32"),
     r"task.vocab_size is null, but task=mqar needs it"),
])
def test_bad_task_options_are_refused_in_one_line(overrides: tuple[str, ...],
                                                  message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        validate(compose_config(*overrides))
    assert "\n" not in str(info.value)


def test_existing_runs_keep_their_hash_and_heldout_keys() -> None:
    """The options are null for copy and adding and left out of the identity: the configs of
    the tasks that take none hash as they did before the options were in the schema."""
    for overrides in ((), ("task=copy",), ("task=copy", "task.delay=variable")):
        identity = identity_config(compose_config(*overrides))
        assert set(identity["task"]) == {"name", "seq_len", "delay"}
    assert AddingTask(50).params() == {"task": "adding", "seq_len": 50}
    assert CopyTask(20).params() == {"task": "copy", "seq_len": 20, "num_symbols": 8,
                                     "recall_len": 10}
    assert run_hash(compose_config("task=mqar", "task.num_pairs=3")) != run_hash(
        compose_config("task=mqar"))


def test_options_key_the_heldout_set() -> None:
    base = SelectiveCopyTask(16).params()
    assert base == {"task": "selective_copy", "seq_len": 16, "vocab_size": 10, "num_tokens": 4}
    assert SelectiveCopyTask(16, num_tokens=5).params() != base
    assert MQARTask(32, power_a=0.5).params()["power_a"] == 0.5
    with pytest.raises(ValueError, match="copy: num_pairs is not an option of this task"):
        make_task("copy", 10, num_pairs=3)


# --- records, figures -------------------------------------------------------------------------

def test_figures_build_the_task_as_the_runs_recorded_it() -> None:
    """MQAR with one pair over 6 tokens at T = 6: the task's defaults (2 pairs) do not fit
    that length, and the baseline and loss anchor a figure draws are the recorded options'."""
    task = {"name": "mqar", "seq_len": 6, "delay": "fixed", "vocab_size": 6, "num_tokens": None,
            "num_pairs": 1, "power_a": 0.5}
    runs = runs_frame([flatten_record({"config": {"task": task}})])
    assert runs["task_options"].item() == '{"num_pairs": 1, "power_a": 0.5, "vocab_size": 6}'
    built = recorded_task(runs, "mqar", 6)
    assert built.params() == MQARTask(6, vocab_size=6, num_pairs=1, power_a=0.5).params()
    assert built.loss_anchor == 2 and metric_spec("mqar", runs).baseline == 1 / 3
    copy = runs_frame([flatten_record({"config": {"task": {"name": "copy", "seq_len": 30,
                                                           "delay": "fixed"}}})])
    assert copy["task_options"].item() == "{}"
    assert recorded_task(copy, "copy", 30).params() == CopyTask(30).params()
    assert recorded_task(runs.iloc[0:0], "adding", 20).params() == AddingTask(20).params()


@pytest.mark.slow
@pytest.mark.parametrize("name", NEW)
def test_a_short_run_trains_and_records_the_recall_metrics(name: str, tmp_path: Path) -> None:
    record = train_one(compose_config(
        f"task={name}", "task.seq_len=16", "model=gru", "model.hidden_size=16", "logger=none",
        "trainer.progress_bar=false", "data.val_size=32", "data.test_size=64",
        "trainer.max_steps=20", "trainer.val_every_n_steps=10", "trainer.log_every_n_steps=5",
        "probe.every_n_steps=10", "probe.batch_size=8"), tmp_path)
    assert record["status"] == "finished", record.get("error")
    task = make_task(name, 16)
    assert record["baseline"] == pytest.approx(task.baseline)
    assert 0 <= record["test_seq_acc"] <= record["test_acc"] <= 1
    forgetting = record["forgetting"]
    items = sum(point["count"] for point in forgetting["curve"])
    assert items == 64 * (task.num_tokens if name == "selective_copy" else task.num_pairs)
    mean = sum(p["value"] * p["count"] for p in forgetting["curve"]) / items
    assert mean == pytest.approx(record["test_acc"], abs=1e-6)
    assert ("by_k" if name == "selective_copy" else "by_pair") in forgetting
    assert all(math.isfinite(c) for c in record["probe"]["memory_coverage"])


@pytest.mark.slow
def test_a_sweep_of_mqar_with_its_own_options_goes_through_make_figures(tmp_path: Path) -> None:
    """One pair over 6 tokens at T = 4 and 6: the figures build the task from the records
    (the defaults, 2 pairs, would not fit either length)."""
    sweep = tmp_path / "sweep"
    run_sweep(sweep, "+experiment=smoke", "hydra.launcher.n_jobs=1", "task=mqar",
              "task.vocab_size=6", "task.num_pairs=1", "task.seq_len=4,6", "model.cell=rnn,gru")
    assert make_figures_main([str(sweep)]) == 0
    out = sweep / "figures"
    assert "Runs: 4 (4 finished, 0 failed, 0 diverged, 0 missing)" in (
        out / "report.md").read_text()
    findings = (out / "fig7_forgetting.md").read_text()
    assert "| mqar | 4 | GRU | 1 | uni | 1-1 |" in findings  # the value at 1, the query at 2
    assert "| mqar | 6 | GRU | 1 | uni | 1-3 |" in findings  # or at 4
    for stem in ("fig1_gradient_vanishing_d1_uni", "fig2_memory_capacity", "fig3_gradient_flow",
                 "fig5_gate_dynamics", "fig6_learning_curves", "fig7_forgetting_mqar_T6"):
        assert (out / f"{stem}.png").stat().st_size > 0, stem


class Oracle(nn.Module):
    """A perfect recaller as a constructed output function of the inputs (`remember`), or a
    blind one that always names the first item symbol: logits BIG for the recalled token at
    every readout the task's items state, 0 elsewhere."""

    num_directions = 1

    def __init__(self, task: RecallTask, remember: bool = True) -> None:
        super().__init__()
        self.task, self.remember = task, remember
        self.dummy = nn.Parameter(torch.zeros(()))  # gives the device and dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(*x.shape[:2], self.task.vocab_size, dtype=x.dtype)
        items = self.task.memory_items(x)
        named = items.value if self.remember else torch.full_like(
            items.value, self.task.item_symbols[0])
        logits[items.sequence, items.readout, named] = 60.0
        return logits + 0 * self.dummy


@pytest.mark.parametrize("task", [SelectiveCopyTask(24), MQARTask(32),
                                  MQARTask(40, vocab_size=10, num_pairs=3)], ids=repr)
def test_the_memory_set_holds_every_lag_and_an_oracle_scores_one_a_blind_recaller_zero(task):
    """The item contract of the recall tasks, read only through the measures: every lag the
    task can have (selective copying: K .. T; MQAR: the odd lags 1 .. 2N + 2S - 3) carries at
    least 30 items; a swap names a symbol of the task the sequence does not hold at the item;
    an oracle's memory is 1 at every lag in both views, a blind recaller's 0."""
    x = task.memory_set(30, torch.Generator().manual_seed(2))
    items = task.memory_items(x)
    counts = np.bincount(items.lags(False), minlength=task.max_lag + 1)
    possible = (list(range(task.num_tokens, task.max_lag + 1)) if task.name == "selective_copy"
                else list(range(1, task.max_lag + 1, 2)))
    assert np.flatnonzero(counts).tolist() == possible and counts[possible].min() >= 30
    new = task.replacement(x, items)
    assert (new != items.value).all() and set(new.tolist()) <= set(task.item_symbols)
    for view in ("probability", "choice"):
        perfect = im.item_memory(Oracle(task).double(), task, x, view)
        np.testing.assert_allclose(perfect[0, possible], 1.0, atol=1e-12)
        assert im.span(perfect) == (float(task.max_lag), True)
        blind = im.item_memory(Oracle(task, remember=False).double(), task, x, view)
        np.testing.assert_allclose(blind[0, possible], 0.0, atol=1e-12)
        assert im.span(blind) == (0.0, False)


def test_mqar_swaps_to_a_value_the_sequence_does_not_hold():
    task = MQARTask(32)
    x, _ = task.sample(200, torch.Generator().manual_seed(3))
    items = task.memory_items(x)
    held = x.argmax(dim=-1)[:, 1 : 2 * task.num_pairs : 2][items.sequence]  # (N, pairs)
    new = task.replacement(x, items)
    assert not (held == new[:, None]).any()
    assert set(new.tolist()) == set(task.item_symbols)  # every free value is used in turn
