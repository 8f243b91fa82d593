"""Reference metrics: what each stage reaches on real CIFAR-10, with provenance.

``references.json`` (shipped in the package) is written only by the reference
runner (``cifar-course references run``), never by hand. Its layout::

    {"profiles": {"quick": {"provenance": {...}, "stages": {"baseline": {
        "test_accuracy": {"mean": .., "std": .., "values": [..]}, ...}}}}}

A profile with no entry has no references yet: nothing is invented for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

REFERENCES_FILE = "references.json"
# What a reference measures (docs/measurement-protocol.md). Runs measured under
# another protocol are not mixed in: the runner starts such a profile afresh.
PROTOCOL = ("the model each stage ends training with after the profile's epochs (only the "
            "callbacks stage restores its best-validation weights, by its EarlyStopping); "
            "test loss is the unsmoothed cross-entropy")
# Bands: mean +- max(4 sigma, floor), sigma the larger of the stage's own
# standard deviation and the profile's pooled one (all its stages' seeds). A
# standard deviation from a few seeds is itself uncertain (from 3 it can be half
# the true one, from 10 still a third low), and so is the mean; seed noise is
# much the same from stage to stage, so the pooled estimate keeps a band from
# being too narrow because one stage's seeds happened to agree. The floor does
# the same for a profile whose seeds all agree. Four sigma, not three: at three,
# a correct baseline failed 1 run in 20 fresh seeds of the grade profile
# (docs/grading-power.md measures the rate).
BAND_STDS = 4.0
BAND_FLOOR = 0.02
MIN_SEEDS_FOR_A_BAND = 2  # one seed has no spread: checked against a floor instead
# The rule in words; the README states this very sentence (a test keeps them together).
BAND_RULE = (f"mean +- max({BAND_STDS:g} sigma, {100 * BAND_FLOOR:g} points), where sigma is "
             f"the larger of the stage's own standard deviation over its seeds and the "
             f"profile's pooled one (over all its stages' seeds)")


class MissingReferenceError(LookupError):
    """No reference was measured for this stage and profile."""


def shipped_references_path() -> Path:
    return Path(str(resources.files(__package__).joinpath(REFERENCES_FILE)))


def load_references(path: str | Path | None = None) -> dict:
    """The references file; profiles measured under another protocol are left out."""
    path = Path(path) if path else shipped_references_path()
    if not path.exists():
        return {"profiles": {}}
    references = json.loads(path.read_text())
    references["profiles"] = {
        name: entry for name, entry in references.get("profiles", {}).items()
        if entry.get("provenance", {}).get("protocol") == PROTOCOL}
    return references


@dataclass(frozen=True)
class Band:
    stage: str
    profile: str
    metric: str
    mean: float
    std: float  # the sigma of the band: max(the stage's std, the profile's pooled std)
    low: float
    high: float
    n_seeds: int

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def describe(self) -> str:
        return (f"{self.metric} {self.mean:.4f} over {self.n_seeds} seeds, seed spread "
                f"{self.std:.4f}; band [{self.low:.4f}, {self.high:.4f}]")


def reference_band(stage: str, profile: str, metric: str = "test_accuracy",
                   references: dict | None = None) -> Band:
    """The tolerance band of a stage's metric in a profile."""
    references = references if references is not None else load_references()
    try:
        entry = references["profiles"][profile]["stages"][stage][metric]
    except KeyError:
        measured = sorted(references.get("profiles", {}))
        raise MissingReferenceError(
            f"No reference {metric!r} for stage {stage!r} in profile {profile!r} "
            f"(profiles with references: {measured or 'none'}). Fix: run "
            f"`cifar-course references run --profile {profile}` on real data."
        ) from None
    if len(entry["values"]) < MIN_SEEDS_FOR_A_BAND:
        raise MissingReferenceError(
            f"only {len(entry['values'])} seed of stage {stage!r} is measured in profile "
            f"{profile!r}: a band needs the spread of at least {MIN_SEEDS_FOR_A_BAND}. Fix: "
            f"`cifar-course references run --profile {profile} --stages {stage} --seeds 1 2`.")
    stages = references["profiles"][profile]["stages"].values()
    sigma = max(entry["std"], pooled_std([s[metric] for s in stages if metric in s]))
    half_width = max(BAND_STDS * sigma, BAND_FLOOR)
    return Band(stage, profile, metric, entry["mean"], sigma,
                entry["mean"] - half_width, entry["mean"] + half_width, len(entry["values"]))


def measured_seconds_per_run(profile: str, references: dict | None = None) -> float | None:
    """Mean training time of the profile's recorded runs (None when it has none)."""
    references = references if references is not None else load_references()
    stages = references["profiles"].get(profile, {}).get("stages", {})
    measured = [v for s in stages.values() for v in s.get("train_seconds", {}).get("values", [])
                if v]
    return sum(measured) / len(measured) if measured else None


def training_time(profile: str, references: dict | None = None) -> str | None:
    """A run's training time in the profile, in words, from the recorded runs: "about 30 s",
    "1 to 11 minutes" (the stages' means, their lowest and highest), "about 24 minutes".
    None where nothing is recorded. What the README, the help and the lessons state."""
    import math

    references = references if references is not None else load_references()
    stages = references["profiles"].get(profile, {}).get("stages", {})
    means = [s["train_seconds"]["mean"] for s in stages.values() if s.get("train_seconds")]
    if not means:
        return None
    low, high, mean = min(means), max(means), sum(means) / len(means)
    if high < 90:
        return f"about {max(10, round(mean / 10) * 10)} s"
    if math.ceil(high / 60) - math.floor(low / 60) <= 2:
        return f"about {round(mean / 60)} minutes"
    return f"{math.floor(low / 60)} to {math.ceil(high / 60)} minutes"


def has_band_for_every_stage(profile: str) -> bool:
    """Whether every stage has enough seeds in ``profile`` for a reference band."""
    from ..stages import STAGES

    measured = load_references()["profiles"].get(profile, {}).get("stages", {})
    return all(len(measured.get(stage.name, {}).get("test_accuracy", {}).get("values", []))
               >= MIN_SEEDS_FOR_A_BAND for stage in STAGES)


def pooled_std(entries: list[dict]) -> float:
    """The standard deviation pooled over stages: sqrt of the dof-weighted mean variance."""
    dof = [len(e["values"]) - 1 for e in entries if len(e["values"]) > 1]
    variances = [e["std"] ** 2 for e in entries if len(e["values"]) > 1]
    if not dof:
        return 0.0
    return (sum(d * v for d, v in zip(dof, variances)) / sum(dof)) ** 0.5


__all__ = ["BAND_RULE", "PROTOCOL", "Band", "MissingReferenceError", "load_references", "reference_band",
           "shipped_references_path"]
