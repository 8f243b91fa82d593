"""The speedrun: a plain CNN to about 94% on CIFAR-10 in 10 epochs (lesson 09).

The ideas are Keller Jordan's airbench94 ("94% on CIFAR-10 in 3.29 Seconds on
a Single GPU", arXiv:2404.00498; github.com/KellerJordan/cifar10-airbench),
built here from keras' public API on the torch backend:

- ``model``: the network (whitened first convolution, identity-initialised
  convolutions, GELU, batch norm without scale, logits scaled down);
- ``pipeline``: alternating ("derandomised") flips and reflect-padded
  translations, and test-time augmentation;
- ``optim``: Nesterov SGD with a triangular schedule and decoupled weight
  decay, and the Lookahead-style average of the weights;
- ``recipe``: the hyper-parameters, as data, and the ablation's variants
  (the speedrun with one idea taken out); ``train``: one run.
"""

from .model import DiracInitializer, ScaledBias, build_speedrun_cnn, multiply_adds, normalize, whitening_kernel
from .pipeline import TTA_LEVELS, AlternatingFlipTranslate, flip_mask, predict_tta
from .optim import Lookahead, TriangularSchedule, build_sgd
from .recipe import SPEEDRUN, VARIANTS, SpeedrunConfig, speedrun_config
from .train import evaluate_speedrun, train_speedrun

__all__ = [
    "SPEEDRUN", "TTA_LEVELS", "VARIANTS", "AlternatingFlipTranslate", "DiracInitializer", "Lookahead",
    "ScaledBias", "SpeedrunConfig", "TriangularSchedule", "build_sgd", "build_speedrun_cnn",
    "evaluate_speedrun", "flip_mask", "multiply_adds", "normalize", "predict_tta", "speedrun_config",
    "train_speedrun", "whitening_kernel",
]
