"""Lesson 03 (dropout and weight decay): inverted dropout, the L2 penalty, where the model
regularizes, a sweep of the dropout rate with its spread.
"""

from __future__ import annotations

import keras
import numpy as np

from ...evaluation import predict_proba
from .common import _close, to_numpy
from .network import _layers_of


def check_regularization(model: keras.Model, dropout: float = 0.5, l2: float = 2.5e-4,
                         images: np.ndarray | None = None):
    """Dropout ``dropout`` before the classifier, L2 ``l2`` on every kernel, no dropout at inference."""
    drops = _layers_of(model, keras.layers.Dropout)
    assert len(drops) == 1, f"expected one Dropout layer, found {len(drops)}"
    assert abs(drops[0].rate - dropout) < 1e-9, f"dropout rate {drops[0].rate}, want {dropout}"
    names = [layer.name for layer in model.layers]
    classifier = _layers_of(model, keras.layers.Dense)[-1]
    assert names.index(drops[0].name) == names.index(classifier.name) - 1, (
        "the dropout belongs right before the classifier")
    for layer in _layers_of(model, keras.layers.Conv2D) + [classifier]:
        regularizer = layer.kernel_regularizer
        assert isinstance(regularizer, keras.regularizers.L2), (
            f"{layer.name}: no L2 kernel regularizer")
        assert abs(float(regularizer.l2) - l2) < 1e-12, f"{layer.name}: L2 {regularizer.l2}, want {l2}"
    if images is not None:
        first = predict_proba(model, images[:16])
        second = predict_proba(model, images[:16])
        assert np.array_equal(first, second), "predictions differ between calls: dropout is on at inference"


def check_inverted_dropout(inverted_dropout):
    """``inverted_dropout(x, rate, training, seed)``: zero a share ``rate``, scale the rest by
    1 / (1 - rate) in training; the identity at inference."""
    x = np.full((400, 50), 3.0, dtype="float32")
    for rate in (0.5, 0.2):
        out = to_numpy(inverted_dropout(x, rate, True, 0))
        assert out.shape == x.shape, f"the output's shape is {out.shape}, want {x.shape}"
        dropped = float((out == 0).mean())
        assert abs(dropped - rate) < 0.03, (
            f"rate {rate}: {dropped:.1%} of the values are zero, want about {rate:.0%}")
        kept = out[out != 0]
        assert np.allclose(kept, 3.0 / (1 - rate), rtol=1e-4), (
            f"rate {rate}: the kept values are {np.unique(kept)[:3]}, want 3 / (1 - {rate}) = "
            f"{3.0 / (1 - rate):.4f}. Hint: scale the survivors so that the mean is unchanged")
        assert abs(out.mean() - 3.0) < 0.15, f"rate {rate}: the mean moved from 3.0 to {out.mean():.3f}"
    assert np.array_equal(to_numpy(inverted_dropout(x, 0.5, False, 0)), x), (
        "at inference (training=False) dropout must return its input unchanged")


def check_l2_penalty(l2_penalty):
    """``l2_penalty(w, l2) -> (penalty, gradient)``: keras' ``L2(l2)`` and its gradient."""
    w = np.array([[0.5, -1.0], [2.0, 0.0]], dtype=np.float64)
    for l2 in (2.5e-4, 0.1):
        penalty, gradient = (to_numpy(a) for a in l2_penalty(w, l2))
        regularizer = keras.regularizers.L2(l2)
        expected = float(keras.ops.convert_to_numpy(regularizer(w.astype("float32"))))
        _close(float(penalty), expected, f"the penalty for l2={l2} (keras' L2 gives it)",
               atol=1e-6 * max(1.0, expected))
        step = 1e-3  # keras' own penalty, differentiated numerically
        numerical = np.zeros_like(w)
        for index in np.ndindex(w.shape):
            up, down = w.copy(), w.copy()
            up[index] += step
            down[index] -= step
            numerical[index] = (float(keras.ops.convert_to_numpy(regularizer(up.astype("float32"))))
                                - float(keras.ops.convert_to_numpy(
                                    regularizer(down.astype("float32"))))) / (2 * step)
        assert np.allclose(gradient, numerical, atol=1e-4 * max(1.0, l2 * 10)), (
            f"l2={l2}: your gradient {np.round(gradient, 6).tolist()}, the numerical gradient of "
            f"keras' penalty {np.round(numerical, 6).tolist()}. Hint: the derivative of "
            f"l2 * w**2 is 2 * l2 * w")



def _made_up_accuracy(rate, seed):
    """A test accuracy for (rate, seed) that tells every pair apart, as a sweep's runs would."""
    return 0.5 + rate / 4 + 0.01 * seed ** 2


def check_sweep(sweep):
    """``sweep(train_one, rates, seeds) -> {rate: (mean, std)}``: each rate trained once with
    each seed (``train_one(rate, seed)`` gives a run's test accuracy), then the mean and the
    standard deviation over the seeds (n - 1 in the denominator, as the references state
    theirs), the rates in the order given."""
    rates, seeds = [0.0, 0.3, 0.6], [0, 1, 2]
    result = sweep(_made_up_accuracy, rates, seeds)
    assert isinstance(result, dict) and [float(r) for r in result] == rates, (
        f"expected a dict keyed by the rates {rates}, in order, got "
        f"{list(result) if isinstance(result, dict) else type(result).__name__}")
    result = {float(rate): value for rate, value in result.items()}  # JSON makes keys text
    for rate in rates:
        values = [_made_up_accuracy(rate, seed) for seed in seeds]
        _close(list(result[rate]), [np.mean(values), np.std(values, ddof=1)],
               f"rate {rate}, seeds {seeds}: (mean, std) of train_one(rate, seed) over the seeds")
