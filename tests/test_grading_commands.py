"""The instructor's grading commands end to end (release, autograde, regrade, CSV,
feedback bundles), and the grader's lifetime (what it leaves when killed).

Apart from test_autograder's graded class: these grade classes of their own, and
in a file of their own they run beside it under pytest-xdist.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import zipfile

import nbformat
import pytest

from notebooks import (course_to_release, insert_after_answers, released_and_filled_in,
                       write_submission)

pytest.importorskip("nbgrader", reason="autograding needs nbgrader: pip install -e '.[dev]'")
pytestmark = pytest.mark.long

LESSON = "00_setup_and_data"


def test_instructor_commands_grade_three_students(tmp_path):
    """The README's instructor section, as commands: release, autograde a class, CSV."""
    solutions, course = course_to_release(tmp_path, [LESSON])
    cli = [sys.executable, "-m", "cifar_course.cli", "grade"]
    subprocess.run(cli + ["release", "--course", str(course), "--solutions", str(solutions)],
                   check=True, capture_output=True)
    released = course / "release" / LESSON / f"{LESSON}.ipynb"
    subs = tmp_path / "submissions"
    nbformat.write(released_and_filled_in(LESSON, course),
                   (subs / "ada").mkdir(parents=True) or subs / "ada" / f"{LESSON}.ipynb")
    (subs / "bob").mkdir()
    shutil.copy(released, subs / "bob" / f"{LESSON}.ipynb")
    (subs / "eve").mkdir()
    (subs / "eve" / f"{LESSON}.ipynb").write_text("not a notebook")
    # An entry whose name would become the student id '..' (issue 32: it unpacked over the
    # course, whose nbgrader_config.py the grader then ran, and a regrade removed the course).
    with zipfile.ZipFile(subs / "...zip", "w") as archive:
        archive.writestr("nbgrader_config.py", "import os\nos.system('touch /tmp/pwned-by-zip')\n")
    config = (course / "nbgrader_config.py").read_bytes()
    for attempt in ("autograde", "regrade"):
        done = subprocess.run(cli + ["autograde", str(subs), "--course", str(course), "--jobs", "2",
                                     "--profile", "smoke", "--csv", str(tmp_path / "grades.csv")]
                              + (["--regrade"] if attempt == "regrade" else []),
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "refused: submission entry '...zip' does not name a student" in done.stdout
        assert (course / "nbgrader_config.py").read_bytes() == config
        assert (course / "release").is_dir() and (course / "gradebook.db").is_file()
    # A student whose only notebook is invalid is recorded, not a crashed worker.
    assert "eve: graded" in done.stdout and "eve: graded in" in done.stdout
    assert "worker reported problems" not in done.stdout.split("eve: graded", 1)[1].splitlines()[0]
    with open(tmp_path / "grades.csv") as handle:
        rows = {r["student"]: r for r in csv.DictReader(handle)}
    assert (float(rows["ada"]["score"]), float(rows["bob"]["score"]), float(rows["eve"]["score"])) == (5, 0, 0)
    assert "not JSON" in rows["eve"]["problems"]
    assert "ada: 5 / 5" in done.stdout
    assert list((course / "feedback" / "ada" / LESSON).glob("*.html"))
    # Feedback that reaches each student: their HTML and their scores alone (issue 36).
    done = subprocess.run(cli + ["export", "--course", str(course), "--feedback-bundles",
                                 str(tmp_path / "bundles")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(tmp_path / "bundles" / "ada.zip") as bundle:
        names = bundle.namelist()
        scores = bundle.read("ada/scores.csv").decode()
    assert f"ada/{LESSON}/{LESSON}.html" in names and all(n.startswith("ada/") for n in names)
    (row,) = csv.DictReader(scores.splitlines())
    assert (row["lesson"], float(row["score"]), float(row["max_score"])) == (LESSON, 5, 5)


def test_autograde_without_release_says_what_to_do(tmp_path):
    done = subprocess.run([sys.executable, "-m", "cifar_course.cli", "grade", "autograde",
                           str(tmp_path), "--course", str(tmp_path / "nowhere")],
                          capture_output=True, text=True)
    assert done.returncode != 0 and "cifar-course grade release" in done.stderr


def test_killing_the_grader_ends_its_workers_and_kernels(tmp_path):
    import os
    import signal
    import time

    from cifar_course.grading import autograde
    from cifar_course.grading.lessons import release

    solutions, course = course_to_release(tmp_path, [LESSON], "course")
    release(solutions, course)
    endless = insert_after_answers(released_and_filled_in(LESSON, course), "while True:\n    pass")
    write_submission(endless, tmp_path / "subs" / "looper", LESSON)
    autograde.collect(tmp_path / "subs", course)

    from cifar_course.grading.sandbox import descendants

    def processes():
        out = subprocess.run(["ps", "-ww", "-eo", "pid=,args="], capture_output=True, text=True)
        return dict(line.strip().split(None, 1) for line in out.stdout.splitlines() if line.strip())

    def workers():
        return [int(pid) for pid, args in processes().items() if f"autograde {course}" in args]

    def kernels_of(pids):  # this grader's kernels only: other notebooks may run on the machine
        running = processes()
        return {child for pid in pids for child in descendants(pid)
                if "ipykernel_launcher" in running.get(str(child), "")}

    log = tmp_path / "grader.log"
    with open(log, "w") as output:
        grader = subprocess.Popen(
            [sys.executable, "-c", "from cifar_course.grading import autograde; "
             f"autograde.autograde_all({str(course)!r}, ['looper'], profile='smoke')"],
            start_new_session=True, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 180
        while not kernels_of(workers()):
            assert time.time() < deadline and grader.poll() is None, (
                f"no worker and kernel running; the grader said: {log.read_text()[-2000:]}")
            time.sleep(1)
        kernels = kernels_of(workers())
        os.kill(grader.pid, signal.SIGKILL)
        grader.wait()
        deadline = time.time() + 15
        while (workers() or kernels & set(map(int, processes()))) and time.time() < deadline:
            time.sleep(0.5)
        assert not workers(), "a worker outlived the grader"
        assert not kernels & set(map(int, processes())), "its kernel outlived the grader"
    finally:
        if grader.poll() is None:
            grader.kill()
