"""The lessons: one source (solutions/), generated student versions (lessons/), both runnable."""

from __future__ import annotations

import json
import os
import re

import nbformat
import pytest

from benchmark_scripts import load_benchmark
from notebooks import LESSON_IDS, LESSONS, SOLUTIONS, execute, graded_cells, nbgrader_meta

nbgrader = pytest.importorskip("nbgrader", reason="the lessons' tests need nbgrader: pip install -e '.[dev]'")
pytestmark = pytest.mark.long

ALL_NOTEBOOKS = sorted(SOLUTIONS.glob("*.ipynb")) + sorted(LESSONS.glob("*.ipynb"))


def test_ten_lessons_on_each_side():
    assert sorted(p.stem for p in SOLUTIONS.glob("*.ipynb")) == LESSON_IDS
    assert sorted(p.stem for p in LESSONS.glob("*.ipynb")) == LESSON_IDS


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert not cell.outputs, f"{path.name} cell {index} has outputs: clear them"
            assert cell.execution_count is None, f"{path.name} cell {index} has an execution count"


@pytest.mark.parametrize("lesson", LESSON_IDS)
def test_graded_cells_carry_nbgrader_metadata(lesson):
    notebook = nbformat.read(SOLUTIONS / f"{lesson}.ipynb", as_version=4)
    graded = graded_cells(notebook)
    assert graded, f"{lesson} has no graded cell"
    ids = [nbgrader_meta(c)["grade_id"] for c in notebook.cells if nbgrader_meta(c)]
    assert len(ids) == len(set(ids)), f"{lesson}: duplicate grade ids"
    for cell in graded:
        meta = nbgrader_meta(cell)
        assert meta["points"] > 0 and meta["locked"], meta
    for cell in notebook.cells:
        if "### BEGIN SOLUTION" in cell.source:
            assert nbgrader_meta(cell).get("solution"), f"{lesson}: solution region outside a solution cell"
        if "### BEGIN HIDDEN TESTS" in cell.source:
            assert nbgrader_meta(cell).get("grade"), f"{lesson}: hidden tests outside a graded cell"
    total = sum(nbgrader_meta(c)["points"] for c in graded)
    assert 5 <= total <= 10, f"{lesson}: {total} points"


@pytest.mark.parametrize("lesson", LESSON_IDS)
def test_lessons_show_no_solution_and_no_hidden_test(lesson):
    solution = nbformat.read(SOLUTIONS / f"{lesson}.ipynb", as_version=4)
    student = (LESSONS / f"{lesson}.ipynb").read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "run_isolated",
                   "references_sha256"):
        assert marker not in student, f"lessons/{lesson}.ipynb contains {marker!r}"
    for cell in solution.cells:
        for region in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell.source, re.S):
            for line in region.strip().splitlines():
                if len(line.strip()) > 25:
                    assert json.dumps(line.strip())[1:-1] not in student, (
                        f"solution line leaked into lessons/{lesson}.ipynb: {line.strip()!r}")
    assert "raise NotImplementedError()" in student


def test_lessons_are_generated_from_solutions(tmp_path):
    from cifar_course.grading.lessons import build_lessons

    for path in build_lessons(SOLUTIONS, tmp_path):
        committed = LESSONS / path.name
        assert nbformat.read(path, as_version=4) == nbformat.read(committed, as_version=4), (
            f"lessons/{path.name} is out of sync with solutions/: run `cifar-course lessons build`")


def test_a_release_pins_the_shipped_references_and_building_leaves_solutions_alone(tmp_path):
    import hashlib

    from cifar_course.data.sources import file_digest
    from cifar_course.grading.contract import UNPINNED
    from cifar_course.grading.lessons import build_lessons, pinned_digests, stage_course
    from cifar_course.references import shipped_references_path

    assert pinned_digests(SOLUTIONS) == {UNPINNED}, (
        "solutions/ pin no digest: a release pins the installed references.json")
    stage_course(SOLUTIONS, tmp_path / "course")
    assert pinned_digests(tmp_path / "course" / "source") == {file_digest(shipped_references_path())}
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in SOLUTIONS.glob("*.ipynb")}
    build_lessons(SOLUTIONS, tmp_path / "lessons")
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in SOLUTIONS.glob("*.ipynb")}
    assert before == after


@pytest.mark.parametrize("lesson", LESSON_IDS)
def test_opens_in_colab_only_from_the_named_repository_and_sets_the_backend_first(lesson):
    from cifar_course.grading.lessons import course_repository

    notebook = nbformat.read(LESSONS / f"{lesson}.ipynb", as_version=4)
    repository = course_repository(SOLUTIONS)
    if repository is None:  # no address named: no badge, and no placeholder anywhere
        assert "colab.research.google.com/github/" not in json.dumps(notebook)
    else:
        owner_name, branch = repository
        assert (f"colab.research.google.com/github/{owner_name}/blob/{branch}/lessons/"
                f"{lesson}.ipynb") in notebook.cells[0].source
    setup = notebook.cells[1].source
    assert setup.index('os.environ["KERAS_BACKEND"] = "torch"') < setup.index("from cifar_course")
    assert "pip" in setup and "PROFILE = None" in setup


@pytest.mark.parametrize("lesson", LESSON_IDS)
def test_solution_runs_and_passes_its_tests_in_smoke(lesson, tmp_path):
    run = execute(SOLUTIONS / f"{lesson}.ipynb", tmp_path, "smoke")
    assert not run.errors, f"solutions/{lesson}: cells raised {run.errors}"
    assert graded_cells(run.notebook)
    assert not run.lost_points(), f"solutions/{lesson}: nbgrader would take points {run.lost_points()}"


