"""The speedrun's data: alternating flips, reflect-padded translations, test-time augmentation.

Training batches come from a ``keras.utils.PyDataset`` rather than from layers
inside the model, because the alternating flip needs to know each image's
identity and the epoch: in the first epoch every image is flipped or not at
random; after that, every image is flipped in every other epoch, so any two
consecutive epochs show each image both ways (airbench, section 3.6).
"""

from __future__ import annotations

import keras
import numpy as np

TTA_LEVELS = {0: "no test-time augmentation", 1: "mirror", 2: "mirror and 1-pixel translations"}


def flip_mask(n: int, epoch: int, seed: int = 0) -> np.ndarray:
    """Which of ``n`` images are flipped in ``epoch`` (0-based) under alternating flips."""
    first = np.random.default_rng([seed, 0xF11B]).random(n) < 0.5
    return first if epoch % 2 == 0 else ~first


def translate(padded: np.ndarray, rows: np.ndarray, cols: np.ndarray, size: int = 32) -> np.ndarray:
    """``size`` x ``size`` windows of padded NHWC images, image i at offset (rows[i], cols[i])."""
    r = rows[:, None] + np.arange(size)[None, :]
    c = cols[:, None] + np.arange(size)[None, :]
    return padded[np.arange(len(padded))[:, None, None], r[:, :, None], c[:, None, :]]


class AlternatingFlipTranslate(keras.utils.PyDataset):
    """Shuffled training batches with alternating flips and random translations.

    ``flips``: "alternating" (airbench's), "random" (each image flipped or not
    afresh every epoch: the usual augmentation) or "none". Every epoch's order, flips and offsets follow from ``(seed, epoch)``, so a
    run resumed at epoch k sees what an uninterrupted one would. The epoch is
    set by ``EpochFeeder`` (a callback), incomplete last batches are dropped.
    """

    def __init__(self, images, labels, batch_size: int, *, translate_pixels: int = 2,
                 flips: str = "alternating", seed: int = 0):
        if flips not in ("alternating", "random", "none"):
            raise ValueError(f"flips={flips!r}: choose 'alternating', 'random' or 'none'")
        super().__init__()  # workers=1: batches in order, in the training thread
        p = translate_pixels
        self.images = images
        self.padded = np.pad(images, [(0, 0), (p, p), (p, p), (0, 0)], mode="reflect") if p else images
        self.labels = labels
        self.batch_size = batch_size
        self.translate_pixels = p
        self.flips = flips
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        rng = np.random.default_rng([self.seed, epoch])
        n = len(self.images)
        self.order = rng.permutation(n)
        self.offsets = rng.integers(0, 2 * self.translate_pixels + 1, (n, 2))
        if self.flips == "alternating":
            self.flipped = flip_mask(n, epoch, self.seed)
        else:
            self.flipped = (rng.random(n) < 0.5) if self.flips == "random" else np.zeros(n, bool)

    def __len__(self) -> int:
        return len(self.images) // self.batch_size

    def __getitem__(self, index: int):
        chosen = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        if self.translate_pixels:
            batch = translate(self.padded[chosen], self.offsets[chosen, 0], self.offsets[chosen, 1],
                              self.images.shape[1])
        else:
            batch = self.images[chosen]
        flipped = self.flipped[chosen]
        batch[flipped] = batch[flipped, :, ::-1]
        return batch, self.labels[chosen]


class EpochFeeder(keras.callbacks.Callback):
    """Tells an ``AlternatingFlipTranslate`` which epoch is starting (resumed runs too)."""

    def __init__(self, dataset: AlternatingFlipTranslate):
        super().__init__()
        self.dataset = dataset

    def on_epoch_begin(self, epoch, logs=None):
        self.dataset.set_epoch(epoch)


def tta_views(images, level: int) -> list[tuple[float, np.ndarray]]:
    """(weight, images) pairs whose weighted mean of log-probabilities is the TTA prediction.

    Level 1 averages an image and its mirror; level 2 gives that pair half the
    weight and the pairs shifted by one pixel up-left and down-right (reflect
    padding) a quarter each (airbench's test-time augmentation).
    """
    if level not in TTA_LEVELS:
        raise ValueError(f"tta level {level!r}: choose 0 (none), 1 (mirror) or 2 (mirror and translate)")
    images = np.asarray(images)
    if level == 0:
        return [(1.0, images)]
    mirror = lambda x, w: [(w / 2, x), (w / 2, x[:, :, ::-1])]  # noqa: E731
    if level == 1:
        return mirror(images, 1.0)
    padded = np.pad(images, [(0, 0), (1, 1), (1, 1), (0, 0)], mode="reflect")
    size = images.shape[1]
    up_left, down_right = padded[:, :size, :size], padded[:, 2:size + 2, 2:size + 2]
    return mirror(images, 0.5) + mirror(up_left, 0.25) + mirror(down_right, 0.25)


def view_probabilities(model, images, level: int = 2, batch_size: int = 1000) -> list:
    """``(weight, class probabilities)`` of each TTA view; the first view is the images as
    they are (level 0's prediction)."""
    return [(weight, model.predict(np.ascontiguousarray(view), batch_size=batch_size, verbose=0))
            for weight, view in tta_views(images, level)]


def average_views(views) -> np.ndarray:
    """Weighted average of ``view_probabilities`` in log space (averaging logits), renormalised."""
    log_mean = sum(weight * np.log(np.clip(probabilities.astype(np.float64), 1e-30, None))
                   for weight, probabilities in views)
    log_mean -= log_mean.max(axis=1, keepdims=True)
    probabilities = np.exp(log_mean)
    return probabilities / probabilities.sum(axis=1, keepdims=True)


def predict_tta(model, images, level: int = 2, batch_size: int = 1000) -> np.ndarray:
    """Class probabilities averaged over the TTA views (in log space: averaging logits)."""
    return average_views(view_probabilities(model, images, level, batch_size))
