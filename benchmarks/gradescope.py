"""What one submission costs inside Gradescope's layout: wall time and peak memory.

Builds the autograder zip for a lesson, lays out ``/autograder`` as Gradescope
does (the zip in ``source/``, a correct submission, ``results/``), and runs
``run_autograder`` as root in a bubblewrap container with that tree at
``/autograder`` and this Python environment at ``/autograder/venv`` (standing
in for the one ``setup.sh`` installs), inside a memory cgroup whose peak it
reads. Prints the figures against Gradescope's defaults (10 minutes, 0.5 CPU,
768 MB). Needs root and bubblewrap; tests/test_gradescope.py uses its layout.

    python benchmarks/gradescope.py --lesson 01_baseline_cnn --data ../shared/data/cifar10-jpeg.tar.gz
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
GRADESCOPE_DEFAULTS = {"minutes": 10, "cpus": 0.5, "memory_mb": 768}


def container_command(tree: Path) -> list[str]:
    """bwrap, as root and without a user namespace (none is left for the grader, as in
    Gradescope's container), with ``tree`` at /autograder and this environment at
    /autograder/venv, running /autograder/run_autograder."""
    command = ["bwrap", "--die-with-parent", "--unshare-pid", "--unshare-ipc"]
    for entry in sorted(os.listdir("/")):
        path = f"/{entry}"
        if entry in ("proc", "dev", "tmp", "root", "autograder"):
            continue
        if os.path.islink(path):
            command += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            command += ["--bind", path, path]
    # This Python may live under /root (pyenv): nobody must pass through to it, as it
    # does to Gradescope's /usr.
    base = Path(os.path.realpath(sys.base_prefix))
    under_root = str(base).startswith("/root/")
    command += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
                "--perms", "0711" if under_root else "0700", "--tmpfs", "/root"]
    for parent in reversed(base.parents):
        if str(parent).startswith("/root/"):
            command += ["--perms", "0755", "--dir", str(parent)]
    command += ["--ro-bind", str(base), str(base)]
    command += ["--bind", str(tree), "/autograder", "--bind", sys.prefix, "/autograder/venv"]
    return command + ["/autograder/run_autograder"]


def lay_out(tree: Path, autograder_zip: Path, files: dict, metadata: dict | None) -> None:
    """``tree`` as Gradescope's /autograder after setup.sh: the zip in source/ and the decoded
    data in cache/ (readable by root alone), run_autograder beside it, the submission's files
    and metadata."""
    for name in ("source", "submission", "results", "venv"):
        (tree / name).mkdir(parents=True)
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(tree / "source")
    shutil.copy(tree / "source" / "run_autograder", tree / "run_autograder")
    os.chmod(tree / "run_autograder", 0o755)
    (tree / "cache").mkdir()
    data = json.loads((tree / "source" / "cifar-course.json").read_text()).get("data")
    if data:  # setup.sh decodes the data once, into /autograder/cache
        subprocess.run([sys.executable, "-c", "from cifar_course.data import load_cifar10; "
                        "load_cifar10()"], check=True, capture_output=True,
                       env={**os.environ, "CIFAR_COURSE_DATA": str(tree / "source" / data),
                            "CIFAR_COURSE_CACHE": str(tree / "cache")})
    subprocess.run(["chmod", "-R", "go-rwx", str(tree / "source"), str(tree / "cache")], check=True)
    os.chmod(tree, 0o711)
    for name, content in files.items():
        path = tree / "submission" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, nbformat.NotebookNode):
            nbformat.write(content, path)
        else:
            path.write_text(content)
    if metadata is not None:
        (tree / "submission_metadata.json").write_text(json.dumps(metadata))


def _memory_group() -> Path | None:
    for root, limit in ((Path("/sys/fs/cgroup/memory"), "memory.max_usage_in_bytes"),
                        (Path("/sys/fs/cgroup"), "memory.peak")):
        group = root / f"cifar-course-gradescope-{uuid.uuid4().hex[:8]}"
        try:
            group.mkdir()
        except OSError:
            continue
        if (group / limit).exists():
            return group
        group.rmdir()
    return None


def run_autograder(tree: Path, timeout: float = 1800) -> tuple[dict, float, int | None]:
    """(results.json, seconds, peak memory in bytes or None) of run_autograder in ``tree``."""
    group = _memory_group()
    command = container_command(tree)
    if group is not None:
        command = ["/bin/sh", "-c", 'echo $$ > "$1"; shift; exec "$@"', "sh",
                   str(group / "cgroup.procs"), *command]
    start = time.perf_counter()
    try:
        ran = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        elapsed = time.perf_counter() - start
        peak = None
        if group is not None:
            name = next(n for n in ("memory.max_usage_in_bytes", "memory.peak") if (group / n).exists())
            peak = int((group / name).read_text())
    finally:
        if group is not None:
            for _ in range(50):
                try:
                    group.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)
    if ran.returncode != 0:
        raise RuntimeError(f"run_autograder failed ({ran.returncode}):\n{ran.stdout}{ran.stderr}")
    return json.loads((tree / "results" / "results.json").read_text()), elapsed, peak


def build_zip(lesson: str, profile: str, out: Path, data: str | None = None,
              extra: tuple = ()) -> Path:
    course = out.parent / "course-config"
    course.mkdir(exist_ok=True)
    shutil.copy(REPO / "autograder" / "nbgrader_config.py", course)
    command = [sys.executable, "-m", "cifar_course.cli", "grade", "gradescope", "--course",
               str(course), "--solutions", str(REPO / "solutions"), "--lessons", lesson,
               "--profile", profile, "--out", str(out), *extra]
    if data:
        command += ["--data", data]
    built = subprocess.run(command, capture_output=True, text=True)
    if built.returncode != 0:
        raise RuntimeError(built.stdout + built.stderr)
    return out


def main() -> None:
    sys.path.insert(0, str(REPO / "tests"))  # the notebook helpers the tests use
    from notebooks import fill_in_solutions

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lesson", default="01_baseline_cnn")
    parser.add_argument("--profile", default="grade")
    parser.add_argument("--data", help="the references' CIFAR-10 (a real-data profile needs it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cifar-course-gradescope-bench-") as folder:
        folder = Path(folder)
        os.chmod(folder, 0o755)
        autograder_zip = build_zip(args.lesson, args.profile, folder / "autograder.zip", args.data)
        with zipfile.ZipFile(autograder_zip) as archive:
            released = folder / "released.ipynb"
            released.write_bytes(archive.read(f"course/release/{args.lesson}/{args.lesson}.ipynb"))
        notebook = fill_in_solutions(released, REPO / "solutions" / f"{args.lesson}.ipynb")
        tree = folder / "autograder"
        lay_out(tree, autograder_zip, {f"{args.lesson}.ipynb": notebook}, None)
        results, seconds, peak = run_autograder(tree)
    maximum = sum(t["max_score"] for t in results["tests"])
    print(f"{args.lesson} in the {args.profile} profile, a correct submission, in Gradescope's "
          f"layout on this machine ({os.cpu_count()} cores):")
    print(f"  score {results['score']:g} / {maximum:g}; {seconds:.0f} s wall "
          f"(Gradescope's default limit: {GRADESCOPE_DEFAULTS['minutes'] * 60} s)")
    if peak is not None:
        print(f"  peak memory of the container {peak / 2**20:.0f} MB "
              f"(Gradescope's default: {GRADESCOPE_DEFAULTS['memory_mb']} MB)")
    print(f"  {results['output'].splitlines()[-1]}")
    for test in results["tests"]:
        if test["score"] < test["max_score"]:
            print(f"  lost {test['max_score'] - test['score']:g}: {test['name']}: "
                  f"{test.get('output', '')[-600:]}")


if __name__ == "__main__":
    main()
