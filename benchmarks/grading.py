"""Autograding throughput: correct submissions of every lesson, graded with --jobs 1 and 2.

    CIFAR_COURSE_DATA=../shared/data/cifar10-jpeg.tar.gz python benchmarks/grading.py [--students 2]

Prints the seconds per full submission (all nine lessons) and submissions per
hour for each number of jobs, in the grading profile, and every lesson where a
correct submission lost points: the test cells that lost them, with what they raised.
With ``--shards N`` it also grades the class as N shards run as separate
``cifar-course grade autograde --shard I/N`` processes at once (one core each),
merges them, and prints submissions per hour per core. With ``--versus-execute
LESSON`` it instead grades one correct submission of that lesson at --jobs 1 and
executes the same notebook ungraded (same profile, same data, one run), and
prints grading's time over executing's.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import nbformat  # noqa: E402

from cifar_course.grading import autograde  # noqa: E402
from cifar_course.grading.lessons import nbgrader_metadata, release  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the notebook helpers the tests use
from notebooks import execute_notebook, fill_in_solutions, lost_points  # noqa: E402


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
    parser.add_argument("--shards", type=int, default=0, help="also grade as this many shards")
    parser.add_argument("--versus-execute", metavar="LESSON",
                        help="grade one correct LESSON beside executing it ungraded; print the ratio")
    args = parser.parse_args()
    if args.versus_execute:
        return grading_versus_executing(args.versus_execute, args.profile)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"profile {args.profile}; {args.students} students, all lessons each")
    for jobs in args.jobs:
        with tempfile.TemporaryDirectory(prefix="cifar-course-grading-") as root:
            course = make_class(Path(root), args.students)
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
    if args.shards:
        grade_in_shards(args.shards, args.students, args.profile)


def grading_versus_executing(lesson: str, profile: str) -> None:
    """Grade one correct ``lesson`` at --jobs 1, then execute it ungraded; print both and the ratio."""

    with tempfile.TemporaryDirectory(prefix="cifar-course-grading-") as root:
        root = Path(root)
        course = make_class(root, 1, lessons=[lesson])
        autograde.collect(root / "submissions", course)
        start = time.perf_counter()
        autograde.autograde_all(course, jobs=1, profile=profile, log=lambda *a: None)
        grading = time.perf_counter() - start
        rows = autograde.export_csv(course, root / "grades.csv")
        scores = ", ".join(f"{r['score']:g}/{r['max_score']:g}" for r in rows)
        workdir = root / "executed"
        workdir.mkdir()
        notebook = root / "submissions" / "student0" / lesson / f"{lesson}.ipynb"
        start = time.perf_counter()
        _, errors = execute_notebook(notebook, workdir, profile)
        executing = time.perf_counter() - start
    print(f"{lesson}, {profile} profile: graded in {grading:.1f} s (score {scores}); executed "
          f"ungraded in {executing:.1f} s ({len(errors)} cells raised); grading / executing = "
          f"{grading / executing:.2f}", flush=True)


def make_class(root: Path, students: int, lessons=None) -> Path:
    """A released course and ``students`` correct submissions of every lesson."""
    course = root / "course"
    course.mkdir()
    shutil.copy(REPO / "autograder" / "nbgrader_config.py", course)
    solutions = REPO / "solutions"
    if lessons:
        solutions = root / "solutions"
        solutions.mkdir()
        for lesson in lessons:
            shutil.copy(REPO / "solutions" / f"{lesson}.ipynb", solutions)
    released = release(solutions, course)
    for index in range(students):
        for lesson, path in released.items():
            target = root / "submissions" / f"student{index}" / lesson / path.name
            target.parent.mkdir(parents=True)
            nbformat.write(fill_in_solutions(path, REPO / "solutions" / path.name), target)
    return course


def grade_in_shards(shards: int, students: int, profile: str) -> None:
    import subprocess
    import sys

    with tempfile.TemporaryDirectory(prefix="cifar-course-shards-") as root:
        course = make_class(Path(root), students)
        cli = [sys.executable, "-m", "cifar_course.cli", "grade"]
        environment = {**os.environ, "CIFAR_COURSE_THREADS": "1", "OMP_NUM_THREADS": "1"}
        start = time.perf_counter()
        running = [subprocess.Popen(cli + ["autograde", str(Path(root) / "submissions"),
                                           "--course", str(course), "--shard", f"{i}/{shards}",
                                           "--profile", profile, "--no-feedback"],
                                    env=environment, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.STDOUT)
                   for i in range(1, shards + 1)]
        codes = [process.wait() for process in running]
        graded = time.perf_counter() - start
        merge_start = time.perf_counter()
        merged = subprocess.run(cli + ["merge", "--course", str(course), "--csv",
                                       str(Path(root) / "grades.csv")],
                                capture_output=True, text=True)
        merging = time.perf_counter() - merge_start
        rows = autograde.export_csv(course, Path(root) / "grades.csv")
        print(f"shards {shards} (one core each, exit codes {codes}): {students} submissions in "
              f"{graded:.0f} s, merged in {merging:.1f} s (exit {merged.returncode}); "
              f"{3600 * students / graded / shards:.2f} submissions/hour/core; scores "
              f"{sum(r['score'] for r in rows):g}/{sum(r['max_score'] for r in rows):g}",
              flush=True)


if __name__ == "__main__":
    main()
