"""The Slurm job array that `cifar-course grade jobs` writes, run on a real Slurm cluster.

A single-node cluster (slurmctld, slurmd, munge: Debian's packages; the steps in
the project's notes) is started for the module, as root, with a configuration
of its own (``SLURM_CONF``); the daemons it started are stopped by their process
ids. A small class is graded by ``sbatch --wait`` in two shards and merged, and
the merged grades must be those one process gives the same notebooks (a correct
one 5 of 5, an untouched one 0: test_autograder grades both kinds in one process).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from notebooks import SOLUTIONS, course_to_release

pytest.importorskip("nbgrader", reason="autograding needs nbgrader: pip install -e '.[dev]'")
pytestmark = pytest.mark.long

LESSON = "00_setup_and_data"
SBIN = ("/usr/sbin", "/sbin")
NEEDED = ("slurmctld", "slurmd", "sbatch", "sinfo", "munged", "munge", "unmunge", "runuser")


def _which(name: str) -> str | None:
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), *SBIN]))


def _munge_works() -> bool:
    try:
        token = subprocess.run([_which("munge"), "-n"], capture_output=True, timeout=10)
        return subprocess.run([_which("unmunge")], input=token.stdout, capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _stop(processes) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The environment (``SLURM_CONF``, ``PATH``) of a running one-node Slurm cluster."""
    missing = [name for name in NEEDED if _which(name) is None]
    if missing:
        pytest.skip(f"Slurm is not installed here (no {', '.join(missing)}): apt-get install "
                    f"slurmctld slurmd slurm-client munge")
    if os.geteuid() != 0:
        pytest.skip("starting slurmctld and slurmd as a test needs root")
    root = tmp_path_factory.mktemp("slurm")
    started = []
    try:
        if not _munge_works():
            Path("/run/munge").mkdir(parents=True, exist_ok=True)
            shutil.chown("/run/munge", "munge")
            os.chmod("/run/munge", 0o755)
            started.append(subprocess.Popen([_which("runuser"), "-u", "munge", "--", _which("munged"),
                                             "--foreground"], stderr=subprocess.DEVNULL))
            for _ in range(50):
                if _munge_works():
                    break
                time.sleep(0.2)
            else:
                pytest.skip("munged did not start (see /var/log/munge)")
        node = subprocess.run([_which("slurmd"), "-C"], capture_output=True, text=True,
                              check=True).stdout.splitlines()[0]
        host = socket.gethostname().split(".")[0]
        for folder in ("state", "spool", "log"):
            (root / folder).mkdir()
        conf = root / "slurm.conf"
        conf.write_text(f"""ClusterName=cifarcourse
SlurmctldHost={host}
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
{node} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
        (root / "cgroup").mkdir()
        (root / "cgroup.conf").write_text(f"CgroupPlugin=cgroup/v1\nCgroupMountpoint={root}/cgroup\n")
        environment = {**os.environ, "SLURM_CONF": str(conf),
                       "PATH": os.pathsep.join([str(Path(sys.executable).parent),
                                                os.environ.get("PATH", ""), *SBIN])}
        for daemon in ("slurmctld", "slurmd"):
            started.append(subprocess.Popen([_which(daemon), "-D", "-f", str(conf)],
                                            env=environment, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL))
        for _ in range(60):
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], env=environment,
                                   capture_output=True, text=True).stdout.strip()
            if state == "idle":
                break
            time.sleep(0.5)
        else:
            logs = "".join(p.read_text()[-1500:] for p in (root / "log").glob("*.log"))
            pytest.fail(f"the Slurm node never became idle (sinfo: {state!r}):\n{logs}")
        yield environment
    finally:
        _stop(started)


def _grades(rows) -> dict:
    return {(r["student"], r["lesson"]): float(r["score"]) for r in rows}


def test_a_slurm_job_array_grades_a_class_as_one_process_does(cluster, tmp_path):
    from cifar_course.grading import autograde
    from cifar_course.grading.lessons import release
    from notebooks import fill_in_solutions

    solutions, course = course_to_release(tmp_path, [LESSON], "slurm")
    release(solutions, course)
    released = course / "release" / LESSON / f"{LESSON}.ipynb"
    subs = tmp_path / "submissions"
    for student in ("ada", "bo", "cy"):
        notebook = fill_in_solutions(released, SOLUTIONS / f"{LESSON}.ipynb")
        if student == "bo":  # one wrong answer, so that the grades differ between students
            notebook = nbformat.read(released, as_version=4)
        (subs / student / LESSON).mkdir(parents=True)
        nbformat.write(notebook, subs / student / LESSON / f"{LESSON}.ipynb")
    # What one process gives these notebooks (test_autograder: the correct and the
    # untouched submissions).
    expected = {("ada", LESSON): 5, ("bo", LESSON): 0, ("cy", LESSON): 5}

    shards = course / "jobs"
    command = ["cifar-course", "grade", "jobs", str(subs), "--course", str(course), "--shards",
               "2", "--profile", "smoke", "--out", str(shards)]
    subprocess.run(command, env=cluster, check=True, capture_output=True)
    start = time.perf_counter()
    job = subprocess.run(["sbatch", "--wait", str(shards / "grade.sbatch")], env=cluster,
                         capture_output=True, text=True, timeout=1200)
    elapsed = time.perf_counter() - start
    logs = "".join(p.read_text()[-2000:] for p in course.rglob("slurm-*.log"))
    assert job.returncode == 0, f"sbatch --wait: {job.stdout}{job.stderr}\n{logs}"
    assert len(list(course.rglob("slurm-*.log"))) == 2, "one log per array task"
    subprocess.run(["cifar-course", "grade", "merge", "--course", str(course)], env=cluster,
                   check=True, capture_output=True)
    merged = _grades(autograde.export_csv(course, tmp_path / "merged.csv"))
    assert merged == expected
    print(f"\nSlurm: 3 submissions in 2 array tasks, {elapsed:.0f} s from sbatch to the last "
          f"task's end ({elapsed / 3:.0f} s a submission)")
