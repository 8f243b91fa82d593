"""Autograde a class: collect submissions, grade each in its own process, flag tampering, export.

The course folder is an nbgrader course (``autograder/`` in the repository):
``release`` puts the lessons in its gradebook; ``collect`` copies submissions
into ``submitted/<student>/<lesson>/<lesson>.ipynb`` (the student's files are
only read); ``autograde_all`` runs one ``python -m cifar_course.grading.autograde``
worker per student, ``jobs`` at a time, each with a scrubbed environment, a
memory limit, and nbgrader's per-cell timeout; ``export_csv`` writes the scores
with the reason for every zero that is not a failed test.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .checks import GRADING_ENV
from .isolated import scrubbed_environment
from .lessons import nbgrader_api, nbgrader_metadata

PROBLEMS_FILE = "problems.json"  # per course: what collect and autograde found wrong
# A worker reports a problem on a line of its output starting with this; only
# the parent process writes problems.json, so parallel workers never race on it.
PROBLEM_MARK = "cifar-course problem\t"
DEFAULT_MEMORY_LIMIT_GB = 16.0


@dataclass
class Problems:
    """(student, lesson) -> what went wrong, kept beside the gradebook."""
    course: Path
    items: dict = field(default_factory=dict)

    @classmethod
    def load(cls, course) -> "Problems":
        path = Path(course) / PROBLEMS_FILE
        items = json.loads(path.read_text()) if path.exists() else {}
        return cls(Path(course), items)

    def add(self, student: str, lesson: str, message: str) -> None:
        notes = self.items.setdefault(f"{student}/{lesson}", [])
        if message not in notes:
            notes.append(message)

    def clear(self, student: str) -> None:
        self.items = {k: v for k, v in self.items.items() if not k.startswith(f"{student}/")}

    def get(self, student: str, lesson: str) -> list[str]:
        return self.items.get(f"{student}/{lesson}", [])

    def save(self) -> None:
        target = self.course / PROBLEMS_FILE
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.items, indent=1, sort_keys=True))
        temporary.replace(target)  # atomic: a crash never leaves half a file


def released_lessons(course) -> list[str]:
    return sorted(p.name for p in (Path(course) / "release").iterdir() if p.is_dir())


def _find_notebooks(folder: Path, lessons: list[str]) -> dict[str, Path]:
    found = {}
    for path in sorted(folder.rglob("*.ipynb")):
        if ".ipynb_checkpoints" not in path.parts and path.stem in lessons:
            found.setdefault(path.stem, path)
    return found


def _check_notebook(path: Path) -> str | None:
    import nbformat

    try:
        nbformat.validate(nbformat.reads(path.read_text(encoding="utf-8"), as_version=4))
    except (UnicodeDecodeError, nbformat.reader.NotJSONError) as error:
        return (f"{path.name} is not a valid notebook (not JSON: {error}); nothing in it "
                f"could be graded. Fix: submit the .ipynb saved by Jupyter, not an edited copy")
    except Exception as error:  # nbformat.ValidationError and friends
        return (f"{path.name} is not a valid Jupyter notebook ({type(error).__name__}: "
                f"{str(error).splitlines()[0]}); nothing in it could be graded")
    return None


def collect(submissions: str | Path, course: str | Path) -> dict[str, list[str]]:
    """Copy every student's notebooks into the course's ``submitted/`` folder.

    ``submissions`` holds one entry per student: a folder (any layout below it,
    nbgrader's ``<student>/<lesson>/<lesson>.ipynb`` included) or a ``.zip``.
    Returns ``{student: [lessons found]}``. Invalid notebooks are recorded as
    problems and not copied; nothing under ``submissions`` is changed.
    """
    course = Path(course)
    lessons = released_lessons(course)
    problems = Problems.load(course)
    collected = {}
    for entry in sorted(Path(submissions).iterdir()):
        student = entry.stem if entry.suffix == ".zip" else entry.name
        if entry.suffix == ".zip":
            unpacked = course / "unpacked" / student
            shutil.rmtree(unpacked, ignore_errors=True)
            with zipfile.ZipFile(entry) as archive:
                for member in archive.namelist():  # no path may leave the folder
                    target = (unpacked / member).resolve()
                    if not str(target).startswith(str(unpacked.resolve())):
                        raise ValueError(f"{entry.name}: unsafe path {member!r} in the zip")
                archive.extractall(unpacked)
            entry = unpacked
        elif not entry.is_dir():
            continue
        problems.clear(student)
        shutil.rmtree(course / "submitted" / student, ignore_errors=True)
        collected[student] = []
        for lesson, path in _find_notebooks(entry, lessons).items():
            problem = _check_notebook(path)
            if problem:
                problems.add(student, lesson, problem)
                continue
            target = course / "submitted" / student / lesson / f"{lesson}.ipynb"
            target.parent.mkdir(parents=True)
            shutil.copyfile(path, target)
            collected[student].append(lesson)
    problems.save()
    return collected


def memory_limit_kind(gpu: bool) -> str:
    """Which rlimit caps a student's memory: the address space, or on a GPU machine the data.

    CUDA reserves tens of GB of address space when it starts (never backed by
    memory), so an address-space limit stops it; RLIMIT_DATA counts only the
    writable private memory a process uses, which those reservations are not.
    """
    return "RLIMIT_DATA" if gpu else "RLIMIT_AS"


def _memory_limit(gigabytes: float, gpu: bool):
    def apply():
        import resource

        limit = int(gigabytes * 2**30)
        resource.setrlimit(getattr(resource, memory_limit_kind(gpu)), (limit, limit))
    return apply


def _gpu_visible() -> bool:
    import torch

    return torch.cuda.is_available()


def threads_per_worker(jobs: int) -> int | None:
    """CPU threads each of ``jobs`` parallel workers may use (None: torch's default, all cores).

    Every worker's kernel would otherwise start one torch thread per core:
    with 2 workers on 2 cores, 4 busy threads that slow each other down.
    """
    if jobs <= 1 or os.environ.get("OMP_NUM_THREADS") or os.environ.get("CIFAR_COURSE_THREADS"):
        return None
    return max(1, (os.cpu_count() or 1) // jobs)


def autograde_student(course, student: str, profile: str = "grade",
                      memory_gb: float = DEFAULT_MEMORY_LIMIT_GB, timeout: float = 4 * 3600,
                      threads: int | None = None):
    """Grade one student's lessons in a separate process; returns its exit status and log."""
    command = [sys.executable, "-m", "cifar_course.grading.autograde", str(Path(course).resolve()),
               student]
    start = time.perf_counter()
    # The notebook kernels and the isolated checks inherit the thread count.
    limits = {"OMP_NUM_THREADS": str(threads), "CIFAR_COURSE_THREADS": str(threads)} if threads else {}
    environment = scrubbed_environment(CIFAR_COURSE_PROFILE=profile, PYTHONNOUSERSITE="1",
                                       **{GRADING_ENV: "1"}, **limits)
    done = subprocess.run(command, env=environment, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=_memory_limit(memory_gb, _gpu_visible()),
                          cwd=str(Path(course).resolve()))
    return student, done.returncode, done.stdout + done.stderr, time.perf_counter() - start


def autograde_all(course, students=None, *, jobs: int = 1, profile: str = "grade",
                  memory_gb: float = DEFAULT_MEMORY_LIMIT_GB, log=print) -> dict[str, float]:
    """Autograde ``students`` (default: all submitted), ``jobs`` workers at a time."""
    course = Path(course)
    students = students or sorted(p.name for p in (course / "submitted").iterdir() if p.is_dir())
    seconds = {}
    problems = Problems.load(course)
    (course / "logs").mkdir(exist_ok=True)
    threads = threads_per_worker(jobs)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(autograde_student, course, s, profile, memory_gb, threads=threads)
                   for s in students]
        for future in futures:
            student, status, output, elapsed = future.result()
            seconds[student] = elapsed
            log(f"{student}: graded in {elapsed:.0f} s" + ("" if status == 0 else
                f" (the worker reported problems, exit {status}; see {course}/logs/{student}.log)"))
            (course / "logs" / f"{student}.log").write_text(output)
            for line in output.splitlines():
                if line.startswith(PROBLEM_MARK):
                    lesson, message = line[len(PROBLEM_MARK):].split("\t", 1)
                    problems.add(student, lesson, message)
    flag_tampering(course, students, problems)
    problems.save()
    return seconds


def _grade_one(course: Path, student: str) -> int:
    """Worker: autograde every lesson this student submitted, one after the other."""
    api = nbgrader_api(course)
    status = 0
    for folder in sorted((course / "submitted" / student).iterdir()):
        outcome = api.autograde(folder.name, student, force=True, create=True)
        if not outcome["success"]:
            status = 1
            print(outcome["log"])
            tail = outcome["log"].strip().splitlines()[-1:] or ["no log"]
            print(f"{PROBLEM_MARK}{folder.name}\tnbgrader could not autograde it: {tail[0]}")
    return status


def _locked_cells(notebook) -> dict:
    return {nbgrader_metadata(c)["grade_id"]: c for c in notebook.cells
            if nbgrader_metadata(c).get("locked")}


def flag_tampering(course, students, problems: Problems) -> None:
    """Zero and flag (in ``problems``) every graded cell a student edited or deleted.

    The reference is the instructor's released notebook, not the submission's
    own metadata (which a student can edit along with the cell); the comparison
    is nbgrader's checksum and the source itself.
    """
    import nbformat
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.utils import compute_checksum

    course = Path(course)
    released = {lesson: _locked_cells(nbformat.read(
        course / "release" / lesson / f"{lesson}.ipynb", as_version=4))
        for lesson in released_lessons(course)}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in students:
            for folder in sorted((course / "submitted" / student).glob("*")):
                lesson = folder.name
                submitted = _locked_cells(nbformat.read(folder / f"{lesson}.ipynb", as_version=4))
                for grade_id, original in released[lesson].items():
                    cell = submitted.get(grade_id)
                    if cell is None:
                        what = "deleted"
                    elif (cell.source != original.source
                          or compute_checksum(cell) != compute_checksum(original)):
                        what = "edited"
                    else:
                        continue
                    problems.add(student, lesson, f"cell {grade_id} was {what}: no points for it")
                    try:
                        grade = gradebook.find_grade(grade_id, lesson, lesson, student)
                    except MissingEntry:
                        continue  # a locked cell that is not graded
                    grade.manual_score = 0
                gradebook.db.commit()


def export_csv(course, path) -> list[dict]:
    """One row per student and lesson: score, max score, and what went wrong."""
    from nbgrader.api import Gradebook, MissingEntry

    course = Path(course)
    problems = Problems.load(course)
    rows = []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        maxima = {a.name: a.max_score for a in gradebook.assignments}
        students = sorted({p.name for p in (course / "submitted").iterdir() if p.is_dir()}
                          | {k.split("/")[0] for k in problems.items})
        for student in students:
            for lesson, maximum in sorted(maxima.items()):
                try:
                    score = gradebook.find_submission(lesson, student).score
                except MissingEntry:
                    score = 0.0
                notes = problems.get(student, lesson)
                if not (course / "submitted" / student / lesson).exists() and not notes:
                    notes = ["not submitted"]
                rows.append({"student": student, "lesson": lesson, "score": round(score, 2),
                             "max_score": maximum, "problems": " | ".join(notes)})
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["student", "lesson", "score", "max_score", "problems"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


def generate_feedback(course, students=None) -> list[Path]:
    course = Path(course)
    api = nbgrader_api(course)
    students = students or sorted(p.name for p in (course / "autograded").iterdir() if p.is_dir())
    written = []
    for student in students:
        # A student with nothing gradable (an invalid notebook) has no autograded folder.
        for folder in sorted((course / "autograded" / student).glob("*")):
            api.generate_feedback(folder.name, student)
            written += sorted((course / "feedback" / student / folder.name).glob("*.html"))
    return written


if __name__ == "__main__":
    sys.exit(_grade_one(Path(sys.argv[1]), sys.argv[2]))
