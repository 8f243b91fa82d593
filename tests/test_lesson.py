"""A lesson's run: what it is compared with (cifar_course.comparisons) and where it is
saved and found again (cifar_course.lesson), for the staged CNN and the speedrun alike."""

import json

import numpy as np
import pytest

import cifar_course.comparisons as comparisons
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
    }}, "full": {"stages": {
        "augmentation": measured(test_accuracy=[0.83, 0.85], test_loss=[0.5, 0.6], ece=[0.06, 0.07],
                                 epochs_run=[40, 40]),
    }}}}
    monkeypatch.setattr(comparisons, "load_references", lambda: references)
    monkeypatch.setattr(comparisons, "RUNS_DIR", tmp_path)
    saved = tmp_path / "quick" / "augmentation" / "metrics.json"
    saved.parent.mkdir(parents=True)
    saved.write_text(json.dumps({"test_accuracy": 0.61, "test_loss": 1.1, "ece": 0.04,
                                 "epochs_run": 40}))
    quick = get_profile("quick")

    baseline, augmentation, unmeasured = comparisons.comparison_rows(STAGES[:3], quick)

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
               for m, _ in comparisons.COMPARED_METRICS)

    table = comparisons.comparison_table(STAGES[:3], quick)
    line = next(row for row in table.splitlines() if row.startswith(STAGES[1].title))
    assert line.split()[-9:] == ["61.00", "60.00", "1.100", "1.200", "0.040", "0.050", "40", "38",
                                 "1"]
    baseline_line = next(row for row in table.splitlines() if row.startswith(STAGES[0].title))
    assert baseline_line.split()[-4:] == ["38", "+-", "2.83", "2"]
    assert "ECE" in table and "cross-entropy" in table and "epochs" in table
    # Below it, what the same stages do at full data (no run of this machine's there).
    full = table.split("at full data")[1].splitlines()
    assert next(row for row in full if row.startswith(STAGES[1].title)).split()[-7:] == \
        ["84.00", "+-", "1.41", "40", "+-", "0", "2"]
    assert next(row for row in full if row.startswith(STAGES[0].title)).split()[-3:] == ["-", "-", "-"]
    assert "at full data" not in comparisons.comparison_table(STAGES[:3], get_profile("full"))


def test_a_later_lesson_loads_the_model_an_earlier_one_saved_in_its_profile(tmp_path, monkeypatch):
    import keras

    monkeypatch.setattr(comparisons, "RUNS_DIR", tmp_path)
    smoke, quick = get_profile("smoke"), get_profile("quick")
    stage_4 = lesson.Lesson(run="label_smoothing", profile=smoke, seed=0, data=None)
    assert stage_4.saved_model("dropout_weight_decay") is None

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    saved = lesson.Lesson(run="dropout_weight_decay", profile=smoke, seed=0, data=None).run_dir
    saved.mkdir(parents=True)
    model.save(saved / "model.keras")

    loaded = stage_4.saved_model("dropout_weight_decay")
    x = np.ones((1, 3), dtype="float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)),
                               keras.ops.convert_to_numpy(model(x)), rtol=1e-6)
    assert stage_4.saved_model(3) is not None  # by number, as get_stage takes it
    # Another profile's lessons do not see it.
    assert lesson.Lesson(run="label_smoothing", profile=quick, seed=0, data=None) \
        .saved_model("dropout_weight_decay") is None


def _trained(run: str, profile: str, **extra):
    """A finished run as a recipe's ``train`` returns it, with a tiny model."""
    import keras

    from cifar_course.training import TrainResult

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    history = {"loss": [1.0, 0.8], "accuracy": [0.5, 0.6], "val_loss": [1.1, 0.9],
               "val_accuracy": [0.45, 0.55]}
    return TrainResult(stage=run, profile=profile, seed=0, model=model, history=history,
                       epochs_run=2, best_epoch=2, best_val_loss=0.9, train_seconds=12.0,
                       wall_seconds=13.0, test={"accuracy": 0.5, "loss": 0.9, "ece": 0.1},
                       extra=extra)