@pytest.mark.parametrize("lesson", LESSON_IDS)
def test_student_version_fails_its_graded_cells_cleanly(lesson, tmp_path):
    run = execute(LESSONS / f"{lesson}.ipynb", tmp_path, "smoke")
    failed = run.graded_errors()
    graded = [nbgrader_meta(c)["grade_id"] for c in graded_cells(run.notebook)]
    assert sorted(failed) == sorted(graded), f"graded cells that passed untouched: {set(graded) - set(failed)}"
    for grade_id, (ename, evalue) in failed.items():
        assert ename in ("NotImplementedError", "AssertionError"), (grade_id, ename, evalue)


def test_profile_reaches_the_kernel_and_not_this_process(tmp_path, monkeypatch):
    monkeypatch.setenv("CIFAR_COURSE_PROFILE", "quick")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os\nprint(os.environ['CIFAR_COURSE_PROFILE'])")])
    nbformat.write(notebook, tmp_path / "probe.ipynb")
    run = execute(tmp_path / "probe.ipynb", tmp_path, "smoke")
    assert not run.errors
    assert run.notebook.cells[0].outputs[0]["text"].strip() == "smoke"
    assert os.environ["CIFAR_COURSE_PROFILE"] == "quick"


def test_lesson_04_draws_the_stage_3_model_that_lesson_03_saved(tmp_path):
    """Lessons run one after another in one folder share their runs (``runs/``)."""
    stage_3 = execute(SOLUTIONS / "03_dropout_weight_decay.ipynb", tmp_path, "smoke")
    assert not stage_3.errors
    run = execute(SOLUTIONS / "04_label_smoothing.ipynb", tmp_path, "smoke")
    assert not run.errors
    assert (tmp_path / "runs" / "smoke" / "dropout_weight_decay" / "model.keras").exists()
    # Outputs are text only: figures do not display under MPLBACKEND=Agg, as in CI.
    diagram = next(c for c in run.notebook.cells if "plot_reliability_diagram(" in c.source)
    text = "".join(o.get("text", "") for o in diagram.outputs)
    assert "No stage 3 model" not in text, text


def test_technique_lessons_explain_ask_and_have_the_student_build():
    """Lessons 01-06: at least 600 words, 8 lines the student writes, 2 questions (issue 14)."""
    lesson_stats = load_benchmark("lesson_stats")
    for lesson in LESSON_IDS[1:7]:
        row = lesson_stats.stats(SOLUTIONS / f"{lesson}.ipynb")
        assert row["words"] >= 600 and row["student lines"] >= 8 and row["questions"] >= 2, row


def test_lesson_01_states_the_quick_budget_and_the_networks_size_as_they_are():
    from cifar_course.models import build_baseline_cnn
    from cifar_course.profiles import get_profile

    text = " ".join(c.source for c in
                    nbformat.read(SOLUTIONS / "01_baseline_cnn.ipynb", as_version=4).cells)
    stated = re.search(r"quick profile trains on ([\d,]+) images for (\d+) epochs; this network "
                       r"has about ([\d,]+) weights", " ".join(text.split()))
    assert stated, "lesson 01 no longer states the budget and the size: update this test"
    images, epochs, weights = (int(g.replace(",", "")) for g in stated.groups())
    quick = get_profile("quick")
    assert (images, epochs) == (quick.train_size, quick.epochs)
    assert abs(weights - build_baseline_cnn().count_params()) <= 0.02 * weights


def test_the_colab_badge_comes_from_the_repository_pyproject_names(tmp_path):
    """An instructor names the course's GitHub repository once, in pyproject.toml; the build
    gives every lesson a badge to it, and refuses an address Colab cannot open."""
    from cifar_course.grading.lessons import RepositoryError, course_repository, stage_course

    solutions = tmp_path / "solutions"
    solutions.mkdir()
    (solutions / "01_baseline_cnn.ipynb").write_bytes((SOLUTIONS / "01_baseline_cnn.ipynb").read_bytes())
    assert course_repository(solutions) is None  # no pyproject.toml: no badge
    pyproject = tmp_path / "pyproject.toml"
    for address, want in [("https://github.com/ada/cnn-course", ("ada/cnn-course", "main")),
                          ("https://github.com/ada/cnn-course.git", ("ada/cnn-course", "main")),
                          ("https://github.com/ada/cnn-course/tree/spring-2027",
                           ("ada/cnn-course", "spring-2027"))]:
        pyproject.write_text(f'[project]\nname = "x"\n[project.urls]\nRepository = "{address}"\n')
        assert course_repository(solutions) == want
    stage_course(solutions, tmp_path / "course")
    staged = nbformat.read(tmp_path / "course" / "source" / "01_baseline_cnn" / "01_baseline_cnn.ipynb",
                           as_version=4)
    title, blank, badge = staged.cells[0].source.split("\n")[:3]
    assert title.startswith("# Lesson 1") and blank == ""
    assert badge.endswith("(https://colab.research.google.com/github/ada/cnn-course/blob/"
                          "spring-2027/lessons/01_baseline_cnn.ipynb)")
    pyproject.write_text('[project.urls]\nRepository = "https://gitlab.com/ada/cnn-course"\n')
    with pytest.raises(RepositoryError, match="Colab opens notebooks from GitHub"):
        course_repository(solutions)
