"""The full profile's tuning trials, chosen on validation: docs/tuning-full.md.

A trial is one setting of what the stages leave free (learning rate, batch size,
plateau settings, the share of images random erasing erases: ``--set``, see
``profiles.TRIAL_SETTINGS``), run by the reference runner into a file of its own, so
that the package's references change only once a setting is chosen (in
``profiles.py``, then measured again or merged):

    cifar-course references run --profile full --stages callbacks --seeds 0 1 \\
        --set erasing_probability=0.1 --output /tmp/trial.json
    python experiments/tuning_table.py --add /tmp/trial.json --out docs/tuning-full.md

``--add`` copies each trial's runs (settings, validation curve, figures,
provenance) into docs/tuning-full.json, the trials' record; the table is written
from that record. The choice is made on the validation accuracy of the model
each run ends with (the callbacks stage restores its lowest-validation-loss
weights); the test accuracy is shown, never used.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
RECORD = REPO / "docs" / "tuning-full.json"
PROFILE = "full"
STAGE = "callbacks"
# The settings every full-profile trial has a column for; any other a trial sets is listed.
COLUMNS = ("name", "train_size", "val_size", "test_size", "epochs", "batch_size",
           "learning_rate", "reduce_lr_patience", "reduce_lr_min_delta", "synthetic")


def restored_val_accuracy(run: dict) -> float | None:
    """Validation accuracy of the weights a recorded run ends with (its best validation-loss
    epoch, from the curve the runner keeps); ``None`` where the curve was not recorded."""
    curve = run.get("epochs", {}).get("val_accuracy")
    if not curve or not run.get("best_epoch"):
        return None
    return curve[run["best_epoch"] - 1]


def trial_runs(path: Path) -> list[dict]:
    """The full profile's final-stage runs in a runner's output, each with its settings."""
    entry = json.loads(path.read_text())["profiles"].get(PROFILE)
    if not entry or STAGE not in entry["stages"]:
        raise SystemExit(f"{path}: no {PROFILE}-profile run of stage {STAGE!r} in it")
    settings = entry["signature"]["profile"]
    return [{"settings": settings, "protocol": entry["signature"]["protocol"], **run}
            for run in entry["stages"][STAGE]["runs"]]


def merge(record: list[dict], runs: list[dict]) -> list[dict]:
    """The record with ``runs`` added; a run of the same settings and seed is replaced."""
    def key(run):
        return json.dumps(run["settings"], sort_keys=True), run["seed"]

    merged = {key(run): run for run in record}
    merged.update({key(run): run for run in runs})
    return list(merged.values())


def rate_drops(run: dict) -> str:
    rates = run.get("epochs", {}).get("learning_rate")
    if not rates:
        return "not recorded"
    # rates[i] is the rate epoch i + 1 trained at: it dropped after epoch i.
    drops = [str(i) for i in range(1, len(rates)) if rates[i] < rates[i - 1] * 0.999]
    return ", ".join(drops) or "none"


def profile_settings_now() -> dict:
    """The full profile's settings in this code, as the runner records them."""
    from cifar_course.profiles import get_profile
    from cifar_course.references.runner import profile_settings

    return json.loads(json.dumps(profile_settings(get_profile(PROFILE))))


def markdown(record: list[dict], chosen: dict | None = None) -> str:
    """The table of ``record``; the trials of the ``chosen`` settings (default: the profile's
    now) are marked."""
    chosen = profile_settings_now() if chosen is None else chosen
    rows = sorted(record, key=lambda r: r["date"])
    measured = [r for r in rows if restored_val_accuracy(r) is not None]
    best = max(measured, key=restored_val_accuracy) if measured else None
    lines = [
        "# Tuning the full profile, on validation",
        "",
        "Written by `python experiments/tuning_table.py` from [tuning-full.json](tuning-full.json), "
        "the trials as the reference runner recorded them; do not edit by hand. Each trial is the "
        f"final stage ({STAGE}) trained once in the `{PROFILE}` profile with one setting of what "
        "the stages leave free. It is judged on the validation accuracy of the weights it ends "
        "with (EarlyStopping restores those of the lowest validation loss); the test accuracy is "
        "shown for the record and chose nothing ([measurement-protocol.md](measurement-protocol.md)).",
        "",
        "| date | learning rate | batch | plateau patience | plateau min_delta | other settings | "
        "seed | rate drops after epoch | epochs | validation accuracy (%) | test accuracy (%) | "
        "train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in rows:
        s = run["settings"]
        val = restored_val_accuracy(run)
        marks = [m for m, on in (("best", run is best), ("chosen", s == chosen)) if on]
        mark = f" ({', '.join(marks)})" if marks else ""
        other = ", ".join(f"{k}={v}" for k, v in s.items() if k not in COLUMNS) or "-"
        lines.append(
            f"| {run['date'][:16].replace('T', ' ')} | {s['learning_rate']:g} | {s['batch_size']} | "
            f"{s['reduce_lr_patience']} | {s.get('reduce_lr_min_delta', 1e-4):g} | {other} | "
            f"{run['seed']} | "
            f"{rate_drops(run)} | {run['epochs_run']} | "
            f"{'not recorded' if val is None else f'{100 * val:.2f}{mark}'} | "
            f"{100 * run['test_accuracy']:.2f} | {run['train_seconds']:.0f} |")
    lines += ["", f"*chosen*: the `{PROFILE}` profile's settings now, those its references are "
              "measured under.", "",
              "The reference project reached 86.80% test accuracy in about 85 epochs.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--add", nargs="*", type=Path, default=[],
                        help="runner outputs (references.json copies) whose trials to record")
    parser.add_argument("--record", type=Path, default=RECORD)
    parser.add_argument("--out", type=Path, help="write the table here (else print it)")
    args = parser.parse_args(argv)
    record = json.loads(args.record.read_text()) if args.record.exists() else []
    for path in args.add:
        record = merge(record, trial_runs(path))
    if args.add:
        args.record.write_text(json.dumps(record, indent=1) + "\n")
    text = markdown(record)
    if args.out:
        args.out.write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
