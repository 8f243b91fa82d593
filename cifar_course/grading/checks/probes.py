"""What a student's keras loss or optimizer does, measured on probes of the checks' own.

A keras config names a class and its settings. A class of the student's own can
claim to be keras' (its config then rebuilds keras' class in the checker), and
some settings are in no config at all (AdamW's exclusions from weight decay).
So the checks judge these objects by what they do: ``behaviour(obj)`` measures
the student's object, in the kernel, where a hidden test saves the measurement
with the object's config (``isolated``); the checker rebuilds the object from
that config for its settings, is handed the measurement (``observed``), and
never measures its rebuilt copy.
"""

from __future__ import annotations

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
