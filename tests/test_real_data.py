"""Checks on real CIFAR-10 (skipped, with the reason, where the archive is absent)."""

import numpy as np
import pytest

import cifar_course  # noqa: F401
from cifar_course.cli import main
from cifar_course.data import load_cifar10_with_info

pytestmark = pytest.mark.real_data


def test_loader_reads_the_whole_archive(real_data):
    arrays, info = load_cifar10_with_info(real_data)
    assert arrays.x_train.shape == (50000, 32, 32, 3) and arrays.x_test.shape == (10000, 32, 32, 3)
    assert np.bincount(arrays.y_train.ravel()).tolist() == [5000] * 10
    assert np.bincount(arrays.y_test.ravel()).tolist() == [1000] * 10
    # The shared copy's README: per-channel train means 0.4913, 0.4821, 0.4465.
    means = arrays.x_train.reshape(-1, 3).mean(axis=0) / 255
    np.testing.assert_allclose(means, [0.4913, 0.4821, 0.4465], atol=2e-4)
    assert info.sha256 and len(info.sha256) == 64


def test_cli_verifies_the_archive(real_data, capsys):
    assert main(["data", "--verify", "--source", str(real_data)]) == 0
    assert "verified: complete CIFAR-10" in capsys.readouterr().out


