"""The ``cifar-course`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .profiles import PROFILES

DESCRIPTION = """\
Train and measure the course's CIFAR-10 CNN, one technique at a time.

Where the data comes from: --source, else the CIFAR_COURSE_DATA environment
variable, else keras' download. A source is a cifar-10-python.tar.gz, a
cifar-10-batches-py folder, or an image-folder tree (train/<class>/*,
test/<class>/*) or a .tar.gz of one.

Profiles: smoke (seconds, synthetic images, for tests), grade (real data, about
30 s a stage: autograding), quick (real data, a few minutes a stage on a laptop
CPU), full (all the data, for a GPU). The default
is CIFAR_COURSE_PROFILE, else full with a GPU and quick without.

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
    parser.add_argument("--source", help="CIFAR-10 location (default: $CIFAR_COURSE_DATA, "
                                         "else keras' download)")


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
    from .stages import get_stage
    from .training import prepare_data, train_stage

    stage = get_stage(args.stage)
    out = Path(args.out or f"runs/{stage.name}-{args.profile or 'default'}-seed{args.seed}")
    data = prepare_data(args.profile, args.source)
    result = train_stage(stage, args.profile, seed=args.seed, data=data, out_dir=out,
                         verbose=1 if sys.stdout.isatty() else 2)
    result.model.save(out / "model.keras")
    (out / "history.json").write_text(json.dumps(result.history, indent=1))
    summary = result.summary()
    summary["per_class_accuracy"] = result.test["per_class_accuracy"]
    summary["most_confused"] = result.test["most_confused"]
    (out / "metrics.json").write_text(json.dumps(summary, indent=1))
    plots.plot_history(result.history, out / "curves.png", title=f"{stage.title} ({result.profile})")
    plots.plot_confusion_matrix(result.test["confusion_matrix"], out / "confusion_matrix.png")
    plots.plot_reliability_diagram(result.test["probabilities"], result.test["labels"],
                                   out / "reliability.png", ece=result.test["ece"])
    plots.plot_confused_examples(data.x_test, result.test["labels"], result.test["probabilities"],
                                 "cat", "dog", out / "cat_as_dog.png")
    if stage.model.augment:
        plots.plot_augmented_samples(build_augmentation(seed=args.seed), data.x_train,
                                     out / "augmented_samples.png")
    print(f"\n{stage.title}, profile {result.profile}, seed {args.seed}: test accuracy "
          f"{result.test['accuracy']:.2%} (best epoch {result.best_epoch} of "
          f"{result.epochs_run}, {result.train_seconds:.0f} s); ECE {result.test['ece']:.3f}")
    try:
        band = reference_band(stage.name, result.profile)
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
        print(f"wrote {out}/confusion_matrix.png and reliability.png")
    return 0


def cmd_references(args) -> int:
    from .references import load_references
    from .references.runner import ablation_table, run_references

    if args.action == "run":
        run_references(args.profile, seeds=args.seeds, stages=args.stages, source=args.source,
                       output=args.output, table=args.table)
    references = load_references(args.output if args.action == "run" else None)
    profiles = [args.profile] if args.profile else sorted(references["profiles"])
    for name in profiles:
        entry = references["profiles"].get(name)
        if not entry:
            print(f"profile {name}: no references measured yet")
            continue
        prov = entry["provenance"]
        print(f"profile {name}: measured {prov['date']} on {prov['data']['path']}, seeds "
              f"{prov['seeds']}, {prov['hardware'].get('gpu') or prov['hardware'].get('cpu_model')}")
        print(ablation_table(entry))
    return 0


def _needs_nbgrader() -> None:
    import importlib.util

    if importlib.util.find_spec("nbgrader") is None:
        raise SystemExit("error: this command needs nbgrader. Fix: pip install 'cifar-course[grader]' "
                         "(or pip install -e '.[grader]' in the repository)")


def cmd_lessons(args) -> int:
    _needs_nbgrader()
    from .grading.lessons import build_lessons, pin_references

    changed = pin_references(args.solutions)
    if changed:
        print(f"pinned the current references.json in the hidden tests of {', '.join(changed)}")
    for path in build_lessons(args.solutions, args.lessons):
        print(f"wrote {path}")
    return 0


def cmd_grade(args) -> int:
    _needs_nbgrader()
    from .grading import autograde
    from .grading.lessons import release

    course = Path(args.course)
    if args.action == "release":
        for lesson, path in release(args.solutions, course).items():
            print(f"released {lesson}: {path}")
        return 0
    if args.action == "autograde":
        if not args.submissions:
            raise SystemExit("error: autograde needs the folder of submissions (one folder or "
                             ".zip per student)")
        if not (course / "gradebook.db").exists():
            raise SystemExit(f"error: {course} has no gradebook: run `cifar-course grade release "
                             f"--course {course}` first")
        collected = autograde.collect(args.submissions, course)
        print(f"collected {sum(map(len, collected.values()))} notebooks from {len(collected)} students")
        seconds = autograde.autograde_all(course, sorted(collected), jobs=args.jobs,
                                          profile=args.profile, memory_gb=args.memory_gb)
        print(f"graded {len(seconds)} students in {sum(seconds.values()):.0f} worker-seconds "
              f"({args.jobs} at a time)")
        if not args.no_feedback:
            print(f"feedback: {len(autograde.generate_feedback(course, sorted(collected)))} "
                  f"HTML files under {course / 'feedback'}")
    output = args.csv or str(course / "grades.csv")
    rows = autograde.export_csv(course, output)
    totals = {}
    for row in rows:
        score, maximum = totals.get(row["student"], (0.0, 0.0))
        totals[row["student"]] = (score + row["score"], maximum + row["max_score"])
    for student, (score, maximum) in totals.items():
        print(f"{student}: {score:g} / {maximum:g}")
    print(f"wrote {output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cifar-course", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="load a CIFAR-10 source and describe it")
    _add_source(data)
    data.add_argument("--verify", action="store_true",
                      help="fail unless it is the complete dataset (50,000 + 10,000 images)")
    data.set_defaults(run=cmd_data)

    stages = commands.add_parser("stages", help="list the recipe's stages and what each adds")
    stages.set_defaults(run=cmd_stages)

    train = commands.add_parser("train", help="train one stage; write model, history, plots")
    train.add_argument("--stage", default="callbacks",
                       help="stage name or number (see `cifar-course stages`; default: the final one)")
    train.add_argument("--profile", choices=list(PROFILES), help="training budget")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", help="output folder (default: runs/<stage>-<profile>-seed<N>)")
    _add_source(train)
    train.set_defaults(run=cmd_train)

    evaluate = commands.add_parser("evaluate", help="measure a saved model on the test set")
    evaluate.add_argument("model", help="a .keras file written by `train`")
    evaluate.add_argument("--out", help="folder for the confusion matrix and reliability plots")
    _add_source(evaluate)
    evaluate.set_defaults(run=cmd_evaluate)

    references = commands.add_parser("references", help="measure (run) or print (show) the "
                                                         "reference metrics")
    references.add_argument("action", choices=["run", "show"])
    references.add_argument("--profile", choices=[p for p in PROFILES if not PROFILES[p].synthetic])
    references.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    references.add_argument("--stages", nargs="+", help="default: all stages")
    references.add_argument("--output", help="references JSON to update (default: the "
                                             "package's own)")
    references.add_argument("--table", help="also write a markdown ablation table here")
    _add_source(references)
    references.set_defaults(run=cmd_references)

    lessons = commands.add_parser("lessons", help="instructors: regenerate lessons/ from solutions/")
    lessons.add_argument("action", choices=["build"])
    lessons.add_argument("--solutions", default="solutions")
    lessons.add_argument("--lessons", default="lessons")
    lessons.set_defaults(run=cmd_lessons)

    grade = commands.add_parser("grade", help="instructors: release, autograde, export (nbgrader)")
    grade.add_argument("action", choices=["release", "autograde", "export"])
    grade.add_argument("submissions", nargs="?", help="autograde: a folder with one folder or "
                                                       ".zip per student")
    grade.add_argument("--course", default="autograder", help="the nbgrader course folder")
    grade.add_argument("--solutions", default="solutions", help="release: the instructor notebooks")
    grade.add_argument("--jobs", type=int, default=1, help="students graded in parallel")
    grade.add_argument("--profile", default="grade", help="training budget the notebooks run in")
    grade.add_argument("--memory-gb", type=float, default=16.0, help="memory limit per student")
    grade.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML")
    grade.add_argument("--csv", help="where to write the grades (default: COURSE/grades.csv)")
    grade.set_defaults(run=cmd_grade)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "references" and args.action == "run" and not args.profile:
        print("references run needs --profile (grade, quick or full)", file=sys.stderr)
        return 2
    from .data import DatasetError

    try:
        return args.run(args)
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
