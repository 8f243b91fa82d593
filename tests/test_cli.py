"""The command line, on synthetic data."""

import argparse
import json
import shutil
import subprocess
import sys

import pytest

from cifar_course.cli import main
from cifar_course.plots import plt


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
    assert plt.get_fignums() == []  # a command writes its figures and frees them
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stage"] == "augmentation" and 0 <= metrics["test_accuracy"] <= 1
    assert "test accuracy" in capsys.readouterr().out
    code = main(["evaluate", str(out / "model.keras"), "--source", str(image_archive),
                 "--out", str(tmp_path / "eval")])
    assert code == 0
    assert "test accuracy" in capsys.readouterr().out
    assert (tmp_path / "eval" / "confusion_matrix.png").exists()
    assert plt.get_fignums() == []


def test_references_show(capsys):
    assert main(["references", "show"]) == 0


def test_module_runs_as_script():
    done = subprocess.run([sys.executable, "-m", "cifar_course.cli", "stages"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "callbacks" in done.stdout


@pytest.mark.parametrize("argv, says", [
    (["train", "--stage", "nope", "--profile", "smoke"], "No stage 'nope'"),
    (["evaluate", "missing.keras"], "does not exist. Fix"),
    (["references", "run"], "needs --profile"),
])
def test_errors_are_one_line_with_the_fix(argv, says, capsys):
    assert main(argv) in (1, 2)
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and says in err and "\n" not in err and "Traceback" not in err


def test_debug_shows_the_traceback():
    with pytest.raises(KeyError):
        main(["--debug", "train", "--stage", "nope", "--profile", "smoke"])


def test_every_subcommand_and_option_has_help_text():
    from cifar_course.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        assert sub.description, name
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings or action.dest}"


def test_references_show_fits_100_columns(capsys):
    assert main(["references", "show"]) == 0
    assert max(map(len, capsys.readouterr().out.splitlines())) <= 100


def test_references_run_warns_of_its_length():
    from cifar_course.cli import long_run_warning

    text = long_run_warning("full", 6)
    assert "6 training run(s)" in text and " h in all" in text and "resumes" in text
    # Two at a time: three rounds of runs, not six (each figure rounded to 0.1 h).
    in_pairs = long_run_warning("full", 6, jobs=2)
    assert " h in all (2 at a time)" in in_pairs
    hours = [float(t.split(" h in all")[0].rsplit(" ", 1)[1]) for t in (text, in_pairs)]
    assert abs(hours[1] - hours[0] / 2) <= 0.1


def test_train_prints_a_header_naming_stage_profile_data_device(capsys, tmp_path):
    import torch

    threads = torch.get_num_threads()
    try:
        assert main(["train", "--stage", "baseline", "--profile", "smoke", "--threads", "1",
                     "--out", str(tmp_path)]) == 0
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert "stage 1 baseline, seed 0 | profile smoke" in out
    assert "data: synthetic images" in out and "device: CPU, 1 torch threads" in out


def test_train_runs_the_speedrun_in_its_profiles(tmp_path, capsys):
    out = tmp_path / "speedrun"
    assert main(["train", "--profile", "speedrun-smoke", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stage"] == "speedrun" and "test_accuracy_without_tta" in metrics
    assert (out / "model.keras").exists() and (out / "curves.png").exists()
    assert "Speedrun, profile speedrun-smoke" in capsys.readouterr().out
