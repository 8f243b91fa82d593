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

import contextlib
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..config import GraderSettings, RunConfig, publish
from .isolated import scrubbed_environment
from .lessons import nbgrader_api, nbgrader_metadata
from .sandbox import check_available, descendants
from ..threads import threads_per_worker

PROBLEMS_FILE = "problems.json"  # per course: what collect and autograde found wrong
# A worker reports a problem on a line of its output starting with this; only
# the parent process writes problems.json, so parallel workers never race on it.
PROBLEM_MARK = "cifar-course problem\t"
DEFAULT_MEMORY_LIMIT_GB = 16.0
# A worker's line asking the parent to void a lesson's grades (the install changed while it ran).
ZERO_MARK = "cifar-course zero\t"
TIME_LIMIT_STATUS = 124  # a worker stopped at the grader's time limit (as timeout(1) exits)


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


LOCK_FILE = ".grader.lock"
# A student id is a name, never a path: a letter or digit first, then letters, digits, . _ - @ +.
STUDENT_ID = re.compile(r"\w[\w.@+-]*")
_held_locks: dict = {}  # course -> (open lock file, depth): re-entrant within one process


class GraderBusy(RuntimeError):
    """Another grader holds the course: two graders would overwrite each other's notes."""


@contextlib.contextmanager
def course_lock(course):
    """Hold the course for this grader; a second grader on it stops with a clear error."""
    import fcntl

    key = str(Path(course).resolve())
    if key in _held_locks:
        handle, depth = _held_locks[key]
        _held_locks[key] = (handle, depth + 1)
    else:
        handle = open(Path(course) / LOCK_FILE, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise GraderBusy(f"another grader is working on {course} (process {holder}): wait "
                             f"for it to finish, or stop it, then run this again") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        _held_locks[key] = (handle, 1)
    try:
        yield
    finally:
        handle, depth = _held_locks[key]
        if depth > 1:
            _held_locks[key] = (handle, depth - 1)
        else:
            del _held_locks[key]
            handle.close()  # closing releases the lock


def inside(parent: Path, *parts: str) -> Path:
    """``parent / parts``, refused (ValueError) if it would resolve outside ``parent``."""
    path = Path(parent).joinpath(*parts)
    if not path.resolve().is_relative_to(Path(parent).resolve()) or path.resolve() == Path(
            parent).resolve():
        raise ValueError(f"{'/'.join(parts)!r} would leave {parent}: refused")
    return path


def released_lessons(course) -> list[str]:
    return sorted(p.name for p in (Path(course) / "release").iterdir() if p.is_dir())


def _find_notebooks(folder: Path, lessons: list[str]) -> dict[str, Path]:
    """The lessons' notebooks below ``folder``; links are never followed (a link could
    hand in another student's file, or read the grader's)."""
    found = {}
    for top, folders, files in os.walk(folder, followlinks=False):
        folders[:] = sorted(f for f in folders if f != ".ipynb_checkpoints")
        for name in sorted(files):
            path = Path(top) / name
            if path.suffix == ".ipynb" and path.stem in lessons and not path.is_symlink():
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


def refused_entry(entry: Path) -> str | None:
    """Why ``entry`` of the submissions folder cannot be a student's, or None if it can."""
    name = entry.stem if entry.suffix == ".zip" else entry.name
    if entry.is_symlink():
        return (f"submission entry {entry.name!r} is a link, not skipped silently: a link could "
                f"hand in someone else's files. Fix: copy the files there instead")
    if not STUDENT_ID.fullmatch(name):
        return (f"submission entry {entry.name!r} does not name a student: a student id is "
                f"letters, digits, '.', '_', '-', '@' and '+', starting with a letter or digit. "
                f"Fix: rename the entry to the student's id")
    return None


def submission_entries(submissions: str | Path, log=print) -> dict[str, Path]:
    """student id -> their entry (a folder, or a ``.zip`` named by the id).

    Entries whose name is not a student id (``..``, a name with a separator, a
    link) are refused with a message naming them; the rest are graded."""
    entries = {}
    for entry in sorted(Path(submissions).iterdir()):
        if not (entry.suffix == ".zip" or entry.is_dir()):
            continue
        problem = refused_entry(entry)
        if problem:
            log(f"refused: {problem}")
            continue
        entries[entry.stem if entry.suffix == ".zip" else entry.name] = entry
    return entries


def _entry_digest(entry: Path) -> str:
    """SHA-256 over every file of a student's entry (names and contents)."""
    import hashlib

    from ..data.sources import file_digest

    files = [entry] if entry.is_file() else sorted(p for p in entry.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.relative_to(entry.parent)}\0{file_digest(path)}\n".encode())
    return digest.hexdigest()


def _graded_marker(course: Path, student: str) -> Path:
    """Written once a student's worker finished: the digest of what it graded."""
    return inside(course / "graded", f"{student}.sha256")


def collect(submissions: str | Path, course: str | Path, students=None, *,
            regrade: bool = False, submitted_at: dict | None = None,
            log=print) -> dict[str, list[str]]:
    """Copy every student's notebooks into the course's ``submitted/`` folder.

    ``submissions`` holds one entry per student: a folder (any layout below it,
    nbgrader's ``<student>/<lesson>/<lesson>.ipynb`` included) or a ``.zip``.
    Returns ``{student: [lessons found]}`` for the students to grade: only
    ``students`` if given, and (unless ``regrade``) not those already graded
    from the very same files, so that a rerun picks up where the last stopped.
    Invalid notebooks are recorded as problems and not copied; nothing under
    ``submissions`` is changed. ``submitted_at`` (``late.read_submission_times``)
    gives each submission's time, which nbgrader compares with the due date.
    """
    with course_lock(course):
        return _collect(submissions, Path(course), students, regrade=regrade,
                        submitted_at=submitted_at or {}, log=log)


def _collect(submissions, course: Path, students, *, regrade: bool, submitted_at: dict,
             log) -> dict[str, list[str]]:
    from .late import submission_time, write_timestamp

    import nbformat

    lessons = released_lessons(course)
    released = {lesson: nbformat.read(course / "release" / lesson / f"{lesson}.ipynb", as_version=4)
                for lesson in lessons}
    problems = Problems.load(course)
    collected = {}
    unchanged = []
    for student, entry in submission_entries(submissions, log=log).items():
        if students is not None and student not in students:
            continue
        digest = _entry_digest(entry)
        marker = _graded_marker(course, student)
        if not regrade and marker.exists() and marker.read_text() == digest:
            unchanged.append(student)
            continue
        (course / "collected").mkdir(exist_ok=True)
        inside(course / "collected", f"{student}.sha256").write_text(digest)
        if entry.suffix == ".zip":
            unpacked = inside(course / "unpacked", student)
            shutil.rmtree(unpacked, ignore_errors=True)
            problems.clear(student)
            try:
                with zipfile.ZipFile(entry) as archive:
                    for member in archive.namelist():  # no path may leave the folder
                        inside(unpacked, member)
                    archive.extractall(unpacked)
            except (ValueError, zipfile.BadZipFile) as error:
                for lesson in lessons:
                    problems.add(student, lesson, f"{entry.name} was not unpacked ({error}); "
                                                  f"nothing in it was graded. Fix: a plain zip "
                                                  f"of the notebooks")
                collected[student] = []
                continue
            entry = unpacked
        problems.clear(student)
        shutil.rmtree(inside(course / "submitted", student), ignore_errors=True)
        collected[student] = []
        for lesson, path in _find_notebooks(entry, lessons).items():
            problem = _check_notebook(path)
            if problem:
                problems.add(student, lesson, problem)
                continue
            target = course / "submitted" / student / lesson / f"{lesson}.ipynb"
            target.parent.mkdir(parents=True)
            notebook = nbformat.read(path, as_version=4)
            for message in _unknown_grade_ids(notebook, released[lesson]):
                problems.add(student, lesson, message)
            nbformat.write(notebook, target)  # the grader's copy; the student's file is only read
            when = submission_time(submitted_at, student, lesson)
            if when is not None:
                write_timestamp(target.parent, when)
            collected[student].append(lesson)
    problems.save()
    if unchanged:
        log(f"{len(unchanged)} student(s) already graded from the same files, skipped "
            f"(--regrade grades them again): {', '.join(unchanged)}")
    return collected


def _unknown_grade_ids(notebook, released) -> list[str]:
    """Make plain cells of the nbgrader cells whose ``grade_id`` the release does not
    have, or that repeat one seen above, and say which: nbgrader would reject the
    whole notebook.

    A test cell so changed then counts as deleted: it alone scores nothing.
    """
    known = {nbgrader_metadata(c).get("grade_id"): c for c in released.cells
             if nbgrader_metadata(c).get("grade_id")}
    by_source = {c.source: grade_id for grade_id, c in known.items()}
    seen, messages = set(), []
    for cell in notebook.cells:
        grade_id = nbgrader_metadata(cell).get("grade_id")
        if grade_id is None:
            continue
        if grade_id in known and grade_id not in seen:
            seen.add(grade_id)
            continue
        original = by_source.get(cell.source)
        what = f"cell {original}" if original else "a graded cell"
        messages.append(f"{what} had its nbgrader grade_id changed to {grade_id!r} (or copied): "
                        f"it was graded as a plain cell and scores nothing")
        del cell.metadata["nbgrader"]
    return messages


def memory_limit_kind(gpu: bool) -> str:
    """Which rlimit caps a student's memory: the address space, or on a GPU machine the data.

    CUDA reserves tens of GB of address space when it starts (never backed by
    memory), so an address-space limit stops it; RLIMIT_DATA counts only the
    writable private memory a process uses, which those reservations are not.
    """
    return "RLIMIT_DATA" if gpu else "RLIMIT_AS"


def _limit_own_memory(gigabytes: float) -> None:
    """The worker limits itself before it starts any kernel; kernels inherit the limit.
    (In the worker, not in ``preexec_fn``: that runs in the grader's threads, which the
    Python docs warn can deadlock.)"""
    import resource

    import torch

    limit = int(gigabytes * 2**30)
    kind = getattr(resource, memory_limit_kind(torch.cuda.is_available()))
    resource.setrlimit(kind, (limit, limit))


def _end_with_the_grader(parent: int) -> None:
    """Kill this worker and everything it started when the grader dies.

    A thread watches for the grader's death (this process then has another
    parent). Kernels run in sessions of their own (jupyter_client starts them
    so), so they are found as descendants, not by process group.
    """
    import signal
    import threading

    def watch():
        while os.getppid() == parent:
            time.sleep(1)
        for pid in descendants(os.getpid()):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()


def autograde_student(course, student: str, config: RunConfig,
                      timeout: float = 4 * 3600) -> tuple[str, int, str, float]:
    """Grade one student's lessons in a separate process, which ``config`` is handed to
    (the profile, data and threads, and the grader's settings); returns
    ``(student, exit status, log, seconds)``."""
    command = [sys.executable, "-m", "cifar_course.grading.autograde", str(Path(course).resolve()),
               student]
    start = time.perf_counter()
    environment = scrubbed_environment(config, PYTHONNOUSERSITE="1")
    worker = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True,
                              cwd=str(Path(course).resolve()))
    try:
        output, _ = worker.communicate(timeout=timeout)
        status = worker.returncode
    except subprocess.TimeoutExpired:
        _kill_group(worker)
        output, _ = worker.communicate()
        submitted = Path(course) / "submitted" / student
        lessons = sorted(p.name for p in submitted.iterdir()) if submitted.is_dir() else []
        output += "".join(f"{PROBLEM_MARK}{lesson}\tnot graded: over the grader's time limit of "
                          f"{timeout:.0f} s for one student\n" for lesson in lessons)
        status = TIME_LIMIT_STATUS
    return student, status, output, time.perf_counter() - start


