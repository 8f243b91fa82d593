"""The real nbgrader, end to end: release, collect, autograde (in parallel), flags, export.

One class of students, each a kind of submission, graded once for the module
(smoke profile: the grading machinery is under test here, not the metrics).
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from notebooks import (REPO, SOLUTIONS, insert_after_answers, nbgrader_meta,
                       released_and_filled_in, write_submission)

pytest.importorskip("nbgrader", reason="autograding needs nbgrader: pip install -e '.[dev]'")
pytestmark = pytest.mark.long

LESSON = "00_setup_and_data"  # no training: the cheapest lesson, 5 points
TRAINING_LESSON = "05_adamw"  # 10 points: mechanism, structure and metric tests
ACCURACY_CELL = "test_adamw_accuracy"


filled_in = released_and_filled_in


def write(notebook, folder: Path, lesson: str = LESSON) -> Path:
    return write_submission(notebook, folder, lesson)


def first_test_cell(notebook):
    return next(c for c in notebook.cells if nbgrader_meta(c).get("grade"))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Release, make one submission per case, autograde with --jobs 2; return what came out."""
    from cifar_course.grading import autograde
    from cifar_course.grading.lessons import release

    root = tmp_path_factory.mktemp("grading")
    course = root / "course"
    course.mkdir()
    shutil.copy(REPO / "autograder" / "nbgrader_config.py", course)
    solutions = root / "solutions"
    solutions.mkdir()
    for lesson in (LESSON, TRAINING_LESSON):
        shutil.copy(SOLUTIONS / f"{lesson}.ipynb", solutions)
    release(solutions, course)

    subs = root / "submissions"
    correct = filled_in(LESSON, course)
    write(correct, subs / "correct")
    write(filled_in(TRAINING_LESSON, course), subs / "correct", TRAINING_LESSON)
    write(nbformat.read(course / "release" / LESSON / f"{LESSON}.ipynb", as_version=4), subs / "untouched")

    edited = filled_in(LESSON, course)
    first_test_cell(edited).source = "pass  # the test, made to pass"
    write(edited, subs / "edited")
    deleted = filled_in(LESSON, course)
    deleted.cells.remove(first_test_cell(deleted))
    write(deleted, subs / "deleted")

    write(insert_after_answers(filled_in(LESSON, course), "while True:\n    pass"), subs / "endless")
    write(insert_after_answers(filled_in(LESSON, course), "import os\nos._exit(1)"), subs / "dies")
    # A loop that ignores the interrupt, before everything else: the kernel is restarted
    # after the timeout and the rest of the notebook runs in the fresh one.
    stubborn = filled_in(LESSON, course)
    stubborn.cells.insert(0, nbformat.v4.new_code_cell(
        "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n"
        "    time.sleep(0.1)"))
    write(stubborn, subs / "ignores_interrupt")
    # A correct answer that makes a library warn inside the test cells
    # (nbgrader alone would score a cell with stderr output zero).
    write(insert_after_answers(filled_in(LESSON, course), """
import warnings
_channel_statistics = channel_statistics
def channel_statistics(images):
    warnings.warn("a library's warning", UserWarning)
    return _channel_statistics(images)
"""), subs / "warns")
    (subs / "notjson" / LESSON).mkdir(parents=True)
    (subs / "notjson" / LESSON / f"{LESSON}.ipynb").write_text('{"cells": [ oops')
    write(filled_in(TRAINING_LESSON, course), subs / "notjson", TRAINING_LESSON)

    # Wrong answer plus every trick on the checks: a no-op check, numpy's
    # comparison forced true, and the references file rewritten.
    cheat = filled_in(LESSON, course)
    for cell in cheat.cells:
        if nbgrader_meta(cell).get("grade_id") == "channel_statistics":
            cell.source = ("import numpy as np\ndef channel_statistics(images):\n"
                           "    return np.zeros(3), np.ones(3)\n")
    insert_after_answers(cheat, """
import numpy as np
from cifar_course.grading import checks
from cifar_course.references import shipped_references_path
checks.check_channel_statistics = lambda *args, **kwargs: None
np.allclose = lambda *args, **kwargs: True
path = shipped_references_path()
try:
    path.write_text(path.read_text().replace('"mean": 0.', '"mean": 0.0'))
except OSError:
    pass
""")
    write(cheat, subs / "cheater")

    # A wrong answer plus one trick on the kernel's side each (issue 13): none decides
    # anything now, since the grader decides from the saved answer after the notebook ran.
    tricks = {
        "replaces_run_isolated": "import cifar_course.grading.isolated as isolated\n"
                                 "isolated.run_isolated = lambda *args, **kwargs: None",
        "fakes_subprocess": "import subprocess, types\nsubprocess.run = lambda *a, **k: "
                            "types.SimpleNamespace(stdout='{\"passed\": true, \"message\": \"\"}',"
                            " stderr='', returncode=0)",
        "skips_grading_cells": "ip = get_ipython()\nip.input_transformers_post.append(lambda lines: "
                               "['pass\\n'] if any('cifar_course.grading' in l for l in lines) else lines)",
        "clears_errors": "ip = get_ipython()\nip.set_custom_exc((Exception,), lambda *a, **k: None)",
    }
    for student, trick in tricks.items():
        notebook = filled_in(LESSON, course)
        for cell in notebook.cells:
            if nbgrader_meta(cell).get("grade_id") == "channel_statistics":
                cell.source = ("import numpy as np\ndef channel_statistics(images):\n"
                               "    return np.zeros(3), np.ones(3)\n")
        write(insert_after_answers(notebook, trick), subs / student)

    # Forged answers (issue 32): the test cell is skipped (it runs `pass`, raises nothing and
    # saves nothing), and a correct answer is written for it before and after the cell,
    # where the grader once read it. Only what a test cell saves while it runs counts.
    forge = """
import importlib, json, os, pathlib
save_answer = importlib.import_module("cifar_course." + "grading.isolated").save_answer
def _right(images):
    pixels = np.asarray(images, dtype=np.float64).reshape(-1, images.shape[-1])
    return pixels.mean(axis=0), pixels.std(axis=0)
_root = pathlib.Path(json.loads(os.environ.get("CIFAR_COURSE_GRADER", "{}")).get("answers")
                     or "/nonexistent")
print("forger: the answers folder is", _root, "and exists:", _root.is_dir())
if _root.is_dir():
    save_answer("check_channel_statistics", {"channel_statistics": _right},
                _root / "check_channel_statistics-0")
"""
    forger = filled_in(LESSON, course)
    for cell in forger.cells:
        if nbgrader_meta(cell).get("grade_id") == "channel_statistics":
            cell.source = ("import numpy as np\ndef channel_statistics(images):\n"
                           "    return np.zeros(3), np.ones(3)\n" + forge +
                           "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'] "
                           "if any('cifar_course.grading' in l for l in lines) else lines)\n")
    forger.cells.append(nbformat.v4.new_code_cell(forge))
    write(forger, subs / "forges_answers")

    # A loopback listener on the grader's machine (another kernel, a service): the
    # kernel, in a network namespace of its own, must not reach it.
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    write(insert_after_answers(filled_in(LESSON, course), f"""
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=5).close()
    reached = "connected"
except OSError as error:
    reached = type(error).__name__
print("LOOPBACK " + reached)
"""), subs / "listens")

    # 200 processes at once (issue 32: all went through): a kernel may run at most
    # sandbox.KERNEL_TASKS tasks, where the machine lets the grader make a pids cgroup.
    write(insert_after_answers(filled_in(LESSON, course), """
import os, time
forked = 0
try:
    for _ in range(200):
        if os.fork() == 0:
            time.sleep(3)
            os._exit(0)
        forked += 1
except OSError:
    pass
print("FORKED", forked)
for _ in range(forked):
    os.wait()
"""), subs / "forks")

    # What a sandboxed kernel can reach: each attempt is reported, none may succeed.
    write(insert_after_answers(filled_in(LESSON, course), f"""
import json, os, pathlib
course = pathlib.Path({str(course)!r})
attempts = {{
    "read gradebook": lambda: (course / "gradebook.db").read_bytes(),
    "list submissions": lambda: os.listdir(course / "submitted"),
    "read hidden tests": lambda: list((course / "source").rglob("*.ipynb"))[0].read_text(),
    "read solutions": lambda: os.listdir({str(REPO / "solutions")!r}),
    "write the course": lambda: (course / "pwned").write_text("x"),
    "write the package": lambda: open({str(REPO / "cifar_course" / "stages.py")!r}, "a").write("#"),
    "read the real CIFAR-10": lambda: open({str(REPO.parent / "shared" / "data" / "cifar10-jpeg.tar.gz")!r}, "rb").read(16),
}}
report = {{}}
for name, attempt in attempts.items():
    try:
        attempt()
        report[name] = "succeeded"
    except Exception as error:
        report[name] = type(error).__name__
print("SANDBOX " + json.dumps(report))
"""), subs / "snoops")

    renamed = filled_in(TRAINING_LESSON, course)
    next(c for c in renamed.cells if nbgrader_meta(c).get("grade_id") == ACCURACY_CELL
         ).metadata.nbgrader["grade_id"] = "my_own_id"
    write(renamed, subs / "renamed", TRAINING_LESSON)

    diverges = filled_in(TRAINING_LESSON, course)
    for cell in diverges.cells:
        if nbgrader_meta(cell).get("grade_id") == "make_optimizer":
            cell.source = cell.source.replace("learning_rate=learning_rate", "learning_rate=1e12")
            assert "1e12" in cell.source
    write(diverges, subs / "diverges", TRAINING_LESSON)

    # A zip of a flat folder: the other collect path.
    with zipfile.ZipFile(subs / "zipped.zip", "w") as archive:
        archive.writestr(f"work/{LESSON}.ipynb", nbformat.writes(correct))

    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in subs.rglob("*") if p.is_file()}
    autograde.collect(subs, course)
    # The endless cell must hit the timeout; make it short for the test.
    config = course / "nbgrader_config.py"
    config.write_text(config.read_text().replace("c.Execute.timeout = 600", "c.Execute.timeout = 60"))
    students = sorted(p.name for p in (course / "submitted").iterdir() if p.name != "cheater")
    seconds = autograde.autograde_all(course, students, jobs=2, profile="smoke",
                                      log=lambda *a: None)
    # The cheater rewrites the installed references: graded alone, so that no
    # other student's hidden test runs while the file is altered, then restored.
    installed = REPO / "cifar_course" / "references" / "references.json"
    references = installed.read_bytes()
    try:  # unsandboxed: the sandbox would stop the write; the install digest is the other guard
        autograde.autograde_all(course, ["cheater"], profile="smoke", sandbox="none",
                                log=lambda *a: None)
    finally:
        if installed.read_bytes() != references:
            installed.write_bytes(references)
    listener.close()
    rows = autograde.export_csv(course, root / "grades.csv")
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in subs.rglob("*") if p.is_file()}
    scores = {(r["student"], r["lesson"]): r for r in rows}
    return {"course": course, "root": root, "subs": subs, "scores": scores, "before": before,
            "after": after, "seconds": seconds}


