"""Train one stage of the recipe in one profile, with one seed.

What the trainer measures (docs/measurement-protocol.md): every stage is
measured on the model it ends training with, after the profile's epochs. No
stage is rescued by a selection it does not make itself: only the callbacks
stage restores its best-validation weights, because its EarlyStopping does,
so that stage's gain shows in the table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from .data import load_cifar10_with_info, stratified_subset, train_val_split
from .data.loading import SourceInfo
from .evaluation import evaluate_model
from .models import NUM_CLASSES, build_stage_model
from .profiles import Profile, get_profile
from .references.figures import duration
from .stages import Stage, get_stage

# The training/validation split is fixed (seed 0) whatever the training seed:
# every stage and every run validates on the same images.
SPLIT_SEED = 0
VALIDATION_SIZE = 5000
CIFAR10_TRAINING_IMAGES = 50_000  # every copy's training split, before validation is taken out


def training_images(profile: Profile) -> int:
    """How many images ``profile`` trains on."""
    return profile.train_size or CIFAR10_TRAINING_IMAGES - VALIDATION_SIZE
NO_DECAY_VARIABLES = ["bias", "gamma", "beta"]


@dataclass
class DataSplits:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: SourceInfo | None  # None for the smoke profile's synthetic images


def synthetic_cifar(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random 32x32 images whose class sets a coloured square: learnable, not CIFAR."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, NUM_CLASSES, n).astype(np.uint8)
    images = rng.integers(0, 120, (n, 32, 32, 3)).astype(np.uint8)
    for index, label in enumerate(labels):
        row, col = divmod(int(label), 5)
        images[index, 4 + 12 * row:14 + 12 * row, 2 + 6 * col:7 + 6 * col, label % 3] = 255
    return images, labels.reshape(-1, 1)


def prepare_data(profile: Profile | str, source=None) -> DataSplits:
    """The training, validation and test arrays a profile trains on."""
    profile = get_profile(profile)
    if profile.synthetic:
        x, y = synthetic_cifar(profile.train_size + profile.val_size + profile.test_size)
        a, b = profile.train_size, profile.train_size + profile.val_size
        return DataSplits(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], None)
    arrays, info = load_cifar10_with_info(source)
    (x_train, y_train), (x_val, y_val) = train_val_split(
        arrays.x_train, arrays.y_train, VALIDATION_SIZE, seed=SPLIT_SEED)
    x_train, y_train = stratified_subset(x_train, y_train, profile.train_size, SPLIT_SEED)
    x_val, y_val = stratified_subset(x_val, y_val, profile.val_size, SPLIT_SEED)
    x_test, y_test = stratified_subset(arrays.x_test, arrays.y_test, profile.test_size, SPLIT_SEED)
    for _ in range(profile.jpeg_round_trips):
        from .data.jpeg import jpeg_round_trip

        x_train, x_val, x_test = (jpeg_round_trip(x) for x in (x_train, x_val, x_test))
    return DataSplits(x_train, y_train, x_val, y_val, x_test, y_test, info)


def describe_run(stage: Stage, profile: Profile, data: DataSplits, seed: int) -> str:
    """A header for a training run: stage, profile, data, device and threads, versions."""
    import torch

    if data.source is None:
        source = "synthetic images"
    else:
        source = f"{data.source.kind} {data.source.path}"
        source += f" (sha256 {data.source.sha256[:12]}...)" if data.source.sha256 else ""
    device = (f"GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available()
              else f"CPU, {torch.get_num_threads()} torch threads")
    return (f"stage {stage.number} {stage.name}, seed {seed} | profile {profile.name}: "
            f"{len(data.x_train):,} train / {len(data.x_val):,} validation / {len(data.x_test):,} "
            f"test images, {profile.epochs} epochs of batch {profile.batch_size}\n"
            f"data: {source}\ndevice: {device} | keras {keras.__version__}, torch "
            f"{torch.__version__}")


def one_hot(labels) -> np.ndarray:
    # CategoricalCrossentropy takes one-hot targets; it is the keras loss with
    # label_smoothing (SparseCategoricalCrossentropy has none in keras 3.15).
    return keras.utils.to_categorical(np.ravel(labels), NUM_CLASSES).astype("float32")


def build_optimizer(stage: Stage, profile: Profile) -> keras.optimizers.Optimizer:
    config = stage.optimizer
    if config.name == "adam":
        return keras.optimizers.Adam(learning_rate=profile.learning_rate)
    if config.name == "adamw":
        optimizer = keras.optimizers.AdamW(learning_rate=profile.learning_rate,
                                           weight_decay=config.weight_decay)
        # Must happen before the optimizer is built (by compile/fit).
        optimizer.exclude_from_weight_decay(var_names=NO_DECAY_VARIABLES)
        return optimizer
    raise ValueError(f"Unknown optimizer {config.name!r}: use 'adam' or 'adamw'.")


def build_loss(stage: Stage) -> keras.losses.Loss:
    return keras.losses.CategoricalCrossentropy(label_smoothing=stage.optimizer.label_smoothing)


def best_epoch(history: dict, monitor: str = "val_loss") -> tuple[int | None, float]:
    """(1-based epoch, value) of the lowest finite ``monitor``; (None, inf) if there is none."""
    values = [v for v in history.get(monitor, [])]
    finite = [(v, i) for i, v in enumerate(values) if np.isfinite(v)]
    if not finite:
        return None, float("inf")
    value, index = min(finite)
    return index + 1, float(value)


def build_callbacks(stage: Stage, profile: Profile, out_dir: Path | None) -> list:
    """The callbacks stage's callbacks; none for earlier stages."""
    if not stage.callbacks.enabled:
        return []
    config = stage.callbacks
    callbacks = [
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=profile.reduce_lr_factor,
                                          patience=profile.reduce_lr_patience,
                                          min_delta=profile.reduce_lr_min_delta, min_lr=1e-5),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.early_stopping_patience,
                                      restore_best_weights=True),
    ]
    if out_dir is not None:
        callbacks += [
            keras.callbacks.ModelCheckpoint(str(out_dir / "best.keras"), monitor="val_loss",
                                            save_best_only=True),
            keras.callbacks.CSVLogger(str(out_dir / "history.csv")),
        ]
    return callbacks


