"""Training end to end on synthetic images (the smoke profile)."""

import json

import keras
import numpy as np
import pytest

import cifar_course  # noqa: F401
from cifar_course.profiles import PROFILES, Profile
from cifar_course.training import KeepBestWeights, one_hot, prepare_data, synthetic_cifar, train_stage


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


def test_keep_best_weights_restores_the_best_epoch():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    keep = KeepBestWeights()
    keep.set_model(model)
    for epoch, loss in enumerate([3.0, 1.0, 2.0]):
        model.layers[0].kernel.assign(np.full((2, 1), float(epoch)))
        keep.on_epoch_end(epoch, {"val_loss": loss})
    keep.on_train_end()
    assert keep.best_epoch == 1
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.layers[0].kernel), 1.0)


def test_synthetic_images_and_one_hot():
    x, y = synthetic_cifar(50, seed=1)
    assert x.shape == (50, 32, 32, 3) and x.dtype == np.uint8 and y.shape == (50, 1)
    encoded = one_hot(y)
    assert encoded.shape == (50, 10) and np.array_equal(encoded.argmax(1), y.ravel())
