"""The torchvision DataLoader path: shapes, augmentation, and keras fit on it."""

import warnings

import numpy as np

import cifar_course  # noqa: F401
from torch_pipeline import make_dataloader
from cifar_course.models import build_baseline_cnn


def arrays(n=64):
    rng = np.random.default_rng(0)
    return rng.integers(1, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, (n, 1))


def test_batches_are_channels_last_floats_with_one_hot_labels():
    x, y = arrays()
    images, labels = next(iter(make_dataloader(x, y, batch_size=16, shuffle=False)))
    assert tuple(images.shape) == (16, 32, 32, 3) and str(images.dtype) == "torch.float32"
    assert tuple(labels.shape) == (16, 10)
    np.testing.assert_array_equal(images.numpy(), x[:16].astype("float32"))
    np.testing.assert_array_equal(labels.numpy().argmax(1), y[:16, 0])


def test_augmented_loader_changes_images():
    x, y = arrays()
    images, _ = next(iter(make_dataloader(x, y, augment=True, batch_size=64, shuffle=False)))
    changed = (images.numpy() != x.astype("float32")).reshape(64, -1).any(axis=1)
    assert changed.mean() > 0.8


def test_keras_fit_accepts_the_loader():
    x, y = arrays()
    model = build_baseline_cnn(widths=(8, 16))
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. keras' "shuffle=True ... will be ignored"
        history = model.fit(make_dataloader(x, y, augment=True, batch_size=32), epochs=1,
                            shuffle=False, verbose=0)
    assert np.isfinite(float(history.history["loss"][0]))
