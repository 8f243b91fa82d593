"""Every plot writes a non-empty PNG."""

import numpy as np
import pytest

import cifar_course  # noqa: F401
from cifar_course import plots
from cifar_course.augmentation import build_augmentation


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plots.plt.close("all")


def is_png(path):
    return path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 2000


def test_all_plots(tmp_path):
    rng = np.random.default_rng(0)
    history = {"loss": [2.0, 1.5, 1.2], "val_loss": [2.1, 1.6, 1.7],
               "accuracy": [0.3, 0.5, 0.6], "val_accuracy": [0.3, 0.45, 0.5]}
    images = rng.integers(0, 256, (40, 32, 32, 3)).astype(np.uint8)
    labels = np.repeat(np.arange(10), 4)
    probabilities = rng.dirichlet(np.ones(10), size=40)
    probabilities[labels == 3, 5] += 5  # some cats called dogs
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    matrix = np.eye(10, dtype=int) * 5 + 1
    rows = [{"stage": "baseline", "test_accuracy": {"mean": 0.6, "std": 0.01, "this_run": 0.61}},
            {"stage": "callbacks", "test_accuracy": {"mean": 0.7, "std": None, "this_run": None}}]
    calls = {
        "curves.png": lambda p: plots.plot_history(history, p),
        "confusion.png": lambda p: plots.plot_confusion_matrix(matrix, p),
        "augmented.png": lambda p: plots.plot_augmented_samples(build_augmentation(seed=0), images, p),
        "reliability.png": lambda p: plots.plot_reliability_diagram(probabilities, labels, p, ece=0.1),
        "cat_dog.png": lambda p: plots.plot_confused_examples(images, labels, probabilities, path=p),
        "ablation.png": lambda p: plots.plot_ablation(rows, p),
    }
    for name, draw in calls.items():
        draw(tmp_path / name)
        assert is_png(tmp_path / name), name


def test_runs_beside_each_other_compare_the_plain_cross_entropy():
    """Stages trained on different objectives (an L2 penalty in keras' loss, a smoothing
    floor) are compared on the plain validation cross-entropy, the earlier run dashed; a
    run that did not log it shows its own loss, labelled as its objective."""
    smoothed = {"loss": [1.2, 1.0], "val_loss": [1.3, 1.1], "val_accuracy": [0.4, 0.5],
                "val_cross_entropy": [1.6, 1.4]}
    older = {"loss": [1.5, 1.3], "val_loss": [1.7, 1.5], "val_accuracy": [0.35, 0.45]}
    fig = plots.plot_beside({"before": older, "after": smoothed})
    lines = fig.axes[1].get_lines()
    assert [list(line.get_ydata()) for line in lines] == [[1.7, 1.5], [1.6, 1.4]]
    assert [line.get_linestyle() for line in lines] == ["--", "-"]
    assert [line.get_label() for line in lines] == ["before: its objective, val_loss", "after"]