def points(graded, grade_id, lesson=TRAINING_LESSON):
    released = nbformat.read(graded["course"] / "release" / lesson / f"{lesson}.ipynb", as_version=4)
    return next(nbgrader_meta(c)["points"] for c in released.cells
                if nbgrader_meta(c).get("grade_id") == grade_id)


def score(graded, student, lesson=LESSON):
    return graded["scores"][(student, lesson)]["score"]


def problems(graded, student, lesson=LESSON):
    return graded["scores"][(student, lesson)]["problems"]


def test_correct_submission_gets_full_points(graded):
    assert score(graded, "correct") == 5
    assert score(graded, "correct", TRAINING_LESSON) == 10
    assert score(graded, "zipped") == 5


def test_a_warning_in_a_test_cell_costs_no_points(graded):
    assert score(graded, "warns") == 5
    autograded = nbformat.read(graded["course"] / "autograded" / "warns" / LESSON / f"{LESSON}.ipynb",
                               as_version=4)
    streams = [o for c in autograded.cells if nbgrader_meta(c).get("grade")
               for o in c.get("outputs", []) if o.output_type == "stream"]
    assert any("a library's warning" in o.text for o in streams)  # kept for the feedback
    assert not any(o.name == "stderr" for o in streams)


def test_untouched_release_gets_zero_without_crashing(graded):
    assert score(graded, "untouched") == 0
    assert (graded["course"] / "autograded" / "untouched" / LESSON / f"{LESSON}.ipynb").exists()


