"""The ``cifar-course`` command line."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from .profiles import PROFILES

DESCRIPTION = """\
Train and measure the course's CIFAR-10 CNN, one technique at a time.

Where the data comes from: --source, else the CIFAR_COURSE_DATA environment
variable, else keras' download. A source is a cifar-10-python.tar.gz, a
cifar-10-batches-py folder, or an image-folder tree (train/<class>/*,
test/<class>/*) or a .tar.gz of one.

Profiles: smoke (seconds, synthetic images, for tests), grade (real data, {grade}
a stage: autograding), quick (real data, {quick} a stage), full (all the data,
{full} a stage; for a GPU), as measured on the course's 2-core CPU. The default is
CIFAR_COURSE_PROFILE, else full on a GPU once every stage has a full band, and quick.

Examples:
  cifar-course data --verify --source ../shared/data/cifar10-jpeg.tar.gz
  cifar-course stages
  cifar-course train --stage callbacks --profile quick --out runs/final
  cifar-course evaluate runs/final/model.keras
  cifar-course references show --profile quick
  cifar-course lessons build                    # instructors: lessons/ from solutions/
  cifar-course grade release                    # instructors: the nbgrader course
  cifar-course grade autograde submissions/ --jobs 2
"""


def _add_source(parser):
    parser.add_argument("--source", help="CIFAR-10: a folder, .tar.gz or .zip of the canonical "
                                         "batches or of an image folder (default: "
                                         "$CIFAR_COURSE_DATA, else keras' download)")


def cmd_data(args) -> int:
    import numpy as np

    from .data import CLASS_NAMES
    from .data.loading import timed_load

    arrays, info, seconds = timed_load(args.source)
    print(f"source: {info.kind} {info.path}")
    if info.sha256:
        print(f"sha256: {info.sha256}")
    print(f"loaded in {seconds:.2f} s (decoded arrays are cached after the first load)")
    rows = []
    for split, x, y in (("train", arrays.x_train, arrays.y_train),
                        ("test", arrays.x_test, arrays.y_test)):
        counts = np.bincount(np.ravel(y), minlength=len(CLASS_NAMES))
        print(f"{split}: {len(x):,} images {x.shape[1:]} {x.dtype}; per class: "
              + ", ".join(f"{c} {n:,}" for c, n in zip(CLASS_NAMES, counts)))
        rows.append((split, len(x), counts))
    if args.verify:
        problems = []
        for split, total, counts in rows:
            expected = 50000 if split == "train" else 10000
            if total != expected or len(set(counts)) != 1:
                problems.append(f"{split}: {total:,} images, per class {sorted(set(counts))}; "
                                f"CIFAR-10 has {expected:,}, {expected // 10:,} per class")
        if problems:
            print("NOT the complete CIFAR-10:\n  " + "\n  ".join(problems))
            return 1
        print("verified: complete CIFAR-10 (50,000 training and 10,000 test images, "
              "5,000 and 1,000 per class)")
    return 0


def cmd_stages(args) -> int:
    from .stages import STAGES, stage_changes

    for stage in STAGES:
        changed = ", ".join(stage_changes(stage)) or "-"
        print(f"{stage.number}. {stage.name:22s} {stage.adds}\n   changes: {changed}")
    return 0


def cmd_train(args) -> int:
    from . import plots
    from .augmentation import build_augmentation
    from .references import MissingReferenceError, reference_band
    from .config import current
    from .profiles import get_profile
    from .recipes import recipe_of
    from .run_folder import RunFolder
    from .training import prepare_data

    profile = get_profile(args.profile or current().profile_name())
    data = prepare_data(profile, args.source)
    verbose = 1 if sys.stdout.isatty() else 2
    recipe = recipe_of(profile)
    run = recipe.run_for(args.stage)
    title = recipe.title(run)
    out = Path(args.out or f"runs/{run}-{profile.name}-seed{args.seed}")
    print(recipe.describe(run, profile, data, args.seed), flush=True)
    result = recipe.train(run, profile, seed=args.seed, data=data, out_dir=out, verbose=verbose)
    summary = result.summary()
    summary["per_class_accuracy"] = result.test["per_class_accuracy"]
    summary["most_confused"] = result.test["most_confused"]
    RunFolder(out).write(history=result.history, metrics=summary, model=result.model)
    plots.plot_history(result.history, out / "curves.png", title=f"{title} ({result.profile})")
    plots.plot_confusion_matrix(result.test["confusion_matrix"], out / "confusion_matrix.png")
    plots.plot_reliability_diagram(result.test["probabilities"], result.test["labels"],
                                   out / "reliability.png", ece=result.test["ece"])
    plots.plot_confused_examples(data.x_test, result.test["labels"], result.test["probabilities"],
                                 "cat", "dog", out / "cat_as_dog.png")
    if recipe.augments(run):
        plots.plot_augmented_samples(build_augmentation(seed=args.seed), data.x_train,
                                     out / "augmented_samples.png")
    plots.plt.close("all")  # written to files, never shown: free them
    print(f"\n{title}, profile {result.profile}, seed {args.seed}: test accuracy "
          f"{result.test['accuracy']:.2%} (best epoch {result.best_epoch} of "
          f"{result.epochs_run}, {result.train_seconds:.0f} s); ECE {result.test['ece']:.3f}")
    try:
        band = reference_band(result.stage, result.profile)
        verdict = "within" if band.contains(result.test["accuracy"]) else "OUTSIDE"
        print(f"reference: {band.describe()} -> {verdict} the band")
    except MissingReferenceError as error:
        print(f"reference: {error}")
    print(f"wrote {out}/: " + ", ".join(sorted(p.name for p in out.iterdir())))
    return 0


def cmd_evaluate(args) -> int:
    import keras

    from . import models, plots  # noqa: F401  (models registers the custom layers)
    from .data import load_cifar10
    from .evaluation import evaluate_model

    if not Path(args.model).is_file():
        raise FileNotFoundError(f"{args.model} does not exist. Fix: give the model.keras that "
                                f"`cifar-course train` wrote (runs/<stage>-<profile>-seed<N>/)")
    model = keras.models.load_model(args.model)
    _, (x_test, y_test) = load_cifar10(args.source)
    result = evaluate_model(model, x_test, y_test)
    print(f"{args.model}: test accuracy {result['accuracy']:.2%} on {result['n']:,} images, "
          f"ECE {result['ece']:.3f}")
    for name, value in result["per_class_accuracy"].items():
        print(f"  {name:11s} {value:.1%}")
    print("most confused (true -> predicted, count): "
          + "; ".join(f"{t} -> {p} {n}" for t, p, n in result["most_confused"]))
    if args.out:
        out = Path(args.out)
        plots.plot_confusion_matrix(result["confusion_matrix"], out / "confusion_matrix.png")
        plots.plot_reliability_diagram(result["probabilities"], result["labels"],
                                       out / "reliability.png", ece=result["ece"])
        plots.plt.close("all")
        print(f"wrote {out}/confusion_matrix.png and reliability.png")
    return 0


def long_run_warning(profile: str, runs: int, jobs: int = 1) -> str:
    """What ``references run`` is about to cost, from the measured run times (none are typed)."""
    from .references import measured_seconds_per_run

    each = measured_seconds_per_run(profile)
    cost = (f"about {each / 60:.0f} min each on this project's 2-core CPU (measured), about "
            f"{math.ceil(runs / jobs) * each / 3600:.1f} h in all" if each else
            "no run of this profile is measured yet, so its time is not known")
    return (f"references run: {runs} training run(s) in the {profile} profile, {cost}"
            f"{f' ({jobs} at a time)' if jobs > 1 else ''}. "
            f"Runs already measured are skipped; an interrupted run resumes from its last "
            f"epoch. Ctrl-C stops it safely.")


def _measured_times() -> str:
    from .references import training_time

    return ", ".join(f"{training_time(p)} in {p}" for p in ("grade", "quick", "full", "speedrun")
                     if training_time(p))


def _seed_list(seeds) -> str:
    """``0-9`` for a run of consecutive seeds, else the list: ``[0, 2, 5]``."""
    seeds = sorted(seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return str(seeds)


def _setting(text: str) -> tuple[str, str]:
    """``--set``'s ``SETTING=VALUE``."""
    key, equals, value = text.partition("=")
    if not equals or not key or not value:
        raise argparse.ArgumentTypeError(f"{text!r}: expected SETTING=VALUE, e.g. "
                                         f"erasing_probability=0.1")
    return key.strip(), value.strip()


def cmd_references(args) -> int:
    from .profiles import get_profile
    from .references import load_references
    from .references.runner import merge_references, run_names, run_references
    from .references.tables import ablation_table, table_markdown

    if args.set and args.action != "run":
        raise SystemExit(f"error: --set changes the settings of runs to measure; references "
                         f"{args.action} takes none")
    if args.action == "merge":
        if not args.files:
            raise SystemExit("error: references merge needs the references files to merge, "
                             "for example: cifar-course references merge a.json b.json")
        references = merge_references(args.files, output=args.output)
        if args.table and args.profile in references["profiles"]:
            Path(args.table).write_text(table_markdown(args.profile,
                                                       references["profiles"][args.profile]))
    elif args.action == "run":
        runs = len(run_names(get_profile(args.profile), args.stages)) * len(args.seeds)
        print(long_run_warning(args.profile, runs, args.jobs), flush=True)
        run_references(args.profile, seeds=args.seeds, stages=args.stages, source=args.source,
                       output=args.output, table=args.table, force=args.force, jobs=args.jobs,
                       settings=dict(args.set))
    references = load_references(args.output if args.action in ("run", "merge") else None)
    profiles = [args.profile] if args.profile else sorted(references["profiles"])
    for name in profiles:
        entry = references["profiles"].get(name)
        if not entry:
            print(f"profile {name}: no references measured yet")
            continue
        prov = entry["provenance"]
        print(f"profile {name}: measured {prov['date'][:10]} on {prov['data']['path']}, seeds "
              f"{_seed_list(prov['seeds'])}, "
              f"{prov['hardware'].get('gpu') or prov['hardware'].get('cpu_model')}")
        print(ablation_table(entry))
    return 0


def _needs_nbgrader() -> None:
    import importlib.util

    if importlib.util.find_spec("nbgrader") is None:
        raise SystemExit("error: this command needs nbgrader. Fix: pip install 'cifar-course[grader]' "
                         "(or pip install -e '.[grader]' in the repository)")


def cmd_lessons(args) -> int:
    _needs_nbgrader()
    from .grading.lessons import build_lessons

    for path in build_lessons(args.solutions, args.lessons):
        print(f"wrote {path}")
    return 0


def cmd_grade(args) -> int:
    _needs_nbgrader()
    from .grading.commands import ACTIONS

    return ACTIONS[args.action](args, Path(args.course))


def _command(commands, name: str, summary: str, description: str, run):
    parser = commands.add_parser(name, help=summary, description=f"{summary}.\n\n{description}",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(run=run)
    return parser


def _add_threads(parser):
    parser.add_argument("--threads", type=int, help="CPU threads torch may use (default: "
                        "$CIFAR_COURSE_THREADS, else one per core); lower it when other "
                        "trainings share the machine")


def build_parser() -> argparse.ArgumentParser:
    from .references import training_time

    described = DESCRIPTION.format(**{p: training_time(p) or "(not yet measured)"
                                      for p in ("grade", "quick", "full")})
    parser = argparse.ArgumentParser(prog="cifar-course", description=described,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error instead of one line")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = _command(commands, "data", "load a CIFAR-10 source and describe it",
                    "Prints the source, its SHA-256, the load time and the images per class. "
                    "The first load decodes\nthe source (about 20 s) and caches the arrays.",
                    cmd_data)
    _add_source(data)
    data.add_argument("--verify", action="store_true",
                      help="fail unless it is the complete dataset (50,000 + 10,000 images)")

    _command(commands, "stages", "list the recipe's stages and what each adds",
             "The recipe lives in cifar_course/stages.py; each stage is the one before plus "
             "one change.", cmd_stages)

    train = _command(commands, "train", "train one stage; write model, history, plots",
                     "Trains a stage in a profile, measures the model it ends with on the test "
                     "set, compares\nwith the stage's reference, and writes model.keras, "
                     "history.json, metrics.json and plots.", cmd_train)
    train.add_argument("--stage", default="callbacks",
                       help="stage name or number (see `cifar-course stages`; default: the final "
                            "one); the speedrun profiles train the speedrun")
    train.add_argument("--profile", choices=list(PROFILES),
                       help="training budget (default: $CIFAR_COURSE_PROFILE, else quick)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--out", help="output folder (default: runs/<stage>-<profile>-seed<N>)")
    _add_source(train)
    _add_threads(train)

    evaluate = _command(commands, "evaluate", "measure a saved model on the test set",
                        "Test accuracy, per-class accuracy, the most confused pairs and ECE of a "
                        "model.keras.", cmd_evaluate)
    evaluate.add_argument("model", help="a model.keras written by `cifar-course train`")
    evaluate.add_argument("--out", help="folder for the confusion matrix and reliability plots")
    _add_source(evaluate)
    _add_threads(evaluate)

    references = _command(
        commands, "references", "measure (run), print (show) or merge the reference metrics",
        "run trains every stage x seed of a profile on real data and merges each run into the\n"
        "package's references.json as it lands. It takes long (training a run, measured on a "
        f"2-core CPU:\n{_measured_times()}). It skips runs already measured and resumes "
        "an\ninterrupted one, so it can be stopped and started again; --jobs N trains N runs at "
        "once.\nmerge adds the runs of other references files (runners started by hand, each "
        "with its own\n--output, or on another machine) to the package's, or to --output.",
        cmd_references)
    references.add_argument("action", choices=["run", "show", "merge"],
                            help="run: measure; show: print; merge: add the runs of FILES")
    references.add_argument("files", nargs="*", metavar="FILES",
                            help="merge: the references files whose runs to add")
    references.add_argument("--profile", choices=[p for p in PROFILES if not PROFILES[p].synthetic],
                            help="which profile (run: required; show: default all)")
    references.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                            help="seeds to run (default 0 1 2)")
    references.add_argument("--stages", nargs="+", help="stages to run (default: all)")
    references.add_argument("--force", action="store_true",
                            help="measure again runs that are already recorded")
    references.add_argument("--output", help="references JSON to update (default: the "
                                             "package's own)")
    references.add_argument("--table", help="also write the markdown ablation table here")
    references.add_argument("--set", action="append", default=[], type=_setting,
                            metavar="SETTING=VALUE",
                            help="run: a tuning trial, with one of the profile's free settings "
                            "changed (repeatable; e.g. erasing_probability=0.1); needs --output")
    references.add_argument("--jobs", type=int, default=1,
                            help="run: runs that train at once, each in its own process with "
                            "cores / jobs threads (default 1); on a GPU, as many as fit")
    _add_source(references)
    _add_threads(references)

    lessons = _command(commands, "lessons", "instructors: regenerate lessons/ from solutions/",
                       "Runs nbgrader's generate_assignment on a copy of solutions/ (which it "
                       "never changes);\nthe references' digest is pinned in the hidden tests "
                       "when a course is released.", cmd_lessons)
    lessons.add_argument("action", choices=["build"], help="build: write the student versions")
    lessons.add_argument("--solutions", default="solutions", help="the instructor notebooks")
    lessons.add_argument("--lessons", default="lessons", help="where the student versions go")

    grade = _command(commands, "grade", "instructors: release, autograde, export (nbgrader)",
                     "release sets up the nbgrader course; autograde grades a folder of "
                     "submissions (one folder\nor .zip per student), all or one --shard; "
                     "jobs writes Slurm and Kubernetes job files\nthat grade the shards; merge "
                     "gathers the shards' grades; export writes the grades CSV;\ndue sets a "
                     "lesson's due date and late policy; gradescope writes a Gradescope\n"
                     "autograder zip.\nSee the "
                     "README's grading section.", cmd_grade)
    grade.add_argument("action", choices=["release", "autograde", "export", "jobs", "merge",
                                          "due", "gradescope"],
                       help="what to do (see above)")
    grade.add_argument("submissions", nargs="?", help="autograde: a folder with one folder or "
                                                       ".zip per student")
    grade.add_argument("--course", default="autograder", help="the nbgrader course folder")
    grade.add_argument("--solutions", default="solutions", help="release: the instructor notebooks")
    grade.add_argument("--jobs", type=int, default=1, help="students graded in parallel "
                       "(they share the cores: each gets cores / jobs threads)")
    grade.add_argument("--profile", default="grade", help="training budget the notebooks run in")
    grade.add_argument("--memory-gb", type=float, default=16.0,
                       help="memory limit per student (address space; on a GPU machine, data)")
    grade.add_argument("--shard", help="autograde: grade only shard I of N (I/N), in "
                                        "COURSE/shards/I-of-N; merge them afterwards")
    grade.add_argument("--shards", type=int, help="jobs: how many shards the job files run")
    grade.add_argument("--out", help="jobs: where to write the Slurm and Kubernetes files "
                                     "(default COURSE/shards); gradescope: the zip to write")
    grade.add_argument("--regrade", action="store_true", help="autograde: grade again students "
                       "already graded from the same files (by default a rerun skips them)")
    grade.add_argument("--sandbox", choices=["bwrap", "user", "none"], default="bwrap",
                       help="where each student's kernel runs: bwrap (bubblewrap: sees only "
                            "Python, the course package and the data, writes only its own "
                            "folder), user (as nobody, in a container of the grader's own "
                            "where user namespaces are forbidden, e.g. Gradescope; needs "
                            "root) or none (as the grader's user: only for trusted work)")
    grade.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML")
    grade.add_argument("--submitted-at", metavar="CSV",
                       help="autograde: each submission's time, from the LMS export (columns "
                            "student, submitted_at and optionally lesson); compared with the due "
                            "dates")
    grade.add_argument("--lesson", help="due: the lesson whose due date to set")
    grade.add_argument("--due", help="due: when the lesson is due (ISO 8601 with the time zone, "
                                     "e.g. 2026-12-10T23:59+01:00)")
    grade.add_argument("--late-until", help="due: the last time a late submission is accepted "
                                            "(later ones score zero; default: always accepted)")
    grade.add_argument("--penalty-per-day", type=float,
                       help="due: the share of the score a day (or part) late costs (0.1 = 10%%);"
                            " gradescope: the same, applied from Gradescope's due dates")
    grade.add_argument("--lessons", nargs="+", help="gradescope: the lessons the autograder grades")
    grade.add_argument("--data", help="gradescope: the CIFAR-10 file the references were measured "
                                      "on, carried in the zip")
    grade.add_argument("--wheel", help="gradescope: a cifar-course wheel to install from the zip "
                                       "(default: this version from the package index)")
    grade.add_argument("--csv", help="where to write the grades (default: COURSE/grades.csv)")
    grade.add_argument("--canvas", help="also write a Canvas gradebook import CSV here")
    grade.add_argument("--gradescope", help="also write <student>/results.json (Gradescope's "
                                            "format) under this folder")
    grade.add_argument("--feedback-bundles", metavar="FOLDER",
                       help="also write <student>.zip under FOLDER: that student's feedback "
                            "HTML and scores, to upload or hand back")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "references" and args.action == "run" and not args.profile:
        print("error: references run needs --profile (grade, quick or full)", file=sys.stderr)
        return 2
    from .data import DatasetError
    from .references import MissingReferenceError
    from .threads import configure_threads

    try:
        configure_threads(getattr(args, "threads", None))
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (DatasetError, MissingReferenceError, KeyError, ValueError, OSError,
            RuntimeError) as error:
        if args.debug:
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}  (--debug shows the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
