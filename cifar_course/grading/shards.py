"""A class graded in shards that a batch engine runs, merged back into one gradebook.

``cifar-course grade autograde SUBMISSIONS --shard I/N`` grades every N-th
student (by sorted id, from the I-th) in a course folder of its own,
``COURSE/shards/I-of-N`` (the released course, copied), so shards on different
machines sharing the folder never write the same file. ``cifar-course grade
jobs --shards N`` writes the job files that run them: a Slurm job array and a
Kubernetes Indexed Job. ``cifar-course grade merge`` then copies every shard's
grades, problems, autograded notebooks and feedback into ``COURSE``, and
refuses, naming them, students whose grades differ between two sources.
"""

from __future__ import annotations

import shutil
from pathlib import Path

SHARDS_FOLDER = "shards"
# What a shard copies from the released course (the rest it makes itself).
COURSE_FILES = ("nbgrader_config.py", "gradebook.db", "source", "release", "late-policy.json")


class ShardConflictError(RuntimeError):
    """Two sources hold different grades for the same student and lesson."""


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> ``(2, 4)``; shards count from 1."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: write it as I/N, e.g. 1/4") from None
    if not 1 <= index <= count:
        raise ValueError(f"--shard {text!r}: I must lie between 1 and N")
    return index, count


def shard_students(students, index: int, count: int) -> list[str]:
    return sorted(students)[index - 1::count]


def shard_course(course, index: int, count: int) -> Path:
    """The shard's own course folder, made from the released course the first time."""
    course = Path(course)
    folder = course / SHARDS_FOLDER / f"{index}-of-{count}"
    if not (folder / "gradebook.db").exists():
        if not (course / "gradebook.db").exists():
            raise RuntimeError(f"{course} has no gradebook: run `cifar-course grade release "
                               f"--course {course}` before grading shards")
        folder.mkdir(parents=True, exist_ok=True)
        for name in COURSE_FILES:
            source = course / name
            if source.is_dir():
                shutil.copytree(source, folder / name, dirs_exist_ok=True)
            elif source.exists():
                shutil.copy2(source, folder / name)
    return folder


def shard_folders(course) -> list[Path]:
    root = Path(course) / SHARDS_FOLDER
    return sorted(p for p in root.iterdir() if (p / "gradebook.db").exists()) if root.exists() else []


def _scores(submission) -> dict:
    return {(notebook.name, grade.name): (grade.auto_score, grade.manual_score, grade.extra_credit)
            for notebook in submission.notebooks for grade in notebook.grades}


