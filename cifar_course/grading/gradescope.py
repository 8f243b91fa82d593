"""A Gradescope autograder: the zip an instructor uploads, and what it runs inside Gradescope.

``build_autograder`` writes the zip for chosen lessons: ``setup.sh`` (run once
when Gradescope builds the image: Python, torch for the CPU, the course with
nbgrader, and the references' CIFAR-10 made readable by the grader alone),
``run_autograder`` (run for each submission), ``cifar-course.json`` (the
settings), the released course (its nbgrader config, release, hidden tests and
gradebook) and the data.

``run`` is ``run_autograder``: it grades ``/autograder/submission`` with the
same code as ``cifar-course grade autograde`` (collect, autograde with the
verdicts decided outside the kernel, tampering flags, feedback) and writes
``/autograder/results/results.json``. Inside Gradescope's container user
namespaces are commonly forbidden, so each kernel runs as ``nobody``
(``--sandbox user``) and the results say which sandbox graded it. The
submission's time and the due dates come from Gradescope's
``submission_metadata.json``; the late penalty is the zip's (``late.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

SETTINGS_FILE = "cifar-course.json"
STUDENT = "submission"  # one submission a container: its id in the grader's course
SANDBOX_NOTES = {
    "bwrap": "each notebook ran in a bubblewrap sandbox",
    "user": "each notebook ran as an unprivileged user in Gradescope's container",
    "none": "the notebook ran without a sandbox (this container could not make one)",
}
# A released lesson is told by its graded cells' ids; a notebook is taken for the lesson
# whose ids it holds most of, when it holds at least this share of them.
SAME_LESSON_SHARE = 0.5
CPU_TORCH = "https://download.pytorch.org/whl/cpu"

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder's image: everything grading
# needs is installed here, nothing while a submission is graded.
set -euo pipefail
cd /autograder/source
apt-get update -q && apt-get install -y -q python3 python3-venv python3-pip util-linux
python3 - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"cifar-course needs Python 3.11 or newer; this image has {{sys.version.split()[0]}}. "
             "Fix: choose Gradescope's Ubuntu 24.04 base image in the autograder settings")
PY
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install -q --upgrade pip
# Torch for the CPU (Gradescope's containers have no GPU; the CUDA build is ~10x larger).
/autograder/venv/bin/pip install -q --index-url {cpu_torch} torch
/autograder/venv/bin/pip install -q {install}
# The references' CIFAR-10 decoded once, here, rather than for every submission.
mkdir -p /autograder/cache
{decode}
# Each notebook runs as nobody: the course, the hidden tests, the references' CIFAR-10
# (the test set) and its decoded cache are the grader's alone.
chmod -R go-rwx /autograder/source /autograder/cache
chmod 711 /autograder
"""
DECODE = ("CIFAR_COURSE_DATA=/autograder/source/{data} CIFAR_COURSE_CACHE=/autograder/cache "
          "/autograder/venv/bin/python -c 'from cifar_course.data import load_cifar10; load_cifar10()'")

RUN = """#!/usr/bin/env bash
# Gradescope runs this for each submission, as root, in a fresh container. The data and
# its cache (decoded by setup.sh) are the grader's settings, given here once.
{data}export CIFAR_COURSE_CACHE=/autograder/cache
exec /autograder/venv/bin/python -m cifar_course.grading.gradescope /autograder
"""


