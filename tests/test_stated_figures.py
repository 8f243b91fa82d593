"""Every training time the README and the command's help state is the references' own."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from notebooks import REPO

from cifar_course.references import training_time

README = " ".join((REPO / "README.md").read_text().split())


@pytest.mark.parametrize("profile, sentence", [
    ("grade", "| `grade` | {} | 10 | autograding: {time} a stage |"),
    ("quick", "| `quick` | {} | 40 | a CPU: {time} a stage |"),
    ("speedrun", "| `speedrun` | {} | 10 | the speedrun (lesson 09): {time} |"),
    ("full", "measured one stage and seed a run ({time} a stage's run)"),
    ("grade", "10 epochs, {time} a training"),
])
def test_the_readme_states_the_measured_training_times(profile, sentence):
    measured = training_time(profile)
    assert measured, f"no recorded runs in {profile}"
    pattern = re.escape(sentence.format("{}", time=measured)).replace(r"\{\}", ".*?")
    assert re.search(pattern, README), (
        f"the README should say {measured!r} for {profile} (the references' training times): "
        f"{sentence.format('...', time=measured)}")


def test_the_help_renders_the_times_from_the_references():
    done = subprocess.run([sys.executable, "-m", "cifar_course.cli", "--help"],
                          capture_output=True, text=True, check=True)
    text = " ".join(done.stdout.split())
    for profile in ("grade", "quick", "full"):
        assert training_time(profile) in text
    done = subprocess.run([sys.executable, "-m", "cifar_course.cli", "references", "--help"],
                          capture_output=True, text=True, check=True)
    assert f"{training_time('quick')} in quick" in " ".join(done.stdout.split())


def test_the_speedrun_sentence_states_the_measured_minutes_and_accuracy():
    from cifar_course.references import load_references

    stage = load_references()["profiles"]["speedrun"]["stages"]["speedrun"]
    minutes = round(stage["train_seconds"]["mean"] / 60)
    accuracy = stage["test_accuracy"]
    assert (f"{100 * accuracy['mean']:.2f}% +- {100 * accuracy['std']:.2f}% mean test accuracy over "
            f"{len(accuracy['values'])} seeds" in README)
    assert f"{minutes} minutes of training a run" in README


def test_the_profiles_describe_no_run_time_of_their_own():
    from cifar_course.profiles import PROFILES

    for profile in PROFILES.values():
        assert not re.search(r"\d+ ?(s|min|minutes|seconds)\b|a few minutes|seconds on a GPU",
                             profile.description), (profile.name, profile.description)


def test_every_figure_the_solutions_state_renders_from_the_references():
    import nbformat

    from cifar_course.references import load_references
    from cifar_course.references.figures import PLACEHOLDER, render_notebook

    references = load_references()
    placeholders = 0
    for path in sorted((REPO / "solutions").glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        placeholders += sum(len(PLACEHOLDER.findall(c.source)) for c in notebook.cells
                            if c.cell_type == "markdown")
        rendered = render_notebook(notebook, references, path.name)
        for cell in rendered.cells:
            if cell.cell_type == "markdown":
                assert "{{" not in cell.source, (path.name, cell.source[:200])
    assert placeholders >= 20, "the lessons state their measured figures through placeholders"


def test_a_figure_is_the_references_own():
    from cifar_course.references import load_references
    from cifar_course.references.figures import render

    references = load_references()
    stages = references["profiles"]["quick"]["stages"]
    accuracy = stages["augmentation"]["test_accuracy"]
    assert render("{{ quick augmentation test_accuracy }}", references) == (
        f"{100 * accuracy['mean']:.2f}% ± {100 * accuracy['std']:.2f} ({len(accuracy['values'])} seeds)")
    assert render("{{ quick callbacks epochs_run values }}", references) == ", ".join(
        str(v) for v in stages["callbacks"]["epochs_run"]["values"])
    total = sum(stages[s]["train_seconds"]["mean"] for s in ("baseline", "augmentation"))
    assert render("{{ quick baseline+augmentation train_seconds total }}", references) == (
        f"{total / 60:.0f} minutes")
    size = references["profiles"]["quick"]["signature"]["profile"]["train_size"]
    assert render("{{ quick profile train_size }}", references) == f"{size:,}"


@pytest.mark.parametrize("text, message", [
    ("{{ quick nothing test_accuracy }}", "no test_accuracy for quick/nothing"),
    ("{{ quick baseline test_accuracy median }}", "not a statistic"),
    ("{{ quick baseline+augmentation test_accuracy }}", "several stages need the statistic 'total'"),
])
def test_a_figure_the_references_lack_stops_the_build_saying_where(text, message):
    from cifar_course.references import load_references
    from cifar_course.references.figures import render

    with pytest.raises(KeyError, match=message) as raised:
        render(f"see {text}", load_references(), "solutions/x.ipynb, cell 3")
    assert "solutions/x.ipynb, cell 3" in str(raised.value)


def test_the_readme_lesson_table_states_each_lessons_points():
    """The README's table of lessons gives each notebook's points as its cells hold them:
    autograded, then written answers (nbgrader task cells)."""
    import nbformat

    from notebooks import SOLUTIONS, nbgrader_meta

    table = dict(re.findall(r"^\| `(\d\d_\w+)` \|.*\| ([\d +]+) \|$",
                            (REPO / "README.md").read_text(), re.M))
    lessons = sorted(p.stem for p in SOLUTIONS.glob("*.ipynb"))
    assert sorted(table) == lessons
    for lesson in lessons:
        meta = [nbgrader_meta(c) for c in nbformat.read(SOLUTIONS / f"{lesson}.ipynb", 4).cells]
        auto = sum(m.get("points", 0) for m in meta if m.get("grade"))
        written = sum(m.get("points", 0) for m in meta if m.get("task"))
        assert table[lesson].strip() == (f"{auto} + {written}" if written else str(auto)), lesson
