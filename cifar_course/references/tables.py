"""The references as markdown: the ablation table of a profile (a stage recipe's stages,
or the speedrun's variants), and the page ``docs/`` keeps for it with its provenance."""

from __future__ import annotations

import statistics

from ..stages import STAGES


def _fmt(entry: dict, metric: str, scale: float = 1.0, digits: int = 3, spread=True) -> str:
    stats = entry.get(metric) or {}
    if stats.get("mean") is None:
        return "-"
    text = f"{scale * stats['mean']:.{digits}f}"
    if spread and len(stats["values"]) > 1:
        text += f" +- {scale * stats['std']:.{digits}f}"
    return text


def ablation_table(profile_entry: dict) -> str:
    """Markdown, one row per stage: accuracy, plain cross-entropy, ECE, epochs, time (mean +- std).
    A speedrun profile's table has one row per variant, with its change against the
    speedrun and its accuracy without test-time augmentation."""
    stages = profile_entry["stages"]
    if not any("test_accuracy_without_tta" in r for e in stages.values() for r in e["runs"]):
        lines = [
            "| # | stage | seeds | test accuracy (%) | test cross-entropy | ECE | epochs | train s (mean) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        numbers = {stage.name: stage.number for stage in STAGES}
        for name, entry in stages.items():
            lines.append(
                f"| {numbers.get(name, '-')} | {name} | {len(entry['seeds'])} | "
                f"{_fmt(entry, 'test_accuracy', 100, 2)} | {_fmt(entry, 'test_loss')} | "
                f"{_fmt(entry, 'ece')} | {_fmt(entry, 'epochs_run', digits=1, spread=False)} | "
                f"{_fmt(entry, 'train_seconds', digits=0, spread=False)} |")
        return "\n".join(lines)
    from ..speedrun.recipe import NAME

    lines = [
        "| run | seeds | test accuracy (%) | change (points) | no TTA (%) | cross-entropy | "
        "ECE | train s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    base = stages.get(NAME, {}).get("test_accuracy", {}).get("mean")
    for name, entry in stages.items():
        accuracy = entry["test_accuracy"]["mean"]
        change = f"{100 * (accuracy - base):+.2f}" if base is not None and name != NAME else "-"
        plain = [r["test_accuracy_without_tta"] for r in entry["runs"]]
        lines.append(
            f"| {name} | {len(entry['seeds'])} | {_fmt(entry, 'test_accuracy', 100, 2)} | {change} | "
            f"{100 * statistics.fmean(plain):.2f} | {_fmt(entry, 'test_loss', spread=False)} | "
            f"{_fmt(entry, 'ece', spread=False)} | "
            f"{_fmt(entry, 'train_seconds', digits=0, spread=False)} |")
    return "\n".join(lines)


def table_markdown(profile_name: str, entry: dict) -> str:
    """The ablation page for ``docs/``: provenance, then the table."""
    prov = entry["provenance"]
    hw = prov["hardware"]
    device = hw.get("gpu") or f"{hw.get('cpu_model')} ({hw.get('cpu_count')} cores, " \
                              f"{hw.get('torch_threads')} torch threads)"
    return (f"# Ablation, profile `{profile_name}`\n\n"
            f"Written by `cifar-course references run --profile {profile_name} --table ...` "
            f"(or `references merge`) "
            f"from `references.json`. Protocol: {prov['protocol']} "
            f"([measurement-protocol.md](measurement-protocol.md)). Data: {prov['data']['path']} "
            f"(sha256 {str(prov['data']['sha256'])[:12]}...; {prov['data']['n_train']:,} train, "
            f"{prov['data']['n_val']:,} validation, {prov['data']['n_test']:,} test images). "
            f"Last run {prov['date']} on {device}; keras {prov['versions']['keras']}, torch "
            f"{prov['versions']['torch']}. Values are mean +- sample std over the seeds.\n\n"
            f"{ablation_table(entry)}\n")
