"""Lesson 06 (callbacks): the callbacks judged by what they do on fixed curves, not by their
names.
"""

from __future__ import annotations

import keras
import numpy as np

from .common import to_numpy


CALLBACK_KINDS = ("ReduceLROnPlateau", "EarlyStopping", "ModelCheckpoint", "CSVLogger")


CALLBACK_FIELDS = ("monitor", "patience", "factor", "restore_best_weights", "save_best_only",
                   "min_delta", "cooldown", "min_lr", "mode", "baseline", "start_from_epoch")


# Made-up curves that tell the monitors apart: the validation loss stalls after epoch 2
# while the training loss keeps falling, so a callback acting on anything but val_loss
# behaves differently from keras' own with the settings it declares.
BEHAVIOUR_CURVES = {"val_loss": [1.0, 0.8, 0.7, 0.72, 0.71, 0.73, 0.74, 0.75, 0.76, 0.77, 0.78,
                                 0.79, 0.8, 0.81],
                    "loss": [1.0 - 0.05 * epoch for epoch in range(14)]}


def _callback_kind(callback) -> str:
    """Which of keras' callbacks it is (a subclass counts as its base), else its class name."""
    for name in CALLBACK_KINDS:
        if isinstance(callback, getattr(keras.callbacks, name)):
            return name
    return type(callback).__name__


def callback_behaviour(callback) -> dict:
    """What a plateau or early-stopping callback does on ``BEHAVIOUR_CURVES``, driven as
    ``fit`` drives it on a toy model whose weight marks the epoch: the learning rate after
    each epoch, the epoch it stops training at, and the epoch whose weights it leaves."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    callback.set_model(model)
    # A callback already used (in fit, or driven before) keeps its best value in keras 3.13
    # (its MonitorCallback sets `best` at construction only): start from the construction
    # value, as a fresh callback would; keras versions that reset it at on_train_begin do.
    if hasattr(callback, "best"):
        callback.best = getattr(callback, "baseline", None)
    callback.on_train_begin({})
    rates, stopped = [], None
    for epoch, (val_loss, loss) in enumerate(zip(BEHAVIOUR_CURVES["val_loss"],
                                                 BEHAVIOUR_CURVES["loss"])):
        model.layers[-1].kernel.assign(np.full((1, 1), float(epoch), dtype="float32"))
        callback.on_epoch_begin(epoch, {})
        callback.on_epoch_end(epoch, {"loss": loss, "val_loss": val_loss})
        rates.append(round(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)), 9))
        if model.stop_training:
            stopped = epoch
            break
    callback.on_train_end({})
    weights = float(keras.ops.convert_to_numpy(model.layers[-1].kernel)[0, 0])
    return {"rates": rates, "stopped_at": stopped, "weights_of_epoch": weights}


def describe_callbacks(callbacks) -> list[dict]:
    """What the callback check looks at, as plain data: which keras callback each is, the
    settings it declares, and (plateau and early stopping) what it does on made-up curves."""
    described = []
    for callback in callbacks:
        kind = _callback_kind(callback)
        entry = {"class": kind, **{f: getattr(callback, f) for f in CALLBACK_FIELDS
                                   if isinstance(getattr(callback, f, None), (int, float, str, bool))}}
        if kind in ("ReduceLROnPlateau", "EarlyStopping"):
            try:
                entry["behaviour"] = callback_behaviour(callback)
            except Exception as error:  # e.g. a monitor these curves do not have
                entry["behaviour"] = {"error": f"{type(error).__name__}: {error}"}
        described.append(entry)
    return described


def _keras_twin(entry: dict):
    """keras' own callback with the settings ``entry`` declares (monitoring val_loss)."""
    accepted = {"ReduceLROnPlateau": ("factor", "patience", "min_delta", "cooldown", "min_lr", "mode"),
                "EarlyStopping": ("patience", "min_delta", "mode", "baseline",
                                  "restore_best_weights", "start_from_epoch")}[entry["class"]]
    kind = getattr(keras.callbacks, entry["class"])
    import inspect

    known = inspect.signature(kind).parameters
    settings = {k: entry[k] for k in accepted if k in entry and k in known}
    if "min_delta" in settings:
        settings["min_delta"] = abs(settings["min_delta"])  # keras stores it signed after use
    return kind(monitor="val_loss", **settings)