def _kill_group(process) -> None:
    import signal

    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def autograde_all(course, students=None, *, jobs: int = 1, profile: str = "grade",
                  memory_gb: float = DEFAULT_MEMORY_LIMIT_GB, sandbox: str = "bwrap",
                  log=print) -> dict[str, float]:
    """Autograde ``students`` (default: all submitted), ``jobs`` workers at a time, each
    student's kernels in ``sandbox`` ("bwrap", or "none" for submissions you trust)."""
    check_available(sandbox)
    with course_lock(course):
        return _autograde_all(Path(course), students, jobs=jobs, profile=profile,
                              memory_gb=memory_gb, sandbox=sandbox, log=log)


def _autograde_all(course: Path, students, *, jobs, profile, memory_gb, sandbox, log):
    from ..profiles import get_profile

    if sandbox == "user":
        from .sandbox import lock_down

        lock_down(course)
    if not get_profile(profile).synthetic:
        # Decoded once here, for the checker (outside the sandbox) and the stand-in.
        from ..data import load_cifar10_with_info

        _, source = load_cifar10_with_info()
        refuse_another_copy(source, profile)
        if sandbox == "user":
            from ..data.loading import cache_dir
            from .sandbox import refuse_readable

            refuse_readable([source.path, cache_dir()])
        # What the kernels get instead of the test set (the checker measures on the real one).
        from .stand_in import write_stand_in

        stand_in = write_stand_in(course / "stand-in", get_profile(profile))
    else:
        stand_in = None
    from .late import apply_due_dates

    apply_due_dates(course)
    students = students or sorted(p.name for p in (course / "submitted").iterdir() if p.is_dir())
    seconds = {}
    problems = Problems.load(course)
    (course / "logs").mkdir(exist_ok=True)
    from .isolated import install_digest

    # What every worker is handed: this grader's data and cache, and its own settings. The
    # kernels and the checkers inherit the thread count.
    config = RunConfig.from_environment()
    threads = threads_per_worker(jobs, config)
    config = replace(config, profile=profile, threads=threads or config.threads,
                     omp_threads=threads or config.omp_threads,
                     grader=GraderSettings(sandbox=sandbox, memory_gb=memory_gb,
                                           stand_in=str(stand_in.resolve()) if stand_in else None,
                                           # the course as installed before any student's code ran
                                           install_digest=install_digest(profile)))
    voided = []  # (student, lesson) whose grades were taken with a changed install
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(autograde_student, course, s, config) for s in students]
        for future in as_completed(futures):  # each marker as soon as its student is done
            student, status, output, elapsed = future.result()
            seconds[student] = elapsed
            log(f"{student}: graded in {elapsed:.0f} s" + ("" if status == 0 else
                f" (the worker reported problems, exit {status}; see {course}/logs/{student}.log)"))
            (course / "logs" / f"{student}.log").write_text(output)
            collected = course / "collected" / f"{student}.sha256"
            if collected.exists() and status != TIME_LIMIT_STATUS:
                _graded_marker(course, student).parent.mkdir(exist_ok=True)
                shutil.copyfile(collected, _graded_marker(course, student))
            for line in output.splitlines():
                if line.startswith(PROBLEM_MARK):
                    lesson, message = line[len(PROBLEM_MARK):].split("\t", 1)
                    problems.add(student, lesson, message)
                elif line.startswith(ZERO_MARK):
                    voided.append((student, line[len(ZERO_MARK):].strip()))
    flag_tampering(course, students, problems)
    # After it: flag_tampering clears an intact cell's zero from an earlier grading, and
    # would clear these too, giving a void lesson its autograded points back.
    for student, lesson in voided:
        zero_lesson(course, student, lesson)
    problems.save()
    return seconds


