"""The package's shape: subpackages by concern, imports that only point down the layers, result
sources that are folders, measures and reporting free of Lightning and W&B, constructors with few
positional parameters, builders that take their config section and keywords, and a config
registered by a call."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import rnnmem
from conftest import ROOT
from rnnmem.rundir import code
from rnnmem.training import build

PACKAGE = Path(rnnmem.__file__).resolve().parent
POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
MAX_POSITIONAL = 5
# The package's units (a subpackage or a top-level module), bottom first: a unit imports only
# units below it (and itself). The order is the data path read upwards: the machine and the
# framework adapter, run directories, tasks and models, the config and the grid, the measures,
# the reporting that reads records, W&B, one run's training, the preflight, sweeps, the entry.
LAYERS = ("framework", "hardware", "rundir", "tasks", "models", "config", "grid", "measures",
          "reporting", "tracking", "training", "preflight", "sweeps", "train")
# What one run's training may import from outside the result sources: the config's schema (the
# types of the sections it is handed; their values are in the run's hash), bookkeeping (where
# the run's files go, its record, hash, code and stack; W&B), the cores (threads do not change
# what a CPU kernel computes), and the adapter that names Lightning's internals (their versions
# are in every record's `environment`).
TRAINING_BOOKKEEPING = {"config", "rundir", "tracking", "hardware", "framework"}
FRAMEWORK_PACKAGES = ("pytorch_lightning", "lightning", "wandb")


def unit_of(module: str) -> str:
    """`rnnmem.training.module` -> 'training'; `rnnmem.train` -> 'train'."""
    return module.split(".")[1]


def package_modules() -> dict[str, Path]:
    """Every module of the package by dotted name (packages as their `__init__`)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def rnnmem_imports(path: Path) -> set[str]:
    """The rnnmem modules (or names of modules) that a file imports anywhere in its body:
    module level, inside functions, under TYPE_CHECKING."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("rnnmem.")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rnnmem"):
            if node.module == "rnnmem":
                found |= {f"rnnmem.{alias.name}" for alias in node.names}
            else:
                found.add(node.module)
    return found


def test_every_unit_of_the_package_has_a_layer():
    assert {unit_of(name) for name in package_modules() if name != "rnnmem"} == set(LAYERS)


def test_no_import_climbs_a_layer():
    climbing = []
    for name, path in package_modules().items():
        if name == "rnnmem":
            continue
        here = LAYERS.index(unit_of(name))
        for imported in rnnmem_imports(path):
            there = unit_of(imported) if imported != "rnnmem" else None
            if there is not None and there != unit_of(name) and LAYERS.index(there) > here:
                climbing.append(f"{name} -> {imported}")
    assert not climbing, climbing


def test_the_layer_check_sees_a_climbing_import(tmp_path):
    """The check itself: an import placed inside a function is found like any other."""
    source = tmp_path / "measures_probe.py"
    source.write_text("def f():\n    from rnnmem.training.module import MemoryTaskModule\n")
    assert rnnmem_imports(source) == {"rnnmem.training.module"}


def test_result_sources_are_folders_and_training_reads_only_bookkeeping_beside_them():
    assert all((PACKAGE / folder).is_dir() for folder in code.RESULT_SOURCES)
    assert set(code.RESULT_SOURCES) == {"tasks", "models", "measures", "training"}
    outside = set()
    for name, path in package_modules().items():
        if name != "rnnmem" and unit_of(name) in code.RESULT_SOURCES:
            outside |= {unit_of(m) for m in rnnmem_imports(path)
                        if m != "rnnmem"} - set(code.RESULT_SOURCES)
    assert outside <= TRAINING_BOOKKEEPING, outside - TRAINING_BOOKKEEPING


def test_the_source_digest_changes_with_a_file_added_to_a_result_folder(tmp_path):
    """A new module in a result folder is digested without being listed anywhere."""
    root = tmp_path / "rnnmem"
    for folder in code.RESULT_SOURCES:
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "train.py").write_text("x = 1\n")
    before = code.source_digest.__wrapped__(root)
    (root / "train.py").write_text("x = 2\n")
    assert code.source_digest.__wrapped__(root) == before  # not a result source
    (root / "measures" / "new_measure.py").write_text("y = 1\n")
    assert code.source_digest.__wrapped__(root) != before


@pytest.mark.parametrize("units", [("measures",), ("reporting",)])
def test_measures_and_reporting_import_neither_lightning_nor_wandb(units):
    names = [name for name in package_modules() if name != "rnnmem" and unit_of(name) in units]
    code_text = ("import importlib, sys\n"
                 f"for name in {names!r}:\n"
                 "    importlib.import_module(name)\n"
                 f"print(sorted(m for m in sys.modules if m.split('.')[0] in "
                 f"{FRAMEWORK_PACKAGES!r}))\n")
    result = subprocess.run([sys.executable, "-c", code_text], capture_output=True, text=True,
                            check=True, cwd=ROOT)
    assert len(names) >= 3
    assert result.stdout.strip() == "[]"


def package_classes() -> list[type]:
    """Every class defined in a module of the package (imported here)."""
    classes = []
    for info in pkgutil.walk_packages(rnnmem.__path__, "rnnmem."):
        module = importlib.import_module(info.name)
        classes += [cls for _, cls in inspect.getmembers(module, inspect.isclass)
                    if cls.__module__ == module.__name__]
    return classes


def test_no_constructor_takes_more_than_five_positional_parameters():
    classes = package_classes()
    assert len(classes) > 30, "the walk found the package's classes"
    crowded = {}
    for cls in classes:
        if dataclasses.is_dataclass(cls) or "__init__" not in vars(cls):
            continue
        parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]  # self
        positional = [p.name for p in parameters if p.kind in POSITIONAL]
        if len(positional) > MAX_POSITIONAL:
            crowded[f"{cls.__module__}.{cls.__name__}"] = positional
    assert not crowded, f"constructors with > {MAX_POSITIONAL} positional parameters: {crowded}"


@pytest.mark.parametrize("builder,sections", [
    (build.build_net, 2), (build.build_module, 1), (build.build_probe, 1),
    (build.build_checkpointer, 1), (build.build_trainer, 1), (build.build_logger, 1),
])
def test_builders_take_their_section_then_keywords_only(builder, sections):
    parameters = list(inspect.signature(builder).parameters.values())
    assert all(p.kind in POSITIONAL for p in parameters[:sections])
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters[sections:])


def test_importing_the_package_registers_nothing_until_register_config_is_called():
    code_text = (
        "import rnnmem.train, rnnmem.training.lifecycle, rnnmem.sweeps.monitor\n"
        "import rnnmem.sweeps.launcher, rnnmem.config\n"
        "from hydra.core.config_store import ConfigStore\n"
        "from omegaconf import OmegaConf\n"
        "names = ('direction', 'basename', 'run_hash', 'sweep_jobs')\n"
        "def state():\n"
        "    return ([OmegaConf.has_resolver(n) for n in names],\n"
        "            'schema.yaml' in ConfigStore.instance().repo)\n"
        "print(state())\n"
        "rnnmem.config.register_config()\n"
        "print(state())\n"
    )
    result = subprocess.run([sys.executable, "-c", code_text], capture_output=True, text=True,
                            check=True, cwd=ROOT)
    before, after = result.stdout.splitlines()
    assert before == "([False, False, False, False], False)"
    assert after == "([True, True, True, True], True)"
