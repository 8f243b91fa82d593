"""What students install: the wheel carries the library, never solutions or hidden tests."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from notebooks import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    # Built from a copy of the sources: setuptools reuses a build/ folder left in the
    # checkout, where a module since moved away would still be found.
    import shutil

    source = tmp_path_factory.mktemp("source") / "cifar-course"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", "runs"))
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q",
                           "-w", str(out)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"pip wheel failed:\n{done.stderr[-2000:]}")
    (path,) = out.glob("cifar_course-*.whl")
    return path


def test_wheel_has_the_library_and_its_references(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {"cifar_course/grading/checks/__init__.py", "cifar_course/grading/checks/data.py",
            "cifar_course/grading/checks/accuracy.py"} <= set(names)
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


def test_wheel_has_no_experiment_and_no_test_helper(wheel):
    """What students and instructors use, not the laboratory (experiments/) nor the tests' tools."""
    archive = zipfile.ZipFile(wheel)
    names = archive.namelist()
    experiments = sorted(p.name for p in (REPO / "experiments").glob("*.py"))
    assert len(experiments) >= 8  # the test looks for something real
    assert not [n for n in names if n.startswith(("experiments/", "benchmarks/"))
                or Path(n).name in experiments]
    code = "\n".join(archive.read(n).decode() for n in names if n.endswith(".py"))
    for helper in ("def fill_in_solutions", "def execute_notebook", "def lost_points",
                   "def restored_val_accuracy", "def make_dataloader"):
        assert helper not in code, f"the wheel ships {helper!r}, which only tests or experiments use"


def test_the_package_builds_and_passes_the_index_checks(tmp_path):
    """`python -m build` (sdist and wheel) and `twine check`, as a package index applies them."""
    pytest.importorskip("build", reason="pip install -e '.[dev]' brings build and twine")
    pytest.importorskip("twine", reason="pip install -e '.[dev]' brings build and twine")
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "-o", str(tmp_path),
                           str(REPO)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    built = sorted(p.name for p in tmp_path.iterdir())
    import cifar_course

    assert built == [f"cifar_course-{cifar_course.__version__}-py3-none-any.whl",
                     f"cifar_course-{cifar_course.__version__}.tar.gz"], built
    checked = subprocess.run([sys.executable, "-m", "twine", "check", "--strict",
                              *map(str, tmp_path.iterdir())], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


# --- a lesson's first cell, in a fresh environment without the course (issue 34) -----

def first_cell(lesson: str = "00_setup_and_data") -> str:
    import nbformat

    source = nbformat.read(REPO / "lessons" / f"{lesson}.ipynb", as_version=4).cells[1].source
    return source.split("\n# None: $CIFAR_COURSE_PROFILE")[0]


def test_every_lesson_pins_the_packages_version():
    import re

    import cifar_course

    for path in sorted((REPO / "lessons").glob("*.ipynb")):
        import nbformat

        setup = nbformat.read(path, as_version=4).cells[1].source
        assert re.search(rf'COURSE_VERSION = "{re.escape(cifar_course.__version__)}"', setup), path.name
        assert "github.com" not in setup, f"{path.name} installs from a placeholder address"


@pytest.fixture(scope="module")
def fresh_python(tmp_path_factory):
    """A venv whose packages are this one's (torch, keras...), but without cifar-course:
    the main site-packages is on its path as a folder, so its editable install's hook
    (a .pth file there) never runs."""
    import sysconfig

    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "zz-main-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # Run from outside the repository: `python -c` puts the current folder on the path.
    assert subprocess.run([str(python), "-c", "import cifar_course"], capture_output=True,
                          cwd=venv.parent).returncode != 0, "cifar_course leaked in"
    return python


def run_first_cell(python, install: str, source: str) -> subprocess.CompletedProcess:
    import os

    environment = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    environment["CIFAR_COURSE_INSTALL"] = install
    return subprocess.run([str(python), "-c", source + "\nimport cifar_course, keras\n"
                           "print('ready', cifar_course.__version__, keras.backend.backend())"],
                          capture_output=True, text=True, env=environment, timeout=600,
                          cwd=Path(python).parents[2])


def test_the_first_cell_installs_the_pinned_version_and_refuses_others(wheel, fresh_python):
    import cifar_course

    wrong = run_first_cell(fresh_python, "/nonexistent/cifar_course-0.0.0-py3-none-any.whl",
                           first_cell())
    assert wrong.returncode != 0
    assert "Installing cifar-course from '/nonexistent" in wrong.stderr and "Fix:" in wrong.stderr
    done = run_first_cell(fresh_python, str(wheel), first_cell())
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"Installing cifar-course {cifar_course.__version__} from {wheel}" in done.stdout
    assert "Installed in" in done.stdout
    assert f"ready {cifar_course.__version__} torch" in done.stdout
    # Colab's torch, numpy and keras were kept: pip added only the course.
    kept = subprocess.run([str(fresh_python), "-m", "pip", "list", "--path",
                           subprocess.run([str(fresh_python), "-c", "import sysconfig; print("
                                           "sysconfig.get_paths()['purelib'])"],
                                          capture_output=True, text=True).stdout.strip()],
                          capture_output=True, text=True).stdout.lower()
    assert "cifar-course" in kept and not any(f"\n{name} " in kept for name in ("torch", "numpy",
                                                                                 "keras"))
    # A notebook written for another version says exactly what to do.
    other = first_cell().replace(f'COURSE_VERSION = "{cifar_course.__version__}"',
                                 'COURSE_VERSION = "9.9.9"')
    mismatch = run_first_cell(fresh_python, str(wheel), other)
    assert mismatch.returncode != 0
    assert (f"These lessons are for cifar-course 9.9.9; {cifar_course.__version__} is installed"
            in mismatch.stderr) and "restart the runtime" in mismatch.stderr