def test_edited_or_deleted_test_cell_is_flagged_and_scores_nothing(graded):
    assert score(graded, "edited") == 0
    assert "test_channel_statistics was edited" in problems(graded, "edited")
    assert score(graded, "deleted") == 0
    assert "test_channel_statistics was deleted" in problems(graded, "deleted")


def test_endless_cell_times_out_and_the_rest_is_graded(graded):
    assert score(graded, "endless") == 5
    autograded = nbformat.read(graded["course"] / "autograded" / "endless" / LESSON / f"{LESSON}.ipynb", as_version=4)
    names = [o.get("ename") for c in autograded.cells for o in c.get("outputs", [])]
    assert "CellTimeoutError" in names


def test_a_cell_that_ignores_the_interrupt_loses_only_itself(graded):
    assert score(graded, "ignores_interrupt") == 5
    autograded = nbformat.read(graded["course"] / "autograded" / "ignores_interrupt" / LESSON
                               / f"{LESSON}.ipynb", as_version=4)
    errors = [o.evalue for o in autograded.cells[0].outputs if o.output_type == "error"]
    assert any("ignored the interrupt, so the kernel was restarted" in e for e in errors), errors


def test_dead_kernel_is_graded_as_far_as_it_got(graded):
    assert score(graded, "dies") == 0  # died before its test cell ran: no free points
    autograded = nbformat.read(graded["course"] / "autograded" / "dies" / LESSON / f"{LESSON}.ipynb", as_version=4)
    names = [o.get("ename") for c in autograded.cells for o in c.get("outputs", [])]
    assert "KernelDied" in names
    assert score(graded, "correct") == 5  # the others were graded


