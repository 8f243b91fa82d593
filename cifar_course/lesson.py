"""What a lesson notebook needs besides the one piece the student writes.

``start_lesson`` says where the lesson runs (versions, device, profile, data)
and loads the profile's data; ``Lesson.train`` trains a stage with the pieces
the student built; ``Lesson.report`` measures, saves and compares with the
previous stage and with the references.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import config
from .profiles import Profile, get_profile
from .recipes import SPEEDRUN_RECIPE
from .run_folder import RunFolder
from .references import load_references
from .stages import STAGES, Stage, get_stage

RUNS_DIR = Path("runs")


@dataclass
class Lesson:
    stage: Stage
    profile: Profile
    seed: int
    data: object  # training.DataSplits

    @property
    def run_dir(self) -> Path:
        return _run_dir(self.stage, self.profile)

    def saved_model(self, stage: str | int):
        """The model ``record`` saved for an earlier ``stage`` in this profile and
        folder (the lesson that trains it ran here), or ``None`` where there is none."""
        return RunFolder(_run_dir(get_stage(stage), self.profile)).model()

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
        RunFolder(self.run_dir).write(history=history, metrics=summary, model=model)
        print(f"{self.stage.title} ({self.profile.name} profile, seed {self.seed}): test "
              f"accuracy {test['accuracy']:.2%}, test cross-entropy {test['loss']:.3f}, ECE "
              f"{test['ece']:.3f}; lowest validation loss at epoch {best} of "
              f"{summary['epochs_run']}")
        print(comparison_table([s for s in STAGES if s.number <= self.stage.number], self.profile))
        if curves:
            plot_history(history, title=f"{self.stage.title}: training against validation")
        previous = RunFolder(_run_dir(STAGES[self.stage.number - 2], self.profile)).history() \
            if self.stage.number > 1 else None
        if previous is not None:
            before = STAGES[self.stage.number - 2].title + " (your run)"
            plot_beside({before: previous, self.stage.title: history},
                        title=f"{self.stage.title} beside the stage before")
        return summary


def _run_dir(stage: Stage, profile: Profile) -> Path:
    """Where ``Lesson.record`` saves a stage's run: lessons run in one folder share it."""
    return RUNS_DIR / profile.name / stage.name


# What the lessons compare, stage by stage: (key in metrics.json and references.json, heading).
COMPARED_METRICS = (("test_accuracy", "test accuracy (%)"), ("test_loss", "test cross-entropy"),
                    ("ece", "ECE"), ("epochs_run", "epochs"))


def comparison_rows(stages, profile: Profile) -> list[dict]:
    """Per stage: this machine's saved run (if any) and the reference (if measured).

    Each row has ``stage``, ``title``, ``seeds`` (how many the reference pools;
    0 where none is measured) and, for each of ``COMPARED_METRICS``, a dict
    ``{"this_run", "mean", "std"}``; a value not measured is ``None``, and so
    is ``std`` when the reference has one seed (one seed has no spread).
    """
    measured = load_references().get("profiles", {}).get(profile.name, {}).get("stages", {})
    rows = []
    for stage in stages:
        run = RunFolder(_run_dir(stage, profile)).metrics() or {}
        reference = measured.get(stage.name, {})
        row = {"stage": stage.name, "title": stage.title,
               "seeds": len(reference.get("seeds", []))}
        for metric, _ in COMPARED_METRICS:
            entry = reference.get(metric)
            row[metric] = {"this_run": run.get(metric),
                           "mean": None if entry is None else entry["mean"],
                           "std": None if entry is None or len(entry["values"]) < 2
                           else entry["std"]}
        rows.append(row)
    return rows


