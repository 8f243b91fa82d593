"""Figures a lesson states, rendered from the references when the course is built.

A markdown cell in ``solutions/`` never types a measured number: it writes a
placeholder, which ``lessons build`` and ``grade release`` replace with the
references' figure (``grading/lessons.stage_course``), so the student version,
the released course and its mark schemes always say what ``references.json``
holds, and a test fails when the committed lessons fall behind it.

``{{ PROFILE STAGE METRIC [STAT] }}``

- ``PROFILE``: a profile of the references (``grade``, ``quick``, ``full``,
  ``speedrun-quick``, ...); ``STAGE``: one of its stages, or several joined by
  ``+`` (with STAT ``total``), or ``profile`` for a setting the references were
  measured with (``{{ quick profile train_size }}``: 1,500);
- ``METRIC``: ``test_accuracy``, ``test_loss``, ``ece``, ``best_val_loss``,
  ``epochs_run``, ``best_epoch``, ``train_seconds``;
- ``STAT``: ``band`` (the default: mean +- the seeds' standard deviation, and
  how many seeds), ``mean``, ``std``, ``values`` (each seed's), ``seeds``
  (how many), ``total`` (the stages' means added up).

``{{ grade augmentation test_accuracy }}`` renders as ``40.97% ± 2.65 (10 seeds)``.
"""

from __future__ import annotations

import re

PLACEHOLDER = re.compile(r"\{\{\s*([\w-]+)\s+([\w+-]+)\s+(\w+)(?:\s+(\w+))?\s*\}\}")
STATS = ("band", "mean", "std", "values", "seeds", "total")


def duration(seconds: float) -> str:
    """A run time as the course states it: seconds below 90, else whole minutes."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} minutes"


def _number(metric: str, value: float) -> str:
    if metric == "test_accuracy":
        return f"{100 * value:.2f}%"
    if metric in ("epochs_run", "best_epoch"):
        return f"{value:g}" if value == int(value) else f"{value:.1f}"
    if metric in ("train_seconds", "wall_seconds"):
        return duration(value)
    return f"{value:.3f}"


def _spread(metric: str, value: float) -> str:
    if metric == "test_accuracy":
        return f"{100 * value:.2f}"  # points, beside a percentage
    return _number(metric, value)


def figure(profile: str, stages: str, metric: str, stat: str | None, references: dict) -> str:
    """One placeholder's text (see the module's docstring); KeyError naming what is missing."""
    if stages == "profile":
        settings = references["profiles"].get(profile, {}).get("signature", {}).get("profile", {})
        if metric not in settings:
            raise KeyError(f"the references record no {metric} for the {profile} profile")
        value = settings[metric]
        if metric in ("train_size", "val_size", "test_size") and value is None:
            return "all the"
        return f"{value:,}" if isinstance(value, int) else str(value)
    stat = stat or "band"
    if stat not in STATS:
        raise KeyError(f"{stat!r} is not a statistic: use one of {', '.join(STATS)}")
    recorded = references["profiles"].get(profile, {}).get("stages", {})
    entries = []
    for stage in stages.split("+"):
        if stage not in recorded or metric not in recorded[stage]:
            raise KeyError(f"the references have no {metric} for {profile}/{stage}")
        entries.append(recorded[stage][metric])
    if stat == "total":
        return _number(metric, sum(e["mean"] for e in entries))
    if len(entries) > 1:
        raise KeyError(f"{stages}: several stages need the statistic 'total'")
    entry = entries[0]
    if stat == "mean":
        return _number(metric, entry["mean"])
    if stat == "std":
        return _spread(metric, entry["std"])
    if stat == "values":
        return ", ".join(_number(metric, v) for v in entry["values"])
    if stat == "seeds":
        return str(len(entry["values"]))
    seeds = len(entry["values"])
    if seeds == 1:  # no spread to state
        return f"{_number(metric, entry['mean'])} (1 seed)"
    return f"{_number(metric, entry['mean'])} ± {_spread(metric, entry['std'])} ({seeds} seeds)"


def render(text: str, references: dict, where: str = "") -> str:
    """``text`` with every placeholder replaced by its figure."""
    def replace(match: re.Match) -> str:
        try:
            return figure(*match.groups(), references)
        except KeyError as error:
            raise KeyError(f"{where}: {match.group(0)}: {error.args[0]}") from None

    return PLACEHOLDER.sub(replace, text)


def render_notebook(notebook, references: dict, name: str = "notebook"):
    """The notebook with the placeholders of its markdown cells rendered."""
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            cell.source = render(cell.source, references, f"{name}, cell {index}")
    return notebook
