"""Due dates and the late policy: the policy's arithmetic, and the nbgrader path end to end
(``grade due``, the LMS export's times, the CSV, Canvas, Gradescope and feedback exports)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime, timedelta

import nbformat
import pytest

from notebooks import REPO, SOLUTIONS

pytestmark = pytest.mark.long  # one test grades a class through the command line

LESSON = "00_setup_and_data"
CLI = [sys.executable, "-m", "cifar_course.cli", "grade"]
DUE = "2026-12-10T23:59+01:00"


def test_the_penalty_counts_started_days_and_closes_with_the_window():
    from cifar_course.grading.late import LatePolicy, parse_time

    policy = LatePolicy(parse_time(DUE), parse_time("2026-12-13T23:59+01:00"), 0.1)
    assert policy.penalty(8.0, 0) == (0.0, "")
    assert policy.penalty(8.0, 60)[0] == 0.8  # a minute late is a started day
    assert policy.penalty(8.0, 86400 + 1)[0] == 1.6
    points, why = policy.penalty(8.0, 3 * 86400 + 60)  # after the window
    assert points == 8.0 and "after late submissions closed" in why
    assert LatePolicy(parse_time(DUE), None, 0.5).penalty(8.0, 30 * 86400)[0] == 8.0


@pytest.mark.parametrize("text, message", [
    ("2026-12-10T23:59", "has no time zone"),
    ("next friday", "is not a time"),
])
def test_times_without_a_zone_or_unreadable_are_refused(text, message):
    from cifar_course.grading.late import parse_time

    with pytest.raises(ValueError, match=message):
        parse_time(text)


def test_a_policy_that_makes_no_sense_is_refused():
    from cifar_course.grading.late import LatePolicy, parse_time

    with pytest.raises(ValueError, match="not a fraction"):
        LatePolicy(parse_time(DUE), None, 10)
    with pytest.raises(ValueError, match="before the due date"):
        LatePolicy(parse_time(DUE), parse_time("2026-12-01T00:00Z"), 0.1)


def test_late_submissions_are_penalised_in_every_export(tmp_path):
    pytest.importorskip("nbgrader", reason="autograding needs nbgrader: pip install -e '.[dev]'")
    from notebooks import fill_in_solutions

    (tmp_path / "solutions").mkdir()
    shutil.copy(SOLUTIONS / f"{LESSON}.ipynb", tmp_path / "solutions")
    course = tmp_path / "autograder"
    course.mkdir()
    shutil.copy(REPO / "autograder" / "nbgrader_config.py", course)
    run = lambda *args: subprocess.run(CLI + list(args), capture_output=True, text=True)  # noqa: E731
    assert run("release", "--course", str(course), "--solutions", str(tmp_path / "solutions")).returncode == 0
    refused = run("due", "--course", str(course), "--lesson", "99_nothing", "--due", DUE)
    assert refused.returncode == 1 and "not a released lesson" in refused.stderr
    refused = run("due", "--course", str(course), "--lesson", LESSON, "--due", "2026-12-10T23:59")
    assert refused.returncode == 1 and "has no time zone" in refused.stderr
    set_due = run("due", "--course", str(course), "--lesson", LESSON, "--due", DUE,
                  "--late-until", "2026-12-12T23:59+01:00", "--penalty-per-day", "0.2")
    assert set_due.returncode == 0 and f"{LESSON}: due 2026-12-10T23:59:00+01:00" in set_due.stdout

    released = course / "release" / LESSON / f"{LESSON}.ipynb"
    subs = tmp_path / "submissions"
    due = datetime.fromisoformat(DUE)
    times = {"early": due - timedelta(hours=1), "late": due + timedelta(hours=30),
             "closed": due + timedelta(days=3)}
    for student in [*times, "untimed"]:
        (subs / student).mkdir(parents=True)
        nbformat.write(fill_in_solutions(released, SOLUTIONS / f"{LESSON}.ipynb"),
                       subs / student / f"{LESSON}.ipynb")
        # A student's own timestamp is theirs to write, so it is never read.
        (subs / student / "timestamp.txt").write_text("2020-01-01T00:00:00+00:00")
    with open(tmp_path / "times.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "submitted_at"])
        writer.writerows([s, t.isoformat()] for s, t in times.items())
    graded = run("autograde", str(subs), "--course", str(course), "--profile", "smoke",
                 "--submitted-at", str(tmp_path / "times.csv"), "--canvas", str(tmp_path / "canvas.csv"),
                 "--gradescope", str(tmp_path / "gs"), "--feedback-bundles", str(tmp_path / "fb"))
    assert graded.returncode == 0, graded.stdout + graded.stderr

    with open(course / "grades.csv") as handle:
        rows = {r["student"]: r for r in csv.DictReader(handle)}
    assert {s: float(r["raw_score"]) for s, r in rows.items()} == dict.fromkeys(rows, 5.0)
    assert {s: float(r["score"]) for s, r in rows.items()} == {
        "early": 5, "late": 3, "closed": 0, "untimed": 5}
    assert float(rows["late"]["hours_late"]) == 30 and float(rows["late"]["late_penalty"]) == 2
    assert "40% of the score taken" in rows["late"]["late"]
    assert "after late submissions closed" in rows["closed"]["late"]
    assert rows["untimed"]["submitted_at"] == "" and rows["early"]["late"] == ""
    with open(tmp_path / "canvas.csv") as handle:
        canvas = {r[0]: r for r in csv.reader(handle)}
    assert float(canvas["late"][5]) == 3 and float(canvas["closed"][5]) == 0
    results = json.loads((tmp_path / "gs" / "late" / "results.json").read_text())
    assert results["score"] == 3 and "40% of the score taken" in results["output"]
    with zipfile.ZipFile(tmp_path / "fb" / "late.zip") as bundle:
        scores = bundle.read("late/scores.csv").decode()
    assert "40% of the score taken" in scores
