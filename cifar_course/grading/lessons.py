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


class RepositoryError(ValueError):
    """The course's repository address cannot give Colab badges."""


GITHUB = re.compile(r"https://github\.com/([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?"
                    r"(?:/tree/([A-Za-z0-9_./-]+))?/?")
BADGE = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
         "(https://colab.research.google.com/github/{repository}/blob/{branch}/lessons/{lesson}.ipynb)")


def course_repository(solutions: str | Path) -> tuple[str, str] | None:
    """``(OWNER/NAME, branch)`` of the GitHub repository that ``pyproject.toml`` beside
    ``solutions/`` names in ``[project.urls] Repository`` (``.../tree/BRANCH`` picks the
    branch; ``main`` otherwise), or None where it names none: no badge then."""
    import tomllib

    pyproject = Path(solutions).resolve().parent / "pyproject.toml"
    if not pyproject.is_file():
        return None
    urls = tomllib.loads(pyproject.read_text()).get("project", {}).get("urls", {})
    address = urls.get("Repository")
    if not address:
        return None
    match = GITHUB.fullmatch(address)
    if not match:
        raise RepositoryError(
            f"{pyproject}: [project.urls] Repository is {address!r}; Colab opens notebooks "
            f"from GitHub. Fix: name the course's GitHub repository, "
            f"https://github.com/OWNER/NAME (or .../tree/BRANCH), or remove the entry to "
            f"build the lessons without Colab badges")
    return match.group(1), match.group(2) or "main"


def add_colab_badge(notebook: nbformat.NotebookNode, repository: tuple[str, str] | None,
                    lesson: str) -> nbformat.NotebookNode:
    """The notebook with a badge opening ``lessons/<lesson>.ipynb`` of ``repository`` in
    Colab, under the title of its first cell (unchanged where ``repository`` is None)."""
    if repository is None:
        return notebook
    first = notebook.cells[0]
    title, _, rest = first.source.partition("\n")
    badge = BADGE.format(repository=repository[0], branch=repository[1], lesson=lesson)
    first.source = f"{title}\n\n{badge}\n{rest}"
    return notebook


def stage_course(solutions: str | Path, course: str | Path) -> list[str]:
    """Copy each solution into ``course/source/<id>/<id>.ipynb``, nbgrader's layout, with the
    installed references' SHA-256 pinned in its hidden tests, the figures its text
    states rendered from them (``references/figures.py``), and a Colab badge where the
    course names its repository (``course_repository``)."""
    from ..references import load_references, shipped_references_path
    from ..references.figures import render_notebook

    digest = file_digest(shipped_references_path())
    references = load_references()
    repository = course_repository(solutions)
    ids = lesson_ids(solutions)
    for lesson in ids:
        target = Path(course) / "source" / lesson
        target.mkdir(parents=True, exist_ok=True)
        notebook = nbformat.read(Path(solutions) / f"{lesson}.ipynb", as_version=4)
        render_notebook(notebook, references, f"solutions/{lesson}.ipynb")
        add_colab_badge(notebook, repository, lesson)
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