def test_invalid_json_is_a_clear_error_for_that_student_only(graded):
    assert score(graded, "notjson") == 0
    assert "not JSON" in problems(graded, "notjson")
    assert score(graded, "notjson", TRAINING_LESSON) == 10


def test_cheating_on_checks_or_references_changes_nothing(graded):
    assert score(graded, "cheater") == 0
    assert "changed while this notebook ran" in problems(graded, "cheater")


def test_a_sandboxed_kernel_sees_neither_the_course_nor_the_instructor(graded):
    import json

    report = json.loads(printed(graded, "snoops").split("SANDBOX ", 1)[1].splitlines()[0])
    reads = {k: v for k, v in report.items() if k.startswith(("read", "list"))}
    assert len(reads) == 5 and "succeeded" not in reads.values(), report
    assert report["write the package"] != "succeeded", report
    # Under /tmp (as here) the folders above the kernel's own lie in its private /tmp:
    # a write there may succeed inside the sandbox, and never reaches the course.
    assert not (graded["course"] / "pwned").exists()
    assert score(graded, "snoops") == 5  # its answers are still graded


def test_a_changed_grade_id_loses_only_that_cell(graded):
    assert score(graded, "renamed", TRAINING_LESSON) == 10 - points(graded, ACCURACY_CELL)
    assert "grade_id changed to 'my_own_id'" in problems(graded, "renamed", TRAINING_LESSON)


@pytest.mark.parametrize("student", ["replaces_run_isolated", "fakes_subprocess",
                                     "skips_grading_cells", "clears_errors"])
def test_the_kernel_cannot_decide_its_own_grade(graded, student):
    """Each trick once gave a wrong answer full marks; the grader now decides outside."""
    assert score(graded, student) == 0


def printed(graded, student, lesson=LESSON) -> str:
    """Everything a student's autograded notebook printed."""
    autograded = nbformat.read(graded["course"] / "autograded" / student / lesson
                               / f"{lesson}.ipynb", as_version=4)
    return "".join(o.get("text", "") for c in autograded.cells for o in c.get("outputs", []))


def graded_errors(graded, student, lesson=LESSON) -> list[str]:
    autograded = nbformat.read(graded["course"] / "autograded" / student / lesson
                               / f"{lesson}.ipynb", as_version=4)
    return [o.evalue for c in autograded.cells if nbgrader_meta(c).get("grade")
            for o in c.get("outputs", []) if o.output_type == "error"]


