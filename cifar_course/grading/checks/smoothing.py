"""Lesson 04 (label smoothing): smoothed labels and cross-entropy, the loss's floor, the loss
object.
"""

from __future__ import annotations

import keras
import numpy as np

from .probes import behaviour, loss_probes
from .common import _close, to_numpy


def check_smoothed_cross_entropy(smoothed_cross_entropy):
    """``smoothed_cross_entropy(y_true, y_pred, smoothing)``: the batch mean, as keras computes it."""
    rng = np.random.default_rng(0)
    y_true = np.eye(10, dtype="float32")[rng.integers(0, 10, 8)]
    logits = rng.normal(size=(8, 10))
    y_pred = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).astype("float32")
    for smoothing in (0.0, 0.1, 0.3):
        expected = float(keras.ops.convert_to_numpy(
            keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)(y_true, y_pred)))
        actual = float(to_numpy(smoothed_cross_entropy(y_true, y_pred, smoothing)))
        assert abs(actual - expected) < 1e-4, (
            f"smoothing {smoothing}: your loss is {actual:.5f}, keras' CategoricalCrossentropy "
            f"gives {expected:.5f}. Hint: smooth the targets, then -sum(target * log(p)) per "
            f"image, averaged over the batch")


def check_smooth_labels(smooth_labels):
    targets = np.array([[0, 1, 0, 0], [1, 0, 0, 0]], dtype="float32")
    _close(smooth_labels(targets, 0.1), [[0.025, 0.925, 0.025, 0.025], [0.925, 0.025, 0.025, 0.025]],
           "smooth_labels(one_hot, 0.1) on 4 classes")
    _close(smooth_labels(targets, 0.0), targets, "smooth_labels(one_hot, 0.0)")


def check_loss_floor(loss_floor):
    """``loss_floor(smoothing, n_classes)``: the least smoothed cross-entropy any prediction
    can reach, the entropy of the smoothed target."""
    for smoothing, classes in ((0.0, 10), (0.1, 10), (0.2, 4)):
        on, off = 1 - smoothing + smoothing / classes, smoothing / classes
        expected = -(on * np.log(on) + (classes - 1) * (off * np.log(off) if off else 0.0))
        actual = float(to_numpy(loss_floor(smoothing, classes)))
        assert abs(actual - expected) < 1e-6, (
            f"smoothing {smoothing}, {classes} classes: your floor is {actual:.5f}, want "
            f"{expected:.5f}. Hint: the loss is lowest when the prediction equals the smoothed "
            f"target; it is then -sum(t * log t) (with 0 * log 0 = 0)")


def check_label_smoothing_loss(loss, smoothing: float = 0.1):
    """keras' CategoricalCrossentropy smoothing its targets by ``smoothing``, and doing what
    it says: on the probes its values are keras' (and, on a hand-made pair, the formula's)."""
    assert isinstance(loss, keras.losses.CategoricalCrossentropy), (
        f"use keras.losses.CategoricalCrossentropy (one-hot targets), not {type(loss).__name__}")
    assert abs(loss.get_config()["label_smoothing"] - smoothing) < 1e-9, (
        f"label_smoothing is {loss.get_config()['label_smoothing']}, want {smoothing}")
    actual = behaviour(loss)["loss_on_probes"]
    keras_loss = keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)
    expected = [float(to_numpy(keras_loss(y_true, y_pred))) for y_true, y_pred in loss_probes()]
    (y_true, y_pred), *_ = loss_probes()
    smoothed = y_true * (1 - smoothing) + smoothing / 10
    formula = -(smoothed * np.log(y_pred)).sum(axis=1).mean()
    _close(actual[0], formula, "the loss on a hand-made example", atol=1e-4)
    _close(actual, expected, f"the loss on the check's examples (keras' "
                             f"CategoricalCrossentropy(label_smoothing={smoothing}) gives these)",
           atol=1e-4)