def check_callbacks(callbacks, patience: int = 5, factor: float | None = None):
    """ReduceLROnPlateau (its ``factor``, if given), EarlyStopping (patience 5, best weights),
    checkpoint, CSV log; the plateau and early-stopping callbacks must act as keras' own
    with the settings they declare, monitoring val_loss."""
    described = [c if isinstance(c, dict) else describe_callbacks([c])[0] for c in callbacks]
    kinds = {c["class"]: c for c in described}
    for needed in CALLBACK_KINDS:
        assert needed in kinds, f"no {needed} in the callbacks (got {sorted(kinds)})"
    for name in ("ReduceLROnPlateau", "EarlyStopping", "ModelCheckpoint"):
        monitor = kinds[name].get("monitor")
        assert monitor == "val_loss", f"{name} monitors {monitor!r}: monitor 'val_loss'"
    reduce, stop, checkpoint = kinds["ReduceLROnPlateau"], kinds["EarlyStopping"], kinds["ModelCheckpoint"]
    for name in ("ReduceLROnPlateau", "EarlyStopping"):
        expected = callback_behaviour(_keras_twin(kinds[name]))
        actual = kinds[name].get("behaviour")
        assert actual == expected, (
            f"your {name} does not act as keras' {name} with the settings it declares "
            f"(monitoring val_loss): on a made-up run whose validation loss stalls while the "
            f"training loss falls it gave {actual}, keras' gives {expected}. Use keras' own "
            f"{name}, or act on logs['val_loss'] as it does")
    assert 0 < reduce["factor"] < 1, f"ReduceLROnPlateau factor {reduce['factor']} must lie in (0, 1)"
    if factor is not None:
        assert abs(reduce["factor"] - factor) < 1e-12, (
            f"ReduceLROnPlateau factor {reduce['factor']}, want {factor}: pass the factor you are given")
    assert stop["patience"] == patience, f"EarlyStopping patience {stop['patience']}, want {patience}"
    assert stop["restore_best_weights"], "EarlyStopping must restore the best weights"
    assert reduce["patience"] < stop["patience"], (
        f"ReduceLROnPlateau patience ({reduce['patience']}) must be below EarlyStopping's "
        f"({stop['patience']}), or training stops before the learning rate ever drops")
    assert checkpoint["save_best_only"], (
        "ModelCheckpoint should keep the best model (save_best_only=True)")


# A made-up validation loss with the cases a plateau rule must get right: progress after
# one bad epoch (the count restarts), a tie with the best (not progress), drops down to
# the floor.
PLATEAU_CASE = {"val_losses": [1.0, 0.95, 0.97, 0.94, 0.96, 0.94, 0.90, 0.91, 0.92, 0.93, 0.95,
                               0.96, 0.97, 0.98],
                "factor": 0.5, "patience": 2, "min_lr": 0.002, "learning_rate": 0.01}


def learning_rates_under(callback, val_losses, learning_rate: float = 0.01) -> list[float]:
    """The learning rate after each epoch when ``callback`` sees ``val_losses``, one an epoch.

    Drives the callback as ``fit`` would (``on_train_begin``, then ``on_epoch_end``
    with the epoch's logs) on a toy model, without training it.
    """
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    callback.set_model(model)
    # Positional arguments, as keras' CallbackList passes them: a student's
    # ``on_train_begin(self, logs)`` without a default is as right as keras' own.
    callback.on_train_begin({})
    rates = []
    for epoch, loss in enumerate(val_losses):
        callback.on_epoch_begin(epoch, {})
        callback.on_epoch_end(epoch, {"val_loss": float(loss)})
        rates.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
    return rates


def check_plateau_callback(schedule):
    """``schedule(val_losses, factor, patience, min_lr)``: the learning rates under the
    student's own plateau callback equal keras' ``ReduceLROnPlateau``'s, epoch by epoch."""
    case = PLATEAU_CASE
    keras_rule = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=case["factor"],
                                                   patience=case["patience"], min_delta=0,
                                                   min_lr=case["min_lr"], verbose=0)
    expected = learning_rates_under(keras_rule, case["val_losses"], case["learning_rate"])
    actual = [float(r) for r in to_numpy(schedule(case["val_losses"], case["factor"],
                                                  case["patience"], case["min_lr"]))]
    assert len(actual) == len(expected), (
        f"{len(actual)} learning rates for {len(expected)} epochs: one per epoch")
    for epoch, (mine, theirs) in enumerate(zip(actual, expected), start=1):
        assert abs(mine - theirs) < 1e-7, (
            f"after epoch {epoch} (val_loss {case['val_losses'][:epoch]}) your learning rate is "
            f"{mine:g}, ReduceLROnPlateau's is {theirs:g}; all of yours: {actual}, keras': "
            f"{expected}. Hint: count the epochs since the best val_loss; when the count reaches "
            f"the patience, multiply the rate by the factor (not below min_lr) and start "
            f"counting again")

