"""Pilots of what the final stage fixes: docs/fixed-settings-pilots.md.

The tuning trials (docs/tuning-full.md) vary only what the stages leave free. How
far the final stage can go in 40 epochs also depends on what it fixes: the head
(global average pooling), the dropout rate (0.5) and AdamW's decoupled decay
(0.05). A pilot trains the final stage with some of those changed, under the full
profile's settings (or on fewer training images, ``--train-size``), and appends
its figures to a record, docs/fixed-settings-pilots.json; ``--page`` writes the
record as a markdown page, beside the final stage's own reference runs:

    python experiments/fixed_settings_pilot.py --head flatten --seed 0
    python experiments/fixed_settings_pilot.py --page docs/fixed-settings-pilots.md

A pilot chooses nothing and changes no reference. Pilots are compared on the
validation accuracy of the weights they end with (EarlyStopping restores those of
the lowest validation loss), as the tuning trials are; the test accuracy is shown,
never used. An interrupted pilot resumes from its last finished epoch when the
same command is run again.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

RECORD = Path(__file__).resolve().parents[1] / "docs" / "fixed-settings-pilots.json"


def pilot_settings(args) -> dict:
    """What a pilot changes: the final stage's fixed settings and the training images."""
    return {"head": args.head, "dropout": args.dropout, "weight_decay": args.weight_decay,
            "train_size": args.train_size}


HEADS = ("global_pool", "flatten")  # the recipe's average over positions; every position's features


def pilot_model(stage, profile, seed: int, head: str):
    """The final stage's network (``stage``, with the pilot's dropout) with ``head``
    between its last block and its classifier."""
    import keras

    from cifar_course.models import build_stage_model

    if head not in HEADS:
        raise ValueError(f"head={head!r}: choose one of {', '.join(HEADS)}")
    model = build_stage_model(stage.model, seed=seed, erasing_probability=profile.erasing_probability)
    if head == "global_pool":
        return model
    # The same blocks, each position's features flattened into a classifier of its own.
    x = keras.layers.Flatten(name="flatten")(model.get_layer("global_pool").input)
    if stage.model.dropout:
        x = keras.layers.Dropout(stage.model.dropout, name="dropout")(x)
    classifier = model.get_layer("classifier")
    outputs = keras.layers.Dense(classifier.units, activation="softmax", name="classifier",
                                 kernel_regularizer=classifier.kernel_regularizer)(x)
    return keras.Model(model.inputs, outputs, name=model.name)


def run_pilot(settings: dict, seed: int, profile_name: str = "full", threads: int | None = None,
              verbose: int = 2) -> dict:
    """Train the final stage with ``settings`` changed, resumably as the reference runner
    trains; its figures, as a JSON-ready dict."""
    import cifar_course  # noqa: F401  (the torch backend, before keras)
    import keras

    from cifar_course.profiles import get_profile
    from cifar_course.references.runner import _train_resumably, backup_folder, hardware
    from cifar_course.stages import FINAL_STAGE
    from cifar_course.threads import configure_threads
    from cifar_course.training import prepare_data

    configure_threads(threads)
    profile = get_profile(profile_name)
    if settings["train_size"] is not None:
        profile = replace(profile, name=f"{profile.name}-{settings['train_size']}",
                          train_size=settings["train_size"])
    stage = replace(
        FINAL_STAGE,
        model=replace(FINAL_STAGE.model, dropout=settings["dropout"]),
        optimizer=replace(FINAL_STAGE.optimizer, weight_decay=settings["weight_decay"]),
    )
    folder = backup_folder(profile, "pilot", seed, settings)
    data = prepare_data(profile)
    keras.utils.set_random_seed(seed)  # before building, as the reference runs do
    model = pilot_model(stage, profile, seed, settings["head"])
    start = time.time()
    run = _train_resumably(stage, profile, seed, data, folder, model=model, verbose=verbose)
    shutil.rmtree(folder)  # done: the same command later trains afresh
    return {
        **settings, "train_images": len(data.x_train), "profile": profile.name,
        "weights": model.count_params(), **run_figures(run),
        "test_loss": run["test_loss"], "ece": run["ece"],
        "seconds_last_leg": round(time.time() - start),
        "hardware": hardware(), "date": time.strftime("%Y-%m-%d"),
    }


def run_figures(run: dict) -> dict:
    """What a row of the page shows of a run, as the reference runner summarises it."""
    from tuning_table import restored_val_accuracy

    return {"seed": run["seed"], "epochs_run": run["epochs_run"], "best_epoch": run["best_epoch"],
            "val_accuracy": restored_val_accuracy(run),
            "train_accuracy_last": run["epochs"]["accuracy"][-1],
            "test_accuracy": run["test_accuracy"]}