class DataCopyError(RuntimeError):
    """The grader's CIFAR-10 is not the copy the references were measured on."""


def refuse_another_copy(source, profile: str) -> None:
    """Stop before the first student unless ``source`` holds the references' images (by
    content: the same images packed another way pass), saying how to measure on it."""
    from ..references import load_references, measured_seconds_per_run
    from .checks import same_copy_as_references

    references = load_references()
    same, mine, theirs = same_copy_as_references(source, profile, references)
    if same:
        return
    stages = references["profiles"].get(profile, {}).get("stages", {})
    seeds = max((len(s.get("seeds", [])) for s in stages.values()), default=10) or 10
    each = measured_seconds_per_run(profile, references)
    cost = (f", {len(stages) * seeds} runs of about {each / 60:.0f} min each on the course's "
            f"2-core CPU (measured)" if each and stages else "")
    raise DataCopyError(
        f"the CIFAR-10 here ({source.path}) is {mine}, but the {profile} references were "
        f"measured on {theirs}: every accuracy test would compare with figures from other data. "
        f"Fix: set CIFAR_COURSE_DATA to the references' copy, or measure the references on "
        f"this copy first with `cifar-course references run --profile {profile} --seeds "
        f"{' '.join(map(str, range(seeds)))}`{cost}")


