"""Grades in the formats instructors load them into: a Canvas gradebook CSV and
Gradescope's ``results.json`` (one per student), besides nbgrader's own CSV.

Both read the nbgrader gradebook after ``cifar-course grade autograde``. Cells
graded by hand (the lessons' written questions) count once an instructor has
graded them in formgrader; until then they score 0 and say so.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

# The capstone's accuracy, from the grader's verdict in its accuracy test cell.
CAPSTONE = "08_capstone"
ACCURACY = re.compile(r"\[grader\] test accuracy ([0-9.]+)")


def _gradebook(course: Path):
    from nbgrader.api import Gradebook

    return Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}")


def canvas_csv(rows: list[dict], path) -> Path:
    """Canvas' gradebook import: Student, ID, SIS User ID, SIS Login ID, Section, then one
    column per lesson, a "Points Possible" row first. The nbgrader student id goes in
    "SIS Login ID", the column Canvas matches on when ID is empty."""
    lessons = sorted({r["lesson"] for r in rows})
    maxima = {r["lesson"]: r["max_score"] for r in rows}
    scores: dict[str, dict] = {}
    for row in rows:
        scores.setdefault(row["student"], {})[row["lesson"]] = row["score"]
    head = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(head + lessons)
        writer.writerow(["Points Possible", "", "", "", ""] + [maxima[l] for l in lessons])
        for student in sorted(scores):
            writer.writerow([student, "", "", student, ""]
                            + [scores[student].get(lesson, 0) for lesson in lessons])
    return Path(path)


def gradescope_results(course, student: str) -> dict:
    """Gradescope's results.json for one student: a test per graded cell, the total, and
    the capstone's test accuracy on the leaderboard when it was graded."""
    from nbgrader.api import MissingEntry

    course = Path(course)
    tests, leaderboard = [], []
    with _gradebook(course) as gradebook:
        for assignment in sorted(gradebook.assignments, key=lambda a: a.name):
            try:
                notebook = gradebook.find_submission_notebook(assignment.name, assignment.name,
                                                              student)
            except MissingEntry:
                tests.append({"name": f"{assignment.name}: not submitted", "score": 0.0,
                              "max_score": float(assignment.max_score), "visibility": "visible"})
                continue
            for grade in sorted(notebook.grades, key=lambda g: g.name):
                by_hand = grade.auto_score is None and grade.manual_score is None
                tests.append({
                    "name": f"{assignment.name}: {grade.name}",
                    "score": float(grade.score or 0.0), "max_score": float(grade.max_score),
                    "visibility": "visible",
                    **({"output": "graded by hand; not graded yet"} if by_hand else {}),
                })
    accuracy = _capstone_accuracy(course, student)
    if accuracy is not None:
        leaderboard.append({"name": "capstone test accuracy", "value": accuracy, "order": "desc"})
    results = {"score": sum(t["score"] for t in tests), "tests": tests, "visibility": "visible"}
    if leaderboard:
        results["leaderboard"] = leaderboard
    return results


def _capstone_accuracy(course: Path, student: str) -> float | None:
    path = course / "autograded" / student / CAPSTONE / f"{CAPSTONE}.ipynb"
    if not path.exists():
        return None
    found = ACCURACY.findall(path.read_text())
    return float(found[-1]) if found else None


def export_gradescope(course, folder) -> list[Path]:
    """``folder/<student>/results.json`` for every student in the gradebook."""
    written = []
    with _gradebook(Path(course)) as gradebook:
        students = sorted(s.id for s in gradebook.students)
    for student in students:
        target = Path(folder) / student / "results.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(gradescope_results(course, student), indent=1))
        written.append(target)
    return written


def feedback_bundles(course, rows: list[dict], folder) -> list[Path]:
    """One ``<student>.zip`` per student, ready to upload to an LMS or hand back: their
    feedback HTML for each lesson (verdicts, not hidden tests) and ``scores.csv``, their rows
    of the grades alone (score, maximum, problems)."""
    import io
    import zipfile

    course, folder = Path(course), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for student in sorted({r["student"] for r in rows}):
        mine = [r for r in rows if r["student"] == student]
        table = io.StringIO()
        writer = csv.DictWriter(table, ["lesson", "score", "max_score", "problems"],
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(mine)
        path = folder / f"{student}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
            bundle.writestr(f"{student}/scores.csv", table.getvalue())
            for html in sorted((course / "feedback" / student).glob("*/*.html")):
                bundle.write(html, f"{student}/{html.parent.name}/{html.name}")
        written.append(path)
    return written
