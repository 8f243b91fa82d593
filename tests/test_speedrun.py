"""The speedrun (lesson 09): its mechanisms against their definitions, and one run end to end."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from cifar_course.grading import checks
from cifar_course.profiles import get_profile
from cifar_course.speedrun import (SPEEDRUN, VARIANTS, AlternatingFlipTranslate, DiracInitializer,
                                   Lookahead, ScaledBias, TriangularSchedule, build_speedrun_cnn,
                                   flip_mask, predict_tta, speedrun_config, train_speedrun,
                                   whitening_kernel)
from cifar_course.speedrun.optim import sgd_settings
from cifar_course.speedrun.pipeline import tta_views


def test_whitening_kernel_passes_the_lessons_check():
    checks.check_whitening_kernel(whitening_kernel)


def test_dirac_initializer_is_an_identity_on_the_first_filters():
    kernel = keras.ops.convert_to_numpy(DiracInitializer(seed=0)((3, 3, 4, 6)))
    identity = np.zeros((3, 3, 4, 4))
    identity[1, 1, np.arange(4), np.arange(4)] = 1
    assert np.array_equal(kernel[..., :4], identity)
    bound = 1 / np.sqrt(3 * 3 * 4)  # PyTorch's default: uniform within 1/sqrt(fan_in)
    assert np.abs(kernel[..., 4:]).max() <= bound and np.abs(kernel[..., 4:]).max() > bound / 2
    images = np.random.default_rng(0).normal(size=(2, 8, 8, 4)).astype("float32")
    out = keras.ops.convert_to_numpy(keras.ops.conv(images, kernel, padding="same"))
    assert np.allclose(out[..., :4], images, atol=1e-6)  # the identity filters pass their channel


def test_scaled_bias_learns_scale_squared_faster_and_decays_at_the_common_rate():
    layer = ScaledBias(8.0)
    layer.build((None, 3))
    optimizer = keras.optimizers.SGD(0.01)
    # d(sum of outputs)/d(offset) = scale: one step moves the bias (scale * offset) by lr * scale**2.
    optimizer.apply([keras.ops.ones((3,)) * 8.0], [layer.offset])
    bias = 8.0 * keras.ops.convert_to_numpy(layer.offset)
    assert np.allclose(bias, -0.01 * 64)
    decaying = keras.optimizers.SGD(0.01, weight_decay=0.5)
    before = keras.ops.convert_to_numpy(layer.offset).copy()
    decaying.apply([keras.ops.zeros((3,))], [layer.offset])
    assert np.allclose(keras.ops.convert_to_numpy(layer.offset), before * (1 - 0.01 * 0.5))


def test_triangular_schedule_warms_up_then_decays():
    schedule = TriangularSchedule(2.0, total_steps=100, start=0.2, peak_at=0.23, end=0.07)
    values = keras.ops.convert_to_numpy(schedule(np.arange(101)))
    assert values[0] == pytest.approx(0.4) and values[23] == pytest.approx(2.0)
    assert values[100] == pytest.approx(0.14) and values.argmax() == 23
    assert np.all(np.diff(values[:24]) > 0) and np.all(np.diff(values[23:]) < 0)


def test_sgd_settings_state_airbench_hyperparameters_in_keras_units():
    learning_rate, weight_decay = sgd_settings(SPEEDRUN, 1024)
    amplification = 1 + 1 / (1 - SPEEDRUN.momentum)
    assert learning_rate == pytest.approx(11.5 / amplification)  # per 1,024 examples, a mean loss
    # The decay per step at the peak equals airbench's through the momentum's steady state.
    assert learning_rate * weight_decay == pytest.approx(
        0.0153 / amplification / (1 - SPEEDRUN.momentum))
    assert sgd_settings(SPEEDRUN, 512)[0] == pytest.approx(learning_rate / 2)


def test_alternating_flips_show_each_image_both_ways_in_consecutive_epochs():
    masks = np.stack([flip_mask(1000, epoch, seed=3) for epoch in range(4)])
    assert 0.4 < masks[0].mean() < 0.6
    assert np.array_equal(masks[1], ~masks[0]) and np.array_equal(masks[2], masks[0])
    assert not np.array_equal(flip_mask(1000, 0, seed=4), masks[0])


def test_pipeline_batches_are_translated_and_flipped_originals():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 32, 32, 3)).astype(np.uint8)
    labels = np.eye(10, dtype="float32")
    batches = AlternatingFlipTranslate(images, labels, 4, translate_pixels=2, seed=0)
    assert len(batches) == 2  # the incomplete last batch is dropped
    padded = np.pad(images, [(0, 0), (2, 2), (2, 2), (0, 0)], mode="reflect")
    for epoch in (0, 1):
        batches.set_epoch(epoch)
        x, y = batches[0]
        for image, label in zip(x, y):
            index = int(label.argmax())
            seen = image[:, ::-1] if batches.flipped[index] else image
            windows = [padded[index, r:r + 32, c:c + 32] for r in range(5) for c in range(5)]
            assert any(np.array_equal(seen, w) for w in windows)
    batches.set_epoch(1)
    again = batches[0][0]
    batches.set_epoch(1)
    assert np.array_equal(batches[0][0], again)  # an epoch's batches follow from (seed, epoch)


def test_tta_views_weigh_one_and_level_zero_is_the_plain_prediction():
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3)).astype(np.uint8)
    for level in (0, 1, 2):
        assert sum(w for w, _ in tta_views(images, level)) == pytest.approx(1.0)
    model = checks._LinearModel()
    assert np.allclose(predict_tta(model, images, 0), model.predict(images))
    with pytest.raises(ValueError, match="tta level"):
        tta_views(images, 3)


def test_lookahead_leaves_the_model_at_its_average():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.5), "categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[np.arange(64) % 3]
    average = Lookahead(start_epoch=0, every=2, decay=0.9, power=0.0)
    model.fit(x, y, batch_size=8, epochs=2, callbacks=[average], verbose=0)
    for variable, mean in zip(model.weights, average.average):
        assert np.allclose(keras.ops.convert_to_numpy(variable), keras.ops.convert_to_numpy(mean))


def test_a_smoke_run_trains_measures_with_tta_and_saves(tmp_path):
    result = train_speedrun("speedrun-smoke", seed=0, verbose=0, out_dir=tmp_path)
    summary = result.summary()
    assert summary["stage"] == "speedrun" and summary["epochs_run"] == 2
    assert 0.2 <= summary["test_accuracy"] <= 1 and "test_accuracy_without_tta" in summary
    assert summary["parameters"] == result.model.count_params() > 1_900_000
    whiten = result.model.get_layer("whiten")
    assert not whiten.trainable and whiten.kernel.shape == (2, 2, 3, 24)
    result.model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    x = result.model.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0)
    assert np.allclose(loaded.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0), x, atol=1e-5)
    json.dumps(summary)  # plain numbers, for references.json


def test_speedrun_profiles_name_their_recipe_and_the_runner_runs_only_it():
    from cifar_course.references.runner import run_names

    assert get_profile("speedrun").recipe == "speedrun" and get_profile("speedrun").epochs <= 10
    assert run_names(get_profile("speedrun")) == ["speedrun"]
    assert run_names(get_profile("quick"))[0] == "baseline"
    assert run_names(get_profile("speedrun-quick"), ["speedrun-wide", "speedrun"]) == \
        ["speedrun-wide", "speedrun"]
    with pytest.raises(ValueError, match="runs the speedrun"):
        run_names(get_profile("speedrun"), ["baseline"])


def test_each_variant_changes_only_its_own_settings_and_the_speedruns_record_is_unchanged():
    from cifar_course.references import load_references
    from cifar_course.references.runner import _recipe_changes

    profile = get_profile("speedrun-quick")
    base = SPEEDRUN.settings()
    for name, (_, changes) in VARIANTS.items():
        variant = speedrun_config(name).settings()
        assert {k for k in variant if variant[k] != base.get(k)} == set(changes), name
        assert _recipe_changes(profile, name) == json.loads(json.dumps(changes))
    assert speedrun_config("speedrun") is SPEEDRUN and _recipe_changes(profile, "speedrun") == {}
    with pytest.raises(ValueError, match="unknown speedrun variant"):
        speedrun_config("speedrun-no-such-idea")
    # The switches at their defaults stay out of the record: the shipped runs still count.
    recorded = load_references()["profiles"]["speedrun"]["signature"]["recipe"]
    assert recorded == json.loads(json.dumps(base))


def test_the_ablations_switches_change_the_network_and_the_flips():
    plain = build_speedrun_cnn(None, speedrun_config("speedrun-no-whitening"))
    assert plain.get_layer("whiten").trainable  # learned, where it is not whitened
    random_start = build_speedrun_cnn(None, speedrun_config("speedrun-no-dirac"))
    kernel = keras.ops.convert_to_numpy(random_start.get_layer("group1_conv2").kernel)
    assert not np.allclose(kernel[1, 1, :4, :4], np.eye(4))  # no identity filters
    assert speedrun_config("speedrun-wide").widths == (128, 384, 384)
    images = np.zeros((400, 32, 32, 3), np.uint8)
    labels = np.eye(10, dtype="float32")[np.arange(400) % 10]
    random = AlternatingFlipTranslate(images, labels, 100, flips="random", seed=1)
    masks = []
    for epoch in range(3):
        random.set_epoch(epoch)
        masks.append(random.flipped.copy())
    assert 0.35 < masks[0].mean() < 0.65
    assert not np.array_equal(masks[1], ~masks[0]) and not np.array_equal(masks[2], masks[0])
    random.set_epoch(1)
    assert np.array_equal(random.flipped, masks[1])  # still a function of (seed, epoch)
    assert not AlternatingFlipTranslate(images, labels, 100, flips="none").flipped.any()
    with pytest.raises(ValueError, match="flips="):
        AlternatingFlipTranslate(images, labels, 100, flips="sometimes")


def test_a_speedrun_profiles_table_shows_each_variants_change_and_its_accuracy_without_tta():
    from cifar_course.references.runner import aggregate
    from cifar_course.references.tables import ablation_table

    def entry(accuracies):
        runs = [{"seed": seed, "test_accuracy": a, "test_accuracy_without_tta": a - 0.01,
                 "test_loss": 0.5, "ece": 0.1, "epochs_run": 10, "train_seconds": 60.0}
                for seed, a in enumerate(accuracies)]
        return {**aggregate(runs), "runs": runs}

    table = ablation_table({"stages": {"speedrun": entry([0.8, 0.82]),
                                       "speedrun-no-lookahead": entry([0.78])}})
    rows = table.splitlines()
    assert "change (points)" in rows[0] and "no TTA" in rows[0] and len(rows) == 4
    assert "| speedrun-no-lookahead | 1 | 78.00 | -3.00 | 77.00 | 0.500 | 0.100 | 60 |" in rows[3]
    assert "| speedrun | 2 | 81.00 +- 1.41 | - | 80.00 |" in rows[2]