def _grade_one(course: Path, student: str) -> int:
    """Worker: autograde every lesson this student submitted, one after the other.

    The installed course (checks, references, cached data) must be as the grader
    found it before the first student: if it is not, this student is not graded
    (a grader error, not a zero). A notebook that changes it while it runs is
    flagged and its lesson scores zero.
    """
    import tempfile

    from .isolated import install_digest

    config = RunConfig.from_environment()  # what the grader handed this worker
    expected = config.grader.install_digest if config.grader else None
    submitted = course / "submitted" / student
    # A student whose every notebook was invalid has nothing here: collect said why.
    lessons = sorted(submitted.iterdir()) if submitted.is_dir() else []
    if expected and install_digest(config.profile_name()) != expected:
        for folder in lessons:
            print(f"{PROBLEM_MARK}{folder.name}\tgrader error, not graded: the installed "
                  f"cifar-course or its data cache changed since grading began (by an earlier "
                  f"submission or by hand); reinstall it, clear the cache and grade this student "
                  f"again")
        return 1
    api = nbgrader_api(course)
    status = 0
    for folder in lessons:
        with tempfile.TemporaryDirectory(prefix="cifar-course-answers-") as answers:
            # The kernel inherits it and may write there (hidden tests save their answers);
            # the grader seals each test cell's answers beside it, where the kernel cannot.
            kernel_answers = Path(answers) / "kernel"
            kernel_answers.mkdir()
            if config.grader and config.grader.sandbox == "user":  # nobody must reach it
                os.chmod(answers, 0o711)
            # nbgrader starts the kernel (and runs the preprocessors) from this process.
            publish(config.with_grader(answers=str(kernel_answers)))
            outcome = api.autograde(folder.name, student, force=True, create=True)
        if not outcome["success"]:
            status = 1
            print(outcome["log"])
            tail = outcome["log"].strip().splitlines()[-1:] or ["no log"]
            print(f"{PROBLEM_MARK}{folder.name}\tnbgrader could not autograde it: {tail[0]}")
        if expected and install_digest(config.profile_name()) != expected:
            # Who changed it cannot be told apart here (this notebook, one graded at the
            # same time, someone on the machine): the lesson's grades are void, not earned.
            print(f"{PROBLEM_MARK}{folder.name}\tnot graded (grades void): the installed "
                  f"cifar-course or its data cache changed while this notebook ran (this "
                  f"notebook, another graded at the same time, or someone on this machine); "
                  f"reinstall it, clear the cache and grade this student again")
            print(f"{ZERO_MARK}{folder.name}")
            return 1
    return status


