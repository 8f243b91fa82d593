"""What a lesson notebook needs besides the one piece the student writes.

``start_lesson`` says where the lesson runs (versions, device, profile, data)
and loads the profile's data; ``Lesson.train`` trains the lesson's run (a stage
of the course's CNN, or the speedrun) with the pieces the student built;
``Lesson.report`` saves it and shows it beside the references and the run before.
One ``Lesson`` serves every notebook: what differs between the staged CNN and
the speedrun is asked of the profile's recipe (``recipes.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import config
from .comparisons import run_dir
from .profiles import Profile, get_profile
from .recipes import recipe_named_by, recipe_of
from .run_folder import RunFolder
from .stages import Stage, get_stage


@dataclass
class Lesson:
    run: str  # the recipe's run this lesson trains: a stage's name, or the speedrun's
    profile: Profile
    seed: int
    data: object  # training.DataSplits

    @property
    def recipe(self):
        return recipe_of(self.profile)

    @property
    def stage(self) -> Stage:
        """The stage this lesson trains (lessons 01-08; the speedrun is no stage)."""
        return get_stage(self.run)

    @property
    def run_dir(self) -> Path:
        return run_dir(self.run, self.profile)

    def saved_model(self, stage: str | int):
        """The model ``report`` saved for an earlier ``stage`` in this profile and
        folder (the lesson that trains it ran here), or ``None`` where there is none."""
        return RunFolder(run_dir(get_stage(stage).name, self.profile)).model()

    def train(self, model=None, *, variant: str | None = None, verbose=2, **pieces):
        """Train this lesson's run with the student's pieces: ``model``, and for a stage
        ``optimizer``, ``loss`` and ``callbacks`` (each replaces the stage's own).
        ``variant``: another of the recipe's runs (the speedrun with one idea out,
        ``speedrun.VARIANTS``), saved in this lesson's folder. ``verbose``: keras' (2,
        the default: a line an epoch, one display; 0: none). After the first epoch it
        says how long the run will take here, and which profile is shorter."""
        from .training import FirstEpochEstimate

        run = self.recipe.run_names(self.profile, [variant])[0] if variant else self.run
        estimate = FirstEpochEstimate(_shorter_budgets(self.profile)) if verbose else None
        return self.recipe.train(run, self.profile, seed=self.seed, data=self.data, model=model,
                                 out_dir=self.run_dir, verbose=verbose,
                                 extra_callbacks=[estimate] if estimate else [], **pieces)

    def report(self, result) -> dict:
        """Save a run ``Lesson.train`` trained and show it beside the references and the
        run before (its figures were measured on the test set as it ended)."""
        if result.diverged:
            print("Training diverged: the loss became NaN. Lower the learning rate or check "
                  "the loss; the figures below are not meaningful.")
        return self._save_and_show(result.model, result.history, result.summary(), curves=True)

    def record(self, model, history: dict, curves: bool = True) -> dict:
        """``report`` for a model the student trained in their own loop: measure it on
        the test set first.

        ``history`` is ``model.fit(...).history``; ``curves=False`` leaves out
        this run's own training/validation plot (when the student drew it).
        """
        from .evaluation import evaluate_model
        from .training import best_epoch

        history = {k: [float(v) for v in values] for k, values in history.items()}
        test = evaluate_model(model, self.data.x_test, self.data.y_test)
        best, best_val_loss = best_epoch(history)
        summary = {"stage": self.run, "profile": self.profile.name, "seed": self.seed,
                   "test_accuracy": test["accuracy"], "test_loss": test["loss"], "ece": test["ece"],
                   "epochs_run": len(history.get("loss", [])), "best_epoch": best,
                   "best_val_loss": best_val_loss}
        return self._save_and_show(model, history, summary, curves)

    def _save_and_show(self, model, history: dict, summary: dict, curves: bool) -> dict:
        """Save the run under ``runs/<profile>/<run>/`` for later lessons, print its figures
        and the recipe's reference table, and plot it (and beside the run before)."""
        from .plots import plot_beside, plot_history

        RunFolder(self.run_dir).write(history=history, metrics=summary, model=model)
        title = self.recipe.title(self.run)
        print(f"{title} ({self.profile.name} profile, seed {self.seed}): " + _figures(summary))
        print(self.recipe.comparison(self.run, self.profile))
        if curves:
            plot_history(history, title=f"{title}: training against validation")
        previous = self.recipe.previous_run(self.run)
        before = RunFolder(run_dir(previous, self.profile)).history() if previous else None
        if before is not None:
            plot_beside({self.recipe.title(previous) + " (your run)": before, title: history},
                        title=f"{title} beside the stage before")
        return summary


