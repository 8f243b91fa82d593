"""Training end to end on synthetic images (the smoke profile)."""

import json
from dataclasses import replace

import keras
import numpy as np
import pytest

import cifar_course  # noqa: F401
from cifar_course.profiles import PROFILES, Profile
from cifar_course.stages import get_stage
from cifar_course.training import (best_epoch, compile_stage_model, one_hot, prepare_data,
                                     synthetic_cifar, train_stage)


@pytest.fixture(scope="module")
def smoke_data():
    return prepare_data("smoke")


@pytest.mark.parametrize("stage", ["baseline", "callbacks"])
def test_smoke_training_runs_and_reports(stage, smoke_data, tmp_path):
    result = train_stage(stage, "smoke", seed=0, data=smoke_data, out_dir=tmp_path, verbose=0)
    summary = result.summary()
    epochs = PROFILES["smoke"].epochs
    assert summary["epochs_run"] == epochs and 1 <= summary["best_epoch"] <= epochs
    assert 0.0 <= summary["test_accuracy"] <= 1.0 and np.isfinite(summary["best_val_loss"])
    json.dumps(summary)
    if stage == "callbacks":
        assert (tmp_path / "best.keras").exists() and (tmp_path / "history.csv").exists()


def test_same_seed_same_result(smoke_data):
    a = train_stage("augmentation", "smoke", seed=3, data=smoke_data, verbose=0)
    b = train_stage("augmentation", "smoke", seed=3, data=smoke_data, verbose=0)
    np.testing.assert_allclose(a.history["loss"], b.history["loss"], rtol=1e-5)


def test_the_model_learns_synthetic_classes():
    profile = Profile("learn", 600, 200, 200, epochs=6, batch_size=32, learning_rate=1e-3,
                      reduce_lr_patience=1, synthetic=True)
    result = train_stage("baseline", profile, seed=0, verbose=0)
    assert result.test["accuracy"] > 0.6  # chance is 0.1


def test_best_epoch_is_reported_from_the_history():
    assert best_epoch({"val_loss": [3.0, 1.0, float("nan"), 2.0]}) == (2, 1.0)
    assert best_epoch({"val_loss": [float("nan")]}) == (None, float("inf"))


class LastWeights(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.weights = [w.copy() for w in self.model.get_weights()]


def test_a_stage_is_measured_on_the_model_it_ends_training_with(smoke_data):
    """The protocol: no best-epoch restore for stages without EarlyStopping."""
    last = LastWeights()
    result = train_stage("dropout_weight_decay", "smoke", seed=1, data=smoke_data, verbose=0,
                         extra_callbacks=[last])
    for measured, final in zip(result.model.get_weights(), last.weights):
        np.testing.assert_array_equal(measured, final)


def test_the_test_loss_is_unsmoothed_for_every_stage(smoke_data):
    from cifar_course.evaluation import cross_entropy

    result = train_stage("label_smoothing", "smoke", seed=0, data=smoke_data, verbose=0)
    assert result.test["loss"] == pytest.approx(
        cross_entropy(result.test["probabilities"], result.test["labels"]))


def test_synthetic_images_and_one_hot():
    x, y = synthetic_cifar(50, seed=1)
    assert x.shape == (50, 32, 32, 3) and x.dtype == np.uint8 and y.shape == (50, 1)
    encoded = one_hot(y)
    assert encoded.shape == (50, 10) and np.array_equal(encoded.argmax(1), y.ravel())


def test_a_profile_sets_the_erasing_strength_of_the_stages_that_erase():
    def erasing_factor(profile, stage):
        model = compile_stage_model(get_stage(stage), profile, seed=0)
        erasers = [l for l in model.get_layer("augmentation").layers
                   if isinstance(l, keras.layers.RandomErasing)]
        return [tuple(l.get_config()["factor"]) for l in erasers]

    lighter = replace(PROFILES["smoke"], erasing_probability=0.25)
    assert erasing_factor(lighter, "callbacks") == [(0.25, 0.25)]
    assert erasing_factor(PROFILES["smoke"], "callbacks") != [(0.25, 0.25)]


def test_the_history_logs_the_plain_cross_entropy_beside_the_objective(smoke_data):
    """``loss`` is the objective (with smoothing's floor, keras' L2 penalty added); the
    plain cross-entropy is logged beside it for comparisons across stages."""
    result = train_stage("label_smoothing", "smoke", seed=0, data=smoke_data, verbose=0)
    history, model = result.history, result.model
    assert len(history["val_cross_entropy"]) == len(history["val_loss"])
    probabilities = model.predict(smoke_data.x_val, verbose=0)
    plain = float(keras.ops.convert_to_numpy(keras.losses.categorical_crossentropy(
        one_hot(smoke_data.y_val), probabilities)).mean())
    assert history["val_cross_entropy"][-1] == pytest.approx(plain, abs=1e-4)
    assert abs(history["val_loss"][-1] - plain) > 1e-3  # the smoothed objective differs
