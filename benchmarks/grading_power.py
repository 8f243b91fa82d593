"""How often the graded checks reject a wrong answer, and a correct one: docs/grading-power.md.

    python benchmarks/grading_power.py                       # the checks that need no training
    python benchmarks/grading_power.py --train-seeds 20 --wrong-seeds 5 --stages baseline
                                                             # also the accuracy bands, trained
    python benchmarks/grading_power.py --out docs/grading-power.md
    python benchmarks/grading_power.py --checks-only --out docs/grading-power.md
                                                             # Part 1 again, Part 2 kept

Part 1, every catalogued wrong answer (tests/wrong_answers.py) against the
check that grades it. These checks take no training and fix their own inputs,
so one run decides each for good. Part 2, the accuracy band of each stage in
the grading profile: its false-rejection rate estimated from the references'
spread (a normal model of the seeds), and, with ``--train-seeds``, measured by
training the stage's own recipe on new seeds (seeds above those in the
references, so no run judges the band it helped to make). With
``--wrong-seeds``, each stage is also trained without its technique (the
previous stage's recipe) and graded against the stage's band: what only
training can reveal. Trained runs are appended to a JSON-lines file (``--runs``) as
they land, so a long measurement resumes after an interruption and can be split
between processes, one core each:

    CIFAR_COURSE_THREADS=1 python benchmarks/grading_power.py --train-seeds 20 \
        --wrong-seeds 5 --stages baseline augmentation dropout_weight_decay &
    CIFAR_COURSE_THREADS=1 python benchmarks/grading_power.py --train-seeds 20 \
        --wrong-seeds 5 --stages label_smoothing adamw callbacks &
    wait; python benchmarks/grading_power.py --train-seeds 20 --wrong-seeds 5 \
        --out docs/grading-power.md                          # trains nothing more
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import cifar_course  # noqa: E402,F401  (the torch backend first)


def deterministic_part() -> tuple[list[dict], float]:
    from wrong_answers import CATALOGUE

    from cifar_course.grading import checks

    rows, start = [], time.perf_counter()
    for lesson, mistake, check, arguments in CATALOGUE:
        try:
            getattr(checks, check)(**arguments())
            rejected, message = False, "accepted"
        except AssertionError as error:
            rejected, message = True, str(error).splitlines()[0][:110]
        rows.append({"lesson": lesson, "mistake": mistake, "check": check,
                     "rejected": rejected, "message": message})
    return rows, time.perf_counter() - start


def outside_probability(mean: float, std: float, low: float, high: float) -> float:
    """P(X < low or X > high) for X normal with this mean and standard deviation."""
    if std == 0:
        return 0.0 if low <= mean <= high else 1.0
    below = 0.5 * math.erfc((mean - low) / (std * math.sqrt(2)))
    above = 0.5 * math.erfc((high - mean) / (std * math.sqrt(2)))
    return below + above


def planned_runs(profile: str, stages, train_seeds: int, wrong_seeds: int, references) -> dict:
    """{(recipe, seed): [bands it is graded against]}: each stage's own recipe on fresh seeds
    (its band), and the previous stage's recipe on the first ``wrong_seeds`` of them (the
    stage's band: the stage without its technique). One training serves both, where the
    same recipe and seed are asked for twice."""
    from cifar_course.stages import STAGES, get_stage

    plan: dict = {}
    for name in stages:
        stage = get_stage(name)
        used = references["profiles"][profile]["stages"][stage.name]["seeds"]
        fresh = list(range(max(used) + 1, max(used) + 1 + max(train_seeds, wrong_seeds)))
        for seed in fresh[:train_seeds]:
            plan.setdefault((stage.name, seed), []).append(stage.name)
        if stage.number > 1:
            for seed in fresh[:wrong_seeds]:
                plan.setdefault((STAGES[stage.number - 2].name, seed), []).append(stage.name)
    return plan


@functools.cache  # a recipe's definition does not change while the script runs
def recipe_signature(recipe: str, profile: str) -> str:
    """What a trained run depends on besides its seed: the stage's recipe and the profile's
    settings (a changed recipe is trained again)."""
    import dataclasses
    import hashlib

    from cifar_course.profiles import get_profile
    from cifar_course.references.runner import profile_settings
    from cifar_course.stages import get_stage

    settings = {"stage": dataclasses.asdict(get_stage(recipe)),
                "profile": profile_settings(get_profile(profile))}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def load_accuracies(path: Path | None, profile: str) -> dict:
    """{(recipe, seed): test accuracy} of the runs in a runs file trained under the
    recipe's current definition."""
    accuracies = {}
    if path is None or not path.exists():
        return accuracies
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        run = json.loads(line)
        if run["profile"] == profile and run["signature"] == recipe_signature(run["recipe"], profile):
            accuracies[(run["recipe"], run["seed"])] = run["accuracy"]
    return accuracies


