"""experiments/fixed_settings_pilot.py: pilots of what the final stage fixes."""

from __future__ import annotations

import importlib
import json

import pytest

from cifar_course.models import build_baseline_cnn
from cifar_course.profiles import get_profile
from cifar_course.stages import FINAL_STAGE
from cifar_course.training import train_stage


@pytest.fixture(scope="module")
def pilot():
    return importlib.import_module("fixed_settings_pilot")


def test_a_pilot_of_the_stage_own_settings_is_the_stage_run(pilot):
    """A pilot measures a change against the very run the references make."""
    settings = {"head": "global_pool", "dropout": FINAL_STAGE.model.dropout,
                "weight_decay": FINAL_STAGE.optimizer.weight_decay, "train_size": None}
    figures = pilot.run_pilot(settings, seed=0, profile_name="smoke", verbose=0)
    reference = train_stage(FINAL_STAGE, "smoke", seed=0, verbose=0)
    assert figures["test_accuracy"] == pytest.approx(reference.test["accuracy"])
    assert figures["epochs_run"] == reference.epochs_run
    assert figures["train_images"] == 256 and figures["weights"] == reference.model.count_params()


def test_a_pilot_is_recorded_once_and_its_page_shows_it_beside_the_references(pilot, tmp_path):
    record = tmp_path / "pilots.json"
    for _ in range(2):  # run again after finishing: trains afresh and replaces its record
        assert pilot.main(["--profile", "smoke", "--head", "flatten", "--dropout", "0",
                           "--record", str(record)]) == 0
    runs = json.loads(record.read_text())
    assert len(runs) == 1 and runs[0]["epochs_run"] == 3 and runs[0]["head"] == "flatten"
    # The classifier sees 4 x 4 positions of 128 features instead of their average.
    assert runs[0]["weights"] == build_baseline_cnn().count_params() + (4 * 4 - 1) * 128 * 10
    page = tmp_path / "page.md"
    assert pilot.main(["--record", str(record), "--page", str(page)]) == 0
    rows = [line for line in page.read_text().splitlines() if line.startswith("| ")]
    references = pilot.reference_rows()
    assert len(rows) == 1 + len(references) + 1  # the header, the references, the pilot
    assert rows[-1].startswith(f"| pilot {runs[0]['date']} | flatten | 0 | 0.05 | 256 | 0 |")


def test_the_published_page_is_the_record(pilot):
    record = json.loads(pilot.RECORD.read_text())
    page = pilot.page(record, pilot.reference_rows())
    assert (pilot.RECORD.parent / "fixed-settings-pilots.md").read_text() == page, \
        "stale: python experiments/fixed_settings_pilot.py --page docs/fixed-settings-pilots.md"


def test_an_unknown_head_is_refused(pilot):
    with pytest.raises(ValueError, match="head='dense'.*global_pool, flatten"):
        pilot.pilot_model(FINAL_STAGE, get_profile("smoke"), 0, "dense")
