"""The fast layers compute what keras' own layers compute, forward and backward."""

import keras
import numpy as np
import pytest
import torch

import cifar_course  # noqa: F401  (torch backend)
from cifar_course.layers import ChannelsLastConv2D, ChannelsLastMaxPooling2D, FusedBatchNormalization


def inputs(shape=(4, 8, 8, 6), seed=0):
    return np.random.default_rng(seed).normal(1.0, 3.0, shape).astype("float32")


def twin_layers(fast_cls, keras_cls, shape, **kwargs):
    fast, reference = fast_cls(**kwargs), keras_cls(**kwargs)
    fast.build(shape)
    reference.build(shape)
    reference.set_weights(fast.get_weights())
    return fast, reference


def forward_backward(layer, x, training=None):
    tensor = torch.tensor(x, requires_grad=True)
    out = layer(tensor, training=training) if training is not None else layer(tensor)
    (out ** 2).sum().backward()
    return out.detach().numpy(), tensor.grad.numpy()


@pytest.mark.parametrize("kwargs", [
    dict(filters=5, kernel_size=3, padding="same", use_bias=False),
    dict(filters=5, kernel_size=3, padding="valid", use_bias=True),
    dict(filters=4, kernel_size=3, padding="same", strides=2),  # falls back to keras
])
def test_conv_matches_keras(kwargs):
    x = inputs()
    fast, reference = twin_layers(ChannelsLastConv2D, keras.layers.Conv2D, x.shape, **kwargs)
    out_fast, grad_fast = forward_backward(fast, x)
    out_ref, grad_ref = forward_backward(reference, x)
    np.testing.assert_allclose(out_fast, out_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grad_fast, grad_ref, rtol=1e-4, atol=1e-3)


def test_max_pool_matches_keras():
    x = inputs()
    fast, reference = ChannelsLastMaxPooling2D(2), keras.layers.MaxPooling2D(2)
    out_fast, grad_fast = forward_backward(fast, x)
    out_ref, grad_ref = forward_backward(reference, x)
    np.testing.assert_array_equal(out_fast, out_ref)
    np.testing.assert_array_equal(grad_fast, grad_ref)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_keras(training):
    x = inputs((16, 8, 8, 6))
    fast, reference = twin_layers(FusedBatchNormalization, keras.layers.BatchNormalization,
                                  x.shape, momentum=0.9)
    for layer in (fast, reference):
        layer.gamma.assign(np.linspace(0.5, 2.0, 6))
        layer.beta.assign(np.linspace(-1.0, 1.0, 6))
        layer.moving_mean.assign(np.full(6, 0.5))
        layer.moving_variance.assign(np.full(6, 2.0))
    out_fast, grad_fast = forward_backward(fast, x, training)
    out_ref, grad_ref = forward_backward(reference, x, training)
    np.testing.assert_allclose(out_fast, out_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grad_fast, grad_ref, rtol=1e-3, atol=1e-3)
    mean_fast, mean_ref = (keras.ops.convert_to_numpy(l.moving_mean) for l in (fast, reference))
    np.testing.assert_allclose(mean_fast, mean_ref, rtol=1e-5)
    var_fast, var_ref = (keras.ops.convert_to_numpy(l.moving_variance) for l in (fast, reference))
    n = 16 * 8 * 8  # torch's moving variance is unbiased: larger by n / (n - 1) at most
    np.testing.assert_allclose(var_fast, var_ref, rtol=1.5 / n)
    if not training:
        np.testing.assert_array_equal(mean_fast, np.full(6, 0.5))


def test_symbolic_build_uses_keras_path():
    x = keras.Input((8, 8, 3))
    y = FusedBatchNormalization()(ChannelsLastMaxPooling2D(2)(ChannelsLastConv2D(4, 3, padding="same")(x)))
    assert tuple(y.shape) == (None, 4, 4, 4)
