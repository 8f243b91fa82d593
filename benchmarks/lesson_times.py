"""Run every solution notebook top to bottom in a profile and print its wall time.

    CIFAR_COURSE_DATA=../shared/data/cifar10-jpeg.tar.gz python benchmarks/lesson_times.py --profile quick

Each notebook runs in a fresh kernel in a temporary folder (so lessons 07 and
08 train what they need themselves); a cell error is printed, not hidden.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--lessons", nargs="+", help="notebook names (default: all)")
    parser.add_argument("--folder", default=str(REPO / "solutions"))
    args = parser.parse_args()
    os.environ["CIFAR_COURSE_PROFILE"] = args.profile
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"profile {args.profile}")
    paths = sorted(Path(args.folder).glob("*.ipynb"))
    if args.lessons:
        paths = [p for p in paths if p.stem in args.lessons]
    total = 0.0
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        with tempfile.TemporaryDirectory() as workdir:
            start = time.perf_counter()
            NotebookClient(notebook, timeout=3600, kernel_name="python3", allow_errors=True,
                           resources={"metadata": {"path": workdir}}).execute()
            seconds = time.perf_counter() - start
        total += seconds
        errors = [f"{o.ename}: {o.evalue[:120]}" for c in notebook.cells
                  for o in c.get("outputs", []) if o.output_type == "error"]
        print(f"{path.stem:<26} {seconds:7.1f} s  {'ok' if not errors else 'ERRORS ' + '; '.join(errors)}",
              flush=True)
    print(f"{'total':<26} {total:7.1f} s")


if __name__ == "__main__":
    main()
