"""Run every solution notebook top to bottom in a profile and print its wall time.

    CIFAR_COURSE_DATA=../shared/data/cifar10-jpeg.tar.gz python benchmarks/lesson_times.py --profile quick

Each notebook runs in a fresh kernel in a temporary folder (so lessons 07 and
08 train what they need themselves); a cell error is printed, not hidden.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the notebook helpers the tests use
from notebooks import execute_notebook  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--lessons", nargs="+", help="notebook names (default: all)")
    parser.add_argument("--folder", default=str(REPO / "solutions"))
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"profile {args.profile}")
    paths = sorted(Path(args.folder).glob("*.ipynb"))
    if args.lessons:
        paths = [p for p in paths if p.stem in args.lessons]
    total = 0.0
    for path in paths:
        with tempfile.TemporaryDirectory() as workdir:
            start = time.perf_counter()
            _, errors = execute_notebook(path, workdir, args.profile, timeout=3600)
            seconds = time.perf_counter() - start
        total += seconds
        errors = [f"{name}: {message[:120]}" for name, message in errors.values()]
        print(f"{path.stem:<26} {seconds:7.1f} s  {'ok' if not errors else 'ERRORS ' + '; '.join(errors)}",
              flush=True)
    print(f"{'total':<26} {total:7.1f} s")


if __name__ == "__main__":
    main()