def band_part(profile: str, stages, train_seeds: int, wrong_seeds: int,
              runs_file: Path | None = None, log=print) -> list[dict]:
    """Each stage's band, its normal-model false-rejection rate, and the verdicts of the
    trained runs. With ``runs_file`` (JSON lines) every run's test accuracy is appended as
    it lands and a run already there is not trained again: an interrupted measurement
    resumes, several processes (each with its own ``--stages``) can share the work, and
    runs are judged again when the references, and so the bands, change."""
    from cifar_course.grading.checks import check_test_accuracy
    from cifar_course.references import load_references, reference_band
    from cifar_course.stages import STAGES, get_stage
    from cifar_course.training import prepare_data, train_stage

    references = load_references()
    bands = {get_stage(n).name: reference_band(get_stage(n).name, profile, references=references)
             for n in stages}
    plan = planned_runs(profile, stages, train_seeds, wrong_seeds, references)
    data = prepare_data(profile) if plan else None
    done: dict = {}  # this process's runs (the only record without a runs file)
    for (recipe, seed), graded_by in plan.items():
        # Re-read each time: another process may have run it meanwhile.
        if (recipe, seed) in {**load_accuracies(runs_file, profile), **done}:
            continue
        result = train_stage(recipe, profile, seed=seed, data=data, verbose=0)
        accuracy = result.test["accuracy"]  # the test set predicted once, as the check does
        # The graded cell's own check decides as its band does on this accuracy: what lets
        # a stored accuracy be judged against this band's neighbour and against new bands.
        try:
            check_test_accuracy(result.model, graded_by[0], profile, data, references)
            passed = True
        except AssertionError:
            passed = False
        assert passed == bands[graded_by[0]].contains(accuracy), (graded_by[0], accuracy)
        done[(recipe, seed)] = accuracy
        if runs_file is not None:
            with open(runs_file, "a") as handle:
                handle.write(json.dumps({"profile": profile, "recipe": recipe, "seed": seed,
                                         "signature": recipe_signature(recipe, profile),
                                         "accuracy": accuracy,
                                         "train_seconds": round(result.train_seconds, 1)}) + "\n")
        log(f"{recipe} seed {seed}: accuracy {accuracy:.4f}; "
            + ", ".join(f"{b} band {'passed' if bands[b].contains(accuracy) else 'REJECTED'}"
                        for b in graded_by), flush=True)
    accuracies = {**load_accuracies(runs_file, profile), **done}
    rows = []
    for name in stages:
        stage = get_stage(name)
        band = bands[stage.name]
        row = {"stage": stage.name, "band": band,
               "estimated_frr": outside_probability(band.mean, band.std, band.low, band.high),
               "measured": [], "wrong": [], "previous_mean": None}
        if stage.number > 1:
            previous = references["profiles"][profile]["stages"].get(STAGES[stage.number - 2].name)
            row["previous_mean"] = previous["test_accuracy"]["mean"] if previous else None
        for (recipe, seed), graded_by in plan.items():
            if stage.name in graded_by and (recipe, seed) in accuracies:
                accuracy = accuracies[(recipe, seed)]
                row["measured" if recipe == stage.name else "wrong"].append(
                    (band.contains(accuracy), accuracy))
        rows.append(row)
    return rows


