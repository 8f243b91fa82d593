"""The checker: one fresh ``python -I`` process that decides a notebook's hidden checks.

It is started by the grader (or, outside the grader, by ``run_isolated`` for one
check) with a scrubbed environment and a batch file of its own making: for each
check, its name, the literals and pinned references digest from the hidden
test's source, the answer's slots (models as ``.keras`` files the grader copied,
data as JSON), and the grader's settings (``profile``, ``under_grader``). It
imports the checks from the installed package once, verifies the references
file against each pinned digest, loads models with ``safe_mode``, and prints
one verdict a line, as each is decided, so that a crash loses only the rest.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import tempfile
from pathlib import Path

VERDICT_MARK = "cifar-course verdict\t"


def decide_all(entries: list[dict], settings: dict, *, environment: dict,
               timeout: float) -> list[tuple[bool, str]]:
    """Decide ``entries`` (``check``, ``arguments``, ``literals``, ``references_sha256``)
    in one checker process; one ``(passed, message)`` per entry, in order."""
    if not entries:
        return []
    with tempfile.TemporaryDirectory(prefix="cifar-course-checker-") as folder:
        batch = Path(folder) / "batch.json"
        batch.write_text(json.dumps({"settings": settings, "checks": entries}))
        command = [sys.executable, "-I", "-m", "cifar_course.grading.checker", str(batch)]
        try:
            done = subprocess.run(command, env=environment, cwd=folder, capture_output=True,
                                  text=True, timeout=timeout)
            output, errors = done.stdout, done.stderr
        except subprocess.TimeoutExpired as expired:
            output = expired.stdout.decode() if isinstance(expired.stdout, bytes) else (
                expired.stdout or "")
            errors = f"the checks took over {timeout:.0f} s"
    verdicts = {}
    for line in output.splitlines():
        if line.startswith(VERDICT_MARK):
            result = json.loads(line[len(VERDICT_MARK):])
            verdicts[result["index"]] = (bool(result["passed"]), str(result["message"]))
    return [verdicts.get(index, (False, f"the check {entry['check']} could not be decided:\n"
                                        f"{errors[-2000:]}"))
            for index, entry in enumerate(entries)]


def _decode(encoded: dict) -> dict:
    import keras

    from .isolated import _Replay, _from_json

    decoded = {}
    for name, item in encoded.items():
        (kind, value), = item.items()
        if kind == "model":
            try:
                decoded[name] = keras.saving.load_model(value, safe_mode=True)
            except (TypeError, ValueError):
                # A loss or metric class of the student's own cannot be rebuilt here; the
                # network can, and the checks that read the compiled settings say so.
                decoded[name] = keras.saving.load_model(value, safe_mode=True, compile=False)
        elif kind == "keras_object":
            decoded[name] = keras.saving.deserialize_keras_object(value, safe_mode=True)
        elif kind == "callbacks":
            decoded[name] = value
        elif kind == "replay":
            decoded[name] = _Replay(value)
        else:
            decoded[name] = _from_json(value)
    return decoded


def _decide_one(entry: dict, settings: dict) -> dict:
    from .. import references
    from ..data.sources import file_digest
    from . import checks
    from .contract import UNPINNED

    check = entry["check"]
    try:
        function = getattr(checks, check, None)
        assert callable(function) and check.startswith("check_"), f"no check named {check!r}"
        pinned = entry.get("references_sha256")
        if pinned and pinned != UNPINNED:
            actual = file_digest(references.shipped_references_path())
            assert actual == pinned, (
                f"the reference metrics file {references.shipped_references_path()} was changed "
                f"(sha256 {actual[:12]}..., the grader expects {pinned[:12]}...): reinstall "
                f"cifar-course; references are written only by `cifar-course references run`")
        arguments = {**_decode(entry["arguments"]), **entry.get("literals", {})}
        # The grader's settings, never the notebook's: only those the check takes.
        accepted = inspect.signature(function).parameters
        arguments.update({k: v for k, v in settings.items() if k in accepted})
        message = function(**arguments)
        return {"passed": True, "message": message if isinstance(message, str) else ""}
    except AssertionError as error:
        return {"passed": False, "message": str(error) or f"{check} failed"}
    except Exception as error:  # a malformed answer: the check could not run on it
        return {"passed": False, "message": f"the saved answer could not be checked "
                                            f"({type(error).__name__}: {error})"}


def _main(batch_file: str) -> int:
    from .. import models  # noqa: F401  (registers the course's layers for safe loading)
    from ..profiles import get_profile

    batch = json.loads(Path(batch_file).read_text())
    settings = dict(batch["settings"])
    settings["profile"] = get_profile(settings["profile"])
    for index, entry in enumerate(batch["checks"]):
        result = _decide_one(entry, settings)
        print(VERDICT_MARK + json.dumps({"index": index, **result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
