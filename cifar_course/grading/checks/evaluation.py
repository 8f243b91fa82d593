"""Lesson 07 (evaluation): the confusion matrix and the expected calibration error."""

from __future__ import annotations

import numpy as np

from ...data import CLASS_NAMES
from .common import _close, to_numpy


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
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return labels, probabilities


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

