"""Lesson 05 (AdamW): Adam + L2 against decoupled weight decay, step by step, and the optimizer
object.
"""

from __future__ import annotations

import keras
import numpy as np

from ...training import NO_DECAY_VARIABLES
from .probes import PROBE_START, behaviour
from .common import _close, to_numpy


ADAM_L2_CASE = {"weights": [1.0, -2.0, 0.5], "gradients": [[0.1, -0.3, 2.0], [0.2, 0.1, -1.0]],
                "learning_rate": 0.01, "l2": 0.05}


def check_adam_l2_step(adam_l2_step):
    """``adam_l2_step(w, g, m, v, t, learning_rate, l2) -> (w, m, v)``: keras' Adam fed the
    loss gradient plus the L2 term's, ``g + 2 * l2 * w``, over two steps."""
    case = ADAM_L2_CASE
    _compare_steps(
        keras.optimizers.Adam(learning_rate=case["learning_rate"]), case,
        lambda w, g, m, v, t: adam_l2_step(w, g, m, v, t, case["learning_rate"], case["l2"]),
        keras_gradient=lambda g, w: g + 2 * case["l2"] * w,
        what="keras' Adam on the L2-penalised loss",
        hint="add the L2 term's gradient to g, then take a plain Adam step (your adamw_step "
             "with no decay)")


def _compare_steps(optimizer, case, step, what: str, hint: str, keras_gradient=None):
    """Drive keras' ``optimizer`` and the student's ``step(w, g, m, v, t) -> (w, m, v)`` with
    the case's gradients from the same weights; the weights must agree after every step."""
    variable = keras.Variable(np.array(case["weights"], dtype="float32"), name="kernel")
    w = np.array(case["weights"], dtype=np.float64)
    m = v = np.zeros_like(w)
    for t, gradient in enumerate(case["gradients"], start=1):
        gradient = np.array(gradient)
        fed = keras_gradient(gradient, keras.ops.convert_to_numpy(variable)) if keras_gradient \
            else gradient
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(fed.astype("float32")), variable)])
        w, m, v = (to_numpy(a) for a in step(w, gradient, m, v, t))
        expected = keras.ops.convert_to_numpy(variable)
        assert np.allclose(w, expected, atol=1e-5), (
            f"after step {t} your weights are {np.round(w, 6).tolist()}, {what} gives "
            f"{np.round(expected, 6).tolist()}. Hint: {hint}")


def check_adamw(optimizer, weight_decay: float = 0.05):
    """AdamW with decoupled decay, not on biases or batch-norm parameters: with a zero
    gradient (Adam's part is then zero) one step shrinks a kernel by lr * wd * w and leaves
    a bias, gamma and beta as they were."""
    assert isinstance(optimizer, keras.optimizers.AdamW), (
        f"expected keras.optimizers.AdamW, got {type(optimizer).__name__}")
    assert abs(optimizer.weight_decay - weight_decay) < 1e-9, (
        f"weight_decay is {optimizer.weight_decay}, want {weight_decay}")
    step = behaviour(optimizer)
    shrink = 1 - step["learning_rate"] * weight_decay
    for name, after in step["zero_gradient_step"].items():
        excluded = any(word in name for word in NO_DECAY_VARIABLES)
        expected = np.array(PROBE_START) * (1.0 if excluded else shrink)
        if np.allclose(to_numpy(after), expected, atol=1e-7):
            continue
        # An L2 term in the gradient would move w by about lr (Adam normalises it).
        assert not excluded, (
            f"one step with a zero gradient changed a variable named {name!r} from "
            f"{list(PROBE_START)} to {np.round(to_numpy(after), 7).tolist()}: decay only the "
            f"kernels; exclude biases and batch-norm's gamma and beta from weight decay "
            f"(keras' AdamW can exclude variables by name)")
        raise AssertionError(
            f"one step with a zero gradient took a kernel from {list(PROBE_START)} to "
            f"{np.round(to_numpy(after), 7).tolist()}; AdamW's decoupled decay gives "
            f"{np.round(expected, 7).tolist()} (w * (1 - learning_rate * weight_decay))")


# Large enough a rate and decay that decaying after the Adam step, not before, shows
# (at 0.01 and 0.05 the two differ by 5e-6, inside the tolerance).
ADAMW_STEP_CASE = {"weights": [1.0, -2.0, 0.5], "gradients": [[0.1, -0.3, 2.0], [0.2, 0.1, -1.0]],
                   "learning_rate": 0.1, "weight_decay": 0.2}


def check_adamw_step(adamw_step):
    """``adamw_step(w, g, m, v, t, learning_rate, weight_decay) -> (w, m, v)`` matches keras'
    AdamW over two steps (decay first, then Adam's bias-corrected update)."""
    case = ADAMW_STEP_CASE
    _compare_steps(
        keras.optimizers.AdamW(learning_rate=case["learning_rate"],
                               weight_decay=case["weight_decay"]), case,
        lambda w, g, m, v, t: adamw_step(w, g, m, v, t, case["learning_rate"],
                                         case["weight_decay"]),
        what="keras' AdamW",
        hint="keras first shrinks w by learning_rate * weight_decay * w, then applies the "
             "Adam update with bias correction")

