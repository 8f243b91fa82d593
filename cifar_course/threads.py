"""How many CPU threads torch uses: ``CIFAR_COURSE_THREADS``, else torch's default (all cores).

Several trainings on one machine (graders working in parallel, a reference run
beside a lesson) each start one thread per core by default, and threads that
outnumber the cores slow every training down many times over. Set
``CIFAR_COURSE_THREADS`` (or ``--threads``) to share the cores; the grader sets
it for its workers.
"""

from __future__ import annotations

import os

THREADS_ENV = "CIFAR_COURSE_THREADS"


def configure_threads(threads: int | None = None) -> int:
    """Use ``threads`` (else ``$CIFAR_COURSE_THREADS``, else leave torch's default); return the count."""
    import torch

    if threads is None and os.environ.get(THREADS_ENV):
        try:
            threads = int(os.environ[THREADS_ENV])
        except ValueError:
            raise ValueError(f"{THREADS_ENV}={os.environ[THREADS_ENV]!r} is not a whole number. "
                             f"Fix: set it to the number of CPU threads to use, e.g. 2.") from None
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def threads_per_worker(jobs: int) -> int | None:
    """CPU threads each of ``jobs`` parallel workers may use (None: torch's default, all cores).

    Every worker (a student's kernel, a reference run) would otherwise start one
    torch thread per core: with 2 workers on 2 cores, 4 busy threads that slow
    each other down.
    """
    if jobs <= 1 or os.environ.get("OMP_NUM_THREADS") or os.environ.get(THREADS_ENV):
        return None
    return max(1, (os.cpu_count() or 1) // jobs)
