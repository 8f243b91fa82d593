"""Student notebooks from the instructor's: nbgrader's ``generate_assignment``.

``solutions/NN_name.ipynb`` are the single source. Each is one nbgrader
assignment (id ``NN_name``); its student version, with solution regions
replaced and hidden tests removed, is written to ``lessons/NN_name.ipynb``.
Needs the ``grader`` extra (nbgrader).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import nbformat

from ..data.sources import file_digest
from .contract import UNPINNED
from .isolated import interpreter_first

# The hidden tests in solutions/ name the references file by this placeholder; a
# release writes the installed file's SHA-256 in its place in the course's copy,
# so the gradebook pins what the grader checks against, and building the lessons
# never rewrites solutions/.
PIN = re.compile(r'references_sha256="(?:[0-9a-f]{64}|' + UNPINNED + r')"')


def lesson_ids(solutions: str | Path) -> list[str]:
    return sorted(p.stem for p in Path(solutions).glob("[0-9][0-9]_*.ipynb"))


def pin_references(notebook: nbformat.NotebookNode, digest: str) -> nbformat.NotebookNode:
    """The notebook with every hidden test's references pin set to ``digest``."""
    for cell in notebook.cells:
        cell.source = PIN.sub(f'references_sha256="{digest}"', cell.source)
    return notebook


def pinned_digests(folder: str | Path) -> set[str]:
    """The pins written in the notebooks below ``folder`` (the placeholder included)."""
    found = set()
    for path in Path(folder).rglob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            found.update(m.group(0)[19:-1] for m in PIN.finditer(cell.source))
    return found


def stage_course(solutions: str | Path, course: str | Path) -> list[str]:
    """Copy each solution into ``course/source/<id>/<id>.ipynb``, nbgrader's layout, with the
    installed references' SHA-256 pinned in its hidden tests and the figures its text
    states rendered from them (``references/figures.py``)."""
    from ..references import load_references, shipped_references_path
    from ..references.figures import render_notebook

    digest = file_digest(shipped_references_path())
    references = load_references()
    ids = lesson_ids(solutions)
    for lesson in ids:
        target = Path(course) / "source" / lesson
        target.mkdir(parents=True, exist_ok=True)
        notebook = nbformat.read(Path(solutions) / f"{lesson}.ipynb", as_version=4)
        render_notebook(notebook, references, f"solutions/{lesson}.ipynb")
        nbformat.write(pin_references(notebook, digest), target / f"{lesson}.ipynb")
    return ids


def nbgrader_metadata(cell) -> dict:
    """A cell's nbgrader metadata (empty for a cell nbgrader does not track)."""
    return cell.get("metadata", {}).get("nbgrader", {})


def nbgrader_api(course: str | Path):
    """An NbGraderAPI on ``course`` (its nbgrader_config.py is read if present)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    os.environ["PATH"] = interpreter_first(os.environ.get("PATH", ""))
    settings = Config()
    config_file = Path(course) / "nbgrader_config.py"
    if config_file.exists():
        settings.merge(PyFileConfigLoader(config_file.name, str(config_file.parent)).load_config())
    settings.CourseDirectory.root = str(Path(course).resolve())
    return NbGraderAPI(coursedir=CourseDirectory(config=settings), config=settings)


def release(solutions: str | Path, course: str | Path) -> dict[str, Path]:
    """generate_assignment for every lesson into ``course`` (its gradebook records them)."""
    api = nbgrader_api(course)
    released = {}
    for lesson in stage_course(solutions, course):
        outcome = api.generate_assignment(lesson, force=True)
        if not outcome["success"]:
            raise RuntimeError(f"nbgrader generate_assignment {lesson} failed:\n{outcome['log']}")
        released[lesson] = Path(course) / "release" / lesson / f"{lesson}.ipynb"
    return released


def build_lessons(solutions: str | Path, lessons: str | Path) -> list[Path]:
    """Regenerate ``lessons/`` from ``solutions/`` (in a throw-away nbgrader course)."""
    lessons = Path(lessons)
    lessons.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cifar-course-release-") as course:
        released = release(solutions, course)
        written = []
        for lesson, path in released.items():
            shutil.copyfile(path, lessons / path.name)
            written.append(lessons / path.name)
    return written


