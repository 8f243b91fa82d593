"""One speedrun: build, whiten, train with the pipeline and the average, measure with TTA."""

from __future__ import annotations

import time
from pathlib import Path

import keras
import numpy as np

from ..evaluation import evaluate_probabilities
from ..profiles import Profile, get_profile
from ..training import DataSplits, TrainResult, best_epoch, one_hot, prepare_data
from .model import build_speedrun_cnn, normalize, whitening_kernel
from .optim import Lookahead, build_sgd
from .pipeline import (AlternatingFlipTranslate, EpochFeeder, average_views, predict_tta,
                       view_probabilities)
from .recipe import NAME, SPEEDRUN, SpeedrunConfig


def evaluate_speedrun(model, images, labels, tta_level: int = 2) -> dict:
    """``evaluation.evaluate_model``'s figures, on test-time-augmented predictions."""
    return evaluate_probabilities(predict_tta(model, images, tta_level), labels)


def build_whitened_model(data: DataSplits, config: SpeedrunConfig = SPEEDRUN) -> keras.Model:
    """The speedrun CNN with its first layer whitening the first training images' patches
    (or, where ``config.whiten`` is False, learning from a random start)."""
    if not config.whiten:
        return build_speedrun_cnn(None, config)
    kernel = whitening_kernel(normalize(data.x_train[:config.whitening_images]),
                              config.whitening_size, config.whitening_eps)
    return build_speedrun_cnn(kernel, config)


def train_speedrun(
    profile: Profile | str = "speedrun",
    *,
    seed: int = 0,
    data: DataSplits | None = None,
    config: SpeedrunConfig = SPEEDRUN,
    out_dir: str | Path | None = None,
    verbose: int | str = "auto",
    model: keras.Model | None = None,
    extra_callbacks: list | None = None,
) -> TrainResult:
    """Train the speedrun for the profile's epochs and measure it on the test set with TTA.

    ``model`` replaces the whitened speedrun CNN (the lesson's ablations);
    ``config`` may be one of ``recipe.VARIANTS`` (``recipe.speedrun_config``).
    """
    profile = get_profile(profile)
    data = data or prepare_data(profile)
    wall_start = time.perf_counter()
    keras.utils.set_random_seed(seed)
    model = model if model is not None else build_whitened_model(data, config)
    batches = AlternatingFlipTranslate(data.x_train, one_hot(data.y_train), profile.batch_size,
                                       translate_pixels=config.translate, flips=config.flips, seed=seed)
    total_steps = profile.epochs * len(batches)
    model.compile(optimizer=build_sgd(config, profile.batch_size, total_steps),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
                  metrics=["accuracy"])
    callbacks = [EpochFeeder(batches)]
    if config.lookahead:
        callbacks.append(Lookahead(config.lookahead_start_epoch, config.lookahead_every,
                                   config.lookahead_decay, config.lookahead_power))
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        callbacks.append(keras.callbacks.CSVLogger(str(Path(out_dir) / "history.csv")))
    callbacks += [*(extra_callbacks or []), keras.callbacks.TerminateOnNaN()]
    start = time.perf_counter()
    history = model.fit(batches, validation_data=(data.x_val, one_hot(data.y_val)),
                        epochs=profile.epochs, callbacks=callbacks, verbose=verbose)
    seconds = time.perf_counter() - start
    views = view_probabilities(model, data.x_test, config.tta_level)  # the plain view first
    test = evaluate_probabilities(average_views(views), data.y_test)
    plain = evaluate_probabilities(average_views([(1.0, views[0][1])]), data.y_test)
    history = {k: [float(v) for v in values] for k, values in history.history.items()}
    best, best_val_loss = best_epoch(history)
    return TrainResult(
        stage=NAME, profile=profile.name, seed=seed, model=model, history=history,
        epochs_run=len(history["loss"]), best_epoch=best, best_val_loss=best_val_loss,
        train_seconds=seconds, wall_seconds=time.perf_counter() - wall_start, test=test,
        diverged=not np.all(np.isfinite(history["loss"])),
        extra={"test_accuracy_without_tta": plain["accuracy"], "test_loss_without_tta": plain["loss"],
               "ece_without_tta": plain["ece"], "tta_level": config.tta_level,
               "parameters": int(model.count_params())},
    )
