"""Readers for the three forms CIFAR-10 comes in.

- ``batches``: the canonical ``cifar-10-batches-py`` files (``data_batch_1..5``,
  ``test_batch``); ``cifar-10-python.tar.gz`` itself is MD5-checked.
- ``imagefolder``: ``train/<class>/*`` and ``test/<class>/*`` image files (the
  shared JPEG copy).
- ``keras``: ``keras.datasets.cifar10.load_data()``, which downloads.

The first two are read from a folder, a tar archive (``.tar.gz``, ``.tgz``,
``.tar``...) or a ``.zip``, at any depth inside it: the form is told from the
files, not from the name.

Each reader returns ``Arrays``: uint8 images ``(N, 32, 32, 3)`` and uint8
labels ``(N, 1)``, the shapes ``keras.datasets.cifar10.load_data()`` returns.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ChecksumError, CorruptDataError, DatasetNotFoundError, LayoutError

CLASS_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)
IMAGE_SHAPE = (32, 32, 3)
# Per-channel mean and standard deviation of the CIFAR-10 training images on
# the [0, 255] scale: models take raw pixels and normalise them themselves.
CIFAR10_MEAN = (125.3, 123.0, 113.9)
CIFAR10_STD = (63.0, 62.1, 66.7)
CANONICAL_ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")
BATCH_NAMES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
SPLITS = ("train", "test")


@dataclass
class Arrays:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def as_tuples(self):
        return (self.x_train, self.y_train), (self.x_test, self.y_test)


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def list_files(path: Path) -> dict[str, bytes]:
    """The CIFAR-10 files (batches or class-folder images) in an existing folder, tar or
    zip archive, at any depth: ``{relative name: bytes}`` (``load_cifar10`` says when the
    path does not exist)."""

    def wanted(name: str) -> bool:
        return Path(name).name in BATCH_NAMES or _split_class_file(name) is not None

    if path.is_dir():
        return {rel: file.read_bytes() for file in sorted(path.rglob("*"))
                if file.is_file() and wanted(rel := file.relative_to(path).as_posix())}
    name = path.name.lower()
    if name.endswith(".zip"):
        def read_zip():
            with zipfile.ZipFile(path) as archive:
                return {info.filename: archive.read(info) for info in archive.infolist()
                        if not info.is_dir() and wanted(info.filename)}
        return _guard_truncation(path, read_zip)
    if name.endswith(TAR_SUFFIXES):
        def read_tar():
            with _open_tar(path) as archive:
                return {m.name: archive.extractfile(m).read() for m in archive
                        if m.isfile() and wanted(m.name)}
        return _guard_truncation(path, read_tar)
    raise LayoutError(
        f"{path} is a file, but not an archive this course reads. Fix: give a "
        f"cifar-10-python.tar.gz, a .tar.gz/.tgz/.tar/.zip of CIFAR-10 (canonical batches or "
        f"an image folder), or a folder holding one."
    )


def detect_kind(files: dict, where: str) -> str:
    """``batches`` or ``imagefolder``, from the files found; or say what was expected."""
    if any(Path(name).name == "data_batch_1" for name in files):
        return "batches"
    if files:
        return "imagefolder"
    raise LayoutError(
        f"{where} holds neither the canonical batches (cifar-10-batches-py: data_batch_1..5 "
        f"and test_batch) nor an image folder (train/<class>/*.jpg and test/<class>/*.jpg), "
        f"at any depth. Fix: point to the folder or archive that holds them."
    )


# --------------------------------------------------------------- canonical --

def _unpickle_batch(raw: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = pickle.loads(raw, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.uint8)
    except Exception as error:  # pickle raises many kinds on corrupt input
        raise CorruptDataError(
            f"CIFAR-10 batch {name!r} could not be read ({error}). Fix: download "
            f"cifar-10-python.tar.gz again."
        ) from error
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.reshape(-1, 1)


def _assemble_batches(read) -> Arrays:
    parts = [_unpickle_batch(read(f"data_batch_{i}"), f"data_batch_{i}") for i in range(1, 6)]
    x_test, y_test = _unpickle_batch(read("test_batch"), "test_batch")
    return Arrays(
        np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
        x_test, y_test,
    )


def _read_batches(files: dict, where: str) -> Arrays:
    by_name = {}
    for name in sorted(files, key=len):  # the shallowest copy of each batch
        by_name.setdefault(Path(name).name, files[name])

    def read(name):
        if name not in by_name:
            raise LayoutError(
                f"{where} has no {name!r}. Fix: a cifar-10-batches-py folder holds "
                f"data_batch_1..5 and test_batch; download or extract it again."
            )
        return by_name[name]

    return _assemble_batches(read)


# ------------------------------------------------------------- imagefolder --

def _decode_image(data: bytes, where: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise CorruptDataError(
            f"{where} is not a readable image ({error}). Fix: replace or delete it."
        ) from error
    if array.shape != IMAGE_SHAPE:
        raise CorruptDataError(
            f"{where} is {array.shape[1]}x{array.shape[0]} pixels; CIFAR-10 images "
            f"are 32x32. Fix: resize it to 32x32 or remove it."
        )
    return array


def _split_class_file(relative: str) -> tuple[str, str, str] | None:
    """('train', 'cat', '0001.jpg') for '[prefix/]train/cat/0001.jpg', else None."""
    parts = Path(relative).parts
    if len(parts) < 3 or not parts[-1].lower().endswith(IMAGE_SUFFIXES):
        return None
    split, class_name = parts[-3], parts[-2]
    if split not in SPLITS or parts[-1].startswith("."):
        return None
    return split, class_name, parts[-1]


def _arrays_from_entries(entries: dict, where: str) -> Arrays:
    """entries: {(split, class_name): {file_name: bytes}} -> Arrays."""
    out = {}
    for split in SPLITS:
        found = {c for (s, c) in entries if s == split}
        if not found:
            raise LayoutError(
                f"{where} has no '{split}/<class>/' images. Fix: an image folder "
                f"holds train/<class>/*.jpg and test/<class>/*.jpg."
            )
        unknown = sorted(found - set(CLASS_NAMES))
        if unknown:
            raise LayoutError(
                f"{where} has {split}/ folders that are not CIFAR-10 classes: "
                f"{unknown}. Fix: use exactly the folders {list(CLASS_NAMES)}."
            )
        missing = [c for c in CLASS_NAMES if c not in found]
        if missing:
            raise LayoutError(
                f"{where} is missing images for the class folder(s) "
                f"{', '.join(split + '/' + c for c in missing)}. Fix: every split "
                f"needs all 10 class folders, each with images: {list(CLASS_NAMES)}."
            )
        images, labels = [], []
        for label, class_name in enumerate(CLASS_NAMES):
            files = entries[(split, class_name)]
            for file_name in sorted(files):
                images.append(_decode_image(files[file_name], f"{where}:{split}/{class_name}/{file_name}"))
                labels.append(label)
        out[split] = (np.stack(images), np.asarray(labels, dtype=np.uint8).reshape(-1, 1))
    return Arrays(*out["train"], *out["test"])


def _read_imagefolder(files: dict, where: str) -> Arrays:
    entries: dict = {}
    for name, data in files.items():
        key = _split_class_file(name)
        if key is not None:
            split, class_name, file_name = key
            entries.setdefault((split, class_name), {})[file_name] = data
    return _arrays_from_entries(entries, where)


def read_source(path: Path) -> tuple[str, Arrays]:
    """``(kind, arrays)`` from a local source: a folder, tar or zip archive holding the
    canonical batches or an image folder, at any depth."""
    if path.name.lower() == "cifar-10-python.tar.gz":
        actual = file_digest(path, "md5")
        if actual != CANONICAL_ARCHIVE_MD5:
            raise ChecksumError(
                f"{path} has MD5 {actual}, not the official {CANONICAL_ARCHIVE_MD5}: "
                f"the download is incomplete or altered. Fix: delete it and download "
                f"https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz again."
            )
    if path.suffix == ".npz" and path.is_file():
        return "arrays", read_arrays(path)
    files = list_files(path)
    kind = detect_kind(files, str(path))
    reader = _read_batches if kind == "batches" else _read_imagefolder
    return kind, reader(files, str(path))


ARRAY_KEYS = ("x_train", "y_train", "x_test", "y_test")


def read_arrays(path: Path) -> Arrays:
    """The four arrays of an ``.npz`` (``numpy.savez``): the same images packed another way,
    or the grader's stand-in for a kernel (``grading/stand_in.py``)."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            missing = [k for k in ARRAY_KEYS if k not in stored]
            if missing:
                raise LayoutError(f"{path} has no {', '.join(missing)}: an .npz source holds "
                                  f"{', '.join(ARRAY_KEYS)}. Fix: save all four with numpy.savez")
            arrays = Arrays(*(stored[k] for k in ARRAY_KEYS))
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise CorruptDataError(f"{path} is not a readable .npz ({error}). Fix: write it again "
                               f"with numpy.savez") from error
    for images in (arrays.x_train, arrays.x_test):
        if images.ndim != 4 or images.shape[1:] != IMAGE_SHAPE or images.dtype != np.uint8:
            raise LayoutError(f"{path}: images must be uint8 of shape (N, 32, 32, 3), not "
                              f"{images.dtype} {images.shape}")
    return Arrays(arrays.x_train, arrays.y_train.reshape(-1, 1).astype(np.uint8),
                  arrays.x_test, arrays.y_test.reshape(-1, 1).astype(np.uint8))


