"""Due dates and the late policy.

An instructor sets, per lesson, when it is due, optionally until when a late
submission is still accepted, and what each day (or part of one) late costs
(``cifar-course grade due``). The policy lives in the course's
``late-policy.json``; nbgrader's gradebook holds the due date and each
submission's time (its ``timestamp.txt``), from which nbgrader reckons the
seconds late. The penalty is taken from the final score when the grades are
exported, so that it applies to what is left after every other decision
(tampering, a void lesson).

A submission's time comes from whoever received it, never from the student's
files: the LMS export's times (``--submitted-at``) or Gradescope's metadata.
Without a time, a submission counts as on time.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

POLICY_FILE = "late-policy.json"
TIMESTAMP_FILE = "timestamp.txt"  # nbgrader's, in submitted/<student>/<lesson>/
DAY = 86400.0


@dataclass(frozen=True)
class LatePolicy:
    """When a lesson is due; until when it is accepted late (None: always); what a day
    (or part of one) late costs, as a fraction of the score."""

    due: datetime
    late_until: datetime | None = None
    penalty_per_day: float = 0.0

    def __post_init__(self):
        if not 0 <= self.penalty_per_day <= 1:
            raise ValueError(f"a penalty per day of {self.penalty_per_day} is not a fraction of "
                             f"the score. Fix: a number from 0 to 1 (0.1 takes 10% a day)")
        if self.late_until is not None and self.late_until < self.due:
            raise ValueError(f"the late window ends ({self.late_until.isoformat()}) before the "
                             f"due date ({self.due.isoformat()}). Fix: a later --late-until")

    def penalty(self, score: float, seconds_late: float) -> tuple[float, str]:
        """(points taken from ``score``, why) for a submission ``seconds_late`` after the due
        date (0 and "" when on time)."""
        if seconds_late <= 0:
            return 0.0, ""
        late = f"submitted {_duration(seconds_late)} after the due date"
        if self.late_until is not None and seconds_late > (self.late_until - self.due).total_seconds():
            return score, f"{late}, after late submissions closed ({self.late_until.isoformat()}): no points"
        days = math.ceil(seconds_late / DAY)
        fraction = min(1.0, days * self.penalty_per_day)
        if fraction == 0:
            return 0.0, f"{late}: no penalty"
        return round(score * fraction, 2), (f"{late}: {fraction:.0%} of the score taken "
                                            f"({days} day(s) at {self.penalty_per_day:.0%})")

    def to_json(self) -> dict:
        return {"due": self.due.isoformat(),
                "late_until": self.late_until.isoformat() if self.late_until else None,
                "penalty_per_day": self.penalty_per_day}

    @classmethod
    def from_json(cls, data: dict) -> "LatePolicy":
        return cls(parse_time(data["due"]),
                   parse_time(data["late_until"]) if data.get("late_until") else None,
                   float(data.get("penalty_per_day", 0.0)))


def _duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * DAY:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / DAY:.1f} days"


def parse_time(text: str) -> datetime:
    """An ISO 8601 time with its time zone (``2026-12-10T23:59+01:00``, or ``Z``)."""
    try:
        when = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a time. Fix: ISO 8601 with the time zone, e.g. "
                         f"2026-12-10T23:59+01:00") from None
    if when.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone, so it could be any of 24 moments. Fix: add "
                         f"it, e.g. {text}+01:00 or {text}Z (UTC)")
    return when


def utc_naive(when: datetime) -> datetime:
    """As nbgrader's gradebook stores times: UTC, without the zone."""
    return when.astimezone(timezone.utc).replace(tzinfo=None)


def load_policies(course) -> dict[str, LatePolicy]:
    path = Path(course) / POLICY_FILE
    if not path.exists():
        return {}
    return {lesson: LatePolicy.from_json(data) for lesson, data in json.loads(path.read_text()).items()}


def set_policy(course, lesson: str, policy: LatePolicy) -> None:
    """Record ``lesson``'s policy in the course and its due date in the gradebook."""
    course = Path(course)
    released = course / "release" / lesson
    if not released.is_dir():
        known = sorted(p.name for p in (course / "release").glob("*")) if (course / "release").is_dir() else []
        raise ValueError(f"{lesson!r} is not a released lesson of {course} (released: "
                         f"{', '.join(known) or 'none'}). Fix: release it first, or name one of those")
    policies = load_policies(course)
    policies[lesson] = policy
    (course / POLICY_FILE).write_text(json.dumps(
        {name: p.to_json() for name, p in sorted(policies.items())}, indent=1))
    apply_due_dates(course)


def apply_due_dates(course) -> None:
    """Write every policy's due date into nbgrader's gradebook (which reckons lateness)."""
    from nbgrader.api import Gradebook

    policies = load_policies(course)
    if not policies:
        return
    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}") as gradebook:
        for lesson, policy in policies.items():
            gradebook.update_or_create_assignment(lesson, duedate=utc_naive(policy.due))


def read_submission_times(path) -> dict[tuple[str, str | None], datetime]:
    """``(student, lesson or None) -> time`` from a CSV with columns ``student``,
    ``submitted_at`` and optionally ``lesson`` (an LMS export's submission times)."""
    times = {}
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"student", "submitted_at"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path} has no column {', '.join(sorted(missing))}. Fix: a CSV with "
                             f"the columns student, submitted_at (ISO 8601 with the time zone) "
                             f"and optionally lesson")
        for row in reader:
            times[(row["student"].strip(), (row.get("lesson") or "").strip() or None)] = \
                parse_time(row["submitted_at"])
    return times


def submission_time(times: dict, student: str, lesson: str) -> datetime | None:
    return times.get((student, lesson)) or times.get((student, None))


def write_timestamp(folder: Path, when: datetime) -> None:
    """nbgrader's ``timestamp.txt`` for a submission, in UTC."""
    (Path(folder) / TIMESTAMP_FILE).write_text(when.astimezone(timezone.utc).isoformat())


def lateness(gradebook, policy: LatePolicy | None, student: str, lesson: str,
             score: float) -> dict:
    """The CSV's lateness fields for one graded lesson under its ``policy`` (None: no due
    date): when it was submitted, how late (hours), the points taken and why."""
    from nbgrader.api import MissingEntry

    try:
        submission = gradebook.find_submission(lesson, student)
    except MissingEntry:
        return {"submitted_at": "", "hours_late": 0.0, "late_penalty": 0.0, "late": ""}
    stamp = submission.timestamp
    seconds = submission.total_seconds_late if (stamp and policy) else 0.0
    points, why = policy.penalty(score, seconds) if policy else (0.0, "")
    return {"submitted_at": stamp.replace(tzinfo=timezone.utc).isoformat() if stamp else "",
            "hours_late": round(seconds / 3600, 2), "late_penalty": points, "late": why}
