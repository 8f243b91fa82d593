"""Helpers for the tests and benchmarks (never shipped): run a notebook in a fresh kernel
and report what its cells raised, fill a released notebook with the solutions, and say
which test cells nbgrader would not give full points."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import nbformat

from cifar_course.config import PROFILE_ENV

from cifar_course.grading.lessons import nbgrader_metadata as nbgrader_meta

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
LESSONS = REPO / "lessons"
LESSON_IDS = ["00_setup_and_data", "01_baseline_cnn", "02_data_augmentation",
              "03_dropout_weight_decay", "04_label_smoothing", "05_adamw", "06_callbacks",
              "07_evaluation", "08_capstone", "09_speedrun"]


def graded_cells(notebook) -> list:
    return [c for c in notebook.cells if nbgrader_meta(c).get("grade")]


@dataclass
class Execution:
    notebook: nbformat.NotebookNode
    errors: dict  # cell index -> (ename, evalue)

    def lost_points(self) -> dict:
        """grade_id -> (score, max) for each test cell the course's autograde would not give
        full points."""
        return lost_points(self.notebook)

    def graded_errors(self) -> dict:
        return {nbgrader_meta(self.notebook.cells[i])["grade_id"]: error
                for i, error in self.errors.items() if nbgrader_meta(self.notebook.cells[i]).get("grade")}


def execute(path: Path, workdir: Path, profile: str, timeout: int = 900) -> Execution:
    """Execute ``path`` with ``CIFAR_COURSE_PROFILE=profile`` in ``workdir``, errors allowed."""
    return Execution(*execute_notebook(path, workdir, profile, timeout))


def fill_in_solutions(released, solution) -> nbformat.NotebookNode:
    """A correct submission: the released notebook with the solutions typed into its answer cells.

    For trying the grader (tests, benchmarks, an instructor's dry run).
    """
    released = nbformat.read(released, as_version=4) if isinstance(released, (str, Path)) else released
    solution = nbformat.read(solution, as_version=4) if isinstance(solution, (str, Path)) else solution
    answers = {nbgrader_meta(c)["grade_id"]: c.source for c in solution.cells
               if nbgrader_meta(c).get("solution")}
    for cell in released.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in answers:
            cell.source = "\n".join(line for line in answers[grade_id].splitlines()
                                    if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
    return released


def course_to_release(root: Path, lessons: list[str], course: str = "autograder") -> tuple[Path, Path]:
    """``root/solutions`` holding ``lessons``' solutions and ``root/<course>`` holding the
    course's nbgrader_config.py: what an instructor has before ``grade release``."""
    import shutil

    solutions = root / "solutions"
    solutions.mkdir()
    for lesson in lessons:
        shutil.copy(SOLUTIONS / f"{lesson}.ipynb", solutions)
    (root / course).mkdir()
    shutil.copy(REPO / "autograder" / "nbgrader_config.py", root / course)
    return solutions, root / course


def released_and_filled_in(lesson: str, course: Path) -> nbformat.NotebookNode:
    """A correct submission of ``lesson`` as released in ``course``."""
    return fill_in_solutions(course / "release" / lesson / f"{lesson}.ipynb",
                             SOLUTIONS / f"{lesson}.ipynb")


def insert_after_answers(notebook, source: str) -> nbformat.NotebookNode:
    """A student's extra cell, right after the last answer cell."""
    last = max(i for i, c in enumerate(notebook.cells) if nbgrader_meta(c).get("solution"))
    notebook.cells.insert(last + 1, nbformat.v4.new_code_cell(source))
    return notebook


def write_submission(notebook, folder: Path, lesson: str) -> Path:
    """``notebook`` as a student's upload: ``folder/<lesson>/<lesson>.ipynb``."""
    path = folder / lesson / f"{lesson}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def execute_notebook(path: str | Path, workdir: str | Path, profile: str,
                     timeout: int = 900) -> tuple[nbformat.NotebookNode, dict]:
    """Run a notebook in a fresh kernel, in ``workdir``, in ``profile``; errors do not stop it.

    Returns the executed notebook and ``{cell index: (error name, message)}``.
    """
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    # The profile goes to the kernel's own environment, never into this
    # process's: runs in threads, or a caller's own setting, stay untouched.
    NotebookClient(notebook, timeout=timeout, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(workdir)}}).execute(
        env={**os.environ, PROFILE_ENV: profile})
    errors = {index: (output.ename, output.evalue)
              for index, cell in enumerate(notebook.cells)
              for output in cell.get("outputs", []) if output.output_type == "error"}
    return notebook, errors


def lost_points(notebook) -> dict:
    """grade_id -> (score, max points) for each test cell of an executed notebook that the
    course's autograde would not give full points (nbgrader's rule after the steps above)."""
    from copy import deepcopy

    from nbgrader.utils import determine_grade, is_grade, is_solution

    from cifar_course.grading.nbgrader_ext import WarningsAreNotFailures

    lost = {}
    for cell in deepcopy(notebook).cells:
        if cell.cell_type != "code" or not is_grade(cell) or is_solution(cell):
            continue
        WarningsAreNotFailures().preprocess_cell(cell, {}, 0)
        score, maximum = determine_grade(cell)
        if score != maximum:
            lost[cell.metadata.nbgrader["grade_id"]] = (score, maximum)
    return lost
