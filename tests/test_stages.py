"""The recipe table: the reference order, one change per stage."""

from dataclasses import replace

import keras
import pytest

import cifar_course  # noqa: F401
from cifar_course.profiles import PROFILES, get_profile
from cifar_course.stages import STAGES, get_stage, stage_changes
from cifar_course.training import build_callbacks, build_loss, build_optimizer


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
    assert get_profile().name == "smoke"
    monkeypatch.delenv("CIFAR_COURSE_PROFILE")
    import torch

    assert get_profile().name == ("full" if torch.cuda.is_available() else "quick")
    with pytest.raises(ValueError, match="smoke, grade, quick, full"):
        get_profile("huge")


def test_lesson_profiles_leave_the_settings_lessons_fix_at_their_defaults():
    # Lessons 03-08 build the recipe with keras' random-erasing strength and a
    # plateau factor of 0.2, and are graded against the references of their
    # profile. A profile that changes either must first be passed through the
    # lessons, or every stage after augmentation is graded against another model.
    for profile in PROFILES.values():
        if profile.recipe == "stages":
            assert profile.erasing_probability is None, profile.name
            assert profile.reduce_lr_factor == 0.2, profile.name
