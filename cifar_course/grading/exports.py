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
    """Gradescope's results.json for one student: a test per graded cell (with the
    feedback its cell printed: the grader's verdict, or the error), the total after any
    late penalty (``late.py``), and the capstone's test accuracy on the leaderboard when
    it was graded."""
    from nbgrader.api import MissingEntry

    from .late import lateness, load_policies

    course = Path(course)
    policies = load_policies(course)
    tests, leaderboard, notes, penalty = [], [], [], 0.0
    with _gradebook(course) as gradebook:
        for assignment in sorted(gradebook.assignments, key=lambda a: a.name):
            try:
                notebook = gradebook.find_submission_notebook(assignment.name, assignment.name,
                                                              student)
            except MissingEntry:
                tests.append({"name": f"{assignment.name}: not submitted", "score": 0.0,
                              "max_score": float(assignment.max_score), "visibility": "visible"})
                continue
            printed = _cell_outputs(course, student, assignment.name)
            for grade in sorted(notebook.grades, key=lambda g: g.name):
                by_hand = grade.auto_score is None and grade.manual_score is None
                output = ("graded by hand; not graded yet" if by_hand
                          else printed.get(grade.name, ""))
                tests.append({
                    "name": f"{assignment.name}: {grade.name}",
                    "score": float(grade.score or 0.0), "max_score": float(grade.max_score),
                    "visibility": "visible", **({"output": output} if output else {}),
                })
            late = lateness(gradebook, policies.get(assignment.name), student, assignment.name,
                            notebook.score)
            penalty += late["late_penalty"]
            if late["late"]:
                notes.append(f"{assignment.name}: {late['late']}")
    accuracy = _capstone_accuracy(course, student)
    if accuracy is not None:
        leaderboard.append({"name": "capstone test accuracy", "value": accuracy, "order": "desc"})
    results = {"score": round(max(0.0, sum(t["score"] for t in tests) - penalty), 2),
               "tests": tests, "visibility": "visible"}
    if notes:
        results["output"] = "\n".join(notes)
    if leaderboard:
        results["leaderboard"] = leaderboard
    return results


def _cell_outputs(course: Path, student: str, lesson: str) -> dict[str, str]:
    """grade_id -> what that graded cell printed when it was autograded (the feedback the
    feedback HTML shows: the grader's verdict or the error), hidden tests' source never."""
    import nbformat

    from .lessons import nbgrader_metadata

    path = course / "autograded" / student / lesson / f"{lesson}.ipynb"
    if not path.exists():
        return {}
    printed = {}
    for cell in nbformat.read(path, as_version=4).cells:
        grade_id = nbgrader_metadata(cell).get("grade_id")
        if cell.cell_type != "code" or not nbgrader_metadata(cell).get("grade") or not grade_id:
            continue
        text = []
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                text.append(output.text)
            elif output.output_type == "error":
                text.append(f"{output.ename}: {output.evalue}\n")
        printed[grade_id] = "".join(text).strip()[-4000:]
    return printed


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
        writer = csv.DictWriter(table, ["lesson", "score", "max_score", "problems",
                                        "submitted_at", "late"],
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
