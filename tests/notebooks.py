"""Run a notebook in a fresh kernel and report what its cells raised."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat

from cifar_course.grading.lessons import execute_notebook
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
        from cifar_course.grading.nbgrader_ext import lost_points

        return lost_points(self.notebook)

    def graded_errors(self) -> dict:
        return {nbgrader_meta(self.notebook.cells[i])["grade_id"]: error
                for i, error in self.errors.items() if nbgrader_meta(self.notebook.cells[i]).get("grade")}


def execute(path: Path, workdir: Path, profile: str, timeout: int = 900) -> Execution:
    """Execute ``path`` with ``CIFAR_COURSE_PROFILE=profile`` in ``workdir``, errors allowed."""
    return Execution(*execute_notebook(path, workdir, profile, timeout))
