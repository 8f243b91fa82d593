"""Per lesson: words of explanation, lines the student writes, questions, points.

    python benchmarks/lesson_stats.py [solutions/]

Words: the markdown cells' words (marking schemes left out, as the student
sees them). Student lines: non-empty lines inside the solution regions. Questions:
nbgrader task cells (written answers, graded by hand). Points: autograded test
cells, then the questions'. Habits: the practitioner's habits (issue 35) the lesson
grades, known by the checks its hidden tests call or the questions it asks.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

SCHEME = re.compile(r"=== BEGIN MARK SCHEME ===.*?=== END MARK SCHEME ===", re.S)
SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
CHECK = re.compile(r"run_isolated\(\s*[\"'](check_\w+)")
# A habit -> the checks that grade it, or the questions (grade ids) that do.
HABITS = {
    "sanity checks": {"check_initial_loss", "check_overfit_one_batch"},
    "derived gradient": {"check_numerical_gradient", "check_cross_entropy_gradient"},
    "a look inside": {"check_class_activation_map"},
    "a sweep with its spread": {"check_sweep"},
    "an open design choice": {"explain_my_change"},
}


def stats(path: Path) -> dict:
    notebook = nbformat.read(path, as_version=4)
    meta = [c.metadata.get("nbgrader", {}) for c in notebook.cells]
    words = sum(len(SCHEME.sub("", c.source).split()) for c in notebook.cells
                if c.cell_type == "markdown")
    lines = sum(len([l for l in region.splitlines() if l.strip()])
                for c in notebook.cells for region in SOLUTION.findall(c.source))
    return {"lesson": path.stem, "words": words, "student lines": lines,
            "questions": sum(1 for m in meta if m.get("task")),
            "auto points": sum(m.get("points", 0) for m in meta if m.get("grade")),
            "question points": sum(m.get("points", 0) for m in meta if m.get("task")),
            "habits": ", ".join(habit for habit, graded_by in HABITS.items()
                                if graded_by & _graded(notebook, meta)) or "-"}


def _graded(notebook, meta) -> set[str]:
    """The checks a notebook's hidden tests call and its cells' grade ids."""
    return (set(CHECK.findall("".join(c.source for c in notebook.cells)))
            | {m["grade_id"] for m in meta if m.get("grade_id")})


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "solutions")
    rows = [stats(p) for p in sorted(folder.glob("*.ipynb"))]
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")


if __name__ == "__main__":
    main()
