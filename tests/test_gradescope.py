"""The Gradescope autograder zip, run as Gradescope runs it.

The zip is built from the CLI, unpacked into a tree laid out as ``/autograder``
(``source/`` the zip, ``submission/``, ``submission_metadata.json``,
``results/``), and ``run_autograder`` runs in a bubblewrap container where that
tree is ``/autograder``, as root, with no user namespaces left for the grader
(as in Gradescope's container), so each kernel runs as ``nobody``
(``benchmarks/gradescope.py`` holds the layout). The container's
``/autograder/venv`` is this test's Python environment, standing in for the
one ``setup.sh`` installs. Lesson 00 in the smoke profile: the platform is
under test here, not the metrics.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from benchmark_scripts import load_benchmark
from notebooks import REPO, SOLUTIONS

pytest.importorskip("nbgrader", reason="autograding needs nbgrader: pip install -e '.[dev]'")
pytestmark = pytest.mark.long

LESSON = "00_setup_and_data"
OTHER_LESSON = "01_baseline_cnn"
CLI = [sys.executable, "-m", "cifar_course.cli", "grade"]
# Gradescope's results.json fields (its autograder specification).
RESULT_FIELDS = {"score", "execution_time", "output", "output_format", "test_output_format",
                 "test_name_format", "visibility", "stdout_visibility", "extra_data", "tests",
                 "leaderboard"}
TEST_FIELDS = {"score", "max_score", "status", "name", "name_format", "number", "output",
               "output_format", "tags", "visibility", "extra_data"}
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
DUE = "2026-12-10T23:59:00.000000-08:00"
LATE_DUE = "2026-12-12T23:59:00.000000-08:00"
HOSTILE = """
import os, subprocess
tried = {}
for path in ["/autograder/source/course/gradebook.db", "/autograder/source/cifar-course.json",
             "/autograder/work/course/gradebook.db",
             "/autograder/work/course/source/00_setup_and_data/00_setup_and_data.ipynb"]:
    try:
        open(path, "rb").read(1)
        tried[path] = "READ"
    except OSError as error:
        tried[path] = type(error).__name__
for path in ["/autograder/results/results.json", "/autograder/work/course/nbgrader_config.py"]:
    try:
        open(path, "w").write("{}")
        tried[path] = "WROTE"
    except OSError as error:
        tried[path] = type(error).__name__
try:
    os.listdir("/autograder/work/course")
    tried["list course"] = "LISTED"
except OSError as error:
    tried["list course"] = type(error).__name__
# A process left behind (forked twice: no longer the kernel's child), to act once the
# grader has moved on: it notes that it lives, and whether the notebook here has been
# rewritten (with its outputs: nbgrader does that after the kernel and the checker are done).
size = os.path.getsize("00_setup_and_data.ipynb")
subprocess.run(["sh", "-c", f"(while true; do if [ $(stat -c %s 00_setup_and_data.ipynb) != {size} ]; "
                "then echo after-the-notebook >> alive.txt; else date +%s.%N >> alive.txt; fi; "
                "sleep 0.05; done) &"], start_new_session=True)
