"""Run a check in a Python process of its own: what hidden tests use.

A student's notebook can redefine names, monkeypatch keras or numpy, or edit
files. A hidden test therefore hands the check only data (the model saved as a
``.keras`` file; losses and optimizers as their keras configs, with what each
did on the checks' probes; what a training function did to the checks' small
model; the outputs a student's function gave on the check's own inputs) to a checker process started with ``python -I`` (no PYTHONPATH, no
user site, not the notebook's folder) and a scrubbed environment; a kernel's
hidden tests share one (``checker.py``). That process imports the checks from
the installed package, verifies the reference metrics file against the digest
the hidden test pins, loads models with ``safe_mode``, and decides.

Under the grader a notebook's kernel decides nothing: its hidden tests only
save their answers, as data for the slots the hidden test's source names
(``contract.py``), and the grader, after the notebook has run, decides all of
them in one checker process of its own (``checker.py``) from the hidden
tests' source as the gradebook holds it (``nbgrader_ext.DecideHiddenTests``).
Nothing the kernel prints or returns decides a grade; a test cell that raised
scores zero.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import warnings
from dataclasses import replace
from pathlib import Path

from ..config import RunConfig, current
from .contract import (DEFAULT_TIMEOUT_S, GRADER_OWNED, REQUEST, HiddenCall, next_answer_folder,
                       read_answer)

# Environment variables a process started by the grader keeps (the isolated
# checks here, the autograde workers); everything else (tokens, proxies,
# PYTHONPATH...) is dropped.
KEPT_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR",
                    # A GPU machine: where the driver and CUDA libraries are, and which devices.
                    "LD_LIBRARY_PATH", "CUDA_HOME", "CUDA_PATH", "CUDA_VISIBLE_DEVICES",
                    "CUDA_DEVICE_ORDER", "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES")


def interpreter_first(path: str) -> str:
    """``path`` (a PATH value) with this interpreter's folder first.

    nbgrader runs ``alembic`` (its gradebook migrations) from PATH: it must be
    the one beside this interpreter, even in a virtual environment not activated.
    """
    here = str(Path(sys.executable).parent)
    parts = [p for p in path.split(os.pathsep) if p and p != here]
    return os.pathsep.join([here, *parts])


def scrubbed_environment(config: RunConfig, **settings: str) -> dict:
    """The kept variables of this process, ``config`` (the course's own settings), the
    torch backend, headless plots, and ``settings``."""
    environment = {k: os.environ[k] for k in KEPT_ENVIRONMENT if k in os.environ}
    environment.update(config.to_environment())
    environment.update(KERAS_BACKEND="torch", MPLBACKEND="Agg", **settings)
    environment["PATH"] = interpreter_first(environment.get("PATH", ""))
    return environment


class _Recorder:
    """Wraps a student's function and records what it returned, call by call."""

    def __init__(self, function):
        self.function, self.outputs = function, []

    def __call__(self, *args, **kwargs):
        output = self.function(*args, **kwargs)
        self.outputs.append(_to_json(output))
        return output


class _Replay:
    """Stands in for the student's function in the fresh process: returns the recorded outputs."""

    def __init__(self, outputs):
        self.outputs = list(outputs)

    def __call__(self, *args, **kwargs):
        assert self.outputs, "the function was called more times than when it was recorded"
        return _from_json(self.outputs.pop(0))


def _to_json(value):
    import numpy as np

    if isinstance(value, dict):
        return {"dict": {str(k): _to_json(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"list": [_to_json(v) for v in value]}
    if isinstance(value, (np.ndarray, np.generic, int, float)):
        return {"array": np.asarray(value, dtype=np.float64).tolist()}
    if hasattr(value, "shape"):  # a backend's tensor (a CUDA one included)
        import keras

        return {"array": np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64).tolist()}
    if value is None or isinstance(value, (str, bool)):
        return {"plain": value}
    raise TypeError(f"cannot send a {type(value).__name__} to the checker")


def _from_json(value):
    import numpy as np

    (kind, inner), = value.items()
    if kind == "dict":
        return {k: _from_json(v) for k, v in inner.items()}
    if kind == "list":
        return [_from_json(v) for v in inner]
    if kind == "array":
        return np.asarray(inner)
    return inner


def _encode_arguments(check: str, arguments: dict, folder: Path) -> dict:
    """Turn a check's arguments into data the fresh process can rebuild without running code."""
    import keras

    from . import checks

    # Fresh copies of the checks' modules: the notebook may have replaced names in the
    # imported ones (the verdict is taken elsewhere; these copies only drive the calls).
    def fresh(name):
        return getattr(_fresh_module(checks.module_of(name)), name)

    encoded, functions = {}, {}
    for name, value in arguments.items():
        if name in GRADER_OWNED:
            continue  # the grader's settings: never sent from the notebook
        if isinstance(value, keras.Model):
            with warnings.catch_warnings():
                # keras warns when saving a model not yet called (an augmentation
                # pipeline, say); the check builds it, and a warning is not the student's.
                warnings.simplefilter("ignore")
                value.save(folder / f"{name}.keras")
            encoded[name] = {"model": f"{name}.keras"}  # the file beside the request; no path
        elif isinstance(value, (keras.losses.Loss, keras.optimizers.Optimizer)):
            # Its settings as its config, and what it does as measured here: a config
            # can name keras' class for a class of the student's own (checks.probes).
            encoded[name] = {"keras_object": {
                "config": keras.saving.serialize_keras_object(value),
                "behaviour": _to_json(checks.behaviour(value))}}
        elif isinstance(value, (list, tuple)) and value and all(
                isinstance(v, keras.callbacks.Callback) for v in value):
            encoded[name] = {"callbacks": fresh("describe_callbacks")(value)}
        elif callable(value) and name == checks.TRAINING_SLOT:
            # A training function: what it did to the checks' own small model and data.
            encoded[name] = {"training": checks.training_behaviour(value)}
        elif callable(value):
            functions[name] = _Recorder(value)
        else:
            encoded[name] = {"value": _to_json(value)}
    if functions:
        # Drive the student's function with the check's own inputs, here; the
        # verdict is taken in the fresh process from the recorded outputs.
        try:
            fresh(check)(**{**arguments, **functions})
        except AssertionError:
            pass
        for name, recorder in functions.items():
            encoded[name] = {"replay": recorder.outputs}
    return encoded


def _fresh_module(module):
    import importlib.util

    spec = importlib.util.spec_from_file_location(module.__name__, module.__file__)
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    return fresh


def save_answer(check: str, arguments: dict, folder: Path) -> Path:
    """Write what ``check`` needs as data in ``folder`` (models as .keras files); return the request."""
    folder.mkdir(parents=True, exist_ok=True)
    request = {"check": check, "arguments": _encode_arguments(check, arguments, folder)}
    request_file = folder / REQUEST
    request_file.write_text(json.dumps(request))
    return request_file


def decide(request_file: Path, call: HiddenCall, *, settings: dict | None = None,
           environment: dict | None = None) -> tuple[bool, str]:
    """Decide one saved answer for ``call`` in the checker this process's hidden tests share;
    (passed, message).

    The check, its literals and the pinned references digest come from ``call``
    (under the grader: the hidden test's source); the answer supplies only its
    slots. ``settings`` default to this machine's profile, outside the grader.
    """
    from .checker import shared_checker
    from .contract import ContractError

    config = current()
    settings = settings or {"profile": config.profile_name(), "under_grader": False}
    if environment is None:
        environment = scrubbed_environment(replace(config, profile=settings["profile"]))
    try:
        arguments = read_answer(request_file.parent, call)
    except ContractError as error:
        return False, str(error)
    entry = {"check": call.check, "arguments": arguments, "literals": call.literals,
             "references_sha256": call.references_sha256}
    return shared_checker(environment).decide([entry], settings, timeout=call.timeout)[0]


def run_isolated(check: str, *, references_sha256: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT_S, **arguments) -> None:
    """A hidden test: ``checks.<check>(**arguments)`` decided outside the notebook.

    Under the grader (an answers folder in its settings) it only saves the answer as
    data; the grader decides after the notebook has run, in its own process
    (``nbgrader_ext.DecideHiddenTests``). Elsewhere it decides at once, in the
    checker process (``python -I``) this kernel's hidden tests share, and raises
    AssertionError if the check fails. It returns
    nothing: a value left as a test cell's result would be read by nbgrader as
    a partial score.

    ``references_sha256`` pins the reference metrics file: the check fails if
    the installed file differs (edited from a notebook, or stale).
    """
    grader = current().grader
    answers = grader.answers if grader else None
    if answers:
        save_answer(check, arguments, next_answer_folder(Path(answers), check))
        print(f"{check}: answer saved; the grader decides this test after the notebook has run")
        return
    call = HiddenCall(check=check, line=0, slots=tuple(k for k in arguments if k not in GRADER_OWNED),
                      references_sha256=references_sha256, timeout=timeout)
    with tempfile.TemporaryDirectory(prefix="cifar-course-check-") as folder:
        request_file = save_answer(check, arguments, Path(folder))
        passed, message = decide(request_file, call)
    if not passed:
        raise AssertionError(message or f"{check} failed")
    print(message or f"{check}: passed")


def install_digest(profile: str) -> str:
    """SHA-256 over the installed cifar_course package and, where ``profile`` grades on
    real images, the arrays the configured copy of CIFAR-10 is read from (the test set
    the checks measure on).

    The grader takes it before the first submission and checks it before each
    one and after each notebook: a notebook that rewrote the checks, the
    references or the cached test set is caught. Nothing else in the cache is the
    grader's (another copy decoded by another process, a cache being written), and
    a profile on synthetic images reads no copy at all: neither changes the digest.
    """
    import hashlib

    from .. import __file__ as package_init
    from ..data.loading import arrays_file
    from ..profiles import get_profile

    digest = hashlib.sha256()
    package = Path(package_init).parent
    files = sorted(p for p in package.rglob("*") if p.suffix in (".py", ".json") and p.is_file())
    arrays = None if get_profile(profile).synthetic else arrays_file()
    files += [arrays] if arrays is not None and arrays.exists() else []
    for path in files:
        digest.update(str(path).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