def compile_stage_model(stage: Stage, profile: Profile, seed: int, *, model=None,
                        optimizer=None, loss=None) -> keras.Model:
    """Build (unless given) and compile a stage's model; given pieces replace the stage's.

    A given model was built by the caller, who seeds before building it (as
    ``start_lesson`` does); reseeding here would change the run that follows.
    """
    if model is None:
        keras.utils.set_random_seed(seed)  # before building: fixes init, dropout, augmentation
        model = build_stage_model(stage.model, seed=seed,
                                  erasing_probability=profile.erasing_probability)
    model.compile(optimizer=optimizer if optimizer is not None else build_optimizer(stage, profile),
                  loss=loss if loss is not None else build_loss(stage), metrics=stage_metrics())
    return model


def stage_metrics() -> list:
    """Accuracy, and the plain cross-entropy (``cross_entropy``, ``val_cross_entropy``): no
    label smoothing and no penalty, unlike ``loss``, which is the objective a stage trains
    on (keras adds the L2 penalty to it, and smoothing gives it a floor of about 0.5 nats),
    so that stages compare like with like."""
    return ["accuracy", keras.metrics.CategoricalCrossentropy(name="cross_entropy")]


@dataclass
class TrainResult:
    stage: str
    profile: str
    seed: int
    model: keras.Model
    history: dict
    epochs_run: int
    best_epoch: int | None  # 1-based epoch of the lowest validation loss (reported, not restored)
    best_val_loss: float
    train_seconds: float
    wall_seconds: float  # model building, training and the test evaluation
    test: dict = field(default_factory=dict)
    diverged: bool = False  # the training loss became NaN or infinite
    extra: dict = field(default_factory=dict)  # a recipe's own figures (the speedrun's without TTA)

    def summary(self) -> dict:
        """Plain numbers for a JSON file (no model, no arrays)."""
        return {
            "stage": self.stage, "profile": self.profile, "seed": self.seed,
            "test_accuracy": self.test["accuracy"], "test_loss": self.test["loss"],
            "ece": self.test["ece"], "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch, "best_val_loss": self.best_val_loss,
            "train_seconds": round(self.train_seconds, 1),
            "wall_seconds": round(self.wall_seconds, 1), "diverged": self.diverged,
            **self.extra,
        }


