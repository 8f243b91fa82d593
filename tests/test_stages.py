"""The recipe table: the reference order, one change per stage."""

import ast
import re
from dataclasses import replace
from pathlib import Path

import keras
import pytest

import cifar_course  # noqa: F401
from cifar_course.config import current
from cifar_course.profiles import PROFILES, get_profile
from cifar_course.stages import STAGES, get_stage, stage_changes
from cifar_course.training import build_callbacks, build_loss, build_optimizer

REPO = Path(__file__).resolve().parents[1]


def test_order_is_the_reference_projects():
    assert [s.name for s in STAGES] == ["baseline", "augmentation", "dropout_weight_decay",
                                        "label_smoothing", "adamw", "callbacks"]
    assert [s.number for s in STAGES] == [1, 2, 3, 4, 5, 6]


def test_each_stage_changes_one_technique():
    assert stage_changes(STAGES[0]) == []
    assert stage_changes(get_stage("augmentation")) == ["model.augment"]
    assert stage_changes(get_stage("dropout_weight_decay")) == ["model.dropout", "model.l2"]
    assert stage_changes(get_stage("label_smoothing")) == ["optimizer.label_smoothing"]
    # AdamW moves the weight decay from the loss into the optimizer.
    assert stage_changes(get_stage("adamw")) == ["model.l2", "optimizer.name",
                                                 "optimizer.weight_decay"]
    assert stage_changes(get_stage("callbacks")) == ["callbacks.enabled"]


def test_lookup_by_name_or_number():
    assert get_stage(4) is get_stage("label_smoothing") is get_stage("4")
    with pytest.raises(KeyError, match="1=baseline"):
        get_stage("resnet")


def test_loss_and_optimizer_follow_the_stage():
    profile = get_profile("smoke")
    assert build_loss(get_stage("adamw")).label_smoothing == pytest.approx(0.1)
    assert build_loss(get_stage("baseline")).label_smoothing == 0
    adam = build_optimizer(get_stage("label_smoothing"), profile)
    assert isinstance(adam, keras.optimizers.Adam) and not isinstance(adam, keras.optimizers.AdamW)
    adamw = build_optimizer(get_stage("adamw"), profile)
    assert isinstance(adamw, keras.optimizers.AdamW) and adamw.weight_decay == pytest.approx(0.05)


def test_callbacks_stage_callbacks(tmp_path):
    profile = get_profile("quick")
    assert build_callbacks(get_stage("adamw"), profile, tmp_path) == []
    callbacks = {type(c).__name__: c for c in build_callbacks(get_stage("callbacks"), profile, tmp_path)}
    assert set(callbacks) == {"ReduceLROnPlateau", "EarlyStopping", "ModelCheckpoint", "CSVLogger"}
    stop = callbacks["EarlyStopping"]
    assert stop.monitor == "val_loss" and stop.patience == 5 and stop.restore_best_weights
    assert callbacks["ReduceLROnPlateau"].monitor == "val_loss"
    assert callbacks["ReduceLROnPlateau"].factor == 0.2
    # How far each drop goes is the profile's to set, like its patience and min_delta.
    gentler = replace(profile, reduce_lr_factor=0.5)
    [plateau] = [c for c in build_callbacks(get_stage("callbacks"), gentler, tmp_path)
                 if isinstance(c, keras.callbacks.ReduceLROnPlateau)]
    assert plateau.factor == 0.5


def test_profiles(monkeypatch):
    stages = {name for name, p in PROFILES.items() if p.recipe == "stages"}
    assert stages == {"smoke", "grade", "quick", "full"}
    assert all(name.startswith("speedrun") for name in set(PROFILES) - stages)
    assert not PROFILES["grade"].synthetic
    assert PROFILES["smoke"].synthetic and not PROFILES["quick"].synthetic
    assert PROFILES["full"].train_size is None and PROFILES["full"].epochs <= 40
    monkeypatch.setenv("CIFAR_COURSE_PROFILE", "smoke")
    assert current().profile_name() == "smoke"
    with pytest.raises(ValueError, match="smoke, grade, quick, full"):
        get_profile("huge")


