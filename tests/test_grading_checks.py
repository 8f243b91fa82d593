"""The checks pass the right answer and catch the usual wrong ones."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from cifar_course.augmentation import build_augmentation
from cifar_course.grading import checks
from cifar_course.grading.isolated import run_isolated
from cifar_course.models import build_baseline_cnn
from cifar_course.profiles import get_profile
from cifar_course.training import synthetic_cifar


def plain_block(x, filters, l2=0.0, name="block", bn=True, pool=True):
    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        if bn:
            x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = layers.ReLU(name=f"{name}_relu{i}")(x)
    return layers.MaxPooling2D(2, name=f"{name}_pool")(x) if pool else x


def test_structure_accepts_the_course_model_and_a_plain_keras_one():
    checks.check_baseline_structure(build_baseline_cnn())
    checks.check_baseline_structure(build_baseline_cnn(block=plain_block))


@pytest.mark.parametrize("broken, message", [
    (lambda x, f, l2=0.0, name="b": plain_block(x, f, l2, name, bn=False), "layer order"),
    (lambda x, f, l2=0.0, name="b": plain_block(x, f * 2, l2, name), "filters"),
])
def test_structure_catches_a_wrong_block(broken, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_baseline_structure(build_baseline_cnn(block=broken))


def test_augmentation_checks():
    images, _ = synthetic_cifar(32)
    checks.check_augmentation_structure(build_augmentation(seed=0))
    checks.check_augmentation_behaviour(build_augmentation(seed=0), images)
    vertical = keras.Sequential([layers.RandomFlip("vertical")])
    with pytest.raises(AssertionError):
        checks.check_augmentation_structure(vertical)
    noisy = keras.Sequential([layers.GaussianNoise(0.5)])  # a training-only layer passes
    checks.check_augmentation_behaviour(noisy, images)
    always = keras.Sequential([layers.Rescaling(0.5)])  # changes images at inference too
    with pytest.raises(AssertionError, match="inference"):
        checks.check_augmentation_behaviour(always, images)


def test_regularization_check():
    images, _ = synthetic_cifar(16)
    checks.check_regularization(build_baseline_cnn(dropout=0.5, l2=2.5e-4), images=images)
    with pytest.raises(AssertionError, match="dropout rate"):
        checks.check_regularization(build_baseline_cnn(dropout=0.3, l2=2.5e-4))
    with pytest.raises(AssertionError, match="L2"):
        checks.check_regularization(build_baseline_cnn(dropout=0.5))


def test_label_smoothing_checks():
    checks.check_label_smoothing_loss(keras.losses.CategoricalCrossentropy(label_smoothing=0.1))
    with pytest.raises(AssertionError):
        checks.check_label_smoothing_loss(keras.losses.CategoricalCrossentropy())
    checks.check_smooth_labels(lambda y, e: y * (1 - e) + e / y.shape[-1])
    with pytest.raises(AssertionError):
        checks.check_smooth_labels(lambda y, e: y * (1 - e) + e)  # forgot to divide by K


def test_adamw_check_tells_decoupled_decay_from_l2():
    from cifar_course.stages import get_stage
    from cifar_course.training import build_optimizer

    # The optimizer the references train with passes (it leaves biases, gamma, beta alone).
    checks.check_adamw(build_optimizer(get_stage("adamw"), get_profile("smoke")))
    with pytest.raises(AssertionError, match="named 'bias'"):
        checks.check_adamw(keras.optimizers.AdamW(1e-3, weight_decay=0.05))
    with pytest.raises(AssertionError, match="AdamW"):
        checks.check_adamw(keras.optimizers.Adam(1e-3))
    with pytest.raises(AssertionError, match="weight_decay"):
        checks.check_adamw(keras.optimizers.AdamW(1e-3, weight_decay=0.004))
    # An optimizer that has trained is built on its model's variables: the check asks for a
    # new one rather than failing inside keras.
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=0.05), loss="mse")
    model.fit(np.ones((4, 2)), np.ones((4, 1)), verbose=0)
    with pytest.raises(AssertionError, match="hand the check a new one"):
        checks.check_adamw(model.optimizer)


@pytest.mark.parametrize("probability", [None, 0.25])
def test_erasing_share_check_accepts_the_course_augmentation(probability):
    augmentation = build_augmentation(seed=0, erasing_probability=probability)
    checks.check_erasing_share(augmentation, probability)
    # Inside a model too (lessons 03 and 08 hand over the whole network).
    checks.check_erasing_share(build_baseline_cnn(augmentation=augmentation), probability)


def test_callbacks_check(tmp_path):
    good = [keras.callbacks.ReduceLROnPlateau(patience=2),
            keras.callbacks.EarlyStopping(patience=5, restore_best_weights=True),
            keras.callbacks.ModelCheckpoint(str(tmp_path / "b.keras"), save_best_only=True),
            keras.callbacks.CSVLogger(str(tmp_path / "h.csv"))]
    checks.check_callbacks(good)
    checks.check_callbacks(good, factor=0.1)  # keras' default factor, when it is the one asked for
    # Callbacks already used in a fit (as in the lessons, before the check) still pass.
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    x, y = np.random.default_rng(0).normal(size=(32, 2)), np.eye(10)[np.arange(32) % 10]
    model.fit(x, y, validation_data=(x, y), epochs=3, verbose=0, callbacks=good)
    checks.check_callbacks(good)
    # ...and so do they when described by another copy of the checks (the hidden test's).
    from cifar_course.grading.isolated import _fresh_module

    checks.check_callbacks(_fresh_module(checks.module_of("describe_callbacks")).describe_callbacks(good))
    late = [keras.callbacks.ReduceLROnPlateau(patience=6)] + good[1:]
    with pytest.raises(AssertionError, match="below EarlyStopping"):
        checks.check_callbacks(late)
    forgetful = good[:1] + [keras.callbacks.EarlyStopping(patience=5)] + good[2:]
    with pytest.raises(AssertionError, match="restore"):
        checks.check_callbacks(forgetful)


def test_metric_check_recomputes_and_compares_with_the_band():
    from cifar_course.training import prepare_data

    data = prepare_data("smoke")
    keras.utils.set_random_seed(0)  # an untrained network's accuracy depends on its draw
    untrained = build_baseline_cnn()
    with pytest.raises(AssertionError, match="chance"):
        # An untrained network is at chance; the smoke check asks for better.
        checks.check_test_accuracy(untrained, "baseline", "smoke", data)


def test_isolated_run_decides_in_a_fresh_process(monkeypatch):
    run_isolated("check_smooth_labels", smooth_labels=lambda y, e: y * (1 - e) + e / y.shape[-1])
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)  # a cheat in this process
    monkeypatch.setattr(checks, "check_smooth_labels", lambda *a, **k: None)
    with pytest.raises(AssertionError, match="smooth_labels"):
        run_isolated("check_smooth_labels", smooth_labels=lambda y, e: y)


def test_isolated_run_refuses_edited_references():
    with pytest.raises(AssertionError, match="was changed"):
        run_isolated("check_ablation_deltas", references_sha256="0" * 64,
                     ablation_deltas=lambda a: {})


def test_structure_refuses_a_memoriser_beside_the_network():
    """An untrained CNN concatenated with a Dense 'lookup' of the test set: extra layers."""
    inputs = keras.Input((32, 32, 3))
    cnn = build_baseline_cnn(block=plain_block)
    lookup = layers.Dense(10, name="lookup")(layers.Flatten()(inputs))
    mixed = layers.Concatenate()([cnn(inputs), lookup])
    outputs = layers.Dense(10, activation="softmax")(mixed)
    with pytest.raises(AssertionError):
        checks.check_baseline_structure(keras.Model(inputs, outputs))
    x = layers.Dense(10, name="extra")(cnn.layers[-2].output)
    extra = keras.Model(cnn.inputs, layers.Dense(10, activation="softmax")(x))
    with pytest.raises(AssertionError, match="one Dense layer"):
        checks.check_baseline_structure(extra)


def band_references(low, high, profile="grade"):
    from cifar_course.data.copies import JPEG_COPY

    mean, std = (low + high) / 2, (high - low) / 6
    measured_on = {"data": {"kind": "imagefolder", "sha256": JPEG_COPY.archive_sha256}}
    return {"profiles": {profile: {"provenance": measured_on, "stages": {"baseline": {
        "test_accuracy": {"mean": mean, "std": std, "values": [mean - std, mean, mean + std]}}}}}}


def data_from(copy_kind: str, archive_sha256, content_sha256):
    """The smoke profile's images, labelled as coming from a given copy of CIFAR-10."""
    from dataclasses import replace

    from cifar_course.data import SourceInfo
    from cifar_course.training import prepare_data

    data = prepare_data("smoke")
    return replace(data, source=SourceInfo(copy_kind, "some/path", archive_sha256, 50000, 10000,
                                           content_sha256))