def test_a_verdict_names_the_grader_and_the_missing_answer(graded):
    # The visible check raised: the cell scores nothing, whatever was saved.
    assert any("this test cell raised (AssertionError" in e
               for e in graded_errors(graded, "replaces_run_isolated"))
    # The test cell ran `pass`: it raised nothing, and saved no answer.
    assert any("no answer was saved while its test cell ran" in e
               for e in graded_errors(graded, "skips_grading_cells"))


def test_a_kernel_runs_a_bounded_number_of_processes_and_is_still_graded(graded):
    from cifar_course.grading.sandbox import KERNEL_TASKS, remove_group, task_limited_group

    forked = int(printed(graded, "forks").split("FORKED ", 1)[1].split()[0])
    readme = " ".join((REPO / "README.md").read_text().split())
    assert f"at most {KERNEL_TASKS} processes and threads" in readme  # the README's figure
    group = task_limited_group()
    if group is None:
        pytest.skip("no pids cgroup can be made on this machine: the bound does not apply")
    remove_group(group)
    assert forked < KERNEL_TASKS < 200
    assert score(graded, "forks") == 5


def test_answers_written_outside_their_test_cell_count_for_nothing(graded):
    # The attack is real: the kernel found the folder the grader gave it for answers.
    assert "exists: True" in printed(graded, "forges_answers")
    assert score(graded, "forges_answers") == 0
    assert any("no answer was saved while its test cell ran" in e
               for e in graded_errors(graded, "forges_answers"))


def test_a_kernel_reaches_no_loopback_listener_and_is_still_graded(graded):
    reached = printed(graded, "listens").split("LOOPBACK ", 1)[1].split()[0]
    assert reached in ("ConnectionRefusedError", "OSError", "TimeoutError"), reached
    assert score(graded, "listens") == 5


def test_diverging_training_fails_with_a_clear_message(graded):
    # Every test but the accuracy one still passes.
    assert score(graded, "diverges", TRAINING_LESSON) == 10 - points(graded, ACCURACY_CELL)
    from cifar_course.grading.autograde import generate_feedback

    html = "".join(p.read_text() for p in generate_feedback(graded["course"], ["diverges"]))
    assert "training diverged" in html
    assert "run_isolated" not in html and "HIDDEN TESTS" not in html  # verdicts, not source


def test_submissions_are_never_modified(graded):
    assert graded["before"] == graded["after"]


def test_regrading_sequentially_gives_the_same_grades(graded):
    from cifar_course.grading import autograde

    course = graded["course"]
    students = ["correct", "untouched", "edited", "dies"]
    autograde.autograde_all(course, students, jobs=1, profile="smoke", log=lambda *a: None)
    again = {(r["student"], r["lesson"]): r["score"]
             for r in autograde.export_csv(course, graded["root"] / "again.csv")}
    for key, row in graded["scores"].items():
        if key[0] in students:
            assert again[key] == row["score"], key


def test_csv_export_has_every_student_and_lesson(graded):
    with open(graded["root"] / "grades.csv") as handle:
        rows = list(csv.DictReader(handle))
    students = {r["student"] for r in rows}
    assert {"correct", "untouched", "cheater", "notjson", "zipped"} <= students
    assert all(r["max_score"] for r in rows)


def course_copy(graded, folder: Path) -> Path:
    """A copy of the graded class, for a test that stops a regrade part-way: that leaves a
    student half regraded, which the tests reading the class afterwards (the exports) must
    not see."""
    course = folder / "course"
    shutil.copytree(graded["course"], course, symlinks=True)
    return course


def test_gradebook_stays_readable_after_a_killed_grader(graded, tmp_path):
    from nbgrader.api import Gradebook

    course = course_copy(graded, tmp_path)
    worker = subprocess.Popen([sys.executable, "-m", "cifar_course.grading.autograde", str(course),
                               "correct"], cwd=course)
    try:
        worker.wait(timeout=8)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        assert {s.id for s in gradebook.students} >= {"correct", "untouched"}


