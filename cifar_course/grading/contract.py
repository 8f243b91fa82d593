"""The grading contract: what a hidden test may take from a student's kernel, and how.

A hidden test is a line such as ``run_isolated("check_test_accuracy", model=model,
stage="baseline", references_sha256="...")`` in a test cell. The grader reads it
from the gradebook's copy of the cell, never from the kernel, and learns:

- the check to run, and the *literals* the source fixes (``stage='baseline'``);
- the *slots* the kernel fills: the other keyword arguments (``model``), by name.

The kernel's answers are data for exactly those slots. They count only when
they were written while their own test cell ran: the grader empties the
kernel's answers folder before each such cell and, when the cell ends, copies
what is there (regular files only, no links, no paths) into a folder of its
own keyed by the cell's ``grade_id`` (``seal``). Settings the grader owns
(``GRADER_OWNED``: the profile, the data, the references) never come from the
kernel, whatever the answer or the source says.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

# Arguments of the checks that only the grader sets: a kernel that sends them is refused.
GRADER_OWNED = frozenset({"profile", "data", "references"})
DEFAULT_TIMEOUT_S = 900
# What ``solutions/`` write for the references pin; a release puts the digest there
# (``lessons.stage_course``). Outside a release, a notebook checks against no pin.
UNPINNED = "pinned when released"
REQUEST = "request.json"
# What one cell may leave for the grader: answers are small (models of a few MB).
MAX_ANSWER_BYTES = 512 * 2**20


class ContractError(ValueError):
    """An answer that breaks the contract (a forged slot, a link, a path): the test scores zero."""


@dataclass(frozen=True)
class HiddenCall:
    """One ``run_isolated(...)`` call of a hidden test, as its source states it."""
    check: str
    line: int
    slots: tuple[str, ...]
    literals: dict = field(default_factory=dict)
    references_sha256: str | None = None
    timeout: float = DEFAULT_TIMEOUT_S


def hidden_calls(source: str) -> list[HiddenCall]:
    """The ``run_isolated(...)`` calls of a test cell's source, in order of their lines."""
    calls = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "run_isolated"
                and node.args and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)):
            literals, slots = {}, []
            for keyword in node.keywords:
                if keyword.arg is None:  # **kwargs: nothing the grader could name
                    continue
                if isinstance(keyword.value, ast.Constant):
                    literals[keyword.arg] = keyword.value.value
                else:
                    slots.append(keyword.arg)
            calls.append(HiddenCall(
                check=node.args[0].value, line=node.lineno,
                # The pin and the time limit are the grader's when not literals: never slots.
                slots=tuple(s for s in slots
                            if s not in GRADER_OWNED | {"references_sha256", "timeout"}),
                references_sha256=literals.pop("references_sha256", None),
                timeout=float(literals.pop("timeout", DEFAULT_TIMEOUT_S)),
                literals={k: v for k, v in literals.items() if k not in GRADER_OWNED}))
    return sorted(calls, key=lambda call: call.line)


# --- the kernel's side ----------------------------------------------------------------

def next_answer_folder(root: Path, check: str) -> Path:
    """Where the next call of ``check`` in the running test cell saves its answer.

    The grader empties ``root`` before each test cell, so the count starts afresh there.
    """
    used = sum(1 for p in root.glob(f"{check}-*") if p.is_dir())
    return root / f"{check}-{used}"


# --- the grader's side ----------------------------------------------------------------

def clear(root: Path) -> None:
    """Empty the kernel's answers folder (before a test cell: older answers never count)."""
    root.mkdir(parents=True, exist_ok=True)
    for entry in root.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def seal(root: Path, sealed: Path) -> list[str]:
    """Copy what the kernel left in ``root`` into ``sealed`` (the grader's), then empty ``root``.

    Only regular files one folder down (``<check>-<n>/<file>``) are copied: links,
    devices, deeper folders and oversized answers are left out and reported.
    Copies, not moves: a process of the kernel holding a folder open cannot
    change what was sealed. Returns what was refused.
    """
    refused, total = [], 0
    shutil.rmtree(sealed, ignore_errors=True)
    sealed.mkdir(parents=True)
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        info = os.lstat(folder)
        if not stat.S_ISDIR(info.st_mode):
            refused.append(f"{folder.name}: not a folder")
            continue
        target = sealed / folder.name
        target.mkdir()
        for entry in sorted(folder.iterdir()):
            info = os.lstat(entry)
            if not stat.S_ISREG(info.st_mode):
                refused.append(f"{folder.name}/{entry.name}: not a regular file (a link?)")
                continue
            total += info.st_size
            if total > MAX_ANSWER_BYTES:
                refused.append(f"{folder.name}/{entry.name}: the answers exceed "
                               f"{MAX_ANSWER_BYTES // 2**20} MB")
                continue
            # O_NOFOLLOW: a file swapped for a link since lstat is not followed.
            source = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(source, "rb") as reader, open(target / entry.name, "wb") as writer:
                shutil.copyfileobj(reader, writer)
    clear(root)
    return refused


def sealed_folder(sealed_root: Path, grade_id: str) -> Path:
    """The grader's folder for one test cell's answers (``grade_id`` is the gradebook's)."""
    if not grade_id or "/" in grade_id or grade_id in (".", ".."):
        raise ContractError(f"grade_id {grade_id!r} cannot name a folder")
    return sealed_root / grade_id


def read_answer(folder: Path, call: HiddenCall) -> dict:
    """The encoded arguments for ``call`` from a sealed answer folder: its slots, nothing else.

    A model slot is the file ``<slot>.keras`` in ``folder`` (the request names no path);
    every other slot is data. Raises ContractError for anything else.
    """
    request_file = folder / REQUEST
    if not request_file.is_file():
        raise ContractError(f"{call.check}: no answer was saved while its test cell ran")
    try:
        request = json.loads(request_file.read_text())
        arguments = request["arguments"]
        assert isinstance(arguments, dict)
    except (ValueError, KeyError, AssertionError, UnicodeDecodeError) as error:
        raise ContractError(f"{call.check}: the saved answer is not readable ({error})") from None
    if request.get("check") != call.check:
        raise ContractError(f"the saved answer is for {request.get('check')!r}, not "
                            f"{call.check!r}: the hidden test did not run as written")
    # What the source fixes is the source's: the kernel's copy of a literal is ignored.
    extra = sorted(set(arguments) - set(call.slots) - set(call.literals))
    if extra:
        raise ContractError(f"{call.check}: the answer sets {', '.join(extra)}, which the "
                            f"hidden test does not take from the notebook")
    missing = sorted(set(call.slots) - set(arguments))
    if missing:
        raise ContractError(f"{call.check}: the answer lacks {', '.join(missing)}")
    encoded = {}
    for name in call.slots:
        item = arguments[name]
        if not (isinstance(item, dict) and len(item) == 1):
            raise ContractError(f"{call.check}: slot {name} is malformed")
        (kind, value), = item.items()
        if kind == "model":
            path = folder / f"{name}.keras"
            if path.is_symlink() or not path.is_file():
                raise ContractError(f"{call.check}: the model for {name} was not saved with "
                                    f"the answer")
            encoded[name] = {"model": str(path)}
        elif kind in ("keras_object", "training", "callbacks", "replay", "value"):
            encoded[name] = {kind: value}
        else:
            raise ContractError(f"{call.check}: slot {name} has an unknown kind {kind!r}")
    return encoded
