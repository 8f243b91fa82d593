"""What students install: the wheel carries the library, never solutions or hidden tests."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from notebooks import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q",
                           "-w", str(out)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"pip wheel failed:\n{done.stderr[-2000:]}")
    (path,) = out.glob("cifar_course-*.whl")
    return path


def test_wheel_has_the_library_and_its_references(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "cifar_course/grading/checks.py" in names
    assert "cifar_course/references/references.json" in names


def secret_lines() -> set[str]:
    """Distinctive lines of the hidden tests and of the solutions in solutions/.

    Solution lines that the library itself contains are left out: the library
    holds the course's own implementation of every stage (later lessons, the
    references and the grader build on it), a documented choice.
    """
    import re

    import nbformat

    library = "".join(p.read_text() for p in (REPO / "cifar_course").rglob("*.py"))
    lines = set()
    for path in (REPO / "solutions").glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            for kind, region in re.findall(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END",
                                           cell.source, re.S):
                for line in region.splitlines():
                    line = line.strip()
                    if len(line) > 30 and not line.startswith(("from ", "import ")) and (
                            kind == "HIDDEN TESTS" or line not in library):
                        lines.add(line)
    return lines


def test_wheel_has_no_solution_and_no_hidden_test(wheel):
    archive = zipfile.ZipFile(wheel)
    names = archive.namelist()
    assert not [n for n in names if n.endswith(".ipynb") or n.startswith(("solutions/", "lessons/",
                                                                          "autograder/", "tests/"))]
    secrets = secret_lines()
    assert len(secrets) > 20  # the test looks for something real
    for name in names:
        text = archive.read(name).decode("utf-8", "replace")
        leaked = [line for line in secrets if line in text]
        assert not leaked, f"{name} contains solution or hidden-test lines: {leaked[:3]}"
