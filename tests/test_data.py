"""Data loading on small synthetic sources: every format, every error, the cache, splits."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pytest
from conftest import tar_folder, write_image_folder

from cifar_course.data import (
    CLASS_NAMES, ChecksumError, CorruptDataError, DatasetNotFoundError, LayoutError,
    load_cifar10, load_cifar10_with_info, stratified_subset, train_val_split,
)


def check_labels_match_pixels(x, y):
    # write_image_folder marks each image's first pixel with its label.
    assert np.array_equal(x[:, 0, 0, 0], np.ravel(y))


@pytest.mark.parametrize("form", ["folder", "archive"])
def test_image_folder_loads_with_keras_shapes(form, image_folder, image_archive):
    source = image_folder if form == "folder" else image_archive
    (x_train, y_train), (x_test, y_test) = load_cifar10(source, use_cache=False)
    assert x_train.shape == (20, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (20, 1) and y_train.dtype == np.uint8
    assert x_test.shape == (20, 32, 32, 3) and y_test.shape == (20, 1)
    assert np.bincount(y_train.ravel()).tolist() == [2] * 10
    check_labels_match_pixels(x_train, y_train)
    check_labels_match_pixels(x_test, y_test)


def test_folder_and_archive_give_identical_arrays(image_folder, image_archive):
    a = load_cifar10(image_folder, use_cache=False)
    b = load_cifar10(image_archive, use_cache=False)
    for left, right in zip([*a[0], *a[1]], [*b[0], *b[1]]):
        assert np.array_equal(left, right)


def write_batches(folder, n_per_batch=10, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n_per_batch).tolist()
        (folder / name).write_bytes(pickle.dumps({b"data": data, b"labels": labels}))
    return folder


def test_canonical_batches_folder(tmp_path):
    folder = write_batches(tmp_path / "cifar-10-batches-py")
    (x_train, y_train), (x_test, y_test) = load_cifar10(folder, use_cache=False)
    assert x_train.shape == (50, 32, 32, 3) and y_train.shape == (50, 1)
    assert x_test.shape == (10, 32, 32, 3)
    # The rows hold R plane, G plane, B plane: pixel (0, 0) is (data[0], data[1024], data[2048]).
    raw = pickle.loads((folder / "data_batch_1").read_bytes())[b"data"][0]
    assert x_train[0, 0, 0].tolist() == [raw[0], raw[1024], raw[2048]]
    # The parent folder works too.
    assert load_cifar10(tmp_path, use_cache=False)[0][0].shape == (50, 32, 32, 3)


def zip_folder(folder, archive, arcname):
    import zipfile

    with zipfile.ZipFile(archive, "w") as out:
        for file in sorted(folder.rglob("*")):
            out.write(file, f"{arcname}/{file.relative_to(folder).as_posix()}")
    return archive


def test_every_form_a_user_may_have_loads_the_same_arrays(tmp_path, image_folder):
    """Canonical batches re-packed under any name, nested trees, and zips of either."""
    batches = write_batches(tmp_path / "b" / "cifar-10-batches-py")
    expected_batches = load_cifar10(batches, use_cache=False)
    nested = tmp_path / "nested" / "downloads"
    nested.parent.mkdir()
    image_folder.rename(nested)  # .../nested/downloads/train/<class>/...
    expected_images = load_cifar10(tmp_path / "nested", use_cache=False)
    forms = {
        "batches re-packed": (tar_folder(batches, tmp_path / "mine.tar.gz", "cifar-10-batches-py"),
                              expected_batches),
        "batches zipped": (zip_folder(batches, tmp_path / "batches.zip", "x/cifar-10-batches-py"),
                           expected_batches),
        "image folder zipped": (zip_folder(nested, tmp_path / "images.zip", "cifar10"),
                                expected_images),
        "image folder nested tar": (tar_folder(tmp_path / "nested", tmp_path / "n.tgz", "a/b"),
                                    expected_images),
    }
    for form, (source, expected) in forms.items():
        loaded = load_cifar10(source, use_cache=False)
        for left, right in zip([*loaded[0], *loaded[1]], [*expected[0], *expected[1]]):
            assert np.array_equal(left, right), form


def test_a_file_that_is_no_archive_says_what_is_read(tmp_path):
    other = tmp_path / "cifar.rar"
    other.write_bytes(b"x")
    with pytest.raises(LayoutError, match=r"\.zip"):
        load_cifar10(other, use_cache=False)


def test_relative_path_works_from_a_notebook_folder(tmp_path, monkeypatch, image_archive):
    """CIFAR_COURSE_DATA relative to the repository root, a kernel running in lessons/."""
    repo = image_archive.parent
    (repo / "lessons").mkdir()
    monkeypatch.chdir(repo / "lessons")
    monkeypatch.setenv("CIFAR_COURSE_DATA", image_archive.name)
    _, info = load_cifar10_with_info(use_cache=False)
    assert info.path == str(image_archive)
    monkeypatch.setenv("CIFAR_COURSE_DATA", "missing/cifar.tar.gz")
    with pytest.raises(DatasetNotFoundError, match="CIFAR_COURSE_DATA=missing.*absolute path"):
        load_cifar10_with_info(use_cache=False)


def test_canonical_archive_with_wrong_md5_is_refused(tmp_path):
    folder = write_batches(tmp_path / "src" / "cifar-10-batches-py")
    archive = tar_folder(folder, tmp_path / "cifar-10-python.tar.gz", "cifar-10-batches-py")
    with pytest.raises(ChecksumError, match="MD5.*download"):
        load_cifar10(archive, use_cache=False)


def test_missing_batch_names_the_file(tmp_path):
    folder = write_batches(tmp_path / "cifar-10-batches-py")
    (folder / "test_batch").unlink()
    with pytest.raises(LayoutError, match="test_batch"):
        load_cifar10(folder, use_cache=False)


def test_missing_class_folder_is_named(tmp_path):
    folder = write_image_folder(tmp_path / "tree", skip_class="dog")
    with pytest.raises(LayoutError, match=r"train/dog.*Fix"):
        load_cifar10(folder, use_cache=False)


def test_unknown_class_folder_is_named(tmp_path, image_folder):
    extra = image_folder / "train" / "unicorn"
    extra.mkdir()
    (image_folder / "train" / "cat" / "0000.png").rename(extra / "0000.png")
    with pytest.raises(LayoutError, match="unicorn"):
        load_cifar10(image_folder, use_cache=False)


def test_wrong_image_size_names_the_file(tmp_path):
    folder = write_image_folder(tmp_path / "tree")
    write_image_folder(tmp_path / "big", per_class=1, size=(40, 32))
    (tmp_path / "big" / "train" / "cat" / "0000.png").replace(folder / "train" / "cat" / "0001.png")
    with pytest.raises(CorruptDataError, match=r"train/cat/0001.png is 40x32.*32x32"):
        load_cifar10(folder, use_cache=False)


def test_wrong_layout(tmp_path):
    (tmp_path / "photos").mkdir()
    with pytest.raises(LayoutError, match="train/<class>"):
        load_cifar10(tmp_path / "photos", use_cache=False)


def test_missing_path(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="does not exist.*CIFAR_COURSE_DATA"):
        load_cifar10(tmp_path / "nowhere.tar.gz", use_cache=False)


def test_truncated_archive(tmp_path, image_archive):
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(image_archive.read_bytes()[: image_archive.stat().st_size // 2])
    with pytest.raises(CorruptDataError, match="truncated or corrupted.*again"):
        load_cifar10(truncated, use_cache=False)


def test_sha256sums_beside_the_archive_is_checked(tmp_path, image_archive):
    (image_archive.parent / "SHA256SUMS").write_text(f"{'0' * 64}  {image_archive.name}\n")
    with pytest.raises(ChecksumError, match="SHA-256"):
        load_cifar10(image_archive, use_cache=False)


def test_environment_variable_names_the_source(monkeypatch, image_archive):
    monkeypatch.setenv("CIFAR_COURSE_DATA", str(image_archive))
    _, info = load_cifar10_with_info()
    assert info.kind == "imagefolder" and info.path == str(image_archive)
    assert len(info.sha256) == 64


def test_cache_is_reused_and_equal(tmp_path, monkeypatch, image_archive):
    monkeypatch.setenv("CIFAR_COURSE_CACHE", str(tmp_path / "cache"))
    first = load_cifar10(image_archive)
    assert list((tmp_path / "cache").glob("*.npz"))
    start = time.perf_counter()
    second, info = load_cifar10_with_info(image_archive)
    assert time.perf_counter() - start < 1.0
    assert np.array_equal(first[0][0], second.x_train)
    assert info.sha256  # provenance survives the cache


def test_changed_source_is_decoded_again(tmp_path, monkeypatch):
    monkeypatch.setenv("CIFAR_COURSE_CACHE", str(tmp_path / "cache"))
    folder = write_image_folder(tmp_path / "tree", seed=0)
    archive = tar_folder(folder, tmp_path / "data.tar.gz")
    first = load_cifar10(archive)[0][0]
    write_image_folder(tmp_path / "tree", seed=1)
    tar_folder(folder, archive)
    assert not np.array_equal(first, load_cifar10(archive)[0][0])
    # The old copy's cache is gone; another source's stays.
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    load_cifar10(write_image_folder(tmp_path / "other", seed=2))
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2


def test_train_val_split_is_stratified_and_deterministic():
    y = np.repeat(np.arange(10), 100).reshape(-1, 1)
    x = np.arange(1000)
    (xa, ya), (xv, yv) = train_val_split(x, y, val_size=200, seed=0)
    (xb, _), (xv2, _) = train_val_split(x, y, val_size=200, seed=0)
    assert np.array_equal(xv, xv2) and np.array_equal(xa, xb)
    assert np.bincount(yv.ravel()).tolist() == [20] * 10
    assert not set(xa) & set(xv)
    x_sub, y_sub = stratified_subset(xa, ya, 100, seed=0)
    assert len(x_sub) == 100 and np.bincount(y_sub.ravel()).tolist() == [10] * 10
    assert stratified_subset(xa, ya, None)[0] is xa


def test_class_names_are_cifar_order():
    assert CLASS_NAMES[3] == "cat" and CLASS_NAMES[5] == "dog" and len(CLASS_NAMES) == 10