print("uid", os.getuid(), "tried", tried)
"""


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    if os.geteuid() != 0 or shutil.which("bwrap") is None or shutil.which("setpriv") is None:
        pytest.skip("running Gradescope's layout needs root, bubblewrap and setpriv "
                    "(apt-get install bubblewrap util-linux)")
    root = tmp_path_factory.mktemp("gradescope")
    course = root / "autograder"
    course.mkdir()
    shutil.copy(REPO / "autograder" / "nbgrader_config.py", course)
    out = root / "autograder.zip"
    built = subprocess.run(CLI + ["gradescope", "--course", str(course), "--solutions",
                                  str(SOLUTIONS), "--lessons", LESSON, "--profile", "smoke",
                                  "--penalty-per-day", "0.1", "--out", str(out)],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stdout + built.stderr
    return out


def run_in_gradescope(autograder_zip: Path, folder: Path, files: dict, metadata: dict | None):
    """Lay out /autograder as Gradescope does, run run_autograder, return results.json."""
    layout = load_benchmark("gradescope")
    tree = folder / "autograder"
    layout.lay_out(tree, autograder_zip, files, metadata)
    results, seconds, peak = layout.run_autograder(tree, timeout=900)
    memory = f", peak memory {peak / 2**20:.0f} MB" if peak else ""
    print(f"\nGradescope layout: {seconds:.0f} s for this submission{memory}")
    return results, tree


def valid_results(results: dict) -> dict:
    assert set(results) <= RESULT_FIELDS, set(results) - RESULT_FIELDS
    assert isinstance(results["score"], (int, float)) and results["visibility"] in VISIBILITY
    for test in results["tests"]:
        assert set(test) <= TEST_FIELDS, set(test) - TEST_FIELDS
        assert {"name", "score", "max_score"} <= set(test)
        assert 0 <= test["score"] <= test["max_score"] and test.get("visibility", "visible") in VISIBILITY
    for entry in results.get("leaderboard", []):
        assert set(entry) <= {"name", "value", "order"}
    return results


def metadata(created_at: str) -> dict:
    return {"id": 1, "created_at": created_at, "submission_method": "upload",
            "users": [{"email": "ada@example.edu", "id": 7, "name": "Ada"}],
            "assignment": {"id": 3, "title": LESSON, "due_date": DUE, "late_due_date": LATE_DUE,
                           "release_date": "2026-12-01T00:00:00.000000-08:00"},
            "previous_submissions": []}


def released(autograder_zip: Path, tmp_path: Path, lesson: str = LESSON):
    with zipfile.ZipFile(autograder_zip) as archive:
        return nbformat.reads(archive.read(f"course/release/{lesson}/{lesson}.ipynb").decode(),
                              as_version=4)


def correct(autograder_zip, tmp_path):
    from notebooks import fill_in_solutions

    path = tmp_path / "released.ipynb"
    nbformat.write(released(autograder_zip, tmp_path), path)
    return fill_in_solutions(path, SOLUTIONS / f"{LESSON}.ipynb")


def test_the_zip_holds_what_gradescope_needs(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as archive:
        names = set(archive.namelist())
        settings = json.loads(archive.read("cifar-course.json"))
        setup = archive.read("setup.sh").decode()
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
    assert {"setup.sh", "run_autograder", "cifar-course.json", "course/gradebook.db",
            "course/nbgrader_config.py", f"course/release/{LESSON}/{LESSON}.ipynb",
            f"course/source/{LESSON}/{LESSON}.ipynb"} <= names
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    assert settings["lessons"] == [LESSON] and settings["penalty_per_day"] == 0.1
    assert subprocess.run(["bash", "-n", "-c", setup]).returncode == 0
    assert "cifar-course[grader]==" in setup and "chmod -R go-rwx /autograder/source" in setup


def test_a_real_data_zip_needs_the_references_copy(tmp_path):
    course = tmp_path / "autograder"
    course.mkdir()
    shutil.copy(REPO / "autograder" / "nbgrader_config.py", course)
    built = subprocess.run(CLI + ["gradescope", "--course", str(course), "--lessons", LESSON,
                                  "--solutions", str(SOLUTIONS), "--out", str(tmp_path / "a.zip")],
                           capture_output=True, text=True)
    assert built.returncode == 1 and "--data PATH" in built.stderr
    assert not (tmp_path / "a.zip").exists()


def test_a_correct_submission_under_any_name_gets_full_marks(autograder_zip, tmp_path):
    results, _ = run_in_gradescope(autograder_zip, tmp_path,
                                   {f"work/{LESSON} (1).ipynb": correct(autograder_zip, tmp_path)},
                                   metadata("2026-12-10T20:00:00.000000-08:00"))
    valid_results(results)
    assert results["score"] == 5 and [t["score"] for t in results["tests"]] == [5]
    assert "[grader] passed" in results["tests"][0]["output"]
    assert "unprivileged user" in results["output"] and "late" not in results["output"]


def test_an_untouched_notebook_scores_nothing_and_says_why(autograder_zip, tmp_path):
    results, _ = run_in_gradescope(autograder_zip, tmp_path,
                                   {f"{LESSON}.ipynb": released(autograder_zip, tmp_path)}, None)
    valid_results(results)
    assert results["score"] == 0 and "Error" in results["tests"][0]["output"]


def test_a_hostile_late_submission_reaches_nothing_of_the_graders(autograder_zip, tmp_path):
    notebook = correct(autograder_zip, tmp_path)
    notebook.cells.insert(1, nbformat.v4.new_code_cell(HOSTILE))
    # A day and a half late: within the late window, two started days at 10%.
    results, tree = run_in_gradescope(autograder_zip, tmp_path, {f"{LESSON}.ipynb": notebook},
                                      metadata("2026-12-12T11:59:00.000000-08:00"))
    valid_results(results)
    assert results["tests"][0]["score"] == 5 and results["score"] == 4.0
    assert "36.0 h after the due date: 20% of the score taken" in results["output"]
    folder = tree / "work" / "course" / "autograded" / "submission" / LESSON
    # The kernel user's processes end with the kernel: the one left behind never saw the
    # graded notebook that nbgrader writes after the kernel and the checker are done (it
    # would have, within 0.05 s, and the container lives on to write the results).
    graded = nbformat.read(folder / f"{LESSON}.ipynb", as_version=4)
    printed = graded.cells[1].outputs[0].text
    assert "uid 65534" in printed, printed
    alive = (folder / "alive.txt").read_text().split()
    assert alive and "after-the-notebook" not in alive, (len(alive), alive.count("after-the-notebook"))
    for verdict in ("READ", "WROTE", "LISTED"):
        assert f"'{verdict}'" not in printed, printed


def test_after_the_late_window_it_scores_zero(autograder_zip, tmp_path):
    results, _ = run_in_gradescope(autograder_zip, tmp_path,
                                   {f"{LESSON}.ipynb": correct(autograder_zip, tmp_path)},
                                   metadata("2026-12-13T09:00:00.000000-08:00"))
    valid_results(results)
    assert results["tests"][0]["score"] == 5 and results["score"] == 0
    assert "after late submissions closed" in results["output"]


def test_no_notebook_or_another_lessons_is_told_so(autograder_zip, tmp_path):
    results, _ = run_in_gradescope(autograder_zip, tmp_path, {
        "answers.txt": "my answers",
        "broken.ipynb": "{not json",
        f"{OTHER_LESSON}.ipynb": nbformat.read(REPO / "lessons" / f"{OTHER_LESSON}.ipynb", as_version=4),
    }, None)
    valid_results(results)
    assert results["score"] == 0 and "not submitted" in results["tests"][0]["name"]
    assert "broken.ipynb is not a notebook Jupyter can open" in results["output"]
    assert f"{OTHER_LESSON}.ipynb is none of this assignment's lessons ({LESSON})" in results["output"]

    results, _ = run_in_gradescope(autograder_zip, tmp_path / "empty", {"answers.txt": "x"}, None)
    assert results["score"] == 0 and "no notebook (.ipynb) in the submission (answers.txt)" in results["output"]
