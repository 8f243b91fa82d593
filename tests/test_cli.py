"""The command line, on synthetic data."""

import json
import shutil
import subprocess
import sys

import pytest

from cifar_course.cli import main


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("data", "train", "evaluate", "references", "CIFAR_COURSE_DATA", "quick"):
        assert command in out


def test_entry_point_is_installed():
    exe = shutil.which("cifar-course")
    if exe is None:
        pytest.skip("package not installed in this environment (pip install -e .)")
    done = subprocess.run([exe, "stages"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "label_smoothing" in done.stdout


def test_data_describes_and_verify_rejects_a_partial_set(capsys, image_archive):
    assert main(["data", "--source", str(image_archive)]) == 0
    out = capsys.readouterr().out
    assert "train: 20 images" in out and "cat 2" in out
    assert main(["data", "--verify", "--source", str(image_archive)]) == 1
    assert "NOT the complete CIFAR-10" in capsys.readouterr().out


def test_data_error_is_one_clear_line(capsys, tmp_path):
    assert main(["data", "--source", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "does not exist" in err and "Traceback" not in err


def test_train_then_evaluate(tmp_path, capsys, image_archive):
    out = tmp_path / "run"
    assert main(["train", "--stage", "augmentation", "--profile", "smoke", "--out", str(out)]) == 0
    for name in ("model.keras", "history.json", "metrics.json", "curves.png",
                 "confusion_matrix.png", "reliability.png", "cat_as_dog.png",
                 "augmented_samples.png"):
        assert (out / name).exists(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stage"] == "augmentation" and 0 <= metrics["test_accuracy"] <= 1
    assert "test accuracy" in capsys.readouterr().out
    code = main(["evaluate", str(out / "model.keras"), "--source", str(image_archive),
                 "--out", str(tmp_path / "eval")])
    assert code == 0
    assert "test accuracy" in capsys.readouterr().out
    assert (tmp_path / "eval" / "confusion_matrix.png").exists()


def test_references_show(capsys):
    assert main(["references", "show"]) == 0


def test_module_runs_as_script():
    done = subprocess.run([sys.executable, "-m", "cifar_course.cli", "stages"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "callbacks" in done.stdout
