"""Evaluation figures on hand-made examples."""

import keras
import numpy as np
import pytest

import cifar_course  # noqa: F401
from cifar_course.evaluation import (
    confusion_matrix, cross_entropy, evaluate_model, expected_calibration_error,
    most_confused_pairs, per_class_accuracy, reliability_curve,
)


def test_ece_hand_example():
    # Two predictions at confidence 0.9 (one right), two at 0.6 (both right).
    p = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    y = np.array([0, 1, 0, 0])
    # bin 0.9: |0.5 - 0.9| = 0.4, weight 1/2; bin 0.6: |1.0 - 0.6| = 0.4, weight 1/2
    assert expected_calibration_error(p, y, n_bins=10) == pytest.approx(0.4)
    _, accuracy, confidence, counts = reliability_curve(p, y, n_bins=10)
    assert counts.sum() == 4 and accuracy[9] == pytest.approx(0.5)
    assert confidence[6] == pytest.approx(0.6)


def test_perfectly_calibrated_has_zero_ece():
    p = np.tile([1.0, 0.0], (10, 1))
    assert expected_calibration_error(p, np.zeros(10, int)) == 0.0


def test_confusion_and_pairs():
    labels = np.array([3, 3, 3, 5, 5, 0])
    predictions = np.array([5, 5, 3, 3, 5, 0])
    matrix = confusion_matrix(labels, predictions)
    assert matrix.shape == (10, 10) and matrix[3, 5] == 2 and matrix[5, 3] == 1
    assert most_confused_pairs(matrix, top=1) == [("cat", "dog", 2)]
    accuracy = per_class_accuracy(matrix)
    assert accuracy["cat"] == pytest.approx(1 / 3) and accuracy["airplane"] == 1.0
    assert np.isnan(accuracy["truck"])


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_matches_keras_label_smoothing(smoothing):
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(10), size=20)
    y = rng.integers(0, 10, 20)
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)
    expected = float(keras.ops.convert_to_numpy(loss(keras.utils.to_categorical(y, 10), p)))
    assert cross_entropy(p, y, smoothing) == pytest.approx(expected, rel=1e-5)


def test_evaluate_model_recomputes_from_predictions():
    inputs = keras.Input((32, 32, 3))
    # Always predicts class 3 with probability ~1.
    logits = keras.layers.Dense(10, kernel_initializer="zeros",
                                bias_initializer=keras.initializers.Constant(
                                    [0, 0, 0, 20, 0, 0, 0, 0, 0, 0]))(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Softmax()(logits))
    x = np.zeros((10, 32, 32, 3), "float32")
    y = np.array([3] * 4 + [5] * 6)
    result = evaluate_model(model, x, y)
    assert result["accuracy"] == pytest.approx(0.4)
    assert result["most_confused"][0] == ("dog", "cat", 6)
    assert result["ece"] == pytest.approx(0.6, abs=1e-3)
