"""Training budgets: ``smoke`` (tests), ``grade`` (autograding), ``quick`` (a CPU), ``full`` (a GPU).

A profile fixes how much data and how many epochs a stage trains on, never
what the stage is. Choose one with an argument, or with ``CIFAR_COURSE_PROFILE``;
the default is ``config.default_profile``'s.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace

from .config import PROFILE_ENV


@dataclass(frozen=True)
class Profile:
    name: str
    train_size: int | None  # images drawn (stratified) from the 45,000 training split; None = all
    val_size: int | None  # images drawn from the 5,000 validation split; None = all
    test_size: int | None  # None = the whole 10,000-image test set
    epochs: int
    batch_size: int
    learning_rate: float
    # Epochs without val_loss progress before ReduceLROnPlateau drops the LR
    # (callbacks stage only). Kept below EarlyStopping's patience of 5, so the
    # LR drops before training is stopped.
    reduce_lr_patience: int
    # The least val_loss improvement ReduceLROnPlateau counts as progress. On
    # full data the validation loss creeps down by less than 0.01 a epoch for
    # many epochs, which keras' default (1e-4) counts as progress: the learning
    # rate then never drops inside 40 epochs (seen in the first full run).
    reduce_lr_min_delta: float = 1e-4
    # What ReduceLROnPlateau multiplies the learning rate by at each drop.
    reduce_lr_factor: float = 0.2
    synthetic: bool = False  # smoke only: random images, never a reference
    # What the profile trains: "stages" (the recipe of stages.py, lessons 01-08) or
    # "speedrun" (lesson 09; its learning rate is SGD's per 1,024 examples, and
    # its schedule is fixed, so reduce_lr_patience is unused).
    recipe: str = "stages"
    # Extra JPEG round trips (quality 75) applied to every image after loading:
    # what one more lossy round trip costs (profile speedrun-rejpeg, docs/speedrun.md).
    jpeg_round_trips: int = 0
    # The share of training images random erasing erases, in stages that erase
    # (None: keras' default, half of them). An augmentation strength, which the
    # full profile's tuning chooses on validation (docs/tuning-full.md).
    erasing_probability: float | None = None
    description: str = ""  # what it is for; measured run times come from the references


PROFILES = {
    "smoke": Profile(
        "smoke", train_size=256, val_size=128, test_size=128, epochs=3, batch_size=32,
        learning_rate=1e-3, reduce_lr_patience=1, synthetic=True,
        description="Seconds, synthetic images: checks that code runs, measures nothing.",
    ),
    "grade": Profile(
        "grade", train_size=1000, val_size=500, test_size=2000, epochs=10, batch_size=32,
        learning_rate=1e-3, reduce_lr_patience=2,
        description="Real CIFAR-10, 1,000 training images, 10 epochs: short enough that a "
                    "class of submissions can be autograded on a CPU.",
    ),
    "quick": Profile(
        "quick", train_size=1500, val_size=500, test_size=None, epochs=40, batch_size=32,
        learning_rate=1e-3, reduce_lr_patience=4,
        description="Real CIFAR-10, 1,500 training images, 40 epochs of batch 32: for a CPU "
                    "(docs/quick-profile.md says why).",
    ),
    "full": Profile(
        "full", train_size=None, val_size=None, test_size=None, epochs=40, batch_size=64,
        learning_rate=2e-3, reduce_lr_patience=3, reduce_lr_min_delta=0.005,
        reduce_lr_factor=0.5, erasing_probability=0.25,
        description="All 45,000/5,000 training/validation images, 40 epochs: for a GPU.",
    ),
    # The speedrun (lesson 09). Its hyper-parameters are speedrun.SPEEDRUN's.
    "speedrun-smoke": Profile(
        "speedrun-smoke", train_size=512, val_size=128, test_size=128, epochs=2, batch_size=128,
        learning_rate=11.5, reduce_lr_patience=0, synthetic=True, recipe="speedrun",
        description="The speedrun on synthetic images, seconds: checks that code runs.",
    ),
    "speedrun-grade": Profile(
        "speedrun-grade", train_size=2000, val_size=500, test_size=2000, epochs=4, batch_size=256,
        learning_rate=11.5, reduce_lr_patience=0, recipe="speedrun",
        description="The speedrun on 2,000 training images, 4 epochs: for autograding.",
    ),
    "speedrun-quick": Profile(
        "speedrun-quick", train_size=10000, val_size=1000, test_size=None, epochs=10,
        batch_size=512, learning_rate=11.5, reduce_lr_patience=0, recipe="speedrun",
        description="The speedrun on 10,000 training images, 10 epochs: for a CPU.",
    ),
    "speedrun-rejpeg": Profile(
        "speedrun-rejpeg", train_size=None, val_size=None, test_size=None, epochs=10,
        batch_size=1024, learning_rate=11.5, reduce_lr_patience=0, recipe="speedrun",
        jpeg_round_trips=1,
        description="The speedrun profile on images put through one more JPEG round trip "
                    "(quality 75): what the JPEG copy costs, measured.",
    ),
    "speedrun": Profile(
        "speedrun", train_size=None, val_size=None, test_size=None, epochs=10, batch_size=1024,
        learning_rate=11.5, reduce_lr_patience=0, recipe="speedrun",
        description="The speedrun on all 45,000 training images, 10 epochs of batch 1,024.",
    ),
}


def get_profile(name: str | Profile) -> Profile:
    """A profile by name (a ``Profile`` is returned as it is)."""
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"Unknown profile {name!r}. Choose one of {', '.join(PROFILES)} "
            f"(argument, or the {PROFILE_ENV} environment variable)."
        ) from None


# What a tuning trial may change in a profile (docs/tuning-full.md): the settings the
# stages leave free. Data sizes, recipe and name are what the profile *is*.
TRIAL_SETTINGS = {"epochs": int, "batch_size": int, "learning_rate": float,
                  "reduce_lr_patience": int, "reduce_lr_min_delta": float,
                  "reduce_lr_factor": float, "erasing_probability": float}


def with_settings(profile: Profile, settings: dict[str, str]) -> Profile:
    """``profile`` with some free settings changed, for a tuning trial: e.g.
    ``{"erasing_probability": "0.1"}`` (values as typed on a command line)."""
    changes = {}
    for key, text in settings.items():
        kind = TRIAL_SETTINGS.get(key)
        if kind is None:
            raise ValueError(f"{key!r} is not a setting a tuning trial may change. These are: "
                             f"{', '.join(TRIAL_SETTINGS)}")
        try:
            value = ast.literal_eval(str(text))
        except (ValueError, SyntaxError):
            value = None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 \
                or (kind is int and value != int(value)):
            raise ValueError(f"{key}={text}: expected a non-negative "
                             f"{'whole number' if kind is int else 'number'}")
        changes[key] = kind(value)
    return replace(profile, **changes)

