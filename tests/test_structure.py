"""The package's shape, as the renovation left it: constructors with few positional parameters,
builders that take their config section and keywords, and a config registered by a call."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import subprocess
import sys

import pytest

import rnnmem
from conftest import ROOT
from rnnmem import build

POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
MAX_POSITIONAL = 5


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
    code = (
        "import rnnmem.train, rnnmem.run, rnnmem.sweep, rnnmem.launcher, rnnmem.config\n"
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
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=ROOT)
    before, after = result.stdout.splitlines()
    assert before == "([False, False, False, False], False)"
    assert after == "([True, True, True, True], True)"


def test_the_code_that_makes_a_run_is_in_the_source_digest():
    """Every package module that `rnnmem.run` and `rnnmem.build` import to train, test and
    measure is a RESULT_SOURCE; what they import for bookkeeping only is listed here."""
    from rnnmem import code_identity, run

    bookkeeping = {"code_identity", "config", "directories", "environment", "identity",
                   "preflight", "record", "wandb_logging"}
    used = set()
    for module in (run, build):
        used |= {value.__module__ if not inspect.ismodule(value) else value.__name__
                 for value in vars(module).values()
                 if (inspect.ismodule(value) or inspect.isfunction(value)
                     or inspect.isclass(value))}
    package = {name.split(".")[1] for name in used if name.startswith("rnnmem.")
               and name.count(".") >= 1}
    digested = {entry.removesuffix(".py") for entry in code_identity.RESULT_SOURCES}
    assert package - bookkeeping <= digested, package - bookkeeping - digested
    assert {"run", "build"} <= digested