def reference_rows() -> list[dict]:
    """The final stage's own full-profile runs in references.json, as pilot rows: what a
    pilot is compared with (a pilot of the stage's own settings is such a run)."""
    from cifar_course.models import build_stage_model
    from cifar_course.references import load_references
    from cifar_course.stages import FINAL_STAGE

    entry = load_references()["profiles"].get("full", {})
    runs = entry.get("stages", {}).get(FINAL_STAGE.name, {}).get("runs", [])
    runs = [run for run in runs if run.get("epochs", {}).get("val_accuracy")]
    if not runs:
        return []
    settings = {"head": "global_pool", "dropout": FINAL_STAGE.model.dropout,
                "weight_decay": FINAL_STAGE.optimizer.weight_decay, "train_size": None,
                "train_images": entry["provenance"]["data"]["n_train"], "profile": "full",
                "weights": build_stage_model(FINAL_STAGE.model).count_params(), "reference": True}
    return [{**settings, **run_figures(run)} for run in runs]


def page(pilots: list[dict], references: list[dict]) -> str:
    """docs/fixed-settings-pilots.md: the final stage's reference runs, then the pilots."""
    lines = [
        "# Pilots of what the final stage fixes",
        "",
        "Written by `python experiments/fixed_settings_pilot.py --page docs/fixed-settings-pilots.md` "
        "from [fixed-settings-pilots.json](fixed-settings-pilots.json); do not edit by hand. "
        "The tuning trials ([tuning-full.md](tuning-full.md)) vary what the stages leave free. "
        "A pilot varies what the final stage fixes (the head, the dropout rate, AdamW's "
        "decoupled decay) to see how far the network goes in 40 epochs with the full profile's "
        "other settings. The first rows are the final stage itself, its full-profile references. "
        "Validation is the accuracy of the weights a run ends with (those of its lowest "
        "validation loss); test is shown and chose nothing. A pilot changes no reference: "
        "the recipe changes only in `stages.py`, after which every stage is measured again.",
        "",
        "| run | head | dropout | AdamW decay | training images | seed | weights | best epoch | "
        "training accuracy, last epoch | validation (%) | test (%) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    ordered = sorted(pilots, key=lambda p: (p["train_images"], p["head"] != "global_pool",
                                            -p["dropout"], -p["weight_decay"], p["seed"]))
    for p in [*references, *ordered]:
        lines.append(
            f"| {'reference' if p.get('reference') else 'pilot ' + p.get('date', '')} | "
            f"{p['head']} | {p['dropout']:g} | {p['weight_decay']:g} | "
            f"{p['train_images']:,} | {p['seed']} | {p['weights']:,} | "
            f"{p['best_epoch']} of {p['epochs_run']} | {p['train_accuracy_last']:.3f} | "
            f"{100 * p['val_accuracy']:.2f} | {100 * p['test_accuracy']:.2f} |")
    lines += ["", "The reference project reached 86.80% test accuracy in about 85 epochs.", ""]
    return "\n".join(lines)


def read_record(path: Path) -> list[dict]:
    return json.loads(path.read_text()) if path.exists() else []


def add_to_record(record: list[dict], figures: dict) -> list[dict]:
    """The record with ``figures`` in it, replacing an earlier run of the same pilot and seed."""
    same = ("head", "dropout", "weight_decay", "train_images", "seed", "profile")
    return [p for p in record if any(p[k] != figures[k] for k in same)] + [figures]


def main(argv=None) -> int:
    from cifar_course.stages import FINAL_STAGE

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--head", choices=HEADS, default="global_pool")
    parser.add_argument("--dropout", type=float, default=FINAL_STAGE.model.dropout)
    parser.add_argument("--weight-decay", type=float, default=FINAL_STAGE.optimizer.weight_decay)
    parser.add_argument("--train-size", type=int, default=None,
                        help="training images (default: the profile's, all 45,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", default="full")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--record", type=Path, default=RECORD,
                        help="the pilots' record (JSON) a pilot is added to, a page written from")
    parser.add_argument("--page", type=Path,
                        help="write the record's page here instead of training a pilot")
    args = parser.parse_args(argv)
    if args.page:
        args.page.write_text(page(read_record(args.record), reference_rows()))
        return 0
    figures = run_pilot(pilot_settings(args), args.seed, args.profile, args.threads)
    print(json.dumps(figures))
    from cifar_course.references.runner import _write_atomically

    # Read only now: pilots running side by side each add to what the others wrote.
    record = add_to_record(read_record(args.record), figures)
    _write_atomically(args.record, json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
