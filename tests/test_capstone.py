"""The capstone on real CIFAR-10 in the quick profile: the whole recipe, built from the
student's pieces, trained as the reference runner trains the final stage (same stage,
profile and seed), lands in the final stage's reference band.

Its own file: the suite's longest test (a training run of minutes), scheduled apart
from the other notebooks' file so that the workers finish together.
"""

from __future__ import annotations

import json

import nbformat
import pytest

from notebooks import SOLUTIONS, execute

pytestmark = [pytest.mark.real_data, pytest.mark.slow, pytest.mark.long]


def test_capstone_in_quick_profile_meets_its_band(real_data, tmp_path, monkeypatch):
    from cifar_course.references import MissingReferenceError, reference_band
    from cifar_course.stages import FINAL_STAGE

    pytest.importorskip("nbgrader", reason="the lessons' tests need nbgrader: pip install -e '.[dev]'")
    try:
        band = reference_band(FINAL_STAGE.name, "quick")
    except MissingReferenceError as error:
        pytest.skip(str(error))
    monkeypatch.setenv("CIFAR_COURSE_DATA", str(real_data))
    # Up to the student's own change: its two extra runs are the smoke run's to test
    # (tests/test_lessons.py); here they would add minutes and decide nothing.
    notebook = nbformat.read(SOLUTIONS / "08_capstone.ipynb", as_version=4)
    own = next(i for i, c in enumerate(notebook.cells)
               if c.source.startswith("## Your turn: one change of your own"))
    notebook.cells = notebook.cells[:own]
    nbformat.write(notebook, tmp_path / "08_capstone.ipynb")
    run = execute(tmp_path / "08_capstone.ipynb", tmp_path, "quick", timeout=1200)
    assert not run.errors, run.errors  # the metric cell compares with the quick band
    folder = tmp_path / "runs" / "quick" / FINAL_STAGE.name
    assert (folder / "ablation.png").exists()
    # Held here too, not only by the notebook's own cell: the recorded run is the final
    # stage's, in the quick profile, inside the band the references give.
    metrics = json.loads((folder / "metrics.json").read_text())
    assert (metrics["stage"], metrics["profile"], metrics["seed"]) == (FINAL_STAGE.name, "quick", 0)
    assert band.low <= metrics["test_accuracy"] <= band.high, (metrics["test_accuracy"], band.describe())
    text = "".join(o.get("text", "") for c in run.notebook.cells for o in c.get("outputs", []))
    assert "Data augmentation" in text and "reference" in text
