"""The lessons' comparison of a run with the references (cifar_course.lesson)."""

import json

import numpy as np

import cifar_course.lesson as lesson
from cifar_course.profiles import get_profile
from cifar_course.stages import STAGES


def measured(**metrics):
    """A references.json stage entry from each metric's per-seed values."""
    entry = {"seeds": list(range(len(next(iter(metrics.values())))))}
    for name, values in metrics.items():
        entry[name] = {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1))
                       if len(values) > 1 else 0.0, "values": values}
    return entry


def test_the_comparison_shows_each_metric_of_this_run_beside_its_reference(tmp_path, monkeypatch):
    references = {"profiles": {"quick": {"stages": {
        "baseline": measured(test_accuracy=[0.50, 0.52], test_loss=[1.6, 1.7], ece=[0.20, 0.22],
                             epochs_run=[40, 36]),
        "augmentation": measured(test_accuracy=[0.60], test_loss=[1.2], ece=[0.05], epochs_run=[38]),
    }}}}
    monkeypatch.setattr(lesson, "load_references", lambda: references)
    monkeypatch.setattr(lesson, "RUNS_DIR", tmp_path)
    saved = tmp_path / "quick" / "augmentation" / "metrics.json"
    saved.parent.mkdir(parents=True)
    saved.write_text(json.dumps({"test_accuracy": 0.61, "test_loss": 1.1, "ece": 0.04,
                                 "epochs_run": 40}))
    quick = get_profile("quick")

    baseline, augmentation, unmeasured = lesson.comparison_rows(STAGES[:3], quick)

    assert baseline["seeds"] == 2
    assert baseline["test_accuracy"]["this_run"] is None
    assert np.isclose(baseline["test_accuracy"]["mean"], 0.51)
    assert np.isclose(baseline["ece"]["std"], np.std([0.20, 0.22], ddof=1))
    # One seed: its mean is shown, and it claims no spread.
    assert augmentation["seeds"] == 1
    assert augmentation["ece"] == {"this_run": 0.04, "mean": 0.05, "std": None}
    assert augmentation["test_loss"] == {"this_run": 1.1, "mean": 1.2, "std": None}
    assert unmeasured["seeds"] == 0
    assert all(unmeasured[m] == {"this_run": None, "mean": None, "std": None}
               for m, _ in lesson.COMPARED_METRICS)

    table = lesson.comparison_table(STAGES[:3], quick)
    line = next(row for row in table.splitlines() if row.startswith(STAGES[1].title))
    assert line.split()[-9:] == ["61.00", "60.00", "1.100", "1.200", "0.040", "0.050", "40", "38",
                                 "1"]
    baseline_line = next(row for row in table.splitlines() if row.startswith(STAGES[0].title))
    assert baseline_line.split()[-4:] == ["38", "+-", "2.83", "2"]
    assert "ECE" in table and "cross-entropy" in table and "epochs" in table


def test_a_later_lesson_loads_the_model_an_earlier_one_saved_in_its_profile(tmp_path, monkeypatch):
    import keras

    monkeypatch.setattr(lesson, "RUNS_DIR", tmp_path)
    smoke, quick = get_profile("smoke"), get_profile("quick")
    stage_4 = lesson.Lesson(stage=STAGES[3], profile=smoke, seed=0, data=None)
    assert stage_4.saved_model("dropout_weight_decay") is None

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    saved = lesson.Lesson(stage=STAGES[2], profile=smoke, seed=0, data=None).run_dir
    saved.mkdir(parents=True)
    model.save(saved / "model.keras")

    loaded = stage_4.saved_model("dropout_weight_decay")
    x = np.ones((1, 3), dtype="float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)),
                               keras.ops.convert_to_numpy(model(x)), rtol=1e-6)
    assert stage_4.saved_model(3) is not None  # by number, as get_stage takes it
    # Another profile's lessons do not see it.
    assert lesson.Lesson(stage=STAGES[3], profile=quick, seed=0, data=None) \
        .saved_model("dropout_weight_decay") is None
