"""Autograding throughput: correct submissions of every lesson, graded with --jobs 1 and 2.

    CIFAR_COURSE_DATA=../shared/data/cifar10-jpeg.tar.gz python benchmarks/grading.py [--students 2]

Prints the seconds per full submission (all nine lessons) and submissions per
hour for each number of jobs, in the grading profile, and every lesson where a
correct submission lost points: the test cells that lost them, with what they raised.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import nbformat  # noqa: E402

from cifar_course.grading import autograde  # noqa: E402
from cifar_course.grading.lessons import fill_in_solutions, nbgrader_metadata, release  # noqa: E402
from cifar_course.grading.nbgrader_ext import lost_points  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def lost_cells(course: Path, student: str, lesson: str) -> list[str]:
    """Each test cell of an autograded notebook that lost points, with what it raised."""
    path = course / "autograded" / student / lesson / f"{lesson}.ipynb"
    if not path.exists():
        return ["no autograded notebook"]
    notebook = nbformat.read(path, as_version=4)
    raised = {nbgrader_metadata(cell).get("grade_id"): f"{out.ename}: {(out.evalue or '')[:200]}"
              for cell in notebook.cells
              for out in cell.get("outputs", []) if out.output_type == "error"}
    return [f"{grade_id}: {score:g}/{maximum:g} {raised.get(grade_id, '')}"
            for grade_id, (score, maximum) in lost_points(notebook).items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=2)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--profile", default="grade")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"profile {args.profile}; {args.students} students, all lessons each")
    for jobs in args.jobs:
        with tempfile.TemporaryDirectory(prefix="cifar-course-grading-") as root:
            course = Path(root) / "course"
            course.mkdir()
            shutil.copy(REPO / "autograder" / "nbgrader_config.py", course)
            released = release(REPO / "solutions", course)
            for index in range(args.students):
                for lesson, path in released.items():
                    target = Path(root) / "submissions" / f"student{index}" / lesson / path.name
                    target.parent.mkdir(parents=True)
                    nbformat.write(fill_in_solutions(path, REPO / "solutions" / path.name), target)
            autograde.collect(Path(root) / "submissions", course)
            start = time.perf_counter()
            autograde.autograde_all(course, jobs=jobs, profile=args.profile)
            elapsed = time.perf_counter() - start
            rows = autograde.export_csv(course, Path(root) / "grades.csv")
            earned = sum(r["score"] for r in rows)
            possible = sum(r["max_score"] for r in rows)
            print(f"jobs {jobs}: {args.students} submissions in {elapsed:.0f} s = "
                  f"{elapsed / args.students:.0f} s per submission, "
                  f"{3600 * args.students / elapsed:.1f} submissions/hour "
                  f"(scores {earned:g}/{possible:g})", flush=True)
            for row in rows:
                if row["score"] < row["max_score"]:
                    print(f"  {row['student']} {row['lesson']}: {row['score']:g}/"
                          f"{row['max_score']:g} {row['problems']}")
                    for cell in lost_cells(course, row["student"], row["lesson"]):
                        print(f"    {cell}")


if __name__ == "__main__":
    main()
