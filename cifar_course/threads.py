"""How many CPU threads torch uses: ``CIFAR_COURSE_THREADS``, else torch's default (all cores).

Several trainings on one machine (graders working in parallel, a reference run
beside a lesson) each start one thread per core by default, and threads that
outnumber the cores slow every training down many times over. Set
``CIFAR_COURSE_THREADS`` (or ``--threads``) to share the cores; the grader sets
it for its workers.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from .config import RunConfig



def configure_threads(threads: int | None) -> None:
    """Have torch use ``threads`` CPU threads (None: leave it as it is, without importing it)."""
    if threads is None:
        return
    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    import torch

    torch.set_num_threads(threads)


CGROUP = Path("/sys/fs/cgroup")


def cpu_quota(cgroup: Path = CGROUP) -> float | None:
    """The CPUs a cgroup quota allows this container (cgroup v2 ``cpu.max``, v1
    ``cpu.cfs_quota_us``), or None where there is none."""
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    for folder in (cgroup / "cpu", cgroup / "cpu,cpuacct"):
        try:
            quota = int((folder / "cpu.cfs_quota_us").read_text())
            period = int((folder / "cpu.cfs_period_us").read_text())
            return None if quota <= 0 else quota / period
        except (OSError, ValueError):
            continue
    return None


def usable_cpus() -> int:
    """The cores this process may use: its CPU affinity, capped by a cgroup quota (in a
    container such as Gradescope's, 0.5 CPU, ``os.cpu_count()`` still shows the host's)."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cpu_quota()
    return max(1, min(count, math.ceil(quota))) if quota else count


def threads_per_worker(jobs: int, config: RunConfig) -> int | None:
    """CPU threads each of ``jobs`` parallel workers may use (None: torch's default, all cores).

    Every worker (a student's kernel, a reference run) would otherwise start one
    torch thread per core: with 2 workers on 2 cores, 4 busy threads that slow
    each other down, and in a container limited to part of the host (Gradescope),
    one thread per host core, which slows training down many times over.
    """
    if config.omp_threads or config.threads:  # set by hand: kept as it is
        return None
    cpus = usable_cpus()
    if jobs <= 1 and cpus == (os.cpu_count() or 1):
        return None
    return max(1, cpus // max(1, jobs))
