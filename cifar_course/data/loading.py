"""``load_cifar10``: find a source, decode it once, serve it from a cache."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ..config import DATA_ENV, current
from .errors import ChecksumError, CorruptDataError, DatasetNotFoundError
from .sources import Arrays, file_digest, read_keras_download, read_source

# Bump when the decoded arrays would change (reader fix, new ordering).
CACHE_VERSION = 1


@dataclass(frozen=True)
class SourceInfo:
    """Where the arrays came from: recorded beside every reference metric."""

    kind: str  # "batches", "imagefolder" or "keras"
    path: str
    sha256: str | None
    n_train: int
    n_test: int
    # The decoded images' digest (``copies.content_digest``): the same images packed
    # another way have the same one. None only in caches written before it existed.
    content_sha256: str | None = None


def cache_dir() -> Path:
    """Where decoded arrays are cached: this process's configuration's (``config.current``)."""
    return current().cache_dir()


def resolve_source(source: str | os.PathLike | None = None) -> str | Path:
    """The explicit source, else the configuration's (``$CIFAR_COURSE_DATA``), else ``"keras"``.

    A relative path is looked for from the current folder and then from each
    folder above it: a path set relative to the repository root (as the README
    does) also works from a notebook kernel running in ``lessons/``.
    """
    from_environment = False
    if source is None:
        config = current()
        source, from_environment = config.data or "keras", config.data_from_environment
    if str(source) == "keras":
        return "keras"
    path = Path(source).expanduser()
    if path.is_absolute():
        return path
    tried = [folder / path for folder in (Path.cwd(), *Path.cwd().parents)]
    for candidate in tried:
        if candidate.exists():
            return candidate.resolve()
    named_by = f"{DATA_ENV}={source}" if from_environment else f"source {str(source)!r}"
    raise DatasetNotFoundError(
        f"CIFAR-10 not found: {named_by} is a relative path, and it exists neither in "
        f"{Path.cwd()} nor in any folder above it (tried {tried[0]} ... {tried[-1]}). Fix: give "
        f"an absolute path, e.g. {DATA_ENV}=\"$PWD/{source}\" from the folder it is relative to.")


def _check_sidecar_sums(path: Path, sha256: str) -> None:
    """Honour a SHA256SUMS file lying beside an archive (as in shared/data)."""
    sums = path.parent / "SHA256SUMS"
    if not path.is_file() or not sums.is_file():
        return
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == path.name and parts[0] != sha256:
            raise ChecksumError(
                f"{path} has SHA-256 {sha256}, but {sums} expects {parts[0]}: the "
                f"archive is incomplete or altered. Fix: copy it again."
            )


def _cache_key(path: Path) -> str:
    stat = path.stat()
    raw = f"{CACHE_VERSION}|{path}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _load_cached(file: Path) -> tuple[Arrays, SourceInfo] | None:
    meta_file = file.with_suffix(".json")
    if not (file.exists() and meta_file.exists()):
        return None
    try:
        with np.load(file) as stored:
            arrays = Arrays(*(stored[k] for k in ("x_train", "y_train", "x_test", "y_test")))
        info = SourceInfo(**json.loads(meta_file.read_text()))
    except Exception:  # a half-written or foreign cache: decode again
        return None
    return arrays, info


def _store_cached(file: Path, arrays: Arrays, info: SourceInfo) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    # Write to temporary names, then rename: a crash never leaves a half cache.
    tmp = file.with_name(file.stem + f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **asdict(arrays))
    tmp.replace(file)
    meta_tmp = file.with_name(file.stem + f".{os.getpid()}.tmp.json")
    meta_tmp.write_text(json.dumps(asdict(info), indent=1))
    meta_tmp.replace(file.with_suffix(".json"))
    _remove_stale_caches(file, info.path)


def _remove_stale_caches(kept: Path, path: str) -> None:
    # A source copied again (a new mtime) gets a new cache: drop the old ones of the
    # same path, or every fresh copy would leave another 180 MB behind.
    for meta_file in kept.parent.glob("cifar10-*.json"):
        if meta_file.stem == kept.stem:
            continue
        try:
            stale = json.loads(meta_file.read_text()).get("path") == path
        except (OSError, ValueError):
            continue
        if stale:
            meta_file.with_suffix(".npz").unlink(missing_ok=True)
            meta_file.unlink(missing_ok=True)


def cache_file(source: str | os.PathLike | None = None) -> Path | None:
    """The file ``source`` (default: the configuration's) is decoded into, or None where it
    has none (keras' own download, an .npz, which is arrays already, a source not there)."""
    try:
        resolved = resolve_source(source)
    except DatasetNotFoundError:
        return None
    if resolved == "keras" or resolved.suffix == ".npz" or not resolved.exists():
        return None
    return cache_dir() / f"cifar10-{_cache_key(resolved)}.npz"


def arrays_file(source: str | os.PathLike | None = None) -> Path | None:
    """The file ``source``'s arrays are read from: the .npz it is, or the cache it is
    decoded into (None for keras' own download, or a source not there)."""
    try:
        resolved = resolve_source(source)
    except DatasetNotFoundError:
        return None
    if resolved != "keras" and resolved.suffix == ".npz":
        return resolved
    return cache_file(resolved)


def load_cifar10_with_info(
    source: str | os.PathLike | None = None, *, use_cache: bool = True
) -> tuple[Arrays, SourceInfo]:
    """Like ``load_cifar10`` but also returns where the data came from."""
    resolved = resolve_source(source)
    if resolved == "keras":
        arrays = read_keras_download()
        return arrays, SourceInfo("keras", "keras.datasets.cifar10", None, len(arrays.x_train),
                                  len(arrays.x_test), _content_sha256(arrays, None))

    if not resolved.exists():
        raise DatasetNotFoundError(
            f"CIFAR-10 source {str(resolved)!r} does not exist. Fix: check the path "
            f"(or the CIFAR_COURSE_DATA environment variable that named it).")
    cached_in = cache_file(resolved)
    use_cache = use_cache and cached_in is not None
    if use_cache and (cached := _load_cached(cached_in)) is not None:
        arrays, info = cached
        if info.content_sha256 is None:  # a cache from before the digest: add it once
            info = replace(info, content_sha256=_content_sha256(arrays, info.sha256))
            try:  # the metadata alone: the arrays (which the grader digests) stay as they are
                cached_in.with_suffix(".json").write_text(json.dumps(asdict(info), indent=1))
            except OSError:
                pass
        return arrays, info

    sha256 = file_digest(resolved) if resolved.is_file() else None
    if sha256:
        _check_sidecar_sums(resolved, sha256)
    print(f"Decoding CIFAR-10 from {resolved} (the first time only: about 20 s for the JPEG "
          f"copy; the arrays are then cached in {cache_dir()})", flush=True)
    kind, arrays = read_source(resolved)
    if len(arrays.x_train) == 0 or len(arrays.x_test) == 0:
        raise CorruptDataError(f"{resolved} holds no images. Fix: check the source.")
    info = SourceInfo(kind, str(resolved), sha256, len(arrays.x_train), len(arrays.x_test),
                      _content_sha256(arrays, sha256))
    if use_cache:
        try:
            _store_cached(cached_in, arrays, info)
        except OSError:  # a read-only home must not stop the lesson
            pass
    return arrays, info


def _content_sha256(arrays: Arrays, archive_sha256: str | None) -> str:
    """The copy's content digest: known from the archive's bytes, else computed (seconds)."""
    from .copies import content_digest, known_copy

    copy = known_copy(archive_sha256=archive_sha256)
    return copy.content_sha256 if copy else content_digest(arrays)


def load_cifar10(source: str | os.PathLike | None = None, *, use_cache: bool = True):
    """Load CIFAR-10 as ``(x_train, y_train), (x_test, y_test)`` uint8 arrays.

    Shapes match ``keras.datasets.cifar10.load_data()``: images
    ``(N, 32, 32, 3)``, labels ``(N, 1)``.

    Args:
        source: ``"keras"`` (download), a ``cifar-10-python.tar.gz`` or
            ``cifar-10-batches-py`` folder, or an image-folder tree
            (``train/<class>/*``, ``test/<class>/*``) or a ``.tar.gz`` of one.
            Default: ``$CIFAR_COURSE_DATA`` if set, else ``"keras"``.
        use_cache: reuse (and write) decoded arrays under ``$CIFAR_COURSE_CACHE``
            (default ``~/.cache/cifar_course``); a cached load takes well under
            a second.
    """
    arrays, _ = load_cifar10_with_info(source, use_cache=use_cache)
    return arrays.as_tuples()


def timed_load(source=None):
    """(arrays, info, seconds): used by ``cifar-course data`` to show the cache at work."""
    start = time.perf_counter()
    arrays, info = load_cifar10_with_info(source)
    return arrays, info, time.perf_counter() - start