CHECKS_HEADING = "## Checks that need no training"
BANDS_HEADING = "## The accuracy bands"


def markdown(deterministic, seconds, bands, profile: str, command: str) -> str:
    return "\n".join([
        "# Grading power: how often the checks reject a wrong answer, and a correct one",
        "",
        f"Written by `{command}` (`benchmarks/grading_power.py`); do not edit by hand.",
        "", checks_markdown(deterministic, seconds), bands_markdown(bands, profile)])


def with_checks_refreshed(page: str, deterministic, seconds) -> str:
    """A published page with Part 1 measured again and Part 2 (the trained bands) kept."""
    if CHECKS_HEADING not in page or BANDS_HEADING not in page:
        raise SystemExit("--checks-only refreshes Part 1 of a page this script wrote: "
                         "the --out file has no such parts")
    start, end = page.index(CHECKS_HEADING), page.index(BANDS_HEADING)
    return page[:start] + checks_markdown(deterministic, seconds) + "\n" + page[end:]


def checks_markdown(deterministic, seconds) -> str:
    """Part 1: every catalogued wrong answer against its check."""
    from collections import Counter

    lessons = Counter(r["lesson"] for r in deterministic)
    rejected = Counter(r["lesson"] for r in deterministic if r["rejected"])
    lines = [
        CHECKS_HEADING,
        "",
        "Each catalogued wrong answer (`tests/wrong_answers.py`, kept as tests in "
        "`tests/test_wrong_answers.py`) against the check its lesson grades it with. These "
        "checks fix their own inputs, so one run decides each for good; a correct answer "
        "passes them in every solution notebook's smoke run (`tests/test_lessons.py`), "
        f"their false-rejection rate is 0. The {len(deterministic)} runs took {seconds:.1f} s.",
        "",
        "| lesson | wrong answers | rejected |",
        "|---|---|---|",
    ]
    lines += [f"| {lesson} | {n} | {rejected[lesson]} ({rejected[lesson] / n:.0%}) |"
              for lesson, n in sorted(lessons.items())]
    lines += ["", "| lesson | mistake | check | verdict |", "|---|---|---|---|"]
    lines += [f"| {r['lesson'][:2]} | {r['mistake']} | `{r['check']}` | "
              f"{'rejected: ' + r['message'].replace('|', '/') if r['rejected'] else '**accepted**'} |"
              for r in deterministic]
    return "\n".join(lines) + "\n"


