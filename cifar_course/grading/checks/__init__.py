"""The checks the lessons' test cells run: structure, behaviour, metrics.

Each check raises ``AssertionError`` with a message a student can act on, and
returns nothing useful to fake: a metric check recomputes its figure from the
model's own predictions on the profile's test set.

One module a lesson, each importing only what its checks use (the data lesson's
need neither keras nor torch, which a checker process would otherwise spend
seconds importing):

    00 data            01 network         02 augmentation    03 regularization
    04 smoothing       05 optimizers      06 callbacks       07 evaluation
    08 capstone        09 speedrun
    every training lesson: accuracy (the metric check)
    shared: common, probes (what a student's loss, optimizer or training loop does)

``checks.<name>`` finds a check in whichever module defines it, importing that
module on first use: lessons, hidden tests and the checker name checks by name.
"""

from __future__ import annotations

import ast
import importlib
from functools import cache
from pathlib import Path


@cache
def _index() -> dict[str, str]:
    """Each top-level name of the modules here -> its module (read, not imported)."""
    where = {}
    for path in sorted(Path(__file__).parent.glob("*.py")):
        if path.stem == "__init__":
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            else:
                continue
            for name in names:
                assert name not in where, f"{name} is defined in {where.get(name)} and {path.stem}"
                where[name] = path.stem
    return where


def module_of(name: str):
    """The module that defines ``name`` (imported); AttributeError where none does."""
    module = _index().get(name)
    if module is None:
        raise AttributeError(f"no check or helper named {name!r} in {__name__}")
    return importlib.import_module(f"{__name__}.{module}")


def __getattr__(name: str):
    return getattr(module_of(name), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_index()})