def _shorter_budgets(profile: Profile) -> str:
    """The profiles of ``profile``'s recipe that train on real images for less (images
    times epochs), as the advice a lesson prints beside its time estimate."""
    from .recipes import profiles_of

    def cost(p):
        return (p.train_size or float("inf")) * p.epochs

    shorter = [get_profile(name) for name in profiles_of(recipe_of(profile))]
    shorter = [p for p in shorter if not p.synthetic and cost(p) < cost(profile)]
    if not shorter:
        return ""
    return "For a shorter run, set PROFILE to " + " or ".join(
        f"{p.name!r} ({p.train_size:,} training images, {p.epochs} epochs)"
        for p in sorted(shorter, key=cost, reverse=True)) + "."


def _figures(summary: dict) -> str:
    """A run's measured figures, as ``metrics.json`` holds them, in a sentence."""
    accuracy = f"test accuracy {summary['test_accuracy']:.2%}"
    if "test_accuracy_without_tta" in summary:
        accuracy += (f" with test-time augmentation, {summary['test_accuracy_without_tta']:.2%} "
                     f"without")
    took = f", {summary['train_seconds']:.0f} s of training" if "train_seconds" in summary else ""
    return (f"{accuracy}; test cross-entropy {summary['test_loss']:.3f}, ECE {summary['ece']:.3f}; "
            f"lowest validation loss at epoch {summary['best_epoch']} of "
            f"{summary['epochs_run']}{took}")


def _announce(profile: Profile) -> None:
    """Say where the lesson runs; publish the profile to the checks and the isolated grader."""
    import keras
    import torch

    from . import __version__

    config.choose_profile(profile.name)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    print(f"cifar-course {__version__}, keras {keras.__version__} on {keras.backend.backend()}, "
          f"torch {torch.__version__}, device: {device}")
    from .references import training_time

    measured = training_time(profile.name)
    took = f" Measured: {measured} of training a stage on the course's 2-core CPU." if measured else ""
    print(f"profile {profile.name!r}: {profile.description}{took}")


def _describe_data(data) -> None:
    if data is not None:
        source = "synthetic images" if data.source is None else data.source.path
        print(f"data: {source}; {len(data.x_train)} training, {len(data.x_val)} validation, "
              f"{len(data.x_test)} test images")


def _profile_asked(profile: str | None) -> str:
    """The notebook's profile, else the configuration's; under the grader, the grader's."""
    run = config.current()
    if run.under_grader or profile is None:
        return run.profile_name()
    return profile


def start_lesson(run: str | int, profile: str | None = None, *, seed: int = 0,
                 load_data: bool = True) -> Lesson:
    """Choose the profile, say where the lesson runs, load the profile's data, and seed
    the models the lesson builds.

    ``run``: a stage (``"adamw"`` or ``5``) or ``"speedrun"`` (lesson 09).
    ``profile``: ``None`` picks ``$CIFAR_COURSE_PROFILE``, else ``full`` on a GPU
    and ``quick`` on a CPU; under the grader, the grader's profile is used. The
    speedrun runs in the speedrun profile standing for it (``quick`` runs as
    ``speedrun-quick``); a speedrun profile may also be named directly.
    """
    import keras

    from .training import prepare_data

    recipe = recipe_named_by(run)
    chosen = recipe.profile_for(get_profile(_profile_asked(profile)))
    _announce(chosen)
    data = prepare_data(chosen) if load_data else None
    _describe_data(data)
    keras.utils.set_random_seed(seed)
    return Lesson(run=recipe.run_for(run), profile=chosen, seed=seed, data=data)
