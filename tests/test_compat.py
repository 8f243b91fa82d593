"""What must work on every supported keras (the CI compatibility job runs this file).

Every stage trains in the smoke profile, predicts, saves and reloads with the
same predictions; a model a student builds from plain keras layers passes the
structure check and, trained, the metric check.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

import cifar_course  # noqa: F401  (torch backend)
from cifar_course.grading import checks
from cifar_course.models import build_baseline_cnn
from cifar_course.stages import STAGES
from cifar_course.training import prepare_data, train_stage


@pytest.fixture(scope="module")
def smoke_data():
    return prepare_data("smoke")


@pytest.mark.parametrize("stage", [s.name for s in STAGES])
def test_stage_trains_predicts_saves_and_reloads(stage, smoke_data, tmp_path):
    result = train_stage(stage, "smoke", seed=0, data=smoke_data, out_dir=tmp_path, verbose=0)
    assert not result.diverged and 0.0 <= result.test["accuracy"] <= 1.0
    predicted = result.model.predict(smoke_data.x_test, verbose=0)
    assert predicted.shape == (len(smoke_data.x_test), 10)
    np.testing.assert_allclose(predicted.sum(axis=1), 1.0, rtol=1e-4)
    result.model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    np.testing.assert_allclose(reloaded.predict(smoke_data.x_test, verbose=0), predicted,
                               rtol=1e-5, atol=1e-6)


def student_block(x, filters, l2=0.0, name="block"):
    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn{i}")(x)
        x = layers.ReLU(name=f"{name}_relu{i}")(x)
    return layers.MaxPooling2D(2, name=f"{name}_pool")(x)


def test_plain_keras_student_model_passes_the_checks(smoke_data):
    keras.utils.set_random_seed(0)
    model = build_baseline_cnn(block=student_block)
    checks.check_baseline_structure(model)
    result = train_stage("baseline", "smoke", seed=0, data=smoke_data, model=model, verbose=0)
    assert "better than chance" in checks.check_test_accuracy(result.model, "baseline", "smoke",
                                                              smoke_data)
