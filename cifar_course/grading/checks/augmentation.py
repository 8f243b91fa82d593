"""Lesson 02 (data augmentation): random crop and flip, the pipeline's structure, its share of
erased images, its behaviour.
"""

from __future__ import annotations

import keras
import numpy as np

from .common import to_numpy


def _augmentation_layers(augmentation) -> list:
    return list(getattr(augmentation, "layers", [augmentation]))


def check_random_crop(random_crop):
    """``random_crop(images, padding, rng)``: each image zero-padded by ``padding`` on every
    side, then one window of the original size cut out at its own random place."""
    rng = np.random.default_rng(0)
    # 200 images: a correct crop reaches every offset from 0 to 2 * padding in each axis
    # (one offset missed by all of them: (4/5)**200, about 1e-19).
    images = rng.integers(1, 255, (200, 8, 8, 3)).astype("float32")  # no zeros: padding shows
    padding = 2
    out = to_numpy(random_crop(images, padding, np.random.default_rng(1)))
    assert out.shape == images.shape, (
        f"the crops have shape {out.shape}, want {images.shape}: the same size as the input")
    padded = np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    size = images.shape[1]
    offsets = []
    for index, (crop, source) in enumerate(zip(out, padded)):
        found = [(dy, dx) for dy in range(2 * padding + 1) for dx in range(2 * padding + 1)
                 if np.array_equal(source[dy:dy + size, dx:dx + size], crop)]
        assert found, (
            f"image {index} is not a {size}x{size} window of the image padded with {padding} "
            f"zeros on each side. Hint: pad with zeros first, then cut out a window whose "
            f"top-left corner lies between 0 and 2 * padding")
        offsets.append(found[0])
    assert len(set(offsets)) > 1, (
        "every image was cropped at the same place: draw a new position for each image "
        "(keras' RandomCrop draws one per batch)")
    for axis, name in ((0, "vertical"), (1, "horizontal")):
        reached = sorted({offset[axis] for offset in offsets})
        assert reached == list(range(2 * padding + 1)), (
            f"over {len(images)} images the {name} offsets were only {reached}; a window may "
            f"start anywhere from 0 to 2 * padding = {2 * padding}, both ends included. Hint: "
            f"rng.integers(low, high) never returns high")
    assert np.array_equal(to_numpy(random_crop(images, 0, np.random.default_rng(2))), images), (
        "with padding 0 the only window is the image itself")


def check_random_flip(random_flip):
    """``random_flip(images, rng)``: each image mirrored left-right with probability 1/2."""
    images = np.random.default_rng(0).integers(0, 255, (200, 4, 6, 3)).astype("float32")
    out = to_numpy(random_flip(images, np.random.default_rng(1)))
    assert out.shape == images.shape, f"the output has shape {out.shape}, want {images.shape}"
    mirrored = images[:, :, ::-1]
    flipped = []
    for index, (result, image, mirror) in enumerate(zip(out, images, mirrored)):
        if np.array_equal(result, image[::-1]) and not np.array_equal(result, mirror):
            raise AssertionError(f"image {index} is upside down: flip the width axis "
                                 f"(axis 1 of an image, 2 of a batch), not the height")
        assert np.array_equal(result, image) or np.array_equal(result, mirror), (
            f"image {index} is neither the image nor its left-right mirror")
        flipped.append(np.array_equal(result, mirror))
    share = float(np.mean(flipped))
    assert 0.35 <= share <= 0.65, (
        f"{share:.0%} of the images were flipped, want about half: flip each image on its own "
        f"coin toss")


def check_augmentation_structure(augmentation, padding: int = 4):
    """A crop after ``padding`` pixels of zero padding, a horizontal flip and random erasing."""
    from ...augmentation import RandomCropWithPadding

    steps = _augmentation_layers(augmentation)
    crops = [s for s in steps if isinstance(s, RandomCropWithPadding)]
    assert crops, "no RandomCropWithPadding layer: crop 32x32 after zero padding"
    assert crops[0].padding == padding, f"crop padding is {crops[0].padding}, want {padding}"
    flips = [s for s in steps if isinstance(s, keras.layers.RandomFlip)]
    assert flips, "no RandomFlip layer"
    assert flips[0].mode == "horizontal", (
        f"flip mode {flips[0].mode!r}: upside-down cats are not CIFAR cats, flip 'horizontal' only")
    erasers = [s for s in steps if isinstance(s, keras.layers.RandomErasing)]
    assert erasers, "no RandomErasing layer"
    assert tuple(erasers[0].value_range) == (0, 255), (
        f"RandomErasing value_range is {erasers[0].value_range}: the images are 0-255 here")


def check_erasing_share(augmentation, erasing_probability: float | None):
    """Its ``RandomErasing`` (in ``augmentation``, or in a model's augmentation block) erases
    a share ``erasing_probability`` of the images (``None``: keras' default, half of them),
    measured on 800 flat images."""
    def erasers_in(layer):
        if isinstance(layer, keras.layers.RandomErasing):
            return [layer]
        return [found for inner in getattr(layer, "layers", []) for found in erasers_in(inner)]

    erasers = erasers_in(augmentation)
    assert erasers, "no RandomErasing layer"
    expected = 0.5 if erasing_probability is None else erasing_probability
    flat = np.full((800, 32, 32, 3), 10.0, dtype="float32")
    erased = to_numpy(erasers[0](flat, training=True))
    share = float((erased != 10.0).any(axis=(1, 2, 3)).mean())
    assert abs(share - expected) < 0.06, (
        f"built with erasing_probability={erasing_probability}, RandomErasing erased "
        f"{share:.0%} of 800 images, want {expected:.0%}. Hint: RandomErasing(factor=(p, p)) "
        f"erases a share p; its default factor=1.0 erases half")


def check_augmentation_behaviour(augmentation, images: np.ndarray):
    """Training changes pixels, inference does not; both keep the shape."""
    images = to_numpy(images[:32]).astype("float32")
    trained = keras.ops.convert_to_numpy(augmentation(images, training=True))
    inferred = keras.ops.convert_to_numpy(augmentation(images, training=False))
    assert trained.shape == images.shape, (
        f"augmentation changed the shape in training: {images.shape} -> {trained.shape}")
    assert inferred.shape == images.shape, (
        f"augmentation changed the shape at inference: {images.shape} -> {inferred.shape}")
    assert np.array_equal(inferred, images), "augmentation must do nothing at inference"
    changed = np.mean([not np.array_equal(a, b) for a, b in zip(trained, images)])
    assert changed >= 0.5, f"augmentation changed only {changed:.0%} of the images in training"

