"""What a student's loss, optimizer or training function does, measured on probes of
the checks' own.

A keras config names a class and its settings. A class of the student's own can
claim to be keras' (its config then rebuilds keras' class in the checker), and
some settings are in no config at all (AdamW's exclusions from weight decay).
A training loop leaves a model and a history behind, which the kernel could
make up. So the checks judge these by what they do: ``behaviour(obj)`` measures
the student's loss or optimizer, and ``training_behaviour(train)`` calls the
student's training function on a small model and data of the checks' own, with
settings no real profile has. A hidden test takes the measurement in the kernel
and saves it (``isolated``); the checker is handed it (``observed``) and never
measures anything it rebuilt.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .common import softmax, to_numpy

# Variables named as keras names a layer's: every kernel is "kernel", a bias "bias",
# batch normalisation's scale and shift "gamma" and "beta" (exclusions match names).
PROBE_VARIABLES = ("kernel", "bias", "gamma", "beta")
PROBE_START = (1.0, -2.0)

_measured: dict[int, tuple[object, dict]] = {}


def loss_probes() -> list[tuple[np.ndarray, np.ndarray]]:
    """(one-hot targets, predicted probabilities): a hand-made pair (one image right, one
    wrong), then eight seeded images."""
    y_true = np.eye(10, dtype="float32")[[3, 7]]
    y_pred = np.full((2, 10), 0.05, dtype="float32")
    y_pred[0, 3], y_pred[1, 1] = 0.55, 0.55
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(8, 10))
    return [(y_true, y_pred),
            (np.eye(10, dtype="float32")[rng.integers(0, 10, 8)], softmax(logits).astype("float32"))]


def behaviour(obj) -> dict:
    """What ``obj`` does on the probes: a loss, its value on each of ``loss_probes()``; an
    optimizer, its learning rate and each probe variable after one step with a zero gradient.

    Measured once an object (an optimizer's step builds it on the probe variables: hand
    the checks a new one, not one to train with); in the checker, what was ``observed``.
    """
    known = _measured.get(id(obj))
    if known is not None and known[0] is obj:
        return known[1]
    import keras

    if isinstance(obj, keras.optimizers.Optimizer):
        measured = _zero_gradient_step(obj)
    elif isinstance(obj, keras.losses.Loss):
        measured = {"loss_on_probes": [float(to_numpy(obj(y_true, y_pred)))
                                       for y_true, y_pred in loss_probes()]}
    else:
        raise TypeError(f"no behaviour to measure for a {type(obj).__name__}")
    _measured[id(obj)] = (obj, measured)
    return measured


def observed(obj, measured: dict) -> None:
    """The checker's side: ``behaviour(obj)`` is ``measured`` (what the kernel saw the
    student's object do), not anything ``obj``, rebuilt from its config, would do."""
    _measured[id(obj)] = (obj, measured)


def _zero_gradient_step(optimizer) -> dict:
    import keras

    assert not optimizer.built, (
        "this optimizer has already taken steps (it was trained with): hand the check a new "
        "one, as your function makes it")
    variables = [keras.Variable(np.array(PROBE_START, dtype="float32"), name=name)
                 for name in PROBE_VARIABLES]
    learning_rate = float(to_numpy(optimizer.learning_rate))
    optimizer.apply_gradients([(keras.ops.zeros((len(PROBE_START),)), v) for v in variables])
    return {"learning_rate": learning_rate,
            "zero_gradient_step": {name: to_numpy(v).tolist()
                                   for name, v in zip(PROBE_VARIABLES, variables)}}


# The training probe's settings: a profile no lesson runs, so that a loop which
# hard-codes the lesson's epochs, batch size or learning rate is seen to. Each
# run's images have the last colour channel black, so the convolution's kernel
# entries on that channel get no gradient: plain Adam leaves them exactly where
# they were, and anything that decays weights moves them.
TRAINING_PROBE_RATE = 0.0037
TRAINING_PROBES = {  # name: (training images, validation images, epochs, batch size)
    "one_step": (32, 16, 1, 32),  # a single step from the initial weights
    "epochs": (48, 16, 2, 16),  # three batches an epoch, two epochs
}
TRAINING_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")
# A check's argument of this name is a training function: a hidden test hands over
# ``training_behaviour`` of it, never the function's own outputs.
TRAINING_SLOT = "train"