# ------------------------------------------------------------------ shared --

def _open_tar(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, mode="r:*")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise CorruptDataError(
            f"{path} is not a readable archive ({error}). Fix: download or copy it again."
        ) from error


def _guard_truncation(path: Path, work):
    try:
        return work()
    except (tarfile.TarError, EOFError, zlib.error, zipfile.BadZipFile) as error:
        raise CorruptDataError(
            f"{path} is truncated or corrupted ({type(error).__name__}: {error}). "
            f"Fix: download or copy the archive again."
        ) from error
    except OSError as error:
        if "compressed file ended" in str(error) or "CRC" in str(error):
            raise CorruptDataError(
                f"{path} is truncated or corrupted ({error}). Fix: download or "
                f"copy the archive again."
            ) from error
        raise


def read_keras_download() -> Arrays:
    """Download (or reuse keras' cached copy of) the canonical dataset."""
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except Exception as error:  # urllib, ssl, socket: any failure means "offline"
        raise DatasetNotFoundError(
            f"Could not download CIFAR-10 with keras ({type(error).__name__}: {error}). "
            f"Fix: connect to the internet, or point CIFAR_COURSE_DATA (or "
            f"source=...) to a local cifar-10-python.tar.gz, cifar-10-batches-py "
            f"folder, or image-folder tree/archive."
        ) from error
    return Arrays(x_train, y_train.astype(np.uint8), x_test, y_test.astype(np.uint8))