def comparison_table(stages, profile: Profile) -> str:
    """``comparison_rows`` as text: this run beside the reference (mean +- std over seeds)."""
    def number(metric, value):
        if value is None:
            return "-"
        if metric == "test_accuracy":
            return f"{100 * value:.2f}"
        return f"{value:.3g}" if metric == "epochs_run" else f"{value:.3f}"

    def reference(metric, cell):
        text = number(metric, cell["mean"])
        if cell["std"] is not None:
            text += f" +- {number(metric, cell['std'])}"
        return text

    heading = f"{'':<26}" + "".join(f"  {title:^24}" for _, title in COMPARED_METRICS)
    lines = [heading.rstrip(),
             f"{'stage':<26}" + f"  {'this run':>8}  {'reference':>14}" * len(COMPARED_METRICS)
             + "  seeds"]
    for row in comparison_rows(stages, profile):
        cells = "".join(f"  {number(m, row[m]['this_run']):>8}  {reference(m, row[m]):>14}"
                        for m, _ in COMPARED_METRICS)
        lines.append(f"{row['title']:<26}{cells}  {row['seeds'] or '-':>5}")
    if profile.synthetic:
        lines.append("(smoke profile: synthetic images, no references: these figures measure nothing)")
    else:
        lines.append(f"(reference: mean +- std over the seeds of the {profile.name} profile; "
                     f"one seed has no spread; cifar-course references show)")
    return "\n".join(lines)


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


def start_lesson(stage: str | int, profile: str | None = None, *, seed: int = 0,
                 load_data: bool = True) -> Lesson:
    """Choose the profile, say where the lesson runs, and load the profile's data.

    ``profile``: ``None`` picks ``$CIFAR_COURSE_PROFILE``, else ``full`` on a GPU
    and ``quick`` on a CPU. Under the grader, the grader's profile is used.
    """
    stage = get_stage(stage)
    chosen = get_profile(_profile_asked(profile))
    return Lesson(stage=stage, profile=chosen, seed=seed, data=_begin(chosen, seed, load_data))


def _begin(profile: Profile, seed: int, load_data: bool):
    """What every lesson's start does once its profile is chosen: say where it runs, load
    the profile's data (returned) and seed the models the lesson builds."""
    import keras

    from .training import prepare_data

    _announce(profile)
    data = prepare_data(profile) if load_data else None
    _describe_data(data)
    keras.utils.set_random_seed(seed)
    return data


# --- lesson 09: the speedrun ---------------------------------------------------------

# The speedrun profile that stands for each course profile (lesson 09 runs in
# the profile its student chose for the other lessons, or the grader's).
SPEEDRUN_PROFILES = SPEEDRUN_RECIPE.PROFILES


@dataclass
class SpeedrunLesson:
    profile: Profile
    seed: int
    data: object  # training.DataSplits

    @property
    def run_dir(self) -> Path:
        return RUNS_DIR / self.profile.name / "speedrun"

    def train(self, model=None, *, variant: str = "speedrun", verbose="auto"):
        """Train the speedrun in this lesson's profile. ``model``: the student's own
        network; ``variant``: the speedrun with one idea out (``speedrun.VARIANTS``)."""
        from .speedrun import speedrun_config, train_speedrun

        return train_speedrun(self.profile, seed=self.seed, data=self.data, model=model,
                              config=speedrun_config(variant), out_dir=self.run_dir,
                              verbose=verbose)

    def report(self, result) -> dict:
        """Print a run's test figures, with and without TTA, beside the references; save it."""
        from .plots import plot_history

        summary = result.summary()
        RunFolder(self.run_dir).write(history=result.history, metrics=summary)
        print(f"speedrun ({self.profile.name} profile, seed {self.seed}, {result.epochs_run} "
              f"epochs, {result.train_seconds:.0f} s of training): test accuracy "
              f"{summary['test_accuracy']:.2%} with test-time augmentation, "
              f"{summary['test_accuracy_without_tta']:.2%} without; ECE {summary['ece']:.3f}")
        print(speedrun_table(self.profile))
        plot_history(result.history, title="The speedrun: training against validation")
        return summary


