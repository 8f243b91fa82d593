"""Data augmentation as Keras layers that live inside the model.

Inside the model, augmentation runs batched on the same device as training, is
switched off by ``training=False`` (``predict``, ``evaluate``), and is saved
with the model. The reference recipe uses, per image: a random 32x32 crop after
4 pixels of zero padding, a horizontal flip, and random erasing.

Why a layer of our own for the crop, on keras 3.15.1 with the torch backend:
``ZeroPadding2D(4)`` + ``RandomCrop(32, 32)`` crops every image of a batch at
the same place and returns the padded 40x40 images at inference (keras issue
#21868), and ``RandomTranslation`` interpolates through an affine transform
that costs about 20% of a training step on a 2-core CPU. ``RandomCropWithPadding``
is the same operation as torchvision's ``RandomCrop(32, padding=4)`` done with
one gather.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from .data import CIFAR10_MEAN


@keras.saving.register_keras_serializable(package="cifar_course")
class RandomCropWithPadding(layers.Layer):
    """Zero-pad each image by ``padding`` pixels, then crop it back at a random place.

    Every image of a batch gets its own crop position; at inference the layer
    returns its input unchanged (same shape in both modes).
    """

    def __init__(self, padding: int = 4, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.padding = padding
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=None):
        if not training or self.padding == 0:
            return images
        batch = ops.shape(images)[0]
        height, width, channels = images.shape[1], images.shape[2], images.shape[3]
        p = self.padding
        padded = ops.pad(images, [[0, 0], [p, p], [p, p], [0, 0]])
        padded_width = width + 2 * p
        # One (row, column) offset in [0, 2p] per image.
        offsets = keras.random.randint((batch, 2), 0, 2 * p + 1, seed=self.seed_generator)
        rows = offsets[:, 0:1] + ops.arange(height)[None, :]            # (B, H)
        cols = offsets[:, 1:2] + ops.arange(width)[None, :]             # (B, W)
        flat_index = rows[:, :, None] * padded_width + cols[:, None, :]  # (B, H, W)
        flat = ops.reshape(padded, (batch, -1, channels))
        gathered = ops.take_along_axis(flat, ops.reshape(flat_index, (batch, -1, 1)), axis=1)
        return ops.reshape(gathered, (batch, height, width, channels))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "seed": self.seed}


def build_augmentation(
    crop_padding: int = 4,
    horizontal_flip: bool = True,
    erasing: bool = True,
    seed: int | None = None,
    erasing_probability: float | None = None,
) -> keras.Sequential:
    """The augmentation block of the recipe, for images in [0, 255].

    It comes before normalisation, on [0, 255] pixels. ``RandomErasing`` gets
    ``value_range=(0, 255)`` to match, and fills with the dataset's mean colour:
    keras' default fill is ``normal() * 255`` (values up to +-765 here), while
    the reference's torchvision ``RandomErasing(value=0)`` after normalisation
    fills with the mean colour.

    ``erasing_probability`` is the share of images erased. ``None`` keeps keras'
    default ``factor=1.0``, which draws each image's threshold from U(0, 1) and
    so erases half of them; a number p passes ``factor=(p, p)``.
    """
    # One seed per layer: layers sharing a seed would draw correlated numbers.
    seeds = [None if seed is None else seed + offset for offset in range(3)]
    steps = []
    if crop_padding:
        steps.append(RandomCropWithPadding(crop_padding, seed=seeds[0], name="random_crop_with_padding"))
    if horizontal_flip:
        steps.append(layers.RandomFlip("horizontal", seed=seeds[1], name="random_flip"))
    if erasing:
        factor = 1.0 if erasing_probability is None else (erasing_probability,) * 2
        steps.append(layers.RandomErasing(factor=factor, value_range=(0, 255),
                                           fill_value=list(CIFAR10_MEAN),
                                           seed=seeds[2], name="random_erasing"))
    return keras.Sequential(steps, name="augmentation")
