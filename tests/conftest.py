"""Shared fixtures: a private cache, synthetic CIFAR-shaped sources, real data if present."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")  # tests import keras directly too
# Under pytest-xdist (-n N), each worker gets its share of the cores, for torch here and
# for the kernels and processes its tests start: threads that outnumber the cores slow
# every training down many times over.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    _share = max(1, (_cores or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))  # macOS: no affinity
    os.environ.setdefault("CIFAR_COURSE_THREADS", str(_share))
    os.environ.setdefault("OMP_NUM_THREADS", str(_share))

REPO = Path(__file__).resolve().parents[1]
SHARED_ARCHIVE = REPO.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"


def real_data_path() -> Path | None:
    named = os.environ.get("CIFAR_COURSE_DATA")
    for candidate in ([Path(named)] if named else []) + [SHARED_ARCHIVE]:
        if candidate.exists():
            return candidate
    return None


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Tests never read or write the user's ~/.cache (unless CI shares one on purpose)."""
    if "CIFAR_COURSE_CACHE" not in os.environ:
        os.environ["CIFAR_COURSE_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield


def pytest_configure(config):
    # pytest-xdist hands out files (--dist loadfile) most tests first unless told to keep
    # the collection's order: the quick capstone, one test of five minutes, then started
    # last and ran alone (CI: 339 s of one idle worker's time at the end).
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(items):
    """Files marked ``long`` (minutes: a class graded, notebooks run, training) first, in
    their own order otherwise: pytest-xdist hands files to its workers in this order
    (``--dist loadfile``; ``pytest_configure`` keeps it), and a long file handed out last
    keeps one worker busy alone."""
    def is_long(item):
        return item.get_closest_marker("long") is not None

    long_files = {item.path for item in items if is_long(item)}
    items.sort(key=lambda item: item.path not in long_files)  # stable: order kept within


# Settings that code under test may make in this process (nbgrader loads the course's
# nbgrader_config.py in-process, which marks the process as grading; start_lesson
# chooses its profile): each test starts from the values the session began with.
COURSE_VARIABLES = ("CIFAR_COURSE_GRADER", "CIFAR_COURSE_PROFILE", "CIFAR_COURSE_THREADS")
SESSION_VALUES = {name: os.environ.get(name) for name in COURSE_VARIABLES}


@pytest.fixture(autouse=True)
def course_variables_restored():
    yield
    from cifar_course import config

    config.choose_profile(None)
    for name, value in SESSION_VALUES.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def real_data() -> Path:
    path = real_data_path()
    if path is None:
        pytest.skip(f"real CIFAR-10 not found: set CIFAR_COURSE_DATA or place the archive at "
                    f"{SHARED_ARCHIVE}")
    return path


def write_image_folder(root: Path, per_class: int = 2, size=(32, 32), skip_class=None,
                       seed: int = 0) -> Path:
    """A tiny train/<class>/, test/<class>/ tree of PNGs; returns ``root``."""
    from PIL import Image

    from cifar_course.data import CLASS_NAMES

    rng = np.random.default_rng(seed)
    for split in ("train", "test"):
        for label, name in enumerate(CLASS_NAMES):
            if name == skip_class:
                continue
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (*size[::-1], 3), dtype=np.uint8)
                pixels[0, 0] = label  # lets a test check labels against pixels
                Image.fromarray(pixels).save(folder / f"{i:04d}.png")
    return root


def tar_folder(folder: Path, archive: Path, arcname: str = "cifar10") -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=arcname)
    return archive


@pytest.fixture
def image_folder(tmp_path) -> Path:
    return write_image_folder(tmp_path / "tree")


@pytest.fixture
def image_archive(tmp_path, image_folder) -> Path:
    return tar_folder(image_folder, tmp_path / "cifar10-small.tar.gz")
