"""Deterministic, stratified splits and subsets."""

from __future__ import annotations

import numpy as np


def train_val_split(x, y, val_size: int | float = 5000, seed: int = 0):
    """Split off a validation set with the same class balance as ``y``.

    The same ``seed`` always gives the same split, whatever the training seed,
    so every stage and every run validates on the same images.
    """
    from sklearn.model_selection import train_test_split  # imported when used: it takes a second

    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=val_size, stratify=np.ravel(y), random_state=seed
    )
    return (x_train, y_train), (x_val, y_val)


def stratified_subset(x, y, size: int | None, seed: int = 0):
    """``size`` examples keeping the class balance; all of them if ``size`` is None."""
    if size is None or size >= len(y):
        return x, y
    from sklearn.model_selection import train_test_split

    x_sub, _, y_sub, _ = train_test_split(
        x, y, train_size=size, stratify=np.ravel(y), random_state=seed
    )
    return x_sub, y_sub
