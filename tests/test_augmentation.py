"""The augmentation changes images in training, never at inference, per image."""

import keras
import numpy as np
import pytest

import cifar_course  # noqa: F401  (torch backend)
from cifar_course.augmentation import RandomCropWithPadding, build_augmentation
from cifar_course.data import CIFAR10_MEAN


def images(n=16, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3)).astype("float32")


def numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.parametrize("training", [True, False])
def test_output_shape_is_kept_in_both_modes(training):
    batch = images()
    assert numpy(build_augmentation(seed=1)(batch, training=training)).shape == batch.shape
    assert numpy(RandomCropWithPadding(4)(batch, training=training)).shape == batch.shape


def test_inference_returns_the_input_unchanged():
    batch = images()
    assert np.array_equal(numpy(build_augmentation(seed=1)(batch, training=False)), batch)


def test_training_changes_pixels():
    batch = images()
    out = numpy(build_augmentation(seed=1)(batch, training=True))
    changed = [not np.array_equal(a, b) for a, b in zip(out, batch)]
    assert sum(changed) >= 14  # a crop offset of (4, 4) with no flip leaves one unchanged


def crop_offset(original, cropped, padding=4):
    """The (row, col) at which ``cropped`` was cut from the zero-padded ``original``."""
    padded = np.pad(original, [(padding, padding), (padding, padding), (0, 0)])
    size = original.shape[0]
    hits = [(r, c) for r in range(2 * padding + 1) for c in range(2 * padding + 1)
            if np.array_equal(padded[r:r + size, c:c + size], cropped)]
    assert len(hits) == 1, "the output is not a single window of the padded image"
    return hits[0]


def test_crop_is_a_window_of_the_padded_image_chosen_per_image():
    batch = images(32) + 1  # no zero pixels, so padding is recognisable
    out = numpy(RandomCropWithPadding(4, seed=3)(batch, training=True))
    offsets = {crop_offset(a, b) for a, b in zip(batch, out)}
    assert len(offsets) > 5, "images of one batch share a crop position"
    assert all(0 <= r <= 8 and 0 <= c <= 8 for r, c in offsets)


def test_erasing_fills_with_the_mean_colour_inside_the_pixel_range():
    flat = np.full((64, 32, 32, 3), 10.0, dtype="float32")
    out = numpy(build_augmentation(crop_padding=0, horizontal_flip=False, seed=2)(flat, training=True))
    assert out.min() >= 0 and out.max() <= 255
    erased = out[(out != 10.0).any(axis=-1)]
    assert len(erased) > 0, "nothing was erased in 64 images"
    assert np.allclose(erased, CIFAR10_MEAN)


@pytest.mark.parametrize("probability, expected", [(None, 0.5), (0.25, 0.25), (0.0, 0.0)])
def test_erasing_probability_is_the_share_of_images_erased(probability, expected):
    flat = np.full((800, 32, 32, 3), 10.0, dtype="float32")
    erase = build_augmentation(crop_padding=0, horizontal_flip=False, seed=4,
                               erasing_probability=probability)
    erased = (numpy(erase(flat, training=True)) != 10.0).any(axis=(1, 2, 3)).mean()
    assert abs(erased - expected) < 0.06, f"{erased:.3f} of the images erased, not {expected}"


def test_same_seed_same_augmentation():
    batch = images()
    a = numpy(build_augmentation(seed=5)(batch, training=True))
    b = numpy(build_augmentation(seed=5)(batch, training=True))
    assert np.array_equal(a, b)


def test_crop_layer_round_trips_through_config():
    layer = RandomCropWithPadding(padding=2, seed=7)
    clone = RandomCropWithPadding.from_config(layer.get_config())
    assert clone.padding == 2 and clone.seed == 7
