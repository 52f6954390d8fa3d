"""What a sweep directory's records differ in beyond the figures' axes: the keys the figures
group by, so that no figure pools runs of different configs as if they were seeds, nor runs of
different code.

    figure axes   task, T, cell, depth, direction (what a figure lays out) and the seed (what
                  it pools: a band over seeds)
    a config key differs
                  when two records of one point of the figure axes, seeds aside, hold different
                  values of it in their identity configs (`rnnmem.rundir.identity`:
                  bookkeeping keys never count): a rerun with `model.hidden_size=16` beside the
                  first sweep, an lr search's trials (`optim.lr`), whether swept or not
    the code      the records' `source_digest` (`rnnmem.rundir.code`), when they state more than
                  one: every record of one version of the code apart from the others' (`SOURCE`)

A key is read two levels deep, `section.key` (`model.hidden_size`), a mapping value
(`optim.lr_by_cell`) as its sorted JSON. `rnnmem.reporting.expected.sweep_runs` turns each such
key into a column, and `experiments/make_figures.py` draws each combination of their values
apart and says in `report.md` what differed and how it grouped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from numbers import Number

from rnnmem.rundir.identity import BOOKKEEPING

FIGURE_AXES = ("task.name", "task.seq_len", "model.cell", "model.depth", "model.bidirectional")
POOLED = ("seed",)  # what a figure pools over
SOURCE = "source"  # the column of the records' code, its source digest's first 8 hex digits


def leaf(value: object) -> object:
    """A config value as a hashable, comparable value: mappings and lists as sorted JSON."""
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def value_text(value: object) -> str:
    """A grouping value as a folder name and the report write it: integers without a decimal
    point (a column that pandas made float), a missing value as 'none'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "none"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def value_order(value: object) -> tuple[int, float, str]:
    """A sort key over grouping values of mixed kinds: numbers by value, then text."""
    if isinstance(value, Number) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, value_text(value))


def config_leaves(config: Mapping[str, object]) -> dict[str, object]:
    """A record's config as {`section.key` (or a top-level key): `leaf` value}, bookkeeping
    keys left out."""
    leaves: dict[str, object] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            for inner, inner_value in value.items():
                leaves[f"{key}.{inner}"] = leaf(inner_value)
        else:
            leaves[str(key)] = leaf(value)
    return {key: value for key, value in leaves.items()
            if not any(key == b or key.startswith(f"{b}.") for b in BOOKKEEPING)}


def differing_keys(configs: Sequence[Mapping[str, object]]) -> list[str]:
    """The config keys (beyond the figure axes and the seed) in which two records of one point
    of the figure axes differ (module docstring), sorted. A key that a record does not state
    (a record older than the key) differs from nothing: such records are of other code, which
    `SOURCE` splits; a record without a config takes part in nothing."""
    points: dict[tuple[object, ...], list[dict[str, object]]] = {}
    for config in configs:
        if not config:
            continue
        leaves = config_leaves(config)
        point = tuple(leaves.get(axis) for axis in FIGURE_AXES)
        points.setdefault(point, []).append(leaves)
    found: set[str] = set()
    for group in points.values():
        keys = set().union(*group) - set(FIGURE_AXES) - set(POOLED)
        for key in keys - found:
            if len({repr(leaves[key]) for leaves in group if key in leaves}) > 1:
                found.add(key)
    return sorted(found)


def source_versions(digests: Sequence[object]) -> dict[str, int]:
    """{first 8 hex digits of a source digest: records} of the records that state one."""
    versions: dict[str, int] = {}
    for digest in digests:
        if isinstance(digest, str) and digest:
            versions[digest[:8]] = versions.get(digest[:8], 0) + 1
    return dict(sorted(versions.items()))
