"""The course CNN's structure and inference behaviour."""

import keras
import numpy as np

import cifar_course  # noqa: F401
from cifar_course.augmentation import build_augmentation
from cifar_course.models import build_baseline_cnn, build_stage_model
from cifar_course.stages import STAGES, get_stage


def conv_layers(model):
    return [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]


def test_channels_grow_while_resolution_halves():
    model = build_baseline_cnn()
    assert [l.filters for l in conv_layers(model)] == [32, 32, 64, 64, 128, 128]
    pools = [l for l in model.layers if isinstance(l, keras.layers.MaxPooling2D)]
    assert [tuple(p.output.shape[1:3]) for p in pools] == [(16, 16), (8, 8), (4, 4)]
    assert model.output_shape == (None, 10)
    assert 250_000 < model.count_params() < 330_000


def test_baseline_has_no_regularisers():
    model = build_stage_model(get_stage("baseline").model)
    assert not any(isinstance(l, keras.layers.Dropout) for l in model.layers)
    assert "augmentation" not in [l.name for l in model.layers]
    assert all(l.kernel_regularizer is None for l in conv_layers(model))


def test_regularisation_stage_has_dropout_and_l2():
    model = build_stage_model(get_stage("dropout_weight_decay").model)
    (dropout,) = [l for l in model.layers if isinstance(l, keras.layers.Dropout)]
    assert dropout.rate == 0.5
    assert all(isinstance(l.kernel_regularizer, keras.regularizers.L2) for l in conv_layers(model))
    assert model.get_layer("augmentation") is not None


def test_inference_is_deterministic_with_augmentation_and_dropout():
    model = build_stage_model(STAGES[-1].model, seed=0)
    x = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3)).astype("float32")
    a = model.predict(x, verbose=0)
    b = model.predict(x, verbose=0)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-5)
    train_a = keras.ops.convert_to_numpy(model(x, training=True))
    assert not np.allclose(train_a, a)


def test_saved_model_reloads_with_same_predictions(tmp_path):
    model = build_baseline_cnn(augmentation=build_augmentation(seed=0), dropout=0.5)
    x = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
