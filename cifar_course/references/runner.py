"""The reference runner: train every stage of a profile over several seeds on
real data, and write the figures with their provenance.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import statistics
from pathlib import Path

from ..profiles import get_profile
from ..stages import STAGES, get_stage
from . import load_references, shipped_references_path

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
        values = [r[metric] for r in runs]
        finite = [v for v in values if v is not None and math.isfinite(v)]  # a diverged run
        out[metric] = {"mean": statistics.fmean(finite) if finite else None,
                       "std": statistics.stdev(finite) if len(finite) > 1 else 0.0,
                       "values": values}
    return out


def ablation_table(profile_entry: dict) -> str:
    """Markdown: one row per stage, accuracy mean +- std and what changed."""
    lines = [
        "| # | stage | adds | test accuracy (%) | test loss | ECE | best val loss | epochs | run wall time (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in profile_entry["stages"].items():
        stage = get_stage(name)
        acc = entry["test_accuracy"]
        lines.append(
            f"| {stage.number} | {stage.name} | {stage.adds} | "
            f"{100 * acc['mean']:.2f} +- {100 * acc['std']:.2f} | "
            f"{entry['test_loss']['mean']:.3f} | {entry['ece']['mean']:.3f} | "
            f"{entry['best_val_loss']['mean']:.3f} | {entry['epochs_run']['mean']:.1f} | "
            f"{entry['wall_seconds']['mean']:.0f} +- {entry['wall_seconds']['std']:.0f} |")
    return "\n".join(lines)


def run_references(profile_name: str, seeds=(0, 1, 2), stages=None, source=None,
                   output: str | Path | None = None, table: str | Path | None = None,
                   log=print) -> dict:
    """Train ``stages`` x ``seeds`` in a profile and merge the result into ``output``.

    ``output`` defaults to the package's own ``references.json``. The file is
    rewritten after every stage, so an interrupted run keeps what it finished.
    """
    from ..training import prepare_data, train_stage

    profile = get_profile(profile_name)
    if profile.synthetic:
        raise ValueError(f"Profile {profile.name!r} uses synthetic images: references must "
                         f"come from real CIFAR-10. Use 'grade', 'quick' or 'full'.")
    stages = [get_stage(s) for s in stages] if stages else list(STAGES)
    output = Path(output) if output else shipped_references_path()
    data = prepare_data(profile, source)
    references = load_references(output) if output.exists() else {"profiles": {}}
    entry = references["profiles"].setdefault(profile.name, {"stages": {}})
    entry["provenance"] = {
        "data": {"kind": data.source.kind, "path": os.path.basename(data.source.path),
                 "sha256": data.source.sha256, "n_train": len(data.x_train),
                 "n_val": len(data.x_val), "n_test": len(data.x_test)},
        "profile": {k: v for k, v in vars(profile).items() if k != "description"},
        "seeds": list(seeds),
        "measured_model": "weights of the epoch with the lowest validation loss",
        "hardware": hardware(),
        "versions": library_versions(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    for stage in stages:
        runs = []
        for seed in seeds:
            result = train_stage(stage, profile, seed=seed, data=data, verbose=0)
            runs.append(result.summary())
            log(f"{stage.name} seed {seed}: test accuracy {result.test['accuracy']:.4f}, "
                f"{result.epochs_run} epochs, {result.wall_seconds:.0f} s", flush=True)
        entry["stages"][stage.name] = aggregate(runs)
        entry["stages"][stage.name]["measured"] = dt.datetime.now(dt.timezone.utc).isoformat(
            timespec="seconds")
        # Keep the recipe's order whatever order stages were (re)run in.
        entry["stages"] = {s.name: entry["stages"][s.name] for s in STAGES
                           if s.name in entry["stages"]}
        output.write_text(json.dumps(references, indent=1) + "\n")
    if table:
        Path(table).write_text(
            f"# Ablation, profile `{profile.name}`\n\nWritten by `cifar-course references run`"
            f" on {entry['provenance']['date']}; data: {entry['provenance']['data']['path']} "
            f"(sha256 {str(entry['provenance']['data']['sha256'])[:12]}...), seeds "
            f"{list(seeds)}, hardware: {entry['provenance']['hardware'].get('cpu_model')} "
            f"({entry['provenance']['hardware']['cpu_count']} cores)"
            f"{', GPU ' + entry['provenance']['hardware']['gpu'] if 'gpu' in entry['provenance']['hardware'] else ''}."
            f"\n\n{ablation_table(entry)}\n")
    return references
