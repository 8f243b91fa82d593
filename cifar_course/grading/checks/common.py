"""What every check shares: a notebook variable required, a student's result as numpy,
a softmax, closeness with a message.
"""

from __future__ import annotations

import numpy as np


def require(name: str, namespace: dict, hint: str):
    """The notebook variable ``name``, or an AssertionError saying how to make it."""
    value = namespace.get(name)
    assert value is not None, f"`{name}` does not exist yet: {hint}"
    return value


def to_numpy(value) -> np.ndarray:
    """A student's result as float64 numpy, wherever it lives (a CUDA tensor included)."""
    if isinstance(value, (list, tuple)):
        return np.asarray([to_numpy(v) for v in value], dtype=np.float64)
    if isinstance(value, (np.ndarray, np.generic, int, float)):
        return np.asarray(value, dtype=np.float64)
    import keras  # a backend's tensor: imported only then (the data lesson's checks need no keras)

    return np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)


def softmax(logits) -> np.ndarray:
    """Probabilities from logits along the last axis (the largest subtracted first: no overflow)."""
    shifted = np.exp(logits - np.max(logits, axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _close(actual, expected, what: str, atol: float = 1e-5):
    actual, expected = to_numpy(actual), to_numpy(expected)
    assert actual.shape == expected.shape, (
        f"{what}: expected shape {expected.shape}, got {actual.shape}")
    assert np.allclose(actual, expected, atol=atol), (
        f"{what}: expected {np.round(expected, 5).tolist()}, got {np.round(actual, 5).tolist()}")

