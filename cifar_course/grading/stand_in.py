"""What a graded kernel gets instead of CIFAR-10's test set.

Under the grader a student's kernel must never hold the test images or labels,
or a notebook could fit its classifier to them instead of training. The grader
writes, once per class, an ``.npz`` source (``data.sources.read_arrays``) with
the real training split, so that the profile's training and validation images
are exactly the ones it always uses, and in place of the test split training
images the profile never uses (its validation images where it uses them all).
The sandbox binds that file and nothing else of the data; the grader's checker
measures test accuracy on the real test set, outside the kernel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.copies import STAND_IN_FILE
from ..data.sources import Arrays



def stand_in_arrays(arrays: Arrays, profile) -> Arrays:
    """``arrays`` with its test split replaced by training images ``profile`` never trains on."""
    from ..data.split import stratified_subset, train_val_split
    from ..training import SPLIT_SEED, VALIDATION_SIZE

    labels = np.ravel(arrays.y_train)
    index = np.arange(len(labels))
    # The same calls as prepare_data's, on positions instead of images: the same split.
    (pool, pool_labels), (validation, _) = train_val_split(index, labels, VALIDATION_SIZE,
                                                           seed=SPLIT_SEED)
    used, _ = stratified_subset(pool, pool_labels, profile.train_size, SPLIT_SEED)
    unused = np.setdiff1d(pool, used)
    wanted = len(arrays.y_test)
    chosen = unused if len(unused) >= wanted else validation
    chosen = np.sort(chosen)[:wanted] if len(chosen) <= wanted else stratified_subset(
        chosen, labels[chosen], wanted, SPLIT_SEED)[0]
    return Arrays(arrays.x_train, arrays.y_train, arrays.x_train[chosen], arrays.y_train[chosen])


def stand_in_path() -> str | None:
    """The stand-in the grader gave this worker's kernels (absolute), or None."""
    from ..config import current

    grader = current().grader
    path = grader.stand_in if grader else None
    return str(Path(path).resolve()) if path else None


def write_stand_in(folder: Path, profile) -> Path:
    """The stand-in for ``profile`` from the grader's CIFAR-10, written in ``folder``."""
    from ..data import load_cifar10_with_info

    arrays, _ = load_cifar10_with_info()
    stand_in = stand_in_arrays(arrays, profile)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / STAND_IN_FILE
    np.savez(path, x_train=stand_in.x_train, y_train=stand_in.y_train, x_test=stand_in.x_test,
             y_test=stand_in.y_test)
    path.chmod(0o644)  # the kernels' (under --sandbox user they run as another user)
    return path