def references_copy():
    from cifar_course.data.copies import JPEG_COPY

    return data_from("imagefolder", JPEG_COPY.archive_sha256, JPEG_COPY.content_sha256)


def test_metric_band_is_two_sided_and_says_which_side():
    data = references_copy()
    untrained = build_baseline_cnn()  # about 10% on anything
    real = get_profile("grade")
    with pytest.raises(AssertionError, match="below the grade reference band"):
        checks.check_test_accuracy(untrained, "baseline", real, data, band_references(0.6, 0.8))
    with pytest.raises(AssertionError, match="above the grade reference band.*test images were "
                                             "used for nothing but"):
        checks.check_test_accuracy(untrained, "baseline", real, data, band_references(-0.5, -0.3))


def test_another_copy_gets_the_floor_and_no_upper_end_and_the_grader_refuses_it():
    """Trains nothing: a model 'above the band' on canonical CIFAR-10 passes with a note;
    the grader's checker refuses it on that copy and the same model on the references' copy."""
    from cifar_course.data.copies import JPEG_COPY

    untrained = build_baseline_cnn()  # about 10%: above a band of [-0.5, -0.3]
    real = get_profile("grade")
    above = band_references(-0.5, -0.3)
    canonical = data_from("keras", None, "f" * 64)
    message = checks.check_test_accuracy(untrained, "baseline", real, canonical, above)
    assert "canonical CIFAR-10" in message and "only the floor is checked" in message
    assert "saw" not in message and "cheat" not in message
    with pytest.raises(AssertionError, match="below .*less 2 points.*canonical CIFAR-10"):
        checks.check_test_accuracy(untrained, "baseline", real, canonical, band_references(0.6, 0.8))
    with pytest.raises(AssertionError, match="grader set-up: the test data is canonical"):
        checks.check_test_accuracy(untrained, "baseline", real, canonical, above, under_grader=True)
    # The same images packed another way (another archive, same content) are the same copy:
    repacked = data_from("batches", "e" * 64, JPEG_COPY.content_sha256)
    for data in (references_copy(), repacked):
        with pytest.raises(AssertionError, match="above the grade reference band"):
            checks.check_test_accuracy(untrained, "baseline", real, data, above, under_grader=True)


