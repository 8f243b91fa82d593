"""Grading: the checks lesson tests run, their isolated runner for hidden tests,
and the nbgrader course (student versions, release, autograde, export)."""
