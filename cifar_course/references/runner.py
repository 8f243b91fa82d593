"""The reference runner: train stages x seeds of a profile on real data.

It is incremental and resumable, so that hour-long full-data runs can go in
the background:

- each finished (stage, seed) run is merged into the references file at once
  (written atomically), and a later call skips the runs already there under the
  same protocol, profile settings and data;
- an interrupted run resumes from its last finished epoch (keras'
  ``BackupAndRestore`` in a folder under the cache; the epoch history is kept
  by a ``CSVLogger`` beside it, a file each leg);
- a lock file keeps two runners from writing the same references file;
- ``jobs`` runs can train at once (``--jobs``), each in a runner process of
  its own with its share of the cores, merged as each lands.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import fcntl
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import keras

from ..profiles import get_profile, with_settings
from ..stages import STAGES
from ..config import RunConfig
from ..recipes import recipe_of
from ..threads import threads_per_worker
from . import PROTOCOL, load_references, shipped_references_path
from .tables import table_markdown

EPOCH_FIELDS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")
METRICS = ("test_accuracy", "test_loss", "ece", "best_val_loss", "epochs_run", "best_epoch",
           "train_seconds", "wall_seconds")


def hardware() -> dict:
    import torch

    info = {"machine": platform.machine(), "processor": platform.processor() or None,
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def library_versions() -> dict:
    import keras
    import numpy
    import sklearn
    import torch
    import torchvision

    from .. import __version__

    return {"python": platform.python_version(), "cifar_course": __version__,
            "keras": keras.__version__, "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": numpy.__version__,
            "scikit-learn": sklearn.__version__}


def aggregate(runs: list[dict]) -> dict:
    """mean, std (sample, 0 for one run) and per-seed values of every metric."""
    out = {"seeds": [r["seed"] for r in runs]}
    for metric in METRICS:
        values = [r.get(metric) for r in runs]
        finite = [v for v in values if v is not None and math.isfinite(v)]  # a diverged run
        out[metric] = {"mean": statistics.fmean(finite) if finite else None,
                       "std": statistics.stdev(finite) if len(finite) > 1 else 0.0,
                       "values": values}
    return out


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


@contextlib.contextmanager
def _locked(path: Path):
    """One runner per references file (the lock lives in the cache: the package may be read-only)."""
    import hashlib

    lock = backup_root() / f"{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another reference runner is writing {path}; wait for it to "
                               f"finish (or stop it) and run again: it resumes") from None
        yield


def backup_root() -> Path:
    from ..data.loading import cache_dir

    return cache_dir() / "reference-runs"


def profile_settings(profile) -> dict:
    """A profile's settings as recorded with its runs. Settings left at their
    defaults are omitted, so adding a setting does not void the measurements
    of profiles that do not use it."""
    defaults = {f.name: f.default for f in dataclasses.fields(profile)}
    return {k: v for k, v in vars(profile).items()
            if k != "description" and (k in _FIRST_SETTINGS or v != defaults[k])}


# The settings every profile had when references were first recorded: always kept.
_FIRST_SETTINGS = ("name", "train_size", "val_size", "test_size", "epochs", "batch_size",
                   "learning_rate", "reduce_lr_patience", "synthetic")


def backup_folder(profile, run_name: str, seed: int, signature: dict) -> Path:
    """Where an interrupted run keeps its state: named by its settings too, so a run
    resumes only under the very settings it started with."""
    import hashlib

    settings = hashlib.sha256(json.dumps(signature, sort_keys=True).encode()).hexdigest()[:10]
    return backup_root() / profile.name / f"{run_name}-seed{seed}-{settings}"


def _run_signature(profile, data_sha256: str | None = None) -> dict:
    """What must match for a recorded run to count: protocol, profile settings, data
    (and the speedrun's hyper-parameters), as JSON stores it (tuples become lists).
    Without ``data_sha256``: all but the data."""
    signature = {"protocol": PROTOCOL, "profile": profile_settings(profile)}
    if data_sha256 is not None:
        signature["data_sha256"] = data_sha256
    recipe_settings = recipe_of(profile).settings()
    if recipe_settings:
        signature["recipe"] = recipe_settings
    return json.loads(json.dumps(signature))


def _recipe_changes(profile, name: str) -> dict:
    """What run ``name`` changes from its recipe's settings, as JSON stores it."""
    return json.loads(json.dumps(recipe_of(profile).changes(name)))


def run_names(profile, stages=None) -> list[str]:
    """What a profile's references are of: the runs of its recipe asked for (a stage
    recipe: default all; the speedrun: it and the variants asked for)."""
    return recipe_of(profile).run_names(profile, stages)


def _train_resumably(run, profile, seed, data, folder: Path, extra_callbacks=(), *,
                     model=None, verbose: int = 0) -> dict:
    """One run (a stage, or the speedrun), resumable from its last finished epoch; returns
    its summary. ``model`` replaces a stage's own (built and seeded by the caller)."""
    profile = get_profile(profile)
    folder.mkdir(parents=True, exist_ok=True)
    logs = _epoch_logs(folder)
    stale = not (folder / "backup").exists()  # nothing to resume: a log left there is stale
    for log in logs:
        if stale or log.stat().st_size == 0:  # empty: a leg stopped before its first epoch
            log.unlink()
    logs = [log for log in logs if log.exists()]
    # Each leg of a resumed run logs its epochs in a file of its own, with a header of its
    # own: a later version of the course may log other fields than the leg before.
    leg = folder / ("epochs.csv" if not logs else f"epochs-{len(logs)}.csv")
    callbacks = [keras.callbacks.BackupAndRestore(str(folder / "backup")),
                 EpochSeconds(), keras.callbacks.CSVLogger(str(leg)), *extra_callbacks]
    result = recipe_of(profile).train(run, profile, seed=seed, data=data, verbose=verbose,
                                      extra_callbacks=callbacks, model=model)
    summary = result.summary()
    epochs = _read_epoch_logs(folder)
    if epochs:  # a resumed run: the whole run's epochs and time, not only the last leg's
        summary["epochs_run"] = len(epochs)
        summary["train_seconds"] = round(sum(float(r.get("epoch_seconds", 0)) for r in epochs), 1)
        summary["resumed"] = len(epochs) > result.epochs_run
        if all(r.get("val_loss") for r in epochs):
            # The best epoch of the whole run, numbered from its start (the last leg's
            # history numbers its own epochs from 1).
            from ..training import best_epoch

            summary["best_epoch"], summary["best_val_loss"] = best_epoch(
                {"val_loss": [float(r["val_loss"]) for r in epochs]})
        # The validation curve, kept: recipes are tuned on it (never on the test set).
        summary["epochs"] = {key: [round(float(r[key]), 5) for r in epochs]
                             for key in EPOCH_FIELDS if all(r.get(key) for r in epochs)}
    return summary


class EpochSeconds(keras.callbacks.Callback):
    """Adds ``epoch_seconds`` to the epoch logs, so that the CSV log keeps each epoch's time."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self.start


def _epoch_logs(folder: Path) -> list[Path]:
    """A run's epoch logs, one a leg, in the order the legs ran."""
    logs = [folder / "epochs.csv"] + sorted(folder.glob("epochs-*.csv"),
                                            key=lambda p: int(p.stem.split("-")[1]))
    return [log for log in logs if log.exists()]


def _read_epoch_logs(folder: Path) -> list[dict]:
    """Every epoch of a run, over all its legs (an epoch logged twice: its last log)."""
    epochs = {}
    for log in _epoch_logs(folder):
        with open(log, newline="") as handle:
            for row in csv.DictReader(handle):
                epochs[int(row["epoch"])] = row
    return [epochs[epoch] for epoch in sorted(epochs)]


def run_references(profile_name: str, seeds=(0, 1, 2), stages=None, source=None,
                   output: str | Path | None = None, table: str | Path | None = None,
                   force: bool = False, jobs: int = 1, settings: dict | None = None,
                   log=print) -> dict:
    """Train ``stages`` x ``seeds`` in a profile, merging each run into ``output`` as it lands.

    ``output`` defaults to the package's own ``references.json``. Runs already
    recorded under the same protocol, profile and data are skipped unless
    ``force``; an interrupted run resumes from its last finished epoch. With
    ``jobs`` > 1, that many runs train at once, each in a runner process of its
    own sharing the cores (``_run_in_parallel``). ``settings`` makes the runs a
    tuning trial (``profiles.with_settings``), recorded in ``output`` only.
    """
    from ..training import prepare_data

    profile = get_profile(profile_name)
    if settings:
        if output is None or Path(output).resolve() == shipped_references_path().resolve():
            raise ValueError("a tuning trial (changed settings) writes its runs to a file of its "
                             "own, never to the package's references: give --output, then "
                             "experiments/tuning_table.py --add that file")
        profile = with_settings(profile, settings)
    if profile.synthetic:
        raise ValueError(f"Profile {profile.name!r} uses synthetic images: references must "
                         f"come from real CIFAR-10. Use 'grade', 'quick' or 'full'.")
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    output = Path(output) if output else shipped_references_path()
    # Loaded here in parallel runs too: the first load decodes and caches the arrays
    # once, before the runner processes read the cache.
    data = prepare_data(profile, source)
    signature = _run_signature(profile, data.source.sha256)
    with _locked(output):
        references = load_references(output) if output.exists() else {"profiles": {}}
        recorded = _profile_entry(references, profile.name, signature)["stages"]
        pending = []
        for name in run_names(profile, stages):
            # A speedrun variant's runs count only as the variant is defined now.
            changes = _recipe_changes(profile, name)
            measured = {r["seed"] for r in recorded.get(name, {}).get("runs", [])
                        if r.get("recipe_changes", {}) == changes}
            for seed in seeds:
                if not force and seed in measured:
                    log(f"{name} seed {seed}: already measured, skipped", flush=True)
                else:
                    pending.append((name, seed))
        if jobs > 1:
            _run_in_parallel(profile, pending, source, output, signature, force, jobs, log,
                             settings)
        else:
            for name, seed in pending:
                _run_and_merge(profile, name, seed, data, output, signature, log)
    references = load_references(output)
    if table and profile.name in references["profiles"]:
        Path(table).write_text(table_markdown(profile.name, references["profiles"][profile.name]))
    return references


def _run_and_merge(profile, name: str, seed: int, data, output: Path, signature: dict,
                   log) -> None:
    """One run in this process, merged into ``output`` (whose lock the caller holds)."""
    folder = backup_folder(profile, name, seed, signature)
    summary = _train_resumably(name, profile, seed, data, folder)
    summary.update(date=_now(), hardware=hardware(), versions=library_versions())
    if changes := _recipe_changes(profile, name):
        summary["recipe_changes"] = changes
    references = load_references(output) if output.exists() else {"profiles": {}}
    entry = _profile_entry(references, profile.name, signature)
    _merge_run(entry, name, summary, _data_provenance(data))
    _write_atomically(output, json.dumps(references, indent=1) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    log(f"{name} seed {seed}: test accuracy {summary['test_accuracy']:.4f}, "
        f"{summary['epochs_run']} epochs, {summary['train_seconds']:.0f} s "
        f"(merged into {output})", flush=True)


def _run_in_parallel(profile, pending, source, output: Path, signature: dict, force: bool,
                     jobs: int, log, settings: dict | None = None) -> None:
    """Each pending (run, seed) in a runner process of its own, ``jobs`` at a time.

    Each process writes its own references file (and log) beside its backup
    folder, merged into ``output`` as soon as it lands. Those files outlive an
    interrupted parent: called again, a process whose run is already in its file
    skips it, and the run is merged then.
    """
    threads = threads_per_worker(jobs, RunConfig.from_environment())

    def run_one(name: str, seed: int) -> tuple[Path, Path, int]:
        own = backup_folder(profile, name, seed, signature)
        own_output, own_log = own.with_suffix(".json"), own.with_suffix(".log")
        own_output.parent.mkdir(parents=True, exist_ok=True)
        log(f"{name} seed {seed}: started in its own process (log: {own_log})", flush=True)
        with open(own_log, "a") as handle:
            returncode = subprocess.run(
                runner_command(profile.name, name, seed, own_output, source, threads, force,
                               settings),
                stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
        return own_output, own_log, returncode

    failed = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(run_one, name, seed): (name, seed) for name, seed in pending}
        for future in as_completed(futures):
            name, seed = futures[future]
            own_output, own_log, returncode = future.result()
            if returncode != 0 or not own_output.exists():
                failed.append(f"{name} seed {seed} (exit {returncode}; log: {own_log})")
                continue
            _merge_files([own_output], output, log, signature)
            own_output.unlink()
            own_log.unlink()
    if failed:
        raise RuntimeError(
            f"{len(failed)} of {len(pending)} runs failed: {'; '.join(failed)}. The others are "
            f"merged into {output}. Fix: see the logs, then run the same command again (a "
            f"failed run resumes from its last finished epoch)")


def runner_command(profile: str, name: str, seed: int, output: Path, source, threads: int | None,
                   force: bool, settings: dict | None = None) -> list[str]:
    """The command line of one runner process: one run, into its own ``output``."""
    command = [sys.executable, "-m", "cifar_course.cli", "references", "run",
               "--profile", profile, "--stages", name, "--seeds", str(seed),
               "--output", str(output)]
    for key, value in (settings or {}).items():
        command += ["--set", f"{key}={value}"]
    if source:
        command += ["--source", str(source)]
    if threads:
        command += ["--threads", str(threads)]
    return command + (["--force"] if force else [])


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _profile_entry(references: dict, profile: str, signature: dict) -> dict:
    """The profile's entry; one measured under another protocol, profile or data starts afresh."""
    entry = references["profiles"].get(profile)
    if entry is None or entry.get("signature") != signature:
        entry = references["profiles"][profile] = {"signature": signature, "stages": {}}
    return entry


def merge_references(sources, output: str | Path | None = None, log=print) -> dict:
    """Merge the runs of other references files into ``output`` (default: the package's).

    For runs made in parallel, each runner with its own ``--output`` (a runner
    locks its output for as long as it trains), or on another machine. A source
    profile counts only if it was measured under the protocol and the profile
    settings of this code, and on the data of the entry it joins. As in
    ``run_references``, an entry of ``output`` measured under other settings is
    started afresh, and a run of a seed already there is replaced.
    """
    output = Path(output) if output else shipped_references_path()
    with _locked(output):
        return _merge_files(sources, output, log)


def _merge_files(sources, output: Path, log, expected: dict | None = None) -> dict:
    """``merge_references`` for a caller that holds ``output``'s lock. ``expected``: the
    signature the runs must have, where the caller knows it (a trial's runner processes);
    else the named profile's, as this code defines it."""
    references = load_references(output) if output.exists() else {"profiles": {}}
    for source in map(Path, sources):
        for name, theirs in json.loads(source.read_text())["profiles"].items():
            signature = theirs["signature"]
            wanted = expected or _run_signature(get_profile(name), signature.get("data_sha256"))
            if signature != wanted:
                raise ValueError(
                    f"{source}: its {name!r} runs were measured under other settings or "
                    f"another protocol than this code's {name!r} profile: "
                    f"{signature} against {wanted}. Fix: merge only runs made with this "
                    f"version's profile, or run them again")
            ours = references["profiles"].get(name, {}).get("signature", {})
            if ours.get("profile") == signature["profile"] and ours != signature:
                raise ValueError(
                    f"{source}: its {name!r} runs were measured on other data "
                    f"(sha256 {signature.get('data_sha256')}) than those in {output} "
                    f"({ours.get('data_sha256')}). Fix: measure both on the same copy")
            entry = _profile_entry(references, name, signature)
            for stage, measured in theirs["stages"].items():
                for run in measured["runs"]:
                    _merge_run(entry, stage, run, theirs["provenance"]["data"])
                    log(f"{name} {stage} seed {run['seed']}: test accuracy "
                        f"{run['test_accuracy']:.4f} (from {source})", flush=True)
    _write_atomically(output, json.dumps(references, indent=1) + "\n")
    return references


def _data_provenance(data) -> dict:
    return {"kind": data.source.kind, "path": os.path.basename(data.source.path),
            "sha256": data.source.sha256, "n_train": len(data.x_train),
            "n_val": len(data.x_val), "n_test": len(data.x_test)}


def _merge_run(entry: dict, stage: str, summary: dict, data_provenance: dict) -> None:
    runs = [r for r in entry["stages"].get(stage, {}).get("runs", []) if r["seed"] != summary["seed"]]
    runs = sorted(runs + [summary], key=lambda r: r["seed"])
    entry["stages"][stage] = {**aggregate(runs), "runs": runs,
                              "measured": max(run["date"] for run in runs)}
    order = [s.name for s in STAGES]  # the stages in recipe order, then the speedrun
    entry["stages"] = dict(sorted(entry["stages"].items(),
                                  key=lambda item: order.index(item[0]) if item[0] in order else len(order)))
    latest = max((run for measured in entry["stages"].values() for run in measured["runs"]),
                 key=lambda run: run["date"])
    entry["provenance"] = {
        "protocol": PROTOCOL,
        "data": data_provenance,
        "profile": entry["signature"]["profile"],
        "seeds": sorted({seed for e in entry["stages"].values() for seed in e["seeds"]}),
        # The newest run's: merged runs may come from other machines, in any order.
        **{key: latest[key] for key in ("hardware", "versions", "date")},
    }
