"""The cifar-course nbgrader course: read by nbgrader and by `cifar-course grade`.

Layout (nbgrader's): source/<lesson>/ (copied from ../solutions by
`cifar-course grade release`), release/, submitted/<student>/<lesson>/,
autograded/, feedback/, and gradebook.db (SQLite). All of them are made by the
commands, not committed.
"""

from cifar_course.config import mark_grading
from cifar_course.grading.nbgrader_ext import autograde_preprocessors, feedback_preprocessors

c = get_config()  # noqa: F821 (nbgrader's config loader provides it)

c.CourseDirectory.course_id = "cifar-course"

# The grading profile: real CIFAR-10, 1,000 training images, 10 epochs (about
# 30 s a stage on a 2-core CPU), graded against that profile's references.
# Notebooks run under the grader use it whatever their PROFILE cell says.
mark_grading(profile="grade")

# Per cell: the longest legitimate cell is one training run (under 2 minutes
# in the grade profile here); a cell that never ends is interrupted after this
# many seconds, marked as timed out, and the rest of the notebook still runs.
c.Execute.timeout = 600
c.Execute.interrupt_on_timeout = True

# Stock nbgrader drops a whole notebook when its kernel dies; this executor
# grades it as far as it got.
c.Autograde.autograde_preprocessors = autograde_preprocessors()

# Feedback shows the verdicts, not the hidden tests' source (nbgrader #917, #1363).
c.GenerateFeedback.preprocessors = feedback_preprocessors()
