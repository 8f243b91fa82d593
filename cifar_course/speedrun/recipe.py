"""The speedrun's hyper-parameters, as data (airbench94's, in its decoupled form)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

NAME = "speedrun"


@dataclass(frozen=True)
class SpeedrunConfig:
    """airbench94's settings. ``learning_rate`` and ``weight_decay`` are per 1,024
    examples and independent of the momentum (``optim.build_sgd`` converts them
    to what ``keras.optimizers.SGD`` takes), so that each can be changed alone."""

    widths: tuple[int, ...] = (64, 256, 256)
    whitening_size: int = 2  # the first convolution's kernel: 2x2 patches
    whitening_eps: float = 5e-4  # added to the eigenvalues before dividing by their root
    whitening_images: int = 5000  # training images whose patches set the whitening
    batchnorm_momentum: float = 0.6  # keras' meaning: the share of the old statistics kept
    logit_scale: float = 1 / 9
    learning_rate: float = 11.5
    momentum: float = 0.85
    weight_decay: float = 0.0153
    bias_lr_scale: float = 64.0  # batch-norm biases learn this much faster (not decay faster)
    label_smoothing: float = 0.2
    lr_start: float = 0.2  # the schedule, as fractions of the peak learning rate
    lr_peak_at: float = 0.23  # fraction of the run where the warm-up ends
    lr_end: float = 0.07
    lookahead_start_epoch: int = 3  # 0-based: averaging starts with the 4th epoch
    lookahead_every: int = 5  # steps between two averages
    lookahead_decay: float = 0.95  # per step; raised to the power ``every`` for each average
    lookahead_power: float = 3.0  # the decay grows as (step / total steps) ** power
    translate: int = 2  # pixels of reflect padding for the random translation
    tta_level: int = 2  # 0 none, 1 mirror, 2 mirror and 1-pixel translations
    # Switches for the ablation (each idea on by default):
    whiten: bool = True  # False: the first convolution learns, from a random start
    dirac: bool = True  # False: every convolution starts random (no identity filters)
    lookahead: bool = True  # False: no weight average
    flips: str = "alternating"  # or "random" (afresh each epoch) or "none"

    def settings(self) -> dict:
        """The settings recorded with a run. The ablation's switches are left out
        at their defaults, so adding them kept the earlier runs' records valid."""
        return {k: v for k, v in asdict(self).items()
                if k not in _SWITCHES or v != _DEFAULTS[k]}


_SWITCHES = ("whiten", "dirac", "lookahead", "flips")
_DEFAULTS = {f.name: f.default for f in fields(SpeedrunConfig)}

SPEEDRUN = SpeedrunConfig()

# The ablation: the speedrun with one idea taken out (or, last, one changed),
# each a run the reference runner can make (``--stages``): name -> (what
# changes, the settings that differ from SPEEDRUN's).
VARIANTS = {
    f"{NAME}-no-whitening": ("first convolution learned from a random start",
                             {"whiten": False}),
    f"{NAME}-no-dirac": ("convolutions start random, without identity filters", {"dirac": False}),
    f"{NAME}-no-bias-boost": ("batch-norm biases at the common learning rate",
                              {"bias_lr_scale": 1.0}),
    f"{NAME}-no-label-smoothing": ("no label smoothing", {"label_smoothing": 0.0}),
    f"{NAME}-no-lookahead": ("no weight average", {"lookahead": False}),
    f"{NAME}-random-flips": ("flips drawn afresh every epoch", {"flips": "random"}),
    f"{NAME}-no-translate": ("no random translation", {"translate": 0}),
    f"{NAME}-wide": ("widths 128/384/384 (airbench95's)", {"widths": (128, 384, 384)}),
}


def speedrun_config(name: str = NAME) -> SpeedrunConfig:
    """The settings of the speedrun (``NAME``) or of one of its ``VARIANTS``."""
    if name == NAME:
        return SPEEDRUN
    if name not in VARIANTS:
        raise ValueError(f"unknown speedrun variant {name!r}; choose {NAME!r} or one of "
                         f"{', '.join(VARIANTS)}")
    return replace(SPEEDRUN, **VARIANTS[name][1])