def zero_lesson(course, student: str, lesson: str) -> None:
    """Every autograded cell of a student's lesson to zero: its grades were taken with a
    changed install and are void (the CSV says why and that the student must be graded
    again). Cells graded by hand keep the instructor's grade, or none."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}") as gradebook:
        try:
            submission = gradebook.find_submission_notebook(lesson, lesson, student)
        except MissingEntry:
            return
        for grade in submission.grades:
            if grade.auto_score is not None:  # what this grading decided; never a hand grade
                grade.manual_score = 0
        gradebook.db.commit()


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
                        _clear_earlier_zero(gradebook, grade_id, lesson, student)
                        continue
                    problems.add(student, lesson, f"cell {grade_id} was {what}: no points for it")
                    try:
                        grade = gradebook.find_grade(grade_id, lesson, lesson, student)
                    except MissingEntry:
                        continue  # a locked cell that is not graded
                    grade.manual_score = 0
                gradebook.db.commit()


def _clear_earlier_zero(gradebook, grade_id: str, lesson: str, student: str) -> None:
    """A resubmission whose cell is intact again loses the zero an earlier tampering got."""
    from nbgrader.api import MissingEntry

    try:
        grade = gradebook.find_grade(grade_id, lesson, lesson, student)
    except MissingEntry:
        return
    if grade.manual_score == 0 and grade.auto_score is not None:
        grade.manual_score = None


EXPORT_FIELDS = ["student", "lesson", "score", "max_score", "problems", "raw_score",
                 "late_penalty", "hours_late", "submitted_at", "late"]


def export_csv(course, path) -> list[dict]:
    """One row per student and lesson: score (after any late penalty), max score, what went
    wrong, and the lateness (``late.py``)."""
    from nbgrader.api import Gradebook, MissingEntry

    from .late import lateness, load_policies

    course = Path(course)
    problems = Problems.load(course)
    policies = load_policies(course)
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
                late = lateness(gradebook, policies.get(lesson), student, lesson, score)
                rows.append({"student": student, "lesson": lesson,
                             "score": round(max(0.0, score - late["late_penalty"]), 2),
                             "max_score": maximum, "problems": " | ".join(notes),
                             "raw_score": round(score, 2), **late})
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, EXPORT_FIELDS)
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
    _end_with_the_grader(os.getppid())
    _worker = RunConfig.from_environment().grader
    if _worker and _worker.memory_gb:
        _limit_own_memory(_worker.memory_gb)
    sys.exit(_grade_one(Path(sys.argv[1]), sys.argv[2]))
