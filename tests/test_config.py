"""One run configuration: read from the environment in one function, handed on as one value;
one recipe interface: no code branches on a recipe's name."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from cifar_course.config import (GRADER_ENV, ConfigurationError, GraderSettings, RunConfig,
                                 choose_profile, current)
from cifar_course.profiles import PROFILES, get_profile
from cifar_course.recipes import RECIPES, SPEEDRUN_RECIPE, recipe_of

PACKAGE = Path(__file__).resolve().parents[1] / "cifar_course"


def test_a_configuration_handed_to_a_child_is_the_same_configuration():
    config = RunConfig(profile="grade", data="/data/cifar.tar.gz", cache="/tmp/cache", threads=2,
                       omp_threads=2, grader=GraderSettings(sandbox="bwrap", stand_in="/s.npz",
                                                            answers="/a", memory_gb=4.0,
                                                            install_digest="abc"))
    environment = config.to_environment()
    assert RunConfig.from_environment(environment) == config
    # The grader's settings travel as one value, which a person never sets.
    assert [name for name in environment if "GRADER" in name] == [GRADER_ENV]
    assert RunConfig.from_environment({}) == RunConfig() and not RunConfig().under_grader


@pytest.mark.parametrize("variables, fix", [
    ({"CIFAR_COURSE_THREADS": "two"}, "whole number"),
    ({"CIFAR_COURSE_THREADS": "0"}, "at least 1"),
    ({GRADER_ENV: "{not json"}, "only the grader sets it"),
    ({GRADER_ENV: '{"colour": "red"}'}, "only the grader sets it"),
])
def test_a_bad_setting_is_refused_with_the_fix(variables, fix):
    with pytest.raises(ConfigurationError, match=fix):
        RunConfig.from_environment(variables)


def test_the_profile_a_lesson_chose_is_the_processes_until_forgotten(monkeypatch):
    monkeypatch.setenv("CIFAR_COURSE_PROFILE", "quick")
    choose_profile("smoke")
    assert current().profile_name() == "smoke"
    choose_profile(None)
    assert current().profile_name() == "quick"


def _source_files():
    return sorted(PACKAGE.rglob("*.py"))


def test_the_environment_is_read_in_one_place():
    """``os.environ`` is read in config.py alone; backend.py (KERAS_BACKEND), the grader's
    scrubbed child environment and nbgrader's PATH are the stated exceptions; ``publish``
    is the one writer."""
    allowed = {("config.py", "from_environment"), ("config.py", "publish"),
               ("backend.py", "ensure_torch_backend"), ("isolated.py", "scrubbed_environment"),
               ("lessons.py", "nbgrader_api")}
    found = set()
    for path in _source_files():
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                    found.add((path.name, function.name))
    assert found, "the test looks for something real"
    assert found <= allowed, f"the environment is read outside config.py: {sorted(found - allowed)}"


def test_no_library_function_takes_a_profile_of_none():
    offenders = []
    for path in _source_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                arguments = node.args.args + node.args.kwonlyargs
                defaults = ([None] * (len(node.args.args) - len(node.args.defaults))
                            + node.args.defaults + node.args.kw_defaults)
                for argument, default in zip(arguments, defaults):
                    if argument.arg == "profile" and isinstance(default, ast.Constant) \
                            and default.value is None and node.name not in EDGES:
                        offenders.append(f"{path.name}:{node.name}")
    assert not offenders, f"these take profile=None, to be resolved again inside: {offenders}"


# Where a person's missing choice is resolved, once: a notebook's first call.
EDGES = {"start_lesson"}


def test_no_code_compares_a_recipes_name():
    offenders = []
    for path in _source_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                names = [n for n in ast.walk(node) if isinstance(n, ast.Attribute)
                         and n.attr == "recipe"]
                if names:
                    offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, f"branching on a recipe's name: {offenders}"


def test_every_profile_has_a_recipe_and_lesson_09_runs_a_speedrun_profile():
    for profile in PROFILES.values():
        assert recipe_of(profile) is RECIPES[profile.recipe]
    for name in ("smoke", "grade", "quick", "full", "speedrun-quick"):
        chosen = SPEEDRUN_RECIPE.profile_for(get_profile(name))
        assert recipe_of(chosen) is SPEEDRUN_RECIPE, name
    with pytest.raises(ValueError, match="not 'baseline'"):
        SPEEDRUN_RECIPE.run_names(get_profile("speedrun"), ["baseline"])


@pytest.mark.parametrize("environment, imports_torch", [
    ({"CIFAR_COURSE_THREADS": "1"}, True),  # set here, for torch
    ({"CIFAR_COURSE_THREADS": "1", "OMP_NUM_THREADS": "1"}, False),  # torch takes OMP's itself
    ({}, False),
])
def test_the_thread_count_reaches_torch_and_importing_the_course_does_not_cost_torch(
        environment, imports_torch):
    """The command line and the grading workers never train: they import neither torch
    nor scikit-learn (seconds each, in every one of a class's worker processes)."""
    import subprocess
    import sys

    probe = ("import sys, cifar_course.cli, cifar_course.grading.autograde\n"
             "print('torch' in sys.modules, 'sklearn' in sys.modules)\n"
             "import torch\nprint(torch.get_num_threads())")
    kept = {k: v for k, v in os.environ.items()
            if k not in ("CIFAR_COURSE_THREADS", "OMP_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", probe], env={**kept, **environment},
                          capture_output=True, text=True, check=True)
    imported, threads = done.stdout.splitlines()
    assert imported == f"{imports_torch} False"
    if environment:
        assert threads == "1"
