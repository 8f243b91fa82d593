"""One run's configuration: read from the environment in one function, handed on as one value.

A person sets four things, by argument or by environment variable: the
profile (``CIFAR_COURSE_PROFILE``), the CIFAR-10 copy (``CIFAR_COURSE_DATA``),
the decoded-data cache (``CIFAR_COURSE_CACHE``) and torch's CPU threads
(``CIFAR_COURSE_THREADS``). The grader adds its own settings (sandbox,
stand-in data, answers folder, memory limit, install digest) for the processes
it starts, as one serialized value (``CIFAR_COURSE_GRADER``).

``RunConfig.from_environment`` is the only reader of those variables;
``RunConfig.to_environment`` is what a parent hands a child process (a grading
worker, a notebook kernel, a checker). The command line, ``start_lesson`` and
the grader's worker build a ``RunConfig`` at the edge; the library below them
takes a ``Profile`` and explicit values. ``default_profile`` is the one policy
that picks a profile from the hardware and the references.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

PROFILE_ENV = "CIFAR_COURSE_PROFILE"
DATA_ENV = "CIFAR_COURSE_DATA"
CACHE_ENV = "CIFAR_COURSE_CACHE"
THREADS_ENV = "CIFAR_COURSE_THREADS"
GRADER_ENV = "CIFAR_COURSE_GRADER"  # JSON of GraderSettings: set by the grader alone


class ConfigurationError(ValueError):
    """A setting that cannot be used as given."""


@dataclass(frozen=True)
class GraderSettings:
    """What the grader tells the processes it starts (never set by a person)."""

    sandbox: str = "none"  # how a worker starts kernels (grading.sandbox.SANDBOXES)
    stand_in: str | None = None  # the kernels' CIFAR-10 (grading.stand_in), absolute
    answers: str | None = None  # the kernel's answers folder, for the lesson being graded
    memory_gb: float | None = None  # the worker's own memory limit
    install_digest: str | None = None  # the installed course as the grader found it


@dataclass(frozen=True)
class RunConfig:
    """Profile, data, cache, threads, and (under the grader) the grader's settings."""

    profile: str | None = None  # None: ``default_profile()``
    data: str | None = None  # a path, or "keras"; None: keras' download
    cache: str | None = None  # None: ~/.cache/cifar_course
    threads: int | None = None  # None: torch's default (or OMP_NUM_THREADS)
    omp_threads: int | None = None  # OMP_NUM_THREADS, read so threads_per_worker respects it
    grader: GraderSettings | None = None  # set only in processes the grader started
    data_from_environment: bool = field(default=False, compare=False)  # for error messages

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> RunConfig:
        """The configuration the environment gives (``os.environ`` unless ``environ``)."""
        environ = os.environ if environ is None else environ
        grader = None
        if environ.get(GRADER_ENV):
            try:
                grader = GraderSettings(**json.loads(environ[GRADER_ENV]))
            except (ValueError, TypeError) as error:
                raise ConfigurationError(f"{GRADER_ENV} is not the grader's settings ({error}). "
                                         f"Fix: unset it; only the grader sets it.") from None
        return cls(profile=environ.get(PROFILE_ENV) or None, data=environ.get(DATA_ENV) or None,
                   cache=environ.get(CACHE_ENV) or None,
                   threads=_whole_number(environ, THREADS_ENV),
                   omp_threads=_whole_number(environ, "OMP_NUM_THREADS"), grader=grader,
                   data_from_environment=bool(environ.get(DATA_ENV)))

    def to_environment(self) -> dict[str, str]:
        """The variables that give a child process this configuration."""
        environment = {PROFILE_ENV: self.profile, DATA_ENV: self.data, CACHE_ENV: self.cache,
                       THREADS_ENV: self.threads, "OMP_NUM_THREADS": self.omp_threads}
        environment = {name: str(value) for name, value in environment.items() if value is not None}
        if self.grader is not None:
            environment[GRADER_ENV] = json.dumps(asdict(self.grader))
        return environment

    @property
    def under_grader(self) -> bool:
        return self.grader is not None

    def profile_name(self) -> str:
        """The profile asked for, else ``default_profile()``."""
        return self.profile or default_profile()

    def cache_dir(self) -> Path:
        return Path(self.cache) if self.cache else Path.home() / ".cache" / "cifar_course"

    def with_grader(self, **changes) -> RunConfig:
        """This configuration with some of the grader's settings changed."""
        return replace(self, grader=replace(self.grader or GraderSettings(), **changes))


def _whole_number(environ: Mapping[str, str], name: str) -> int | None:
    text = environ.get(name)
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise ConfigurationError(f"{name}={text!r} is not a whole number. Fix: set it to the "
                                 f"number of CPU threads to use, e.g. 2.") from None
    if value < 1:
        raise ConfigurationError(f"{name}={value}: it must be at least 1.")
    return value


# The profile a notebook's lesson chose (``start_lesson``): the checks it runs
# outside the grader use it. None: the environment's.
_chosen_profile: str | None = None


def current() -> RunConfig:
    """This process's configuration: the environment's, with the profile ``start_lesson`` chose."""
    config = RunConfig.from_environment()
    return replace(config, profile=_chosen_profile) if _chosen_profile else config


def choose_profile(name: str | None) -> None:
    """Make ``name`` this process's profile (``start_lesson`` does; None forgets it)."""
    global _chosen_profile
    _chosen_profile = name


def mark_grading(profile: str) -> None:
    """Make this process (and the kernels it starts) graded, in ``profile`` unless one is set.

    For a plain ``nbgrader autograde`` (the course's ``nbgrader_config.py`` calls
    it); the settings a ``cifar-course grade`` worker was given are kept.
    """
    config = RunConfig.from_environment()
    publish(replace(config, profile=config.profile or profile,
                    grader=config.grader or GraderSettings()))


def publish(config: RunConfig) -> None:
    """Make ``config`` this process's, for what it starts without an environment of its own
    (nbgrader starts the notebook kernels from the grader's): the one writer of the variables."""
    os.environ.update(config.to_environment())


def default_profile() -> str:
    """``full`` on a GPU once every stage has a full-profile band (at least two seeds
    each), ``quick`` otherwise (a CPU, or full references still being measured): the
    default always grades every stage against a band."""
    import torch

    from .references import has_band_for_every_stage

    if torch.cuda.is_available() and has_band_for_every_stage("full"):
        return "full"
    return "quick"
