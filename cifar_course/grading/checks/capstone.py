"""Lesson 08 (the capstone): the whole recipe from the student's pieces, and the ablation's
arithmetic.
"""

from __future__ import annotations

import keras

from .augmentation import check_augmentation_structure
from .callbacks import check_callbacks
from .common import _close
from .network import _layers_of, check_baseline_structure
from .optimizers import check_adamw
from .smoothing import check_label_smoothing_loss


def check_final_recipe(model, optimizer, loss, callbacks):
    """The capstone: augmentation, dropout 0.5 without L2, AdamW 0.05, smoothing 0.1, callbacks."""
    check_baseline_structure(model)
    augmentation = [layer for layer in model.layers if layer.name == "augmentation"]
    assert augmentation, "no augmentation block (a layer named 'augmentation') in front of the network"
    check_augmentation_structure(augmentation[0])
    drops = _layers_of(model, keras.layers.Dropout)
    assert len(drops) == 1 and abs(drops[0].rate - 0.5) < 1e-9, "one Dropout(0.5) before the classifier"
    with_l2 = [layer.name for layer in model.layers if getattr(layer, "kernel_regularizer", None)]
    assert not with_l2, f"AdamW decays the weights: drop the L2 penalty (still on {with_l2})"
    check_adamw(optimizer, 0.05)
    check_label_smoothing_loss(loss, 0.1)
    check_callbacks(callbacks)


def check_ablation_deltas(ablation_deltas):
    result = ablation_deltas({"baseline": 0.5, "augmentation": 0.6, "dropout": 0.55})
    assert list(result) == ["augmentation", "dropout"], (
        f"one delta per stage after the first, in order: got keys {list(result)}")
    _close(list(result.values()), [0.1, -0.05], "the deltas")

