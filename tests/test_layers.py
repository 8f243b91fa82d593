"""The fast layers compute what keras' own layers compute, forward and backward."""

import keras
import numpy as np
import pytest
import torch

import cifar_course  # noqa: F401  (torch backend)
from cifar_course.layers import ChannelsLastConv2D, ChannelsLastMaxPooling2D, FusedBatchNormalization
from cifar_course.models import build_baseline_cnn


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
    return keras.ops.convert_to_numpy(out.detach()), keras.ops.convert_to_numpy(tensor.grad)


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


def test_course_model_is_a_plain_keras_model_that_reloads(tmp_path):
    """A keras.Model of keras layers (subclasses): summary, save and safe-mode reload."""
    model = build_baseline_cnn(widths=(8, 16), dropout=0.5)
    assert isinstance(model, keras.Model) and type(model).__module__.startswith("keras")
    x = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3)).astype("float32")
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [type(a) for a in loaded.layers] == [type(b) for b in model.layers]


def test_batch_norm_in_a_stateless_scope_leaves_the_variables_alone():
    """Under keras.StatelessScope the moving statistics update the scope, not the variables."""
    layer = FusedBatchNormalization(momentum=0.9)
    layer.build((8, 4, 4, 3))
    x = torch.from_numpy(inputs((8, 4, 4, 3)))
    before = keras.ops.convert_to_numpy(layer.moving_mean).copy()
    with keras.StatelessScope() as scope:
        layer(x, training=True)
        updated = scope.get_current_value(layer.moving_mean)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.moving_mean), before)
    assert updated is not None and not np.allclose(keras.ops.convert_to_numpy(updated), before)


def test_frozen_batch_norm_uses_the_moving_statistics_in_training():
    x = inputs((16, 8, 8, 6))
    fast, reference = twin_layers(FusedBatchNormalization, keras.layers.BatchNormalization, x.shape)
    fast.trainable = reference.trainable = False
    out_fast, _ = forward_backward(fast, x, True)
    out_ref, _ = forward_backward(reference, x, True)
    np.testing.assert_allclose(out_fast, out_ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("fast_cls, keras_cls, kwargs", [
    (ChannelsLastConv2D, keras.layers.Conv2D, dict(filters=4, kernel_size=3, padding="same")),
    (FusedBatchNormalization, keras.layers.BatchNormalization, {}),
])
def test_mixed_precision_runs_keras_own_code(fast_cls, keras_cls, kwargs):
    """Under a mixed policy the inputs are bfloat16: the fast path steps aside."""
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        x = inputs()
        fast, reference = twin_layers(fast_cls, keras_cls, x.shape, **kwargs)
        out_fast = keras.ops.convert_to_numpy(keras.ops.cast(fast(x), "float32"))
        out_ref = keras.ops.convert_to_numpy(keras.ops.cast(reference(x), "float32"))
        assert fast.compute_dtype == "bfloat16"
        np.testing.assert_array_equal(out_fast, out_ref)
    finally:
        keras.config.set_dtype_policy("float32")
