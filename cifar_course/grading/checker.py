"""The checker: a fresh ``python -I`` process that decides hidden checks, batch by batch.

It is started with a scrubbed environment and reads the paths of batch files of
the caller's making from its stdin: for each check, its name, the literals and
pinned references digest from the hidden test's source, the answer's slots
(models as ``.keras`` files, data as JSON), and the settings (``profile``,
``under_grader``). It imports the checks from the installed package once,
verifies the references file against each pinned digest, loads models with
``safe_mode``, and prints one verdict a line, as each is decided, so that a
crash loses only the rest.

The grader starts one for each notebook as the notebook starts (``start_early``:
it imports keras and the checks while the notebook runs) and gives it the
notebook's every hidden test in one batch once the notebook has ended
(``decide_all``). Outside the grader a notebook's hidden tests,
run one at a time, share one checker (``shared_checker``): the same process for
the same notebook, as under the grader, instead of a new interpreter (and torch
and keras imported anew) for every test.
"""

from __future__ import annotations

import atexit
import collections
import inspect
import json
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

VERDICT_MARK = "cifar-course verdict\t"
DONE_MARK = "cifar-course batch done"


class Checker:
    """One checker process: ``decide`` sends it a batch and waits for its verdicts."""

    def __init__(self, environment: dict, *, warm: bool = False):
        self.environment = environment
        self._folder = tempfile.TemporaryDirectory(prefix="cifar-course-checker-")
        self._batches = 0
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-m", "cifar_course.grading.checker", *(["--warm"] * warm)],
            env=environment,
            cwd=self._folder.name, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self._lines: queue.Queue = queue.Queue()
        self._errors: collections.deque = collections.deque(maxlen=400)
        # Threads drain both pipes, so that neither fills and a timeout can be kept.
        self._readers = [threading.Thread(target=self._drain, args=(self._process.stdout, self._lines.put),
                                          daemon=True),
                         threading.Thread(target=self._drain, args=(self._process.stderr, self._errors.append),
                                          daemon=True)]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _drain(stream, put) -> None:
        for line in stream:
            put(line)
        put(None)  # the process closed it: it has ended

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def decide(self, entries: list[dict], settings: dict, *, timeout: float) -> list[tuple[bool, str]]:
        """Decide ``entries`` (``check``, ``arguments``, ``literals``, ``references_sha256``);
        one ``(passed, message)`` per entry, in order. A batch that outlasts ``timeout``
        ends the process: its undecided checks fail, saying so."""
        if not entries:
            return []
        self._batches += 1
        batch = Path(self._folder.name) / f"batch-{self._batches}.json"
        batch.write_text(json.dumps({"settings": settings, "checks": entries}))
        verdicts, problem = {}, None
        try:
            self._process.stdin.write(f"{batch}\n")
            self._process.stdin.flush()
        except OSError:
            problem = "the checker process had ended"
        deadline = time.monotonic() + timeout
        while problem is None:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                problem = f"the checks took over {timeout:.0f} s"
                self.close()
                break
            if line is None:  # it ended (a crash): take what it said on its way out
                try:
                    self._process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.close()
                self._readers[1].join(timeout=2)
                problem = "".join(e for e in self._errors if e)[-2000:] or "the checker process ended"
                break
            if line.startswith(DONE_MARK):
                break
            if line.startswith(VERDICT_MARK):
                result = json.loads(line[len(VERDICT_MARK):])
                verdicts[result["index"]] = (bool(result["passed"]), str(result["message"]))
        batch.unlink(missing_ok=True)
        return [verdicts.get(index, (False, f"the check {entry['check']} could not be decided:\n"
                                            f"{problem}"))
                for index, entry in enumerate(entries)]

    def close(self) -> None:
        """End the process (at once: nothing it was deciding counts) and remove its folder."""
        if self.alive:
            self._process.kill()
        self._process.wait()
        for stream in (self._process.stdin, self._process.stdout, self._process.stderr):
            try:
                stream.close()
            except OSError:
                pass
        self._folder.cleanup()

    def __enter__(self) -> Checker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_started: Checker | None = None


