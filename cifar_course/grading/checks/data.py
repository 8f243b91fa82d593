"""Lesson 00 (the data): per-channel statistics."""

from __future__ import annotations

import numpy as np

from .common import _close, to_numpy


def check_channel_statistics(channel_statistics, images: np.ndarray | None = None):
    """``channel_statistics(images) -> (mean, std)``: one value per colour channel."""
    example = np.zeros((2, 2, 2, 3), dtype=np.uint8)
    example[0, ..., 0] = 10
    example[1, ..., 0] = 30  # red: values 10 and 30 -> mean 20, std 10
    example[..., 1] = 50     # green: constant -> std 0
    mean, std = channel_statistics(example)
    _close(mean, [20, 50, 0], "mean of the hand-made batch")
    _close(std, [10, 0, 0], "std of the hand-made batch")
    if images is not None:
        mean, std = channel_statistics(images)
        pixels = to_numpy(images).reshape(-1, 3)
        _close(mean, pixels.mean(axis=0), "mean of the training images", atol=1e-3)
        _close(std, pixels.std(axis=0), "std of the training images", atol=1e-3)

