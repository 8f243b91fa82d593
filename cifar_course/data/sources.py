"""Readers for the three forms CIFAR-10 comes in.

- ``batches``: the canonical ``cifar-10-batches-py`` folder, or the
  ``cifar-10-python.tar.gz`` archive it comes from (MD5-checked).
- ``imagefolder``: ``train/<class>/*`` and ``test/<class>/*`` image files, as a
  folder or as a ``.tar.gz`` / ``.tgz`` of one (the shared JPEG copy).
- ``keras``: ``keras.datasets.cifar10.load_data()``, which downloads.

Each reader returns ``Arrays``: uint8 images ``(N, 32, 32, 3)`` and uint8
labels ``(N, 1)``, the shapes ``keras.datasets.cifar10.load_data()`` returns.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
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


def detect_kind(path: Path) -> str:
    """Tell which reader fits a local path, or explain why none does."""
    if not path.exists():
        raise DatasetNotFoundError(
            f"CIFAR-10 source {str(path)!r} does not exist. Fix: check the path "
            f"(or the CIFAR_COURSE_DATA environment variable that named it)."
        )
    if path.is_dir():
        if (path / "data_batch_1").exists():
            return "batches"
        if (path / "cifar-10-batches-py").is_dir():
            return "batches"
        if all((path / split).is_dir() for split in SPLITS):
            return "imagefolder"
        raise LayoutError(
            f"{path} is neither a 'cifar-10-batches-py' folder (data_batch_1..5, "
            f"test_batch) nor an image folder with 'train/<class>/' and "
            f"'test/<class>/' subfolders. Fix: point to the folder that holds them."
        )
    name = path.name.lower()
    if name == "cifar-10-python.tar.gz":
        return "batches"
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        return "imagefolder"
    raise LayoutError(
        f"{path} is a file, but not a .tar.gz archive. Fix: give a "
        f"cifar-10-python.tar.gz, an image-folder .tar.gz, or a folder."
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


def read_batches(path: Path) -> Arrays:
    """Read the canonical python version, as a folder or as its archive."""
    if path.is_dir():
        folder = path / "cifar-10-batches-py" if (path / "cifar-10-batches-py").is_dir() else path

        def read(name):
            file = folder / name
            if not file.exists():
                raise LayoutError(
                    f"{folder} has no {name!r}. Fix: a cifar-10-batches-py folder "
                    f"holds data_batch_1..5 and test_batch; extract the archive again."
                )
            return file.read_bytes()

        return _assemble_batches(read)

    actual = file_digest(path, "md5")
    if actual != CANONICAL_ARCHIVE_MD5:
        raise ChecksumError(
            f"{path} has MD5 {actual}, not the official {CANONICAL_ARCHIVE_MD5}: "
            f"the download is incomplete or altered. Fix: delete it and download "
            f"https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz again."
        )
    with _open_tar(path) as archive:
        members = {Path(m.name).name: m for m in archive.getmembers() if m.isfile()}

        def read(name):
            if name not in members:
                raise LayoutError(f"{path} has no {name!r}. Fix: download it again.")
            return archive.extractfile(members[name]).read()

        return _guard_truncation(path, lambda: _assemble_batches(read))


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


def read_imagefolder(path: Path) -> Arrays:
    """Read train/<class>/* and test/<class>/* from a folder or a tar archive."""
    entries: dict = {}
    if path.is_dir():
        # torchvision's ImageFolder does the folder walk and the class check.
        from torchvision.datasets import ImageFolder

        for split in SPLITS:
            root = path / split
            if not root.is_dir():
                raise LayoutError(f"{path} has no '{split}/' folder. Fix: add it.")
            try:
                listing = ImageFolder(str(root), loader=lambda p: p, allow_empty=True)
            except FileNotFoundError as error:
                raise LayoutError(f"{root}: {error}. Fix: add the class folders.") from error
            for file, label in listing.samples:
                class_name = listing.classes[label]
                entries.setdefault((split, class_name), {})[Path(file).name] = Path(file).read_bytes()
        return _arrays_from_entries(entries, str(path))

    def collect():
        with _open_tar(path) as archive:
            for member in archive:
                if not member.isfile():
                    continue
                key = _split_class_file(member.name)
                if key is None:
                    continue
                split, class_name, file_name = key
                entries.setdefault((split, class_name), {})[file_name] = archive.extractfile(member).read()

    _guard_truncation(path, collect)
    return _arrays_from_entries(entries, str(path))


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
    except (tarfile.TarError, EOFError, zlib.error) as error:
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


READERS = {"batches": read_batches, "imagefolder": read_imagefolder}
