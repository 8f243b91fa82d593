"""The ``cifar-course grade`` subcommands, one function each: ``ACTIONS[name](args, course)``.

release, due, gradescope and jobs prepare; autograde and merge produce grades and then
export them (``export``), as ``export`` alone does for grades already in the gradebook.
"""

from __future__ import annotations

from pathlib import Path


def release_lessons(args, course: Path) -> int:
    from .lessons import release

    for lesson, path in release(args.solutions, course).items():
        print(f"released {lesson}: {path}")
    return 0


def set_due_dates(args, course: Path) -> int:
    from .late import LatePolicy, load_policies, parse_time, set_policy

    if args.lesson:
        if not args.due:
            raise SystemExit("error: due --lesson L needs --due TIME (ISO 8601 with the time zone)")
        policy = LatePolicy(parse_time(args.due),
                            parse_time(args.late_until) if args.late_until else None,
                            args.penalty_per_day or 0.0)
        set_policy(course, args.lesson, policy)
    for lesson, policy in sorted(load_policies(course).items()):
        window = (f", accepted late until {policy.late_until.isoformat()}" if policy.late_until
                  else ", accepted late at any time")
        print(f"{lesson}: due {policy.due.isoformat()}{window}, {policy.penalty_per_day:.0%} "
              f"of the score taken per day (or part) late")
    return 0


def build_gradescope_zip(args, course: Path) -> int:
    from .gradescope import build_autograder

    if not args.lessons or not args.out:
        raise SystemExit("error: gradescope needs --lessons (one or more) and --out FILE.zip")
    path = build_autograder(course, args.solutions, args.lessons, args.out,
                            profile=args.profile, sandbox=args.sandbox, data=args.data,
                            wheel=args.wheel, penalty_per_day=args.penalty_per_day or 0.0,
                            memory_gb=args.memory_gb)
    print(f"wrote {path}: upload it as the assignment's autograder in Gradescope (Ubuntu "
          f"24.04 base image); see the README's Gradescope section for its resources")
    return 0


def autograde_submissions(args, course: Path) -> int:
    from . import autograde

    if not args.submissions:
        raise SystemExit("error: autograde needs the folder of submissions (one folder or "
                         ".zip per student)")
    if not (course / "gradebook.db").exists():
        raise SystemExit(f"error: {course} has no gradebook: run `cifar-course grade release "
                         f"--course {course}` first")
    students = None
    if args.shard:
        from .shards import parse_shard, shard_course, shard_students

        index, count = parse_shard(args.shard)
        students = shard_students(autograde.submission_entries(args.submissions), index, count)
        course = shard_course(course, index, count)
        print(f"shard {index} of {count}: {len(students)} students, graded in {course}")
    times = {}
    if args.submitted_at:
        from .late import read_submission_times

        times = read_submission_times(args.submitted_at)
    collected = autograde.collect(args.submissions, course, students, regrade=args.regrade,
                                  submitted_at=times)
    print(f"collected {sum(map(len, collected.values()))} notebooks from {len(collected)} students")
    seconds = autograde.autograde_all(course, sorted(collected), jobs=args.jobs,
                                      profile=args.profile, memory_gb=args.memory_gb,
                                      sandbox=args.sandbox)
    print(f"graded {len(seconds)} students in {sum(seconds.values()):.0f} worker-seconds "
          f"({args.jobs} at a time)")
    if not args.no_feedback:
        print(f"feedback: {len(autograde.generate_feedback(course, sorted(collected)))} "
              f"HTML files under {course / 'feedback'}")
    return export_grades(args, course)


def write_shard_jobs(args, course: Path) -> int:
    if not args.submissions or not args.shards:
        raise SystemExit("error: jobs needs the folder of submissions and --shards N")
    from .shards import write_job_files

    for path in write_job_files(course, args.submissions, args.shards,
                                args.out or course / "shards", jobs=args.jobs,
                                profile=args.profile, submitted_at=args.submitted_at):
        print(f"wrote {path}")
    return 0


def merge_shard_grades(args, course: Path) -> int:
    from .shards import merge_shards

    merged = merge_shards(course)
    print(f"merged {len(merged)} graded lessons from the shards under {course / 'shards'}")
    return export_grades(args, course)


def export_grades(args, course: Path) -> int:
    """The grades CSV (and the Canvas, Gradescope and feedback-bundle exports asked for)."""
    from . import autograde

    output = args.csv or str(course / "grades.csv")
    rows = autograde.export_csv(course, output)
    if args.canvas:
        from .exports import canvas_csv

        print(f"wrote {canvas_csv(rows, args.canvas)} (Canvas gradebook import)")
    if args.gradescope:
        from .exports import export_gradescope

        written = export_gradescope(course, args.gradescope)
        print(f"wrote {len(written)} Gradescope results.json under {args.gradescope}")
    if args.feedback_bundles:
        from .exports import feedback_bundles

        written = feedback_bundles(course, rows, args.feedback_bundles)
        print(f"wrote {len(written)} feedback bundles (<student>.zip: feedback HTML and "
              f"scores) under {args.feedback_bundles}")
    totals = {}
    for row in rows:
        score, maximum = totals.get(row["student"], (0.0, 0.0))
        totals[row["student"]] = (score + row["score"], maximum + row["max_score"])
    for student, (score, maximum) in totals.items():
        print(f"{student}: {score:g} / {maximum:g}")
    print(f"wrote {output}")
    return 0



ACTIONS = {"release": release_lessons, "due": set_due_dates,
           "gradescope": build_gradescope_zip, "autograde": autograde_submissions,
           "jobs": write_shard_jobs, "merge": merge_shard_grades, "export": export_grades}
