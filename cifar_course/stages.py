"""The staged recipe, as data: each stage is the one before plus one change.

The order is the reference project's (plain PyTorch, 86.80% test accuracy):
baseline CNN -> augmentation -> dropout and weight decay -> label smoothing ->
AdamW -> callbacks. Lessons, the trainer, the reference runner and the grader
all read this one table.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class ModelConfig:
    widths: tuple[int, ...] = (32, 64, 128)
    augment: bool = False
    crop_padding: int = 4
    random_erasing: bool = True
    dropout: float = 0.0
    l2: float = 0.0  # L2 penalty in the loss (the "weight decay" of torch's Adam)


@dataclass(frozen=True)
class OptimizerConfig:
    name: str = "adam"  # "adam" or "adamw"
    weight_decay: float = 0.0  # decoupled decay, AdamW only
    label_smoothing: float = 0.0


@dataclass(frozen=True)
class CallbackConfig:
    enabled: bool = False
    early_stopping_patience: int = 5


@dataclass(frozen=True)
class Stage:
    number: int
    name: str
    title: str
    adds: str
    model: ModelConfig = field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    callbacks: CallbackConfig = field(default_factory=CallbackConfig)


def _build_stages() -> tuple[Stage, ...]:
    baseline = Stage(
        1, "baseline", "Baseline CNN",
        "Three conv blocks (32, 64, 128 filters, batch norm, max pooling), Adam 1e-3.",
    )
    augmentation = replace(
        baseline, number=2, name="augmentation", title="Data augmentation",
        adds="Random 32x32 crop after 4-pixel zero padding, horizontal flip, random erasing.",
        model=replace(baseline.model, augment=True),
    )
    regularization = replace(
        augmentation, number=3, name="dropout_weight_decay", title="Dropout and weight decay",
        adds="Dropout 0.5 before the classifier; L2 weight decay 5e-4 (as torch's Adam "
             "applies it: 2.5e-4 * sum(w^2) added to the loss).",
        model=replace(augmentation.model, dropout=0.5, l2=2.5e-4),
    )
    smoothing = replace(
        regularization, number=4, name="label_smoothing", title="Label smoothing",
        adds="Cross-entropy against smoothed targets: 0.9 + 0.1/10 on the true class.",
        optimizer=replace(regularization.optimizer, label_smoothing=0.1),
    )
    adamw = replace(
        smoothing, number=5, name="adamw", title="AdamW",
        adds="Decoupled weight decay (AdamW, 0.05, not on biases or batch-norm "
             "parameters) in place of the L2 term in the loss.",
        model=replace(smoothing.model, l2=0.0),
        optimizer=replace(smoothing.optimizer, name="adamw", weight_decay=0.05),
    )
    callbacks = replace(
        adamw, number=6, name="callbacks", title="Callbacks",
        adds="ReduceLROnPlateau on val_loss; EarlyStopping (patience 5, best weights "
             "restored); a checkpoint of the best model; a CSV log.",
        callbacks=CallbackConfig(enabled=True),
    )
    return (baseline, augmentation, regularization, smoothing, adamw, callbacks)


STAGES: tuple[Stage, ...] = _build_stages()
FINAL_STAGE = STAGES[-1]


def get_stage(key: str | int) -> Stage:
    """A stage by name (``"adamw"``) or number (``5``)."""
    for stage in STAGES:
        if key in (stage.name, stage.number, str(stage.number)):
            return stage
    names = ", ".join(f"{s.number}={s.name}" for s in STAGES)
    raise KeyError(f"No stage {key!r}. Stages: {names}.")


def stage_changes(stage: Stage) -> list[str]:
    """The configuration fields that differ from the previous stage (empty for the first)."""
    if stage.number == 1:
        return []
    before = STAGES[stage.number - 2]
    changed = []
    for part in ("model", "optimizer", "callbacks"):
        old, new = getattr(before, part), getattr(stage, part)
        for name in old.__dataclass_fields__:
            if getattr(old, name) != getattr(new, name):
                changed.append(f"{part}.{name}")
    return changed