def test_the_same_images_in_another_order_or_packing_have_the_same_digest():
    import numpy as np

    from cifar_course.data.copies import content_digest
    from cifar_course.data.sources import Arrays

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, (20, 1)).astype(np.uint8)
    arrays = Arrays(images[:15], labels[:15], images[15:], labels[15:])
    order = rng.permutation(15)
    shuffled = Arrays(images[:15][order], labels[:15][order].astype(np.int64), images[15:],
                      labels[15:].ravel())
    assert content_digest(arrays) == content_digest(shuffled)
    changed = images.copy()
    changed[0, 0, 0, 0] ^= 1
    assert content_digest(arrays) != content_digest(Arrays(changed[:15], labels[:15], images[15:],
                                                           labels[15:]))


def test_a_profile_without_references_says_so_and_checks_a_floor():
    from cifar_course.training import prepare_data

    data = prepare_data("smoke")
    with pytest.raises(AssertionError, match="below 0.30"):
        checks.check_test_accuracy(build_baseline_cnn(), "baseline", get_profile("full"),
                                   data, {"profiles": {}})


def test_the_graders_literals_win_over_the_saved_answer(tmp_path):
    from cifar_course.grading.contract import HiddenCall
    from cifar_course.grading.isolated import decide, save_answer

    right = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)
    # The notebook saved its answer with smoothing=0.0 for the check's parameter...
    request = save_answer("check_label_smoothing_loss", {"loss": right, "smoothing": 0.0}, tmp_path)
    as_saved = HiddenCall("check_label_smoothing_loss", 1, slots=("loss", "smoothing"))
    passed, message = decide(request, as_saved)
    assert not passed and "want 0.0" in message
    # ...the hidden test's source says 0.1, and that is what is checked.
    fixed = HiddenCall("check_label_smoothing_loss", 1, slots=("loss",), literals={"smoothing": 0.1})
    assert decide(request, fixed)[0]
    assert not decide(request, HiddenCall("check_adamw", 1, slots=("loss",)))[0]  # another check's



def test_every_check_a_lesson_names_is_found_in_its_lessons_module():
    import re

    import nbformat

    from notebooks import LESSON_IDS, SOLUTIONS

    named = set()
    for lesson in LESSON_IDS:
        source = "\n".join(c.source for c in nbformat.read(SOLUTIONS / f"{lesson}.ipynb",
                                                            as_version=4).cells)
        named |= set(re.findall(r"\bcheck_\w+", source))
    assert len(named) > 30
    for name in named:
        assert callable(getattr(checks, name)), name
        assert checks.module_of(name).__name__.startswith("cifar_course.grading.checks.")
    assert "check_channel_statistics" in dir(checks)
    with pytest.raises(AttributeError, match="no check or helper named"):
        checks.check_nothing_of_the_kind


def test_the_data_lessons_checks_are_decided_without_keras_or_torch():
    """A checker deciding lesson 00's answers (data, replayed outputs) imports neither: the
    seconds that costs were most of a data-lesson submission's checking time."""
    import subprocess
    import sys

    probe = """
import sys, numpy as np
from cifar_course.grading.checker import _decide_one
from cifar_course.grading.isolated import _to_json
from cifar_course.profiles import get_profile

def right(images):
    pixels = np.asarray(images, dtype=np.float64).reshape(-1, images.shape[-1])
    return pixels.mean(axis=0), pixels.std(axis=0)
example = np.zeros((2, 2, 2, 3), dtype=np.uint8); example[0, ..., 0] = 10; example[1, ..., 0] = 30
example[..., 1] = 50
entry = {"check": "check_channel_statistics", "literals": {}, "references_sha256": None,
         "arguments": {"channel_statistics": {"replay": [_to_json(right(example))]}}}
print(_decide_one(entry, {"profile": get_profile("smoke"), "under_grader": True}))
print("keras" in sys.modules, "torch" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    verdict, imported = done.stdout.strip().splitlines()[-2:]
    assert "'passed': True" in verdict and imported == "False False", done.stdout
