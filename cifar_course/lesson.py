"""What a lesson notebook needs besides the one piece the student writes.

``start_lesson`` says where the lesson runs (versions, device, profile, data)
and loads the profile's data; ``Lesson.train`` trains a stage with the pieces
the student built; ``Lesson.report`` measures, saves and compares with the
previous stage and with the references.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .profiles import PROFILE_ENV, Profile, get_profile
from .references import MissingReferenceError, load_references, reference_band
from .stages import STAGES, Stage, get_stage

from .grading.checks import GRADING_ENV  # under the grader, its profile wins over the notebook's
RUNS_DIR = Path("runs")


@dataclass
class Lesson:
    stage: Stage
    profile: Profile
    seed: int
    data: object  # training.DataSplits

    @property
    def run_dir(self) -> Path:
        return RUNS_DIR / self.profile.name / self.stage.name

    def train(self, model=None, *, optimizer=None, loss=None, callbacks=None, verbose="auto"):
        """Train this lesson's stage (the student's pieces replace the stage's own)."""
        from .training import train_stage

        return train_stage(self.stage, self.profile, seed=self.seed, data=self.data,
                           model=model, optimizer=optimizer, loss=loss, callbacks=callbacks,
                           out_dir=self.run_dir, verbose=verbose)

    def report(self, result) -> dict:
        """``record`` for a run trained with ``Lesson.train``."""
        if result.diverged:
            print("Training diverged: the loss became NaN. Lower the learning rate or check "
                  "the loss; the figures below are not meaningful.")
        return self.record(result.model, result.history)

    def record(self, model, history: dict, curves: bool = True) -> dict:
        """Measure a trained model on the test set, save the run, and show it beside the
        previous stage's (curves) and the references (table).

        ``history`` is ``model.fit(...).history``; ``curves=False`` leaves out
        this run's own training/validation plot (when the student drew it). The
        run is saved under ``runs/<profile>/<stage>/`` for later lessons.
        """
        from .evaluation import evaluate_model
        from .plots import plot_beside, plot_history
        from .training import best_epoch

        history = {k: [float(v) for v in values] for k, values in history.items()}
        test = evaluate_model(model, self.data.x_test, self.data.y_test)
        best, best_val_loss = best_epoch(history)
        summary = {"stage": self.stage.name, "profile": self.profile.name, "seed": self.seed,
                   "test_accuracy": test["accuracy"], "test_loss": test["loss"], "ece": test["ece"],
                   "epochs_run": len(history.get("loss", [])), "best_epoch": best,
                   "best_val_loss": best_val_loss}
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "metrics.json").write_text(json.dumps(summary, indent=1) + "\n")
        (self.run_dir / "history.json").write_text(json.dumps(history) + "\n")
        model.save(self.run_dir / "model.keras")  # later lessons can start from it
        print(f"{self.stage.title} ({self.profile.name} profile, seed {self.seed}): test "
              f"accuracy {test['accuracy']:.2%}, test cross-entropy {test['loss']:.3f}, ECE "
              f"{test['ece']:.3f}; lowest validation loss at epoch {best} of "
              f"{summary['epochs_run']}")
        print(comparison_table([s for s in STAGES if s.number <= self.stage.number], self.profile))
        if curves:
            plot_history(history, title=f"{self.stage.title}: training against validation")
        previous = _saved(STAGES[self.stage.number - 2], self.profile, "history.json") \
            if self.stage.number > 1 else None
        if previous is not None:
            before = STAGES[self.stage.number - 2].title + " (your run)"
            plot_beside({before: previous, self.stage.title: history},
                        title=f"{self.stage.title} beside the stage before")
        return summary


def _saved(stage: Stage, profile: Profile, name: str = "metrics.json") -> dict | None:
    """What ``Lesson.record`` saved for a stage (its metrics, or ``history.json``)."""
    path = RUNS_DIR / profile.name / stage.name / name
    return json.loads(path.read_text()) if path.exists() else None


def comparison_rows(stages, profile: Profile) -> list[dict]:
    """Per stage: this machine's saved run (if any) and the reference (if measured)."""
    references = load_references()
    rows = []
    for stage in stages:
        run = _saved(stage, profile)
        try:
            band = reference_band(stage.name, profile.name, references=references)
        except MissingReferenceError:
            band = None
        rows.append({"stage": stage.name, "title": stage.title,
                     "this_run": None if run is None else run["test_accuracy"],
                     "mean": None if band is None else band.mean,
                     "std": None if band is None else band.std})
    return rows


def comparison_table(stages, profile: Profile) -> str:
    def percent(value):
        return "-" if value is None else f"{value:.2%}"

    lines = [f"{'stage':<26} {'this run':>9} {'reference':>18}"]
    for row in comparison_rows(stages, profile):
        reference = percent(row["mean"])
        if row["std"] is not None:
            reference += f" +- {row['std']:.1%}"
        lines.append(f"{row['title']:<26} {percent(row['this_run']):>9} {reference:>18}")
    if profile.synthetic:
        lines.append("(smoke profile: synthetic images, no references: these figures measure nothing)")
    return "\n".join(lines)


def start_lesson(stage: str | int, profile: str | None = None, *, seed: int = 0,
                 load_data: bool = True) -> Lesson:
    """Choose the profile, say where the lesson runs, and load the profile's data.

    ``profile``: ``None`` picks ``$CIFAR_COURSE_PROFILE``, else ``full`` on a GPU
    and ``quick`` on a CPU. Under the grader, the grader's profile is used.
    """
    import keras
    import torch

    from . import __version__
    from .training import prepare_data

    if os.environ.get(GRADING_ENV) and os.environ.get(PROFILE_ENV):
        profile = None  # graded: the grader's profile, whatever the notebook asked
    chosen = get_profile(profile)
    os.environ[PROFILE_ENV] = chosen.name  # the checks and the isolated grader see the same
    stage = get_stage(stage)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    print(f"cifar-course {__version__}, keras {keras.__version__} on {keras.backend.backend()}, "
          f"torch {torch.__version__}, device: {device}")
    print(f"profile {chosen.name!r}: {chosen.description}")
    data = prepare_data(chosen) if load_data else None
    if data is not None:
        source = "synthetic images" if data.source is None else data.source.path
        print(f"data: {source}; {len(data.x_train)} training, {len(data.x_val)} validation, "
              f"{len(data.x_test)} test images")
    keras.utils.set_random_seed(seed)  # the models this lesson builds start from this seed
    return Lesson(stage=stage, profile=chosen, seed=seed, data=data)
