"""The speedrun network: airbench94's shape in the Functional API.

A 2x2 convolution whose filters whiten the images' patches (set from data,
frozen), then three groups of two 3x3 convolutions (widths 64/256/256, max
pooling inside each group), batch norm without a learned scale, GELU, a global
max pool and a linear classifier whose logits are scaled down by 9.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from ..data import CIFAR10_MEAN, CIFAR10_STD
from ..layers import ChannelsLastConv2D, ChannelsLastMaxPooling2D, FusedBatchNormalization
from ..models import NUM_CLASSES
from .recipe import SPEEDRUN, SpeedrunConfig


def normalize(images) -> np.ndarray:
    """Images in [0, 255] -> per-channel standardised float32, as the model's first layer does."""
    return ((np.asarray(images, dtype=np.float32) - np.float32(CIFAR10_MEAN))
            / np.float32(CIFAR10_STD))


def patches(images, size: int) -> np.ndarray:
    """Every ``size`` x ``size`` patch of NHWC images, flattened in keras' kernel order (h, w, c)."""
    windows = np.lib.stride_tricks.sliding_window_view(images, (size, size), axis=(1, 2))
    # (N, H', W', C, size, size) -> (N*H'*W', size*size*C) in (h, w, c) order
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, size * size * images.shape[-1])


def whitening_kernel(images, size: int = 2, eps: float = 5e-4) -> np.ndarray:
    """A ``(size, size, C, 2*size*size*C)`` kernel that whitens the images' patches.

    ``images``: normalised NHWC images. Each filter is an eigenvector of the
    patches' (uncentred) covariance divided by the root of its eigenvalue, the
    largest first, and each comes with its negation, so that a following GELU
    keeps both signs. A convolution with it outputs patch coordinates whose
    covariance is about the identity.
    """
    images = np.asarray(images, dtype=np.float64)
    dim = size * size * images.shape[-1]
    covariance = np.zeros((dim, dim))
    count = 0
    for start in range(0, len(images), 500):  # in chunks: all patches at once is ~0.5 GB
        flat = patches(images[start:start + 500], size)
        covariance += flat.T @ flat
        count += len(flat)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance / count)
    order = np.argsort(eigenvalues)[::-1]
    filters = eigenvectors[:, order] / np.sqrt(eigenvalues[order] + eps)
    kernel = filters.reshape(size, size, images.shape[-1], dim)
    return np.concatenate([kernel, -kernel], axis=-1).astype(np.float32)


def torch_default_initializer(seed=None):
    """PyTorch's default convolution kernel: uniform within 1/sqrt(fan_in)."""
    return keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform", seed=seed)


@keras.saving.register_keras_serializable(package="cifar_course")
class DiracInitializer(keras.initializers.Initializer):
    """A convolution kernel whose first ``min(in, out)`` filters pass their own
    input channel through unchanged (an identity, as ``torch.nn.init.dirac_``),
    the other filters drawn like PyTorch's default: uniform within 1/sqrt(fan_in)."""

    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        kh, kw, channels_in, channels_out = shape
        kernel = torch_default_initializer(self.seed)(shape, dtype=dtype)
        identity = np.zeros(shape, dtype="float32")
        n = min(channels_in, channels_out)
        identity[kh // 2, kw // 2, np.arange(n), np.arange(n)] = 1.0
        is_identity_filter = np.arange(channels_out) < n  # broadcast over the last axis
        return ops.where(is_identity_filter, ops.cast(identity, kernel.dtype), kernel)

    def get_config(self):
        return {"seed": self.seed}


@keras.saving.register_keras_serializable(package="cifar_course")
class ScaledBias(layers.Layer):
    """Adds a per-channel bias stored as ``bias / scale``.

    Under SGD, a parameter stored divided by ``scale`` moves ``scale**2`` times
    faster, while decoupled weight decay still shrinks it at the common rate:
    a per-variable learning rate through keras' one optimizer.
    """

    def __init__(self, scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def build(self, input_shape):
        self.offset = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="offset")

    def call(self, inputs):
        return inputs + self.scale * self.offset

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def norm_act(x, config: SpeedrunConfig, name: str):
    """Batch norm with a fixed scale of 1 and a fast-learning bias, then GELU."""
    x = FusedBatchNormalization(momentum=config.batchnorm_momentum, epsilon=1e-12, center=False,
                                scale=False, name=f"{name}_bn")(x)
    x = ScaledBias(config.bias_lr_scale ** 0.5, name=f"{name}_bias")(x)
    return layers.Activation("gelu", name=f"{name}_gelu")(x)


def conv_group(x, filters: int, config: SpeedrunConfig, name: str):
    """conv -> pool -> norm -> GELU -> conv -> norm -> GELU (airbench's ConvGroup)."""
    def conv(suffix):
        initializer = DiracInitializer() if config.dirac else torch_default_initializer()
        return ChannelsLastConv2D(filters, 3, padding="same", use_bias=False,
                                  kernel_initializer=initializer, name=f"{name}_{suffix}")

    x = conv("conv1")(x)
    x = ChannelsLastMaxPooling2D(2, name=f"{name}_pool")(x)
    x = norm_act(x, config, f"{name}_1")
    x = conv("conv2")(x)
    return norm_act(x, config, f"{name}_2")


def build_speedrun_cnn(whitening: np.ndarray | None = None,
                       config: SpeedrunConfig = SPEEDRUN) -> keras.Model:
    """The speedrun CNN: uint8-range images ``(32, 32, 3)`` in, class probabilities out.

    ``whitening``: the first convolution's kernel (``whitening_kernel`` of
    normalised training images); it is frozen. Without it the layer keeps its
    random initialisation, still frozen (the lesson's ablation), or trained
    where ``config.whiten`` is False (the reference ablation's).
    """
    size = config.whitening_size
    inputs = keras.Input(shape=(32, 32, 3), name="image")
    x = layers.Normalization(mean=CIFAR10_MEAN, variance=[s * s for s in CIFAR10_STD],
                             name="normalize")(inputs)
    whiten = ChannelsLastConv2D(2 * size * size * 3, size, padding="valid", use_bias=False,
                                kernel_initializer=torch_default_initializer(),
                                trainable=not config.whiten, name="whiten")
    x = whiten(x)
    x = ScaledBias(1.0, name="whiten_bias")(x)
    x = layers.Activation("gelu", name="whiten_gelu")(x)
    for index, filters in enumerate(config.widths, start=1):
        x = conv_group(x, filters, config, name=f"group{index}")
    x = layers.GlobalMaxPooling2D(name="global_max_pool")(x)
    x = layers.Dense(NUM_CLASSES, use_bias=False, name="classifier")(x)
    x = layers.Rescaling(config.logit_scale, name="logit_scale")(x)
    outputs = layers.Activation("softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="speedrun_cnn")
    if whitening is not None:
        whiten.set_weights([np.asarray(whitening, dtype="float32")])
    return model


def multiply_adds(model: keras.Model) -> int:
    """Multiply-adds of one forward pass of one image through the convolutions and dense layers
    (a training step costs about three times as much: forward, and two products backward)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, height, width, filters = layer.output.shape
            kh, kw, channels_in, _ = layer.kernel.shape
            total += height * width * filters * kh * kw * channels_in
        elif isinstance(layer, keras.layers.Dense):
            total += layer.kernel.shape[0] * layer.kernel.shape[1]
    return int(total)