def speedrun_table(profile: Profile) -> str:
    """The speedrun's references beside the course's final stage, measured as they were."""
    references = load_references()["profiles"]
    course = next((name for name, value in SPEEDRUN_PROFILES.items() if value == profile.name), None)
    lines = [f"{'recipe (profile)':<34} {'seeds':>5} {'test accuracy':>18} {'epochs':>7}"]
    rows = [("speedrun", profile.name)] + ([(STAGES[-1].name, course)] if course else []) \
        + ([("speedrun", "speedrun")] if profile.name != "speedrun" else []) + [(STAGES[-1].name, "full")]
    for recipe, name in dict.fromkeys(rows):
        entry = references.get(name, {}).get("stages", {}).get(recipe)
        if entry is None:
            lines.append(f"{recipe + ' (' + name + ')':<34} {'-':>5} {'not measured':>18} {'-':>7}")
            continue
        accuracy = entry["test_accuracy"]
        text = f"{accuracy['mean']:.2%}" + (f" +- {accuracy['std']:.2%}" if len(entry['seeds']) > 1 else "")
        lines.append(f"{recipe + ' (' + name + ')':<34} {len(entry['seeds']):>5} {text:>18} "
                     f"{entry['epochs_run']['mean']:>7.1f}")
    return "\n".join(lines)


SPEEDRUN_ABLATION_PROFILE = "speedrun-quick"  # where the ablation's variants are measured


def speedrun_ablation(profile: str = SPEEDRUN_ABLATION_PROFILE) -> str:
    """What each idea buys: the speedrun and its variants (one idea out each), measured
    in ``profile`` (``references.json``), with the seeds and the setting they ran in."""
    from .references.tables import ablation_table

    entry = load_references()["profiles"].get(profile)
    if not entry or len(entry["stages"]) < 2:
        return (f"The ablation is not measured in profile {profile!r} yet: `cifar-course "
                f"references run --profile {profile} --stages speedrun <variants>` measures it.")
    from .speedrun import VARIANTS

    setting = entry["provenance"]["profile"]
    legend = "\n".join(f"  {name}: {VARIANTS[name][0]}" for name in entry["stages"] if name in VARIANTS)
    return (f"Profile {profile}: {setting['train_size']:,} training images, {setting['epochs']} "
            f"epochs of batch {setting['batch_size']}; change = the variant's mean test accuracy "
            f"minus the speedrun's, in points. Set it against the spread (+-) over seeds.\n"
            f"The variants (each the speedrun with one change):\n{legend}\n\n"
            + ablation_table(entry))


def start_speedrun(profile: str | None = None, *, seed: int = 0, load_data: bool = True) -> SpeedrunLesson:
    """``start_lesson`` for lesson 09: a course profile (``quick``) runs as its speedrun
    profile (``speedrun-quick``); a speedrun profile may also be named directly."""
    chosen = SPEEDRUN_RECIPE.profile_for(get_profile(_profile_asked(profile)))
    return SpeedrunLesson(profile=chosen, seed=seed, data=_begin(chosen, seed, load_data))


# airbench94's published mean test accuracy (1,000 runs, canonical CIFAR-10; its
# paper, arXiv:2404.00498, and legacy/airbench94.py): a cited figure, not a measurement here.
AIRBENCH94_PUBLISHED = 0.9401


def jpeg_cost() -> str:
    """The speedrun's measured drop from one more JPEG round trip, from ``references.json``."""
    references = load_references()["profiles"]

    def accuracy(profile):
        entry = references.get(profile, {}).get("stages", {}).get("speedrun")
        return None if entry is None else (entry["test_accuracy"]["mean"], len(entry["seeds"]),
                                           entry["test_accuracy"]["std"])

    copy, again = accuracy("speedrun"), accuracy("speedrun-rejpeg")
    published = ""
    if copy is not None:
        published = (f"\nairbench94 reports {AIRBENCH94_PUBLISHED:.2%} on canonical CIFAR-10 (50,000 "
                     f"training images, arXiv:2404.00498); the speedrun reaches {copy[0]:.2%} on this "
                     f"copy with 45,000: {100 * (AIRBENCH94_PUBLISHED - copy[0]):.2f} points less")
    if copy is None or again is None:
        missing = " and ".join(p for p, v in (("speedrun", copy), ("speedrun-rejpeg", again)) if v is None)
        return (f"not measured yet: no {missing} reference (cifar-course references run "
                f"--profile {missing.split(' and ')[0]})" + published)
    return (f"speedrun on the course's copy: {copy[0]:.2%} ({copy[1]} seed(s), std "
            f"{100 * copy[2]:.2f} points); after one more JPEG round trip: {again[0]:.2%} "
            f"({again[1]} seed(s)): a change of {100 * (again[0] - copy[0]):+.2f} points"
            + published)