def test_one_lesson_reports_a_stage_and_the_speedrun_through_their_recipes(tmp_path, monkeypatch,
                                                                          capsys):
    import matplotlib.pyplot as plt

    from cifar_course.run_folder import RunFolder

    monkeypatch.setattr(comparisons, "RUNS_DIR", tmp_path)
    shown = []
    monkeypatch.setattr("cifar_course.plots.plot_beside", lambda runs, **kw: shown.append(list(runs)))
    smoke = get_profile("smoke")
    RunFolder(tmp_path / "smoke" / "baseline").write(history=_trained("baseline", "smoke").history,
                                                     metrics={"test_accuracy": 0.4})

    stage = lesson.Lesson(run="augmentation", profile=smoke, seed=0, data=None)
    summary = stage.report(_trained("augmentation", "smoke"))
    printed = capsys.readouterr().out
    assert summary["stage"] == "augmentation" and summary["test_accuracy"] == 0.5
    assert RunFolder(stage.run_dir).metrics() == summary and RunFolder(stage.run_dir).model()
    assert f"{STAGES[1].title} (smoke profile, seed 0): test accuracy 50.00%;" in printed
    assert "test-time augmentation" not in printed
    assert STAGES[0].title in printed and STAGES[2].title not in printed  # the stages up to its own
    assert shown == [[STAGES[0].title + " (your run)", STAGES[1].title]]

    speedrun = lesson.Lesson(run="speedrun", profile=get_profile("speedrun-smoke"), seed=0, data=None)
    summary = speedrun.report(_trained("speedrun", "speedrun-smoke", test_accuracy_without_tta=0.45))
    printed = capsys.readouterr().out
    assert speedrun.run_dir == tmp_path / "speedrun-smoke" / "speedrun"
    assert RunFolder(speedrun.run_dir).metrics() == summary and RunFolder(speedrun.run_dir).model()
    assert "test accuracy 50.00% with test-time augmentation, 45.00% without" in printed
    assert "recipe (profile)" in printed  # the speedrun's table, not the stages'
    assert len(shown) == 1  # the speedrun has no run before it to be plotted beside
    plt.close("all")


def test_start_lesson_runs_a_stage_or_the_speedrun_in_a_profile_of_its_recipe():
    assert lesson.start_lesson("speedrun", "smoke", load_data=False).profile.name == "speedrun-smoke"
    chosen = lesson.start_lesson(5, "smoke", load_data=False)
    assert (chosen.run, chosen.stage.name, chosen.profile.name) == ("adamw", "adamw", "smoke")
    with pytest.raises(ValueError, match="trains the speedrun, not the course's stages"):
        lesson.start_lesson("baseline", "speedrun-quick", load_data=False)
    with pytest.raises(ValueError, match="no lesson trains 'nine'"):
        lesson.start_lesson("nine", "smoke", load_data=False)
    speedrun = lesson.start_lesson("speedrun", "speedrun-smoke", load_data=False)
    with pytest.raises(TypeError, match="takes no loss, optimizer: pass a model"):
        speedrun.train(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="not 'speedrun-no-such-idea'"):
        speedrun.train(variant="speedrun-no-such-idea")


def test_after_its_first_epoch_a_run_says_how_long_it_takes_and_which_profile_is_shorter(capsys):
    from cifar_course.training import FirstEpochEstimate

    ticks = iter([100.0, 130.0])
    estimate = FirstEpochEstimate(lesson._shorter_budgets(get_profile("quick")),
                                  clock=lambda: next(ticks))
    estimate.set_params({"epochs": 40})
    for epoch in range(3):
        estimate.on_epoch_begin(epoch)
        estimate.on_epoch_end(epoch)
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1, printed  # once, after the first epoch
    assert "The first epoch took 30 s: at that pace the 40 epochs take about 20 minutes" in printed
    assert printed.rstrip().endswith("set PROFILE to 'grade' (1,000 training images, 10 epochs).")
    assert lesson._shorter_budgets(get_profile("grade")) == ""  # nothing shorter on real images
    assert "'speedrun-grade'" in lesson._shorter_budgets(get_profile("speedrun-quick"))