def start_early(environment: dict) -> None:
    """Start the next ``decide_all``'s checker now, importing keras and the checks while
    the notebook runs (the grader: seconds of a core that would otherwise wait)."""
    global _started
    if _started is not None:
        _started.close()
    _started = Checker(environment, warm=True)


def decide_all(entries: list[dict], settings: dict, *, environment: dict,
               timeout: float) -> list[tuple[bool, str]]:
    """Decide ``entries`` in one checker process of their own (the grader: one per
    notebook), the one ``start_early`` started if it is alive in ``environment``."""
    global _started
    started, _started = _started, None
    if started is not None and not (started.alive and started.environment == environment):
        started.close()
        started = None
    if not entries:
        if started is not None:
            started.close()
        return []
    with started or Checker(environment) as checker:
        return checker.decide(entries, settings, timeout=timeout)


_shared: Checker | None = None


def shared_checker(environment: dict) -> Checker:
    """The checker this process's hidden tests share outside the grader: started on first
    use, and again if it ended or the environment it must run in changed."""
    global _shared
    if _shared is None or not _shared.alive or _shared.environment != environment:
        if _shared is None:
            atexit.register(lambda: _shared is not None and _shared.close())
        else:
            _shared.close()
        _shared = Checker(environment)
    return _shared


class ObservedTraining:
    """Stands in for a student's training function: the checks read what the kernel
    measured it doing (``probes.training_behaviour``); it is never called here."""

    def __call__(self, *args, **kwargs):
        raise AssertionError("the training function runs in the kernel, never in the checker")


def _decode(encoded: dict) -> dict:
    from .isolated import _Replay, _from_json

    decoded = {}
    for name, item in encoded.items():
        (kind, value), = item.items()
        if kind in ("model", "keras_object"):
            # Only here: a batch of data answers (the data lesson's) needs neither keras
            # nor torch, seconds of importing in every checker.
            import keras

            from .. import models  # noqa: F401  (registers the course's layers for safe loading)
        if kind == "model":
            try:
                decoded[name] = keras.saving.load_model(value, safe_mode=True)
            except (TypeError, ValueError):
                # A loss or metric class of the student's own cannot be rebuilt here; the
                # network can, and the checks that read the compiled settings say so.
                decoded[name] = keras.saving.load_model(value, safe_mode=True, compile=False)
        elif kind == "keras_object":
            from .checks.probes import observed

            # The settings from the config; what the object does, as the kernel measured
            # the student's own (the config may name a class it is not).
            decoded[name] = keras.saving.deserialize_keras_object(value["config"], safe_mode=True)
            observed(decoded[name], _from_json(value["behaviour"]))
        elif kind == "training":
            from .checks.probes import observed

            # What the student's training function did, as the kernel measured it.
            decoded[name] = ObservedTraining()
            observed(decoded[name], value)
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


def _serve(warm: bool = False) -> int:
    """Decide the batch each line of stdin names, until stdin closes; ``warm``: import
    keras, the course's layers and the checks first, before the first batch comes."""
    from ..profiles import get_profile

    if warm:
        from .. import models  # noqa: F401  (keras, and the layers a saved model may use)
        from . import checks

        for name in ("check_test_accuracy", "check_baseline_structure"):
            checks.module_of(name)

    for line in sys.stdin:
        batch = json.loads(Path(line.strip()).read_text())
        settings = dict(batch["settings"])
        settings["profile"] = get_profile(settings["profile"])
        for index, entry in enumerate(batch["checks"]):
            result = _decide_one(entry, settings)
            print(VERDICT_MARK + json.dumps({"index": index, **result}), flush=True)
        print(DONE_MARK, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_serve(warm="--warm" in sys.argv[1:]))