def test_the_default_profile_is_full_only_on_a_gpu_with_a_band_for_every_stage(monkeypatch):
    import torch

    from cifar_course import references

    monkeypatch.delenv("CIFAR_COURSE_PROFILE", raising=False)

    def full(seeds):  # stage -> seeds measured in the full profile
        return {"profiles": {"full": {"stages": {
            name: {"test_accuracy": {"values": [0.8] * n}} for name, n in seeds.items()}}}}

    every = full({s.name: 2 for s in STAGES})
    one_missing = full({s.name: 2 for s in STAGES[:-1]})
    one_seed = full({s.name: (1 if s.name == "adamw" else 3) for s in STAGES})
    for cuda, measured, expected in [(True, every, "full"), (True, one_missing, "quick"),
                                     (True, one_seed, "quick"), (False, every, "quick")]:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(references, "load_references", lambda: measured)
        assert current().profile_name() == expected, (cuda, measured)


def test_the_shipped_default_on_a_gpu_grades_every_stage_against_a_band(monkeypatch):
    """Whatever the references hold now, the GPU default has a band for each stage."""
    import torch

    from cifar_course.references import reference_band

    monkeypatch.delenv("CIFAR_COURSE_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    chosen = current().profile_name()
    for stage in STAGES:
        reference_band(stage.name, chosen)  # raises MissingReferenceError without a band


def _calls_building_the_lessons_recipe(source: str):
    """The calls in ``source`` (hidden tests removed) that build what a lesson trains: its
    augmentation, model or callbacks; those handed straight to a check are inputs of the check."""
    import ast

    source = re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", source, flags=re.S)
    tree = ast.parse(source)
    inside_checks = {id(inner) for node in ast.walk(tree)
                     if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                     and getattr(node.func.value, "id", None) == "checks"
                     for inner in ast.walk(node)}
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, "id", None) in BUILDERS and id(node) not in inside_checks]


# What a lesson builds, and the profile setting each call must pass on.
BUILDERS = {"build_augmentation": "erasing_probability",
            "build_regularized_model": "erasing_probability",
            "make_callbacks": "reduce_lr_factor"}


def test_lessons_pass_the_profiles_augmentation_strength_and_plateau_factor():
    # A profile may set random erasing's share and the plateau factor (the full profile's
    # tuning did), and every lesson is graded against its profile's references: a lesson
    # that builds its model or callbacks without them trains another recipe.
    import nbformat

    from cifar_course.grading.lessons import nbgrader_metadata

    checked = 0
    for path in sorted((REPO / "solutions").glob("0[2-8]_*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code" or nbgrader_metadata(cell).get("grade"):
                continue
            for call in _calls_building_the_lessons_recipe(cell.source):
                setting = BUILDERS[call.func.id]
                assert any(setting in ast.unparse(arg) for arg in call.args + call.keywords), (
                    f"{path.name}: {ast.unparse(call)} does not pass lesson.profile.{setting}")
                checked += 1
    assert checked >= 8, checked


def test_a_lesson_call_without_the_profiles_settings_is_caught():
    source = ("model = build_baseline_cnn(augmentation=build_augmentation(seed=lesson.seed))\n"
              "checks.check_augmentation_behaviour(build_augmentation(seed=1), images)\n"
              "cb = make_callbacks(folder, 2, 1e-4, lesson.profile.reduce_lr_factor)\n")
    calls = _calls_building_the_lessons_recipe(source)
    assert sorted(ast.unparse(c) for c in calls) == [
        "build_augmentation(seed=lesson.seed)",
        "make_callbacks(folder, 2, 0.0001, lesson.profile.reduce_lr_factor)"]
