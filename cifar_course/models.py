"""Model builders: the course's CNN, from the baseline to the full recipe.

The network is the reference project's: convolution blocks whose channels grow
3 -> 32 -> 64 -> 128 while max-pooling halves the resolution 32 -> 16 -> 8 -> 4,
then global average pooling and a softmax classifier. Later stages add pieces
(augmentation in front, dropout before the classifier, L2 on the kernels); the
builder takes them as arguments so that each stage changes one thing.
"""

from __future__ import annotations

import keras
from keras import layers

from .augmentation import build_augmentation
from .data import CIFAR10_MEAN, CIFAR10_STD
from .layers import ChannelsLastConv2D, ChannelsLastMaxPooling2D, FusedBatchNormalization

NUM_CLASSES = 10
# PyTorch's default (keras' is 0.99): with a few hundred steps an epoch, 0.99
# leaves the moving statistics stale and validation accuracy swings by 25 points
# from one epoch to the next (measured in the quick profile).
BN_MOMENTUM = 0.9


def conv_block(x, filters: int, l2: float = 0.0, name: str = "block"):
    """Two 3x3 convolutions with batch normalisation and ReLU, then 2x2 max pooling."""
    regularizer = keras.regularizers.L2(l2) if l2 else None
    for i in (1, 2):
        x = ChannelsLastConv2D(filters, 3, padding="same", use_bias=False,
                          kernel_regularizer=regularizer, name=f"{name}_conv{i}")(x)
        x = FusedBatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn{i}")(x)
        x = layers.ReLU(name=f"{name}_relu{i}")(x)
    return ChannelsLastMaxPooling2D(2, name=f"{name}_pool")(x)


def build_baseline_cnn(
    widths: tuple[int, ...] = (32, 64, 128),
    *,
    augmentation: keras.Layer | None = None,
    dropout: float = 0.0,
    l2: float = 0.0,
    block=None,
    name: str = "cifar_cnn",
) -> keras.Model:
    """The course CNN. Takes uint8-range images ``(32, 32, 3)``, returns class probabilities.

    Args:
        widths: filters of each convolution block (one max-pool per block).
        augmentation: a layer (e.g. ``build_augmentation()``) applied first, in
            training only.
        dropout: rate of the dropout before the classifier (0 = none).
        l2: L2 penalty on convolution and dense kernels, added to the loss.
        block: ``block(x, filters, l2, name) -> x``, one convolution block
            (default ``conv_block``; lesson 01 has students write their own).

    The last block's feature maps reach the classifier averaged over positions
    (``global_pool``).
    """
    block = block or conv_block
    inputs = keras.Input(shape=(32, 32, 3), name="image")
    x = augmentation(inputs) if augmentation is not None else inputs
    x = layers.Normalization(mean=CIFAR10_MEAN, variance=[s * s for s in CIFAR10_STD],
                             name="normalize")(x)
    for index, filters in enumerate(widths, start=1):
        x = block(x, filters, l2, name=f"block{index}")
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    regularizer = keras.regularizers.L2(l2) if l2 else None
    outputs = layers.Dense(NUM_CLASSES, activation="softmax",
                           kernel_regularizer=regularizer, name="classifier")(x)
    return keras.Model(inputs, outputs, name=name)


def build_stage_model(config, seed: int | None = None,
                      erasing_probability: float | None = None) -> keras.Model:
    """Build the model a stage's ``ModelConfig`` describes.

    ``erasing_probability`` is a profile's strength for random erasing (``None``:
    ``build_augmentation``'s default); the stage says whether it erases at all.
    """
    augmentation = None
    if config.augment:
        augmentation = build_augmentation(
            crop_padding=config.crop_padding, horizontal_flip=True,
            erasing=config.random_erasing, seed=seed, erasing_probability=erasing_probability,
        )
    return build_baseline_cnn(config.widths, augmentation=augmentation,
                              dropout=config.dropout, l2=config.l2)
