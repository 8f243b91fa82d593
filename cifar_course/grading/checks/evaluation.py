"""Lesson 07 (evaluation): the confusion matrix, the expected calibration error, and a class
activation map (a look inside the network)."""

from __future__ import annotations

import numpy as np

from ...data import CLASS_NAMES
from .common import _close, softmax, to_numpy


def check_cat_dog_confusion(cat_dog_confusion):
    cat, dog = CLASS_NAMES.index("cat"), CLASS_NAMES.index("dog")
    matrix = np.diag(np.full(10, 50))
    matrix[cat, cat], matrix[cat, dog], matrix[cat, 0] = 30, 15, 5
    matrix[dog, dog], matrix[dog, cat] = 40, 10
    result = cat_dog_confusion(matrix)
    _close([result["cat_as_dog"], result["dog_as_cat"]], [0.3, 0.2],
           "cat_as_dog and dog_as_cat on a hand-made matrix")


def _prediction_case(seed: int = 0, n: int = 500):
    """Labels and made-up probabilities of a middling, over-confident 10-class model."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    logits = rng.normal(size=(n, 10)) * 2
    logits[np.arange(n), labels] += rng.normal(4.0, 2.0, n)
    return labels, softmax(logits)


def check_confusion_matrix(confusion_matrix):
    """``confusion_matrix(labels, predictions, n_classes)``: rows true, columns predicted."""
    from sklearn.metrics import confusion_matrix as reference

    labels, probabilities = _prediction_case()
    predictions = probabilities.argmax(axis=1)
    expected = reference(labels, predictions, labels=list(range(10)))
    actual = to_numpy(confusion_matrix(labels, predictions, 10))
    assert actual.shape == (10, 10), f"the matrix is {actual.shape}, want (10, 10)"
    if np.array_equal(actual, expected.T):
        raise AssertionError("your matrix is the transpose of scikit-learn's: rows are the true "
                             "classes, columns the predicted ones")
    assert np.array_equal(actual, expected), (
        f"your matrix differs from scikit-learn's confusion_matrix in "
        f"{int((actual != expected).sum())} cells (first row: yours {actual[0].tolist()}, "
        f"want {expected[0].tolist()}). Hint: add one to [true, predicted] for each image")


def check_expected_calibration_error(expected_calibration_error):
    """``expected_calibration_error(probabilities, labels, n_bins)`` equals the course's ECE."""
    from ...evaluation import expected_calibration_error as reference

    for seed, n_bins in ((0, 15), (1, 10)):
        labels, probabilities = _prediction_case(seed)
        expected = reference(probabilities, labels, n_bins)
        actual = float(to_numpy(expected_calibration_error(probabilities, labels, n_bins)))
        assert abs(actual - expected) < 1e-6, (
            f"{n_bins} bins: your ECE is {actual:.5f}, want {expected:.5f}. Hint: put each "
            f"image in the equal-width bin of its confidence (the largest probability; "
            f"confidence 1.0 goes in the last bin), then average |accuracy - mean confidence| "
            f"over the bins, each weighted by its share of the images")



def check_class_activation_map(class_activation_map):
    """``class_activation_map(features, weights, class_index)``: the last block's feature maps
    ``(H, W, K)`` weighted by the classifier's column for the class, ``(H, W)``; its mean plus
    the class's bias is the logit keras' global pooling and Dense layer give."""
    import keras

    rng = np.random.default_rng(0)
    features = rng.gamma(1.0, size=(4, 4, 8))  # after a ReLU: positive
    weights, bias = rng.normal(size=(8, 10)), rng.normal(size=10)
    pooled = keras.Sequential([keras.Input((4, 4, 8)), keras.layers.GlobalAveragePooling2D(),
                               keras.layers.Dense(10)])
    pooled.layers[-1].set_weights([weights.astype("float32"), bias.astype("float32")])
    logits = keras.ops.convert_to_numpy(pooled(features[None].astype("float32")))[0]
    for class_index in (3, 5):
        cam = to_numpy(class_activation_map(features.copy(), weights.copy(), class_index))
        assert cam.shape == (4, 4), (
            f"class {class_index}: the map of (4, 4, 8) feature maps should be (4, 4), got "
            f"shape {cam.shape}")
        _close(cam, features @ weights[:, class_index],
               f"the map for class {class_index} (each position: its features times the "
               f"classifier's weights for the class, summed over the feature maps; not "
               f"rescaled)", atol=1e-5)
        assert abs(cam.mean() + bias[class_index] - logits[class_index]) < 1e-4, (
            f"class {class_index}: the map's mean plus the bias is "
            f"{cam.mean() + bias[class_index]:.5f}, keras' pooling and Dense give the logit "
            f"{logits[class_index]:.5f}")
