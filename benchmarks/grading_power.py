"""How often the graded checks reject a wrong answer, and a correct one: docs/grading-power.md.

    python benchmarks/grading_power.py                       # the checks that need no training
    python benchmarks/grading_power.py --train-seeds 20 --wrong-seeds 5 --stages baseline
                                                             # also the accuracy bands, trained
    python benchmarks/grading_power.py --out docs/grading-power.md

Part 1, every catalogued wrong answer (tests/wrong_answers.py) against the
check that grades it. These checks take no training and fix their own inputs,
so one run decides each for good. Part 2, the accuracy band of each stage in
the grading profile: its false-rejection rate estimated from the references'
spread (a normal model of the seeds), and, with ``--train-seeds``, measured by
training the stage's own recipe on new seeds (seeds above those in the
references, so no run judges the band it helped to make). With
``--wrong-seeds``, each stage is also trained without its technique (the
previous stage's recipe) and graded against the stage's band: what only
training can reveal.
"""

from __future__ import annotations

import argparse
import math
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


def normal_tail(k: float) -> float:
    """P(|Z| > k) for a standard normal Z."""
    return math.erfc(k / math.sqrt(2))


def band_part(profile: str, stages, train_seeds: int, wrong_seeds: int, log=print) -> list[dict]:
    from cifar_course.grading.checks import check_test_accuracy
    from cifar_course.references import load_references, reference_band
    from cifar_course.stages import STAGES, get_stage
    from cifar_course.training import prepare_data, train_stage

    references = load_references()
    data = prepare_data(profile) if (train_seeds or wrong_seeds) else None
    rows = []
    for name in stages:
        stage = get_stage(name)
        band = reference_band(stage.name, profile, references=references)
        k = (band.high - band.mean) / band.std if band.std else math.inf
        row = {"stage": stage.name, "band": band, "estimated_frr": normal_tail(k),
               "measured": [], "wrong": []}
        used = references["profiles"][profile]["stages"][stage.name]["seeds"]
        fresh = [s for s in range(max(used) + 1, max(used) + 1 + train_seeds)]

        def graded(recipe, seed):
            result = train_stage(recipe, profile, seed=seed, data=data, verbose=0)
            try:
                check_test_accuracy(result.model, stage.name, profile, data, references)
                return True, result.test["accuracy"]
            except AssertionError:
                return False, result.test["accuracy"]

        for seed in fresh:
            row["measured"].append(graded(stage, seed))
            log(f"{stage.name} seed {seed}: correct answer "
                f"{'passed' if row['measured'][-1][0] else 'REJECTED'} "
                f"({row['measured'][-1][1]:.4f})", flush=True)
        if stage.number > 1:
            without = STAGES[stage.number - 2]
            for seed in fresh[:wrong_seeds] or range(wrong_seeds):
                row["wrong"].append(graded(without, seed))
                log(f"{stage.name} seed {seed}: without its technique "
                    f"{'passed' if row['wrong'][-1][0] else 'rejected'} "
                    f"({row['wrong'][-1][1]:.4f})", flush=True)
        rows.append(row)
    return rows


def markdown(deterministic, seconds, bands, profile: str, command: str) -> str:
    from collections import Counter

    lessons = Counter(r["lesson"] for r in deterministic)
    rejected = Counter(r["lesson"] for r in deterministic if r["rejected"])
    lines = [
        "# Grading power: how often the checks reject a wrong answer, and a correct one",
        "",
        f"Written by `{command}` (`benchmarks/grading_power.py`); do not edit by hand.",
        "",
        "## Checks that need no training",
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
    lines += [
        "", f"## The accuracy bands, profile `{profile}`", "",
        "A correct model fails its band when its test accuracy falls outside mean +- "
        "half-width. With sigma the band's seed spread (the larger of the stage's own and the "
        "profile's pooled standard deviation), a normal model of the seeds puts that "
        "probability at P(|Z| > half-width / sigma). Measured rates count runs on seeds the "
        "references did not use.",
        "",
        "| stage | band | sigma | estimated false rejection | correct answer rejected "
        "(measured) | previous stage's mean | without its technique, rejected (measured) |",
        "|---|---|---|---|---|---|---|",
    ]
    means = {row["band"].stage: row["band"].mean for row in bands}
    for row in bands:
        band = row["band"]
        measured = (f"{sum(not ok for ok, _ in row['measured'])} of {len(row['measured'])}"
                    if row["measured"] else "not measured")
        wrong = (f"{sum(not ok for ok, _ in row['wrong'])} of {len(row['wrong'])}"
                 if row["wrong"] else ("-" if band.stage == "baseline" else "not measured"))
        previous = list(means)[list(means).index(band.stage) - 1] if band.stage != "baseline" else None
        inside = ("-" if previous is None or previous not in means else
                  f"{means[previous]:.4f} ({'inside' if band.contains(means[previous]) else 'outside'})")
        lines.append(f"| {band.stage} | [{band.low:.4f}, {band.high:.4f}] | {band.std:.4f} | "
                     f"{row['estimated_frr']:.2%} | {measured} | {inside} | {wrong} |")
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
    parser.add_argument("--out", help="write the markdown table here (else print it)")
    args = parser.parse_args(argv)
    from cifar_course.stages import STAGES

    deterministic, seconds = deterministic_part()
    stages = args.stages or [s.name for s in STAGES]
    bands = band_part(args.profile, stages, args.train_seeds, args.wrong_seeds)
    command = "python benchmarks/grading_power.py " + " ".join(argv if argv is not None
                                                               else sys.argv[1:])
    text = markdown(deterministic, seconds, bands, args.profile, command.strip())
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text)
    accepted = [r for r in deterministic if not r["rejected"]]
    for row in accepted:
        print(f"ACCEPTED: {row['lesson']}: {row['mistake']} ({row['check']})", file=sys.stderr)
    return 1 if accepted else 0


if __name__ == "__main__":
    sys.exit(main())