def bands_markdown(bands, profile: str) -> str:
    """Part 2: each stage's accuracy band, estimated and measured on trained runs."""
    lines = [
        f"{BANDS_HEADING}, profile `{profile}`", "",
        "A correct model fails its band when its test accuracy falls outside mean +- "
        "half-width. With sigma the band's seed spread (the larger of the stage's own and the "
        "profile's pooled standard deviation), a normal model of the seeds puts that "
        "probability at P(|Z| > half-width / sigma). Measured rates count runs on seeds the "
        "references did not use: the stage's own recipe on fresh seeds (a correct answer), and "
        "the previous stage's recipe on the first of them (the stage without its technique). "
        "The fresh seeds' own spread gives a second estimate: P(outside the band) for a normal "
        "model with their mean and standard deviation.",
        "",
        "| stage | band | sigma | estimated false rejection | correct answer: fresh seeds' "
        "accuracy | rejected (measured) | false rejection, from their spread | previous "
        "stage's mean | without its technique, rejected (measured) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in bands:
        band = row["band"]
        measured = (f"{sum(not ok for ok, _ in row['measured'])} of {len(row['measured'])}"
                    if row["measured"] else "not measured")
        spread, fresh_frr = "-", "-"
        if len(row["measured"]) > 1:
            values = [accuracy for _, accuracy in row["measured"]]
            mean, std = statistics.mean(values), statistics.stdev(values)
            spread = f"{mean:.4f} +- {std:.4f}"
            fresh_frr = f"{outside_probability(mean, std, band.low, band.high):.2%}"
        wrong = (f"{sum(not ok for ok, _ in row['wrong'])} of {len(row['wrong'])}"
                 if row["wrong"] else ("-" if band.stage == "baseline" else "not measured"))
        previous = row["previous_mean"]
        inside = ("-" if previous is None else
                  f"{previous:.4f} ({'inside' if band.contains(previous) else 'outside'})")
        lines.append(f"| {band.stage} | [{band.low:.4f}, {band.high:.4f}] | {band.std:.4f} | "
                     f"{row['estimated_frr']:.2%} | {spread} | {measured} | {fresh_frr} | "
                     f"{inside} | {wrong} |")
    lines += [
        "",
        "Where the previous stage's mean lies inside a stage's band, a model trained without "
        "the stage's technique passes the accuracy check about as often as a correct one: in "
        "this budget accuracy cannot tell them apart ([ablation-grade.md](ablation-grade.md)). "
        "Such a model is rejected by the structure and mechanism checks of Part 1 (a missing "
        "layer, loss, optimiser or callback), not by its accuracy.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="grade")
    parser.add_argument("--stages", nargs="+", help="stages whose bands to train (default: all)")
    parser.add_argument("--train-seeds", type=int, default=0,
                        help="new seeds to train each stage's correct recipe on")
    parser.add_argument("--wrong-seeds", type=int, default=0,
                        help="seeds to train each stage without its technique on")
    parser.add_argument("--runs", type=Path, default=None,
                        help="JSON-lines file of the trained runs, appended as they land and "
                             "read back, so an interrupted measurement resumes (default: "
                             "grading-power-<profile>.jsonl in the course's cache)")
    parser.add_argument("--out", help="write the markdown table here (else print it)")
    parser.add_argument("--checks-only", action="store_true",
                        help="measure Part 1 again (seconds) and rewrite it in --out, keeping "
                             "Part 2, the trained bands (hours), as it was measured")
    args = parser.parse_args(argv)
    from cifar_course.stages import STAGES
    # The package set torch's threads from CIFAR_COURSE_THREADS when imported (to share
    # the cores between processes).
    deterministic, seconds = deterministic_part()
    if args.checks_only:
        if not args.out or not Path(args.out).exists():
            raise SystemExit("--checks-only needs --out: the published page whose Part 1 to refresh")
        Path(args.out).write_text(with_checks_refreshed(Path(args.out).read_text(),
                                                        deterministic, seconds))
        print(f"refreshed Part 1 of {args.out}; Part 2 kept as it was measured")
        return report_accepted(deterministic)
    stages = args.stages or [s.name for s in STAGES]
    if args.runs is None:
        from cifar_course.data.loading import cache_dir

        args.runs = cache_dir() / f"grading-power-{args.profile}.jsonl"
    args.runs.parent.mkdir(parents=True, exist_ok=True)
    bands = band_part(args.profile, stages, args.train_seeds, args.wrong_seeds, args.runs)
    command = "python benchmarks/grading_power.py " + " ".join(argv if argv is not None
                                                               else sys.argv[1:])
    text = markdown(deterministic, seconds, bands, args.profile, command.strip())
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text)
    return report_accepted(deterministic)


def report_accepted(deterministic) -> int:
    """1, with each one named, if a catalogued wrong answer was accepted."""
    accepted = [r for r in deterministic if not r["rejected"]]
    for row in accepted:
        print(f"ACCEPTED: {row['lesson']}: {row['mistake']} ({row['check']})", file=sys.stderr)
    return 1 if accepted else 0


if __name__ == "__main__":
    sys.exit(main())