def training_behaviour(train) -> dict:
    """What ``train(model, data, profile)`` does to a small model of the checks' own, one
    run per ``TRAINING_PROBES`` entry: what it returned, the optimizer's step count, the
    history, the cross-entropy and accuracy measured here before and after, and how far
    the first convolution's weights moved (those that get a gradient, and those that do
    not). Measured once a function; in the checker, what was ``observed``."""
    known = _measured.get(id(train))
    if known is not None and known[0] is train:
        return known[1]
    measured = {name: _training_run(train, index, *sizes)
                for index, (name, sizes) in enumerate(TRAINING_PROBES.items())}
    _measured[id(train)] = (train, measured)
    return measured


def training_probe_profile(epochs: int, batch_size: int, train_size: int, val_size: int):
    from ...profiles import get_profile

    return replace(get_profile("smoke"), name="training-probe", epochs=epochs,
                   batch_size=batch_size, learning_rate=TRAINING_PROBE_RATE,
                   train_size=train_size, val_size=val_size, test_size=0)


def _training_data(seed: int, n_train: int, n_val: int):
    from ...training import DataSplits

    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n_train + n_val, 32, 32, 3), dtype=np.uint8)
    images[..., 2] = 0
    labels = rng.integers(0, 10, (n_train + n_val, 1)).astype(np.uint8)
    return DataSplits(images[:n_train], labels[:n_train], images[n_train:], labels[n_train:],
                      images[:0], labels[:0], source=None)


def _training_model(seed: int):
    import keras

    # Seeded initialisers, not keras.utils.set_random_seed: the student's kernel keeps its
    # own random state.
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="probe_conv",
                            kernel_initializer=keras.initializers.GlorotUniform(seed))(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax",
                                 kernel_initializer=keras.initializers.GlorotUniform(seed + 1))(x)
    return keras.Model(inputs, outputs)


def _measure(model, images, labels) -> dict:
    from ...evaluation import cross_entropy

    probabilities = to_numpy(model.predict(images, verbose=0))
    labels = labels.reshape(-1)
    return {"cross_entropy": cross_entropy(probabilities, labels),
            "accuracy": float(np.mean(probabilities.argmax(axis=1) == labels))}


def _training_run(train, seed: int, n_train: int, n_val: int, epochs: int, batch_size: int):
    import keras
    import torch

    data = _training_data(seed, n_train, n_val)
    model = _training_model(seed)
    kernel = model.get_layer("probe_conv").kernel
    start = to_numpy(kernel).copy()
    before = _measure(model, data.x_train, data.y_train)
    # fit shuffles with torch's CPU generator (numpy's in some keras versions): both seeded
    # here, so that a function is measured the same every time, and given back as they were
    # (fork_rng restores the CPU generator; the GPUs' are not touched).
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.random.default_generator.manual_seed(seed)
            result = train(model, data, training_probe_profile(epochs, batch_size, n_train, n_val))
    finally:
        np.random.set_state(state)
    moved = np.abs(to_numpy(kernel) - start)
    history = getattr(result, "history", None)
    try:
        history = {str(k): [float(v) for v in history[k]] for k in history}
    except (TypeError, ValueError, KeyError):
        history = None
    optimizer = getattr(model, "optimizer", None)
    return {
        "returned": type(result).__name__,
        "is_history": isinstance(result, keras.callbacks.History),
        "same_model": getattr(result, "model", None) is model,
        "history": history,
        "steps": int(to_numpy(optimizer.iterations)) if optimizer is not None else 0,
        "train_before": before,
        "val_after": _measure(model, data.x_val, data.y_val),
        # |change| of the kernel entries on the two live channels, and on the black one
        "live_steps": moved[:, :, :2, :].ravel().tolist(),
        "dead_step": float(moved[:, :, 2, :].max()),
    }