def build_autograder(course, solutions, lessons: list[str], out, *, profile: str = "grade",
                     sandbox: str = "bwrap", data=None, wheel=None,
                     penalty_per_day: float = 0.0, memory_gb: float = 16.0) -> Path:
    """Write Gradescope's autograder zip for ``lessons`` to ``out``.

    ``course`` is the instructor's nbgrader course (its ``nbgrader_config.py`` is
    used); ``data`` the CIFAR-10 file the references were measured on (required
    for a real-data profile); ``wheel`` a built cifar-course wheel to install
    (default: this version from the package index). Inside Gradescope the grader
    uses ``sandbox`` if it works there, else the next of bwrap, user, none.
    """
    from .. import __version__
    from ..profiles import get_profile
    from .lessons import lesson_ids, release

    known = lesson_ids(solutions)
    unknown = [lesson for lesson in lessons if lesson not in known]
    if unknown or not lessons:
        raise ValueError(f"no lesson {', '.join(unknown) or '(none named)'} in {solutions}. Fix: "
                         f"--lessons with some of {', '.join(known)}")
    config = Path(course) / "nbgrader_config.py"
    if not config.exists():
        raise ValueError(f"{course} has no nbgrader_config.py. Fix: --course the course folder "
                         f"(the repository's autograder/)")
    synthetic = get_profile(profile).synthetic
    if not synthetic and data is None:
        raise ValueError(f"the {profile} profile grades on real CIFAR-10, so the zip must carry "
                         f"the copy the references were measured on. Fix: --data PATH (the "
                         f"course's JPEG archive), or a synthetic profile for a dry run")
    if data is not None:
        from ..data import load_cifar10_with_info
        from .autograde import refuse_another_copy

        _, source = load_cifar10_with_info(data)
        refuse_another_copy(source, profile)
    with tempfile.TemporaryDirectory(prefix="cifar-course-gradescope-") as folder:
        staging = Path(folder)
        chosen = staging / "solutions"
        chosen.mkdir()
        for lesson in lessons:
            shutil.copy(Path(solutions) / f"{lesson}.ipynb", chosen)
        released = staging / "course"
        released.mkdir()
        shutil.copy(config, released)
        release(chosen, released)
        install = f"'cifar-course[grader]=={__version__}'"
        settings = {"lessons": lessons, "profile": profile, "sandbox": sandbox,
                    "memory_gb": memory_gb, "penalty_per_day": penalty_per_day,
                    "version": __version__, "data": None}
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            if wheel is not None:
                archive.write(wheel, f"wheel/{Path(wheel).name}")
                install = f"'/autograder/source/wheel/{Path(wheel).name}[grader]'"
            if data is not None:
                settings["data"] = f"data/{Path(data).name}"
                archive.write(data, settings["data"])
            for path in sorted(released.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.name != ".grader.lock":
                    archive.write(path, f"course/{path.relative_to(released)}")
            decode = DECODE.format(data=settings["data"]) if settings["data"] else ""
            _add_script(archive, "setup.sh", SETUP.format(install=install, cpu_torch=CPU_TORCH,
                                                          decode=decode))
            data_line = (f"export CIFAR_COURSE_DATA=/autograder/source/{settings['data']}\n"
                         if settings["data"] else "")
            _add_script(archive, "run_autograder", RUN.format(data=data_line))
            archive.writestr(SETTINGS_FILE, json.dumps(settings, indent=1))
    return out


def _add_script(archive: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o755 << 16  # executable when unpacked
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, text)


def identify_lesson(notebook, released: dict[str, set[str]]) -> str | None:
    """The released lesson whose graded cells ``notebook`` holds (by grade_id), or None."""
    from .lessons import nbgrader_metadata

    ids = {nbgrader_metadata(c).get("grade_id") for c in notebook.cells} - {None}
    best, share = None, 0.0
    for lesson, theirs in released.items():
        mine = len(ids & theirs) / max(1, len(theirs))
        if mine > share:
            best, share = lesson, mine
    return best if share >= SAME_LESSON_SHARE else None


def _released_ids(course: Path) -> dict[str, set[str]]:
    import nbformat

    from .lessons import nbgrader_metadata

    ids = {}
    for path in sorted((course / "release").glob("*/*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        ids[path.parent.name] = {nbgrader_metadata(c).get("grade_id") for c in notebook.cells} - {None}
    return ids


def gather_submission(submission: Path, course: Path, into: Path, lessons: list[str]) -> list[str]:
    """Copy the notebooks of ``submission`` (any names, any folders, links never followed)
    into ``into/<lesson>/<lesson>.ipynb`` by what they hold; returns what the student
    should be told about the rest."""
    import nbformat

    released = _released_ids(course)
    messages, found = [], {}
    for root, folders, files in os.walk(submission):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            shown = path.relative_to(submission)
            if path.suffix != ".ipynb" or path.is_symlink():
                continue
            try:
                notebook = nbformat.read(path, as_version=4)
            except Exception as error:  # nbformat raises several kinds for a broken file
                messages.append(f"{shown} is not a notebook Jupyter can open ({type(error).__name__}); "
                                f"it was not graded. Fix: upload the .ipynb file itself (in Colab: "
                                f"File > Download > Download .ipynb)")
                continue
            lesson = identify_lesson(notebook, released)
            if lesson is None:
                messages.append(f"{shown} is none of this assignment's lessons ({', '.join(lessons)}): "
                                f"it was not graded. Fix: upload the notebook of "
                                f"{' or '.join(lessons)}, started from the lesson you were given")
            elif lesson in found:
                messages.append(f"{shown} is {lesson} again (after {found[lesson]}): only the first "
                                f"was graded. Fix: upload one notebook per lesson")
            else:
                found[lesson] = shown
                target = into / lesson / f"{lesson}.ipynb"
                target.parent.mkdir(parents=True)
                shutil.copyfile(path, target)
    if not found and not messages:
        uploaded = sorted(str(p.relative_to(submission)) for p in submission.rglob("*") if p.is_file())
        messages.append(f"no notebook (.ipynb) in the submission ({', '.join(uploaded[:5]) or 'it is empty'}). "
                        f"Fix: upload the lesson's .ipynb file ({' or '.join(f'{l}.ipynb' for l in lessons)})")
    return messages


def _metadata_times(root: Path, lessons: list[str], penalty_per_day: float):
    """(the submission's time, {lesson: LatePolicy}) from Gradescope's metadata, if any."""
    from .late import LatePolicy, parse_time

    path = root / "submission_metadata.json"
    if not path.exists():
        return None, {}
    metadata = json.loads(path.read_text())
    assignment = metadata.get("assignment") or {}
    created = metadata.get("created_at")
    if not assignment.get("due_date") or not created:
        return (parse_time(created) if created else None), {}
    policy = LatePolicy(parse_time(assignment["due_date"]),
                        parse_time(assignment["late_due_date"]) if assignment.get("late_due_date") else None,
                        penalty_per_day)
    return parse_time(created), {lesson: policy for lesson in lessons}


def choose_sandbox(wanted: str) -> tuple[str, str]:
    """(the sandbox to grade in, why): ``wanted``, else the next that works here."""
    from .sandbox import SandboxError, check_available

    tried = []
    for kind in dict.fromkeys([wanted, "bwrap", "user", "none"]):
        try:
            check_available(kind)
            return kind, "; ".join(tried)
        except SandboxError as error:
            tried.append(f"{kind}: {error}")
    raise AssertionError("unreachable: 'none' is always available")


def run(root: Path) -> dict:
    """Grade ``root/submission`` and write ``root/results/results.json`` (Gradescope's)."""
    start = time.perf_counter()
    results_path = root / "results" / "results.json"
    results_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        results = _grade(root)
    except Exception as error:  # the student must see that the grader, not their work, failed
        results = {"score": 0.0, "tests": [], "visibility": "visible",
                   "output": f"The autograder failed ({type(error).__name__}: {error}); this is "
                             f"not a verdict on your work. Tell your instructor, who can regrade "
                             f"it once it is fixed."}
        print(f"grader error: {error!r}", file=sys.stderr)
    results["execution_time"] = round(time.perf_counter() - start, 1)
    results_path.write_text(json.dumps(results, indent=1))
    return results


def _grade(root: Path) -> dict:
    from . import autograde
    from .exports import gradescope_results
    from .late import set_policy

    source = root / "source"
    settings = json.loads((source / SETTINGS_FILE).read_text())
    os.chmod(source, 0o700)  # the hidden tests and the data are the grader's alone
    cache = root / "cache"  # run_autograder points the data cache here; setup.sh filled it
    cache.mkdir(exist_ok=True)
    os.chmod(cache, 0o700)
    sandbox, why = choose_sandbox(settings.get("sandbox", "user"))
    work = root / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    os.chmod(work, 0o711)
    course = work / "course"
    shutil.copytree(source / "course", course)
    lessons = settings["lessons"]
    mine = work / "submissions" / STUDENT
    mine.mkdir(parents=True)
    messages = gather_submission(root / "submission", course, mine, lessons)
    submitted, policies = _metadata_times(root, lessons, settings.get("penalty_per_day", 0.0))
    for lesson, policy in policies.items():
        set_policy(course, lesson, policy)
    times = {(STUDENT, None): submitted} if submitted else {}
    quiet = lambda *args: None  # noqa: E731 (the student sees results.json, not the log)
    collected = autograde.collect(work / "submissions", course, regrade=True, submitted_at=times,
                                  log=quiet)
    if collected.get(STUDENT):
        autograde.autograde_all(course, [STUDENT], profile=settings["profile"],
                                memory_gb=settings.get("memory_gb", 16.0), sandbox=sandbox, log=quiet)
        autograde.generate_feedback(course, [STUDENT])
    results = gradescope_results(course, STUDENT)
    problems = autograde.Problems.load(course)
    for lesson in lessons:
        messages += [f"{lesson}: {m}" for m in problems.get(STUDENT, lesson)]
    notes = [results.get("output", ""), *messages,
             f"Graded in the {settings['profile']} profile; {SANDBOX_NOTES[sandbox]}."
             + (f" (Other sandboxes: {why})" if why and sandbox == "none" else "")]
    results["output"] = "\n".join(n for n in notes if n)
    return results


if __name__ == "__main__":
    result = run(Path(sys.argv[1] if len(sys.argv) > 1 else "/autograder"))
    print(f"score {result['score']}; results.json written")