def _submissions(database: Path) -> dict:
    """(student, lesson) -> scores of every submission in a gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{database}") as gradebook:
        return {(s.student.id, a.name): _scores(s) for a in gradebook.assignments
                for s in gradebook.assignment_submissions(a.name)}


def conflicts(course) -> list[str]:
    """Students and lessons whose grades differ between the course and a shard, or two shards."""
    seen = {key: ("the course", scores) for key, scores in
            _submissions(Path(course) / "gradebook.db").items()}
    found = []
    for folder in shard_folders(course):
        for key, scores in _submissions(folder / "gradebook.db").items():
            if key in seen and seen[key][1] != scores:
                found.append(f"{key[0]}/{key[1]} ({seen[key][0]} and shard {folder.name})")
            seen.setdefault(key, (f"shard {folder.name}", scores))
    return found


def merge_shards(course) -> list[tuple[str, str]]:
    """Copy every shard's results into ``course``; return the (student, lesson) merged.

    Nothing is written if any grades conflict (``ShardConflictError`` names them):
    grade those students again, in one place, and merge again.
    """
    from .autograde import Problems

    course = Path(course)
    clashes = conflicts(course)
    if clashes:
        raise ShardConflictError(
            f"different grades for {len(clashes)} student lesson(s): {'; '.join(clashes)}. "
            f"Nothing was merged. Fix: grade them again in one shard (or delete the stale "
            f"shard folder under {course / SHARDS_FOLDER}) and merge again")
    merged = []
    problems = Problems.load(course)
    for folder in shard_folders(course):
        merged += _merge_gradebook(course / "gradebook.db", folder / "gradebook.db")
        for key, notes in Problems.load(folder).items.items():
            for note in notes:
                problems.add(*key.split("/", 1), note)
        for part in ("submitted", "autograded", "feedback", "logs", "graded"):
            if (folder / part).exists():
                shutil.copytree(folder / part, course / part, dirs_exist_ok=True)
    problems.save()
    return merged


def _merge_gradebook(target: Path, source: Path) -> list[tuple[str, str]]:
    from nbgrader.api import Gradebook, MissingEntry

    merged = []
    with Gradebook(f"sqlite:///{source}") as shard, Gradebook(f"sqlite:///{target}") as gradebook:
        for assignment in shard.assignments:
            for submission in shard.assignment_submissions(assignment.name):
                student = submission.student
                try:
                    gradebook.find_submission(assignment.name, student.id)
                    continue  # merged before, with the same grades (conflicts were refused)
                except MissingEntry:
                    pass
                gradebook.update_or_create_student(student.id, first_name=student.first_name,
                                                   last_name=student.last_name,
                                                   email=student.email)
                gradebook.add_submission(assignment.name, student.id,
                                         timestamp=submission.timestamp)
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        copy = gradebook.find_grade(grade.name, notebook.name, assignment.name,
                                                    student.id)
                        copy.auto_score, copy.manual_score = grade.auto_score, grade.manual_score
                        copy.extra_credit = grade.extra_credit
                        copy.needs_manual_grade = grade.needs_manual_grade
                    for comment in notebook.comments:
                        copy = gradebook.find_comment(comment.name, notebook.name,
                                                      assignment.name, student.id)
                        copy.auto_comment = comment.auto_comment
                        copy.manual_comment = comment.manual_comment
                gradebook.db.commit()
                merged.append((student.id, assignment.name))
    return merged


def write_job_files(course, submissions, count: int, folder, *, jobs: int = 1,
                    profile: str = "grade", image: str = "cifar-course:latest",
                    hours: int = 12, submitted_at=None) -> list[Path]:
    """A Slurm job array and a Kubernetes Indexed Job that grade ``count`` shards.

    Both run ``cifar-course grade autograde SUBMISSIONS --course COURSE --shard I/N``
    with the course and submissions on a filesystem every node sees (the same
    paths); ``cifar-course grade merge --course COURSE`` afterwards.
    """
    course, submissions = Path(course).resolve(), Path(submissions).resolve()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # Slurm opens each task's log before the task runs: a missing folder kills every task.
    (course / SHARDS_FOLDER).mkdir(parents=True, exist_ok=True)
    command = (f"cifar-course grade autograde {submissions} --course {course} "
               f"--profile {profile} --jobs {jobs}")
    if submitted_at:
        command += f" --submitted-at {Path(submitted_at).resolve()}"
    slurm = folder / "grade.sbatch"
    slurm.write_text(f"""#!/bin/bash
# One array task per shard: sbatch {slurm.name}; afterwards: cifar-course grade merge --course {course}
#SBATCH --job-name=cifar-course-grade
#SBATCH --array=1-{count}
#SBATCH --cpus-per-task={2 * jobs}
#SBATCH --mem={16 * jobs}G
#SBATCH --time={hours}:00:00
#SBATCH --output={course}/{SHARDS_FOLDER}/slurm-%A_%a.log
set -euo pipefail
{command} --shard "$SLURM_ARRAY_TASK_ID/{count}"
""")
    kubernetes = folder / "grade-job.yaml"
    kubernetes.write_text(f"""# One pod per shard: kubectl apply -f {kubernetes.name}
# The image has cifar-course[grader], bubblewrap and CIFAR-10; the volume holds the course
# and the submissions at the same paths as here. Afterwards: cifar-course grade merge --course {course}
apiVersion: batch/v1
kind: Job
metadata:
  name: cifar-course-grade
spec:
  completionMode: Indexed
  completions: {count}
  parallelism: {count}
  backoffLimit: {count}
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: grade
          image: {image}
          command: ["sh", "-c", "{command} --shard $((JOB_COMPLETION_INDEX + 1))/{count}"]
          resources:
            requests: {{cpu: "{2 * jobs}", memory: "{16 * jobs}Gi"}}
          securityContext:
            privileged: true  # bubblewrap makes namespaces for each student's kernel
          volumeMounts:
            - {{name: class, mountPath: {course.parent}}}
      volumes:
        - name: class
          persistentVolumeClaim: {{claimName: cifar-course-class}}
""")
    return [slurm, kubernetes]
