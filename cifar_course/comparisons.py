"""What a lesson sets a run beside: the references (``references.json``) and the runs the
lessons saved in this folder (``runs/<profile>/<run>/``, one ``RunFolder`` each)."""

from __future__ import annotations

from pathlib import Path

from .profiles import Profile, get_profile
from .recipes import SPEEDRUN_RECIPE
from .references import load_references
from .run_folder import RunFolder
from .stages import STAGES

RUNS_DIR = Path("runs")


def run_dir(run: str, profile: Profile) -> Path:
    """Where a lesson saves ``run`` (a stage's name, or the speedrun's) in ``profile``:
    lessons run in one folder share it, so a later lesson finds an earlier one's run."""
    return RUNS_DIR / profile.name / run


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
        run = RunFolder(run_dir(stage.name, profile)).metrics() or {}
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


def _number(metric: str, value) -> str:
    if value is None:
        return "-"
    if metric == "test_accuracy":
        return f"{100 * value:.2f}"
    return f"{value:.3g}" if metric == "epochs_run" else f"{value:.3f}"


def _reference(metric: str, cell: dict) -> str:
    """A reference's mean, and its spread over seeds where it has one."""
    text = _number(metric, cell["mean"])
    if cell["std"] is not None:
        text += f" +- {_number(metric, cell['std'])}"
    return text


# The budget whose references show what a technique does with all the data (a GPU's).
FULL_PROFILE = "full"


def comparison_table(stages, profile: Profile) -> str:
    """``comparison_rows`` as text: this run beside the reference (mean +- std over seeds),
    and, in a smaller budget than the full profile's, the same stages at full data."""
    heading = f"{'':<26}" + "".join(f"  {title:^24}" for _, title in COMPARED_METRICS)
    lines = [heading.rstrip(),
             f"{'stage':<26}" + f"  {'this run':>8}  {'reference':>14}" * len(COMPARED_METRICS)
             + "  seeds"]
    for row in comparison_rows(stages, profile):
        cells = "".join(f"  {_number(m, row[m]['this_run']):>8}  {_reference(m, row[m]):>14}"
                        for m, _ in COMPARED_METRICS)
        lines.append(f"{row['title']:<26}{cells}  {row['seeds'] or '-':>5}")
    if profile.synthetic:
        lines.append("(smoke profile: synthetic images, no references: these figures measure nothing)")
    else:
        lines.append(f"(reference: mean +- std over the seeds of the {profile.name} profile; "
                     f"one seed has no spread; cifar-course references show)")
    if profile.name != FULL_PROFILE:
        lines += ["", at_full_data(stages)]
    return "\n".join(lines)


def at_full_data(stages) -> str:
    """The stages' references in the full profile: what each technique does with all the
    data and the epochs it needs, to set beside what it does in a smaller budget."""
    full = get_profile(FULL_PROFILE)
    lines = [f"The same stages at full data, in the {full.name} profile's references "
             f"({full.description[0].lower()}{full.description[1:].rstrip('.')}):",
             f"{'stage':<26}  {'test accuracy (%)':>18}  {'epochs':>12}  seeds"]
    for row in comparison_rows(stages, full):
        lines.append(f"{row['title']:<26}  {_reference('test_accuracy', row['test_accuracy']):>18}  "
                     f"{_reference('epochs_run', row['epochs_run']):>12}  {row['seeds'] or '-':>5}")
    return "\n".join(lines)


def speedrun_table(profile: Profile) -> str:
    """The speedrun's references beside the course's final stage, measured as they were."""
    references = load_references()["profiles"]
    course = next((name for name, value in SPEEDRUN_RECIPE.PROFILES.items() if value == profile.name), None)
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
