"""Measure a trained model: accuracy, per-class accuracy, confusion, calibration.

Everything here recomputes from the model's own predictions; nothing trusts a
number that training code reported.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from .data import CLASS_NAMES


def predict_proba(model, images, batch_size: int = 256) -> np.ndarray:
    """Class probabilities, inference mode (augmentation and dropout off)."""
    return np.asarray(model.predict(images, batch_size=batch_size, verbose=0), dtype=np.float64)


def expected_calibration_error(probabilities, labels, n_bins: int = 15) -> float:
    """ECE: the gap between confidence and accuracy, averaged over confidence bins.

    Bins are equal-width on [0, 1], weighted by how many predictions fall in
    each (Guo et al., 2017).
    """
    _, accuracy, confidence, counts = reliability_curve(probabilities, labels, n_bins)
    filled = counts > 0
    weights = counts[filled] / counts.sum()
    return float((weights * np.abs(accuracy[filled] - confidence[filled])).sum())


def reliability_curve(probabilities, labels, n_bins: int = 15):
    """(bin centres, accuracy per bin, confidence per bin, count per bin); NaN where empty."""
    probabilities = np.asarray(probabilities)
    labels = np.ravel(labels)
    # A diverged model predicts NaN: count it as confidence 0, not as a crash.
    confidence = np.nan_to_num(probabilities.max(axis=1), nan=0.0)
    correct = probabilities.argmax(axis=1) == labels
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore"):
        accuracy = np.bincount(bins, weights=correct, minlength=n_bins) / counts
        mean_conf = np.bincount(bins, weights=confidence, minlength=n_bins) / counts
    centres = (np.arange(n_bins) + 0.5) / n_bins
    return centres, accuracy, mean_conf, counts


def confusion_matrix(labels, predictions) -> np.ndarray:
    return sk_confusion_matrix(np.ravel(labels), np.ravel(predictions),
                               labels=list(range(len(CLASS_NAMES))))


def per_class_accuracy(matrix: np.ndarray) -> dict[str, float]:
    with np.errstate(invalid="ignore"):
        recall = np.diag(matrix) / matrix.sum(axis=1)
    return {name: float(value) for name, value in zip(CLASS_NAMES, recall)}


def most_confused_pairs(matrix: np.ndarray, top: int = 5) -> list[tuple[str, str, int]]:
    """(true class, predicted class, count), the largest off-diagonal cells first."""
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(off, axis=None)[::-1][:top]
    return [(CLASS_NAMES[i], CLASS_NAMES[j], int(off[i, j]))
            for i, j in zip(*np.unravel_index(order, off.shape))]


def cross_entropy(probabilities, labels, label_smoothing: float = 0.0) -> float:
    """Mean cross-entropy, with the same smoothing as keras' CategoricalCrossentropy."""
    probabilities = np.clip(np.asarray(probabilities), 1e-7, 1 - 1e-7)
    n_classes = probabilities.shape[1]
    targets = np.eye(n_classes)[np.ravel(labels)]
    targets = targets * (1 - label_smoothing) + label_smoothing / n_classes
    return float(-(targets * np.log(probabilities)).sum(axis=1).mean())


def evaluate_model(model, images, labels, *, batch_size: int = 256) -> dict:
    """All the test-set figures a stage is judged on, from one pass of ``predict``.

    ``loss`` is the plain (unsmoothed) cross-entropy for every model, so that
    stages trained with label smoothing compare with the others.
    """
    return evaluate_probabilities(predict_proba(model, images, batch_size), labels)


def evaluate_probabilities(probabilities, labels) -> dict:
    """``evaluate_model``'s figures from given class probabilities (e.g. test-time augmented)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.ravel(labels).astype(int)
    predictions = probabilities.argmax(axis=1)
    matrix = confusion_matrix(labels, predictions)
    return {
        "accuracy": float((predictions == labels).mean()),
        "loss": cross_entropy(probabilities, labels),
        "ece": expected_calibration_error(probabilities, labels),
        "per_class_accuracy": per_class_accuracy(matrix),
        "confusion_matrix": matrix.tolist(),
        "most_confused": most_confused_pairs(matrix),
        "n": int(len(labels)),
        "probabilities": probabilities,
        "labels": labels,
    }
