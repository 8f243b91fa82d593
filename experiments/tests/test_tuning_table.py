"""experiments/tuning_table.py: the full profile's tuning trials and their published table."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tuning_table():
    return importlib.import_module("tuning_table")


def _run(lr, seed, val_curve, best_epoch, date="2026-12-01T10:00:00+00:00"):
    return {"settings": {"learning_rate": lr, "batch_size": 128, "reduce_lr_patience": 3},
            "seed": seed, "date": date, "epochs_run": len(val_curve), "best_epoch": best_epoch,
            "test_accuracy": 0.8, "train_seconds": 10.0,
            "epochs": {"val_accuracy": val_curve, "learning_rate": [lr, lr, lr / 5][:len(val_curve)]}}


def test_a_trial_is_judged_on_the_validation_accuracy_it_ends_with(tuning_table):
    run = _run(1e-3, 0, [0.5, 0.7, 0.6], best_epoch=2)
    assert tuning_table.restored_val_accuracy(run) == 0.7
    assert tuning_table.rate_drops(run) == "2"
    assert tuning_table.restored_val_accuracy({**run, "epochs": {}}) is None
    table = tuning_table.markdown([run, _run(2e-3, 0, [0.5, 0.6, 0.8], best_epoch=3)])
    assert "80.00 (best)" in table and "70.00 |" in table
    chosen = tuning_table.markdown([run], chosen=run["settings"])
    assert "70.00 (best, chosen)" in chosen


def test_a_trial_run_again_replaces_its_record(tuning_table):
    old, other = _run(1e-3, 0, [0.5], 1), _run(1e-3, 1, [0.5], 1)
    new = {**old, "date": "2026-12-02T10:00:00+00:00"}
    merged = tuning_table.merge([old, other], [new])
    assert len(merged) == 2 and new in merged and old not in merged


def test_the_published_table_is_the_records(tuning_table):
    record = json.loads(tuning_table.RECORD.read_text())
    assert record, "no trial recorded"
    assert (REPO / "docs" / "tuning-full.md").read_text() == tuning_table.markdown(record)
    for run in record:
        assert run["settings"]["name"] == "full" and run["hardware"] and run["versions"]
