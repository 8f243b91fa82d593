"""Lesson 04 (label smoothing): smoothed labels and cross-entropy, the loss's floor, its
gradient derived and checked by finite differences, the loss object.
"""

from __future__ import annotations

import keras
import numpy as np

from .probes import behaviour, loss_probes
from .common import _close, softmax, to_numpy


def check_smoothed_cross_entropy(smoothed_cross_entropy):
    """``smoothed_cross_entropy(y_true, y_pred, smoothing)``: the batch mean, as keras computes it."""
    rng = np.random.default_rng(0)
    y_true = np.eye(10, dtype="float32")[rng.integers(0, 10, 8)]
    logits = rng.normal(size=(8, 10))
    y_pred = softmax(logits).astype("float32")
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


# Functions whose gradients the checks know exactly: separable, coupled, and one whose
# scale makes a one-sided difference or a wrong step size show.
GRADIENT_CASES = (
    ("sum(x**3)", lambda x: float((x ** 3).sum()), lambda x: 3 * x ** 2),
    ("log(sum(exp(x)))", lambda x: float(np.log(np.exp(x).sum())),
     lambda x: np.exp(x) / np.exp(x).sum()),
    ("x[0] * sin(5 * x[1])", lambda x: float(x[0] * np.sin(5 * x[1])),
     lambda x: np.array([np.sin(5 * x[1]), 5 * x[0] * np.cos(5 * x[1]), 0.0])),
)


def check_numerical_gradient(numerical_gradient):
    """``numerical_gradient(f, x)``: central differences of a scalar ``f`` at ``x``, one
    coordinate at a time, leaving ``x`` as it was."""
    for name, f, gradient in GRADIENT_CASES:
        x = np.array([0.7, -1.3, 2.1])
        before = x.copy()
        actual = to_numpy(numerical_gradient(f, x))
        assert np.array_equal(x, before), (
            f"numerical_gradient changed x (from {before.tolist()} to {x.tolist()}): put each "
            f"coordinate back after nudging it")
        expected = gradient(before)
        assert actual.shape == expected.shape, (
            f"the gradient of {name} at 3 points: expected shape {expected.shape}, got {actual.shape}")
        error = np.abs(actual - expected).max()
        assert error < 1e-6, (
            f"the gradient of {name} at {before.tolist()}: expected "
            f"{np.round(expected, 6).tolist()}, got {np.round(actual, 6).tolist()} (off by "
            f"{error:.1e}). Hint: (f(x + h e_i) - f(x - h e_i)) / (2 h) for each coordinate i, "
            f"h about 1e-5")


def check_cross_entropy_gradient(cross_entropy_gradient):
    """``cross_entropy_gradient(logits, targets)``: the gradient of one image's cross-entropy,
    ``-sum(t * log(softmax(z)))``, with respect to its logits ``z``: ``softmax(z) - t``."""
    rng = np.random.default_rng(0)
    smoothed = np.full(10, 0.01)
    smoothed[3] = 0.91
    cases = [("random logits, one-hot target", rng.normal(size=10), np.eye(10)[3]),
             ("random logits, smoothed target", rng.normal(size=10), smoothed),
             ("logits near 800 (exp overflows past 709)", 800 + 5 * rng.normal(size=10),
              smoothed)]
    for what, logits, targets in cases:
        actual = to_numpy(cross_entropy_gradient(logits.copy(), targets.copy()))
        expected = softmax(logits) - targets
        assert np.all(np.isfinite(actual)), (
            f"{what}: your gradient has inf or nan ({actual.tolist()}). Hint: subtract the "
            f"largest logit before exponentiating (the softmax does not change)")
        _close(actual, expected, f"the gradient for {what}", atol=1e-6)


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