def test_parallel_workers_split_the_cores(monkeypatch):
    from cifar_course.config import RunConfig
    from cifar_course.threads import threads_per_worker

    unset = RunConfig()
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setattr("cifar_course.threads.cpu_quota", lambda: None)
    assert threads_per_worker(1, unset) is None  # one worker: torch's default
    assert threads_per_worker(2, unset) == 4
    assert threads_per_worker(16, unset) == 1
    # A container given half a CPU of an 8-core host (Gradescope's default): one thread.
    monkeypatch.setattr("cifar_course.threads.cpu_quota", lambda: 0.5)
    assert threads_per_worker(1, unset) == 1 and threads_per_worker(2, unset) == 1
    # The instructor's own setting wins.
    mine = RunConfig.from_environment({"OMP_NUM_THREADS": "3"})
    assert threads_per_worker(2, mine) is None


def test_a_containers_cpu_quota_is_read_from_its_cgroup(tmp_path):
    from cifar_course.threads import cpu_quota

    assert cpu_quota(tmp_path) is None
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert cpu_quota(tmp_path) == 0.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cpu_quota(tmp_path) is None
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("200000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu_quota(tmp_path) == 2.0


def test_a_student_past_the_time_limit_is_recorded_and_the_class_goes_on(graded, tmp_path):
    from cifar_course.grading import autograde

    from cifar_course.config import GraderSettings, RunConfig

    config = RunConfig(profile="smoke", grader=GraderSettings(sandbox="none"))
    student, status, output, _ = autograde.autograde_student(course_copy(graded, tmp_path),
                                                             "correct", config, timeout=2)
    assert student == "correct" and status == autograde.TIME_LIMIT_STATUS
    assert "not graded: over the grader's time limit" in output


def test_a_void_lesson_scores_zero_and_its_questions_stay_to_be_graded_by_hand(graded, tmp_path,
                                                                              monkeypatch):
    """A worker reports a lesson void (the install changed while it ran). The tamper check
    that follows once cleared the zeros of its intact cells, giving its points back, and the
    void had zeroed its written questions, which then no longer read as graded by hand."""
    from cifar_course.grading import autograde
    from cifar_course.grading.exports import gradescope_results

    course = course_copy(graded, tmp_path)

    def voiding_worker(course, student, config, timeout=None):
        return student, 1, f"{autograde.ZERO_MARK}{TRAINING_LESSON}\n", 0.0

    monkeypatch.setattr(autograde, "autograde_student", voiding_worker)
    autograde.autograde_all(course, ["correct"], jobs=1, profile="smoke", sandbox="none",
                            log=lambda *a: None)
    rows = {r["lesson"]: r["score"] for r in autograde.export_csv(course, tmp_path / "grades.csv")
            if r["student"] == "correct"}
    assert rows == {LESSON: 5, TRAINING_LESSON: 0}
    by_hand = [t["name"] for t in gradescope_results(course, "correct")["tests"]
               if "graded by hand" in t.get("output", "")]
    assert by_hand and all(TRAINING_LESSON in name for name in by_hand), by_hand


def test_canvas_and_gradescope_exports(graded):
    import json

    from cifar_course.grading.exports import canvas_csv, export_gradescope

    rows = list(graded["scores"].values())
    path = canvas_csv(rows, graded["root"] / "canvas.csv")
    with open(path) as handle:
        table = list(csv.reader(handle))
    assert table[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert table[1][0] == "Points Possible" and LESSON in table[0]
    correct = next(r for r in table if r[0] == "correct")
    assert float(correct[table[0].index(LESSON)]) == 5 and correct[3] == "correct"

    written = export_gradescope(graded["course"], graded["root"] / "gradescope")
    results = json.loads(next(p for p in written if p.parent.name == "correct").read_text())
    assert results["score"] == sum(t["score"] for t in results["tests"]) >= 15
    for test in results["tests"]:
        assert {"name", "score", "max_score", "visibility"} <= set(test)
        assert 0 <= test["score"] <= test["max_score"]
    by_hand = [t for t in results["tests"] if "graded by hand" in t.get("output", "")]
    assert by_hand and all(TRAINING_LESSON in t["name"] and t["score"] == 0 for t in by_hand), \
        [(t["name"], t["score"], t.get("output", "")[:80]) for t in results["tests"]]
