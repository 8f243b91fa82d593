"""The fast layers compute what keras' own layers compute, forward and backward."""

import weakref

import keras
import numpy as np
import pytest
import torch

import cifar_course  # noqa: F401  (torch backend)
from cifar_course.layers import (ChannelsLastConv2D, ChannelsLastMaxPooling2D, FusedBatchNormalization,
                                 LeanFunctionalModel)
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


def test_lean_model_matches_keras_functional(tmp_path):
    model = build_baseline_cnn(widths=(8, 16), dropout=0.5)
    assert isinstance(model, LeanFunctionalModel)
    plain = keras.Model(model.inputs, model.outputs)
    x = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), plain.predict(x, verbose=0))

    def gradients(m):
        out = m(torch.from_numpy(x), training=False)
        out.sum().backward()
        grads = [v.value.grad.clone() for v in m.trainable_weights]
        for v in m.trainable_weights:
            v.value.grad = None
        return grads

    for lean, reference in zip(gradients(model), gradients(plain)):
        torch.testing.assert_close(lean, reference)
    path = tmp_path / "lean.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, LeanFunctionalModel)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_lean_model_drops_tensors_after_their_last_use():
    remembered, alive_later = [], []

    class Remember(keras.layers.Layer):
        def call(self, x):
            remembered.append(weakref.ref(x))
            return x * 1.0

    class CheckRemembered(keras.layers.Layer):
        def call(self, x):
            alive_later.append(remembered[-1]() is not None)
            return x

    inputs = keras.Input((4,))
    hidden = Remember()(keras.layers.Dense(3)(inputs))  # the Dense output's last reader
    outputs = CheckRemembered()(keras.layers.Dense(2)(hidden))
    plain, lean = keras.Model(inputs, outputs), LeanFunctionalModel(inputs, outputs)
    x = torch.ones(2, 4)
    alive_later.clear()  # building the models called the layers symbolically
    with torch.no_grad():
        plain(x)
        lean(x)
    assert alive_later == [True, False]  # keras holds it to the end; the lean model does not


def test_lean_model_trains_as_keras_does():
    """training=True reaches batch norm (moving statistics) and dropout through the direct calls."""
    model = build_baseline_cnn(widths=(8, 16))
    plain = keras.Model(model.inputs, model.outputs)  # the same layers, keras' runner
    x = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (8, 32, 32, 3))
                         .astype("float32"))
    start = [v.numpy().copy() for v in model.non_trainable_weights]
    lean_out = model(x, training=True).detach().numpy()
    lean_stats = [v.numpy().copy() for v in model.non_trainable_weights]
    for variable, value in zip(model.non_trainable_weights, start):
        variable.assign(value)
    plain_out = plain(x, training=True).detach().numpy()
    np.testing.assert_allclose(lean_out, plain_out, rtol=1e-5, atol=1e-6)
    for lean_value, variable in zip(lean_stats, plain.non_trainable_weights):
        np.testing.assert_allclose(lean_value, variable.numpy(), rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(a, b) for a, b in zip(lean_stats, start))  # they did move

    inputs = keras.Input((64,))
    dropped = LeanFunctionalModel(inputs, keras.layers.Dropout(0.5)(inputs))
    ones = torch.ones(4, 64)
    assert (dropped(ones, training=True) == 0).float().mean() > 0.3
    assert torch.equal(dropped(ones, training=False), ones)
    assert torch.equal(dropped(ones), ones)


def test_lean_model_skips_layer_call_bookkeeping_only_for_plain_layers(monkeypatch):
    model = build_baseline_cnn(widths=(8, 16))
    plain = keras.Model(model.inputs, model.outputs)
    x = torch.zeros(2, 32, 32, 3)
    called = []
    layer_call = keras.layers.Layer.__call__

    def counting_call(self, *args, **kwargs):
        called.append(type(self).__name__)
        return layer_call(self, *args, **kwargs)

    monkeypatch.setattr(keras.layers.Layer, "__call__", counting_call)
    with torch.no_grad():
        plain(x)
        through_keras = list(called)
        called.clear()
        model(x)
    # keras' runner calls every layer; the lean one the model and normalisation only
    assert len(through_keras) == len(model.layers)  # the model itself, less its InputLayer
    assert sorted(called) == ["LeanFunctionalModel", "Normalization"]

    seen = []
    model.get_layer("block1_relu1").register_forward_hook(lambda *a: seen.append(1))
    called.clear()
    with torch.no_grad():
        model(x)
    assert seen == [1] and "ReLU" in called  # a hooked layer goes through __call__
