"""Grading in shards (separate processes, as a batch engine runs them), merged into one gradebook."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys

import nbformat
import pytest

from notebooks import REPO, SOLUTIONS

pytest.importorskip("nbgrader", reason="autograding needs nbgrader: pip install -e '.[dev]'")
pytestmark = pytest.mark.long

LESSON = "00_setup_and_data"
CLI = [sys.executable, "-m", "cifar_course.cli", "grade"]


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    """Four students graded as two shards running at once, then merged."""
    from notebooks import fill_in_solutions

    root = tmp_path_factory.mktemp("shards")
    (root / "solutions").mkdir()
    shutil.copy(SOLUTIONS / f"{LESSON}.ipynb", root / "solutions")
    course = root / "autograder"
    course.mkdir()
    shutil.copy(REPO / "autograder" / "nbgrader_config.py", course)
    subprocess.run(CLI + ["release", "--course", str(course), "--solutions",
                          str(root / "solutions")], check=True, capture_output=True)
    released = course / "release" / LESSON / f"{LESSON}.ipynb"
    subs = root / "submissions"
    for student in ("ada", "bob", "cy", "dee"):
        (subs / student).mkdir(parents=True)
        notebook = (nbformat.read(released, as_version=4) if student == "bob"
                    else fill_in_solutions(released, SOLUTIONS / f"{LESSON}.ipynb"))
        nbformat.write(notebook, subs / student / f"{LESSON}.ipynb")
    # The Kubernetes Indexed Job's contract (issue 36): its pod command, run once per
    # JOB_COMPLETION_INDEX (0 and 1) at once, as the Job API would, grades the class.
    import os

    import yaml

    subprocess.run(CLI + ["jobs", str(subs), "--course", str(course), "--shards", "2",
                          "--profile", "smoke"], check=True, capture_output=True)
    job = yaml.safe_load((course / "shards" / "grade-job.yaml").read_text())
    spec = job["spec"]
    assert (job["apiVersion"], job["kind"], spec["completionMode"]) == ("batch/v1", "Job", "Indexed")
    assert spec["completions"] == spec["parallelism"] == 2
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and len(pod["containers"]) == 1
    command = pod["containers"][0]["command"]
    environment = {**os.environ, "PATH": os.pathsep.join([os.path.dirname(sys.executable),
                                                          os.environ.get("PATH", "")])}
    shards = [subprocess.Popen(command, env={**environment, "JOB_COMPLETION_INDEX": str(index)},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
              for index in range(spec["completions"])]
    outputs = [shard.communicate(timeout=900)[0] for shard in shards]
    assert [s.returncode for s in shards] == [0, 0], outputs
    merged = subprocess.run(CLI + ["merge", "--course", str(course)], capture_output=True,
                            text=True)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    return {"root": root, "course": course, "subs": subs, "outputs": outputs, "merge": merged}


def grades(path):
    with open(path) as handle:
        return {r["student"]: float(r["score"]) for r in csv.DictReader(handle)}


def test_each_shard_grades_its_own_students(sharded):
    assert "shard 1 of 2: 2 students" in sharded["outputs"][0]
    assert "ada: 5 / 5" in sharded["outputs"][0] and "cy: 5 / 5" in sharded["outputs"][0]
    assert "bob: 0 / 5" in sharded["outputs"][1] and "dee: 5 / 5" in sharded["outputs"][1]


def test_merged_gradebook_has_the_whole_class(sharded):
    assert "merged 4 graded lessons" in sharded["merge"].stdout
    assert grades(sharded["course"] / "grades.csv") == {"ada": 5, "bob": 0, "cy": 5, "dee": 5}
    assert (sharded["course"] / "autograded" / "dee" / LESSON / f"{LESSON}.ipynb").exists()
    again = subprocess.run(CLI + ["merge", "--course", str(sharded["course"])],
                           capture_output=True, text=True)  # merging twice changes nothing
    assert again.returncode == 0 and "merged 0" in again.stdout


def test_conflicting_grades_are_refused_and_nothing_is_merged(sharded, tmp_path):
    from nbgrader.api import Gradebook

    course = tmp_path / "autograder"
    shutil.copytree(sharded["course"], course)
    with Gradebook(f"sqlite:///{course / 'shards' / '2-of-2' / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission_notebook(LESSON, LESSON, "dee")
        submission.grades[0].manual_score = 1  # the shard now says otherwise than the course
        gradebook.db.commit()
    before = (course / "gradebook.db").read_bytes()
    refused = subprocess.run(CLI + ["merge", "--course", str(course)], capture_output=True,
                             text=True)
    assert refused.returncode != 0
    assert "dee/00_setup_and_data" in refused.stderr and "Nothing was merged" in refused.stderr
    assert (course / "gradebook.db").read_bytes() == before


def test_a_rerun_picks_up_where_it_stopped(sharded):
    course = sharded["course"] / "shards" / "1-of-2"
    (course / "graded" / "cy.sha256").unlink()  # as if the grader died while grading cy
    rerun = subprocess.run(CLI + ["autograde", str(sharded["subs"]), "--course",
                                  str(sharded["course"]), "--shard", "1/2", "--profile", "smoke",
                                  "--no-feedback"], capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "already graded from the same files, skipped" in rerun.stdout and "ada" in rerun.stdout
    assert "graded 1 students" in rerun.stdout and "cy: 5 / 5" in rerun.stdout


def test_job_files_for_slurm_and_kubernetes(sharded, tmp_path):
    import yaml

    done = subprocess.run(CLI + ["jobs", str(sharded["subs"]), "--course", str(sharded["course"]),
                                 "--shards", "3", "--out", str(tmp_path)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    sbatch = (tmp_path / "grade.sbatch").read_text()
    assert "#SBATCH --array=1-3" in sbatch and '--shard "$SLURM_ARRAY_TASK_ID/3"' in sbatch
    assert subprocess.run(["bash", "-n", str(tmp_path / "grade.sbatch")]).returncode == 0
    job = yaml.safe_load((tmp_path / "grade-job.yaml").read_text())
    assert job["kind"] == "Job" and job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == 3
    command = job["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    assert "--shard $((JOB_COMPLETION_INDEX + 1))/3" in command
    # The shard command the job runs is the one this module tested.
    assert f"grade autograde {sharded['subs'].resolve()} --course" in command
