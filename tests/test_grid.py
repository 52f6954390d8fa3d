"""The sweep's grid (rnnmem.grid): its run label is the one conf/train.yaml names runs by."""

from __future__ import annotations

import pytest

from conftest import compose_config
from rnnmem.grid import name_of_run_dir, run_label


@pytest.mark.parametrize("overrides", [
    (),
    ("task=copy", "model.cell=gru", "model.depth=3", "model.bidirectional=true", "seed=7"),
    ("task.seq_len=1000", "model.cell=orth"),
])
def test_run_label_is_the_composed_configs_task_and_name(overrides):
    cfg = compose_config(*overrides)
    label = run_label(cfg.task.name, cfg.model.cell, cfg.model.depth, cfg.model.bidirectional,
                      cfg.task.seq_len, cfg.seed)
    assert label == f"{cfg.task.name}/{cfg.name}"


def test_a_run_directorys_name_is_its_name_and_hash():
    assert name_of_run_dir("gru-d3-bi-T20-s7-0a1b2c3d") == "gru-d3-bi-T20-s7"