class FirstEpochEstimate(keras.callbacks.Callback):
    """After the first epoch, say how long the run's epochs take at that pace on this
    machine (fewer where EarlyStopping ends it sooner), and how to choose a shorter budget."""

    def __init__(self, shorter: str = "", clock=time.perf_counter):
        super().__init__()
        self.shorter, self.clock, self.start = shorter, clock, None

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 0:
            self.start = self.clock()

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0 and self.start is not None:
            seconds, epochs = self.clock() - self.start, self.params.get("epochs") or 1
            print(f"The first epoch took {duration(seconds)}: at that pace the {epochs} epochs "
                  f"take about {duration(seconds * epochs)} on this machine (less if training "
                  f"stops early). {self.shorter}".rstrip(), flush=True)


def train_stage(
    stage: Stage | str | int,
    profile: Profile | str,
    *,
    seed: int = 0,
    data: DataSplits | None = None,
    out_dir: str | Path | None = None,
    verbose: int | str = "auto",
    model: keras.Model | None = None,
    optimizer: keras.optimizers.Optimizer | None = None,
    loss: keras.losses.Loss | None = None,
    callbacks: list | None = None,
    extra_callbacks: list | None = None,
) -> TrainResult:
    """Train a stage for the profile's epochs and measure the model it ends with on the test set.

    ``model``, ``optimizer``, ``loss`` and ``callbacks`` replace the stage's own
    (the lessons pass what the student built); the rest comes from the stage.
    ``extra_callbacks`` are added to the stage's (the reference runner's
    resumption and epoch log).
    """
    stage = stage if isinstance(stage, Stage) else get_stage(stage)
    profile = get_profile(profile)
    data = data or prepare_data(profile)
    out_dir = Path(out_dir) if out_dir is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)

    wall_start = time.perf_counter()
    model = compile_stage_model(stage, profile, seed, model=model, optimizer=optimizer, loss=loss)
    # TerminateOnNaN: a diverged run stops at once instead of spending its budget.
    callbacks = list(callbacks) if callbacks is not None else build_callbacks(stage, profile, out_dir)
    callbacks += [*(extra_callbacks or []), keras.callbacks.TerminateOnNaN()]
    start = time.perf_counter()
    history = model.fit(
        data.x_train, one_hot(data.y_train),
        validation_data=(data.x_val, one_hot(data.y_val)),
        epochs=profile.epochs, batch_size=profile.batch_size,
        callbacks=callbacks, verbose=verbose,
    )
    seconds = time.perf_counter() - start
    test = evaluate_model(model, data.x_test, data.y_test, batch_size=max(256, profile.batch_size))
    history = {k: [float(v) for v in values] for k, values in history.history.items()}
    best, best_val_loss = best_epoch(history)
    return TrainResult(
        stage=stage.name, profile=profile.name, seed=seed, model=model, history=history,
        epochs_run=len(history["loss"]),
        best_epoch=best, best_val_loss=best_val_loss, train_seconds=seconds,
        wall_seconds=time.perf_counter() - wall_start, test=test,
        diverged=not np.all(np.isfinite(history["loss"])),
    )
