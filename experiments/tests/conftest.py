"""The experiments' tests: their scripts importable by name, a private data cache."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
EXPERIMENTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(EXPERIMENTS))  # as when a script runs: its folder first


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Tests never read or write the user's ~/.cache (unless CI shares one on purpose)."""
    if "CIFAR_COURSE_CACHE" not in os.environ:
        os.environ["CIFAR_COURSE_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
