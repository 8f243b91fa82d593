"""PNG figures: training curves, confusion matrix, augmented samples,
reliability diagram, most-confused examples, ablation bars.

Every function draws on a new figure, saves it when ``path`` is given, and
returns the figure (notebooks display it; scripts close it).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

if matplotlib.get_backend().lower() not in ("module://matplotlib_inline.backend_inline", "nbagg"):
    matplotlib.use("Agg")  # headless machines and CI: no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402

from .data import CLASS_NAMES  # noqa: E402
from .evaluation import reliability_curve  # noqa: E402


def _finish(fig, path):
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    return fig


def plot_history(history: dict, path=None, title: str = ""):
    """Accuracy and loss per epoch, training against validation."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for ax, metric in zip(axes, ("accuracy", "loss")):
        ax.plot(epochs, history[metric], label="training")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    if "val_loss" in history:
        best = int(np.argmin(history["val_loss"]))
        axes[1].axvline(best + 1, color="grey", linestyle=":", label="best val_loss")
    for ax in axes:
        ax.legend()
    fig.suptitle(title)
    return _finish(fig, path)


def plot_beside(histories: dict, path=None, title: str = ""):
    """Validation accuracy and cross-entropy per epoch of several runs on the same axes,
    the earlier runs dashed.

    ``histories``: ``{label: keras history dict}``, e.g. the previous stage's run and
    this stage's, so that the one change between them is what shows. The
    cross-entropy is the plain one (``val_cross_entropy``: no label smoothing, no
    penalty), the same measure for stages trained on different objectives; a run
    that did not log it shows its ``val_loss``, the objective it trained on, and
    its label says so.
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for index, (label, history) in enumerate(histories.items()):
        epochs = np.arange(1, len(history["loss"]) + 1)
        style = "--" if index < len(histories) - 1 else "-"
        if "val_accuracy" in history:
            axes[0].plot(epochs, history["val_accuracy"], style, label=label)
        plain = "val_cross_entropy" in history
        if plain or "val_loss" in history:
            axes[1].plot(epochs, history["val_cross_entropy" if plain else "val_loss"], style,
                         label=label if plain else f"{label}: its objective, val_loss")
    for ax, metric in zip(axes, ("validation accuracy",
                                 "validation cross-entropy\n(no smoothing, no penalty)")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return _finish(fig, path)


def plot_confusion_matrix(matrix, path=None, normalize: bool = True):
    """Rows: true class; columns: predicted class (row-normalised by default)."""
    matrix = np.asarray(matrix, dtype=float)
    if normalize:
        matrix = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    ConfusionMatrixDisplay(matrix, display_labels=CLASS_NAMES).plot(
        ax=ax, cmap="Blues", values_format=".2f" if normalize else "d", colorbar=False,
        xticks_rotation=45)
    ax.set_title("Confusion matrix" + (" (share of each true class)" if normalize else ""))
    return _finish(fig, path)


def plot_image_grid(images, titles=None, path=None, columns: int = 8, title: str = ""):
    images = np.asarray(images)
    rows = max(1, int(np.ceil(len(images) / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(1.4 * columns, 1.55 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for index, image in enumerate(images):
        ax = axes.flat[index]
        ax.imshow(np.clip(image, 0, 255).astype(np.uint8))
        if titles is not None:
            ax.set_title(titles[index], fontsize=7)
    fig.suptitle(title)
    return _finish(fig, path)


def plot_augmented_samples(augmentation, images, path=None, copies: int = 7):
    """Each row: an original image, then ``copies`` augmented versions of it."""
    import keras

    images = np.asarray(images[:6], dtype="float32")
    rows = [images]
    for _ in range(copies):
        rows.append(keras.ops.convert_to_numpy(augmentation(images, training=True)))
    grid = np.stack(rows, axis=1).reshape(-1, *images.shape[1:])
    titles = (["original"] + ["augmented"] * copies) * len(images)
    return plot_image_grid(grid, titles, path, columns=copies + 1,
                           title="Training-time augmentation (inference sees the originals)")


def plot_reliability_diagram(probabilities, labels, path=None, n_bins: int = 15, ece=None,
                             title: str = "Reliability diagram"):
    """Accuracy against confidence per bin; the diagonal is perfect calibration."""
    centres, accuracy, confidence, counts = reliability_curve(probabilities, labels, n_bins)
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    width = 1.0 / n_bins
    ax.bar(centres, np.nan_to_num(accuracy), width=width, edgecolor="k", alpha=0.7,
           label="accuracy")
    ax.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    ax.plot(centres, confidence, "o", color="tab:red", markersize=3, label="mean confidence")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title + (f" (ECE {ece:.3f})" if ece is not None else ""))
    ax.legend(loc="upper left", fontsize=8)
    return _finish(fig, path)


def plot_confused_examples(images, labels, probabilities, true_class="cat",
                           predicted_class="dog", path=None, count: int = 16):
    """Test images of ``true_class`` the model called ``predicted_class``, most confident first."""
    labels = np.ravel(labels)
    t, p = CLASS_NAMES.index(true_class), CLASS_NAMES.index(predicted_class)
    predictions = np.asarray(probabilities).argmax(axis=1)
    confused = np.flatnonzero((labels == t) & (predictions == p))
    chosen = confused[np.argsort(-np.asarray(probabilities)[confused, p])][:count]
    titles = [f"{predicted_class} {probabilities[i][p]:.0%}" for i in chosen]
    return plot_image_grid(images[chosen], titles, path, columns=8,
                           title=f"{true_class} images predicted as {predicted_class} "
                                 f"({len(confused)} in all)")


def plot_ablation(rows, path=None, title: str = "Test accuracy by stage"):
    """Bars of the reference's mean test accuracy (with the std over seeds) per stage,
    and this run's as points.

    ``rows``: as ``comparisons.comparison_rows`` gives them (``stage``, and
    ``test_accuracy`` with ``this_run``, ``mean`` and ``std``, each ``None``
    where not measured).
    """
    fig, ax = plt.subplots(figsize=(8, 4))
    names = [r["stage"] for r in rows]
    accuracy = [r["test_accuracy"] for r in rows]
    means = [np.nan if a["mean"] is None else 100 * a["mean"] for a in accuracy]
    stds = [100 * (a.get("std") or 0.0) for a in accuracy]
    x = np.arange(len(rows))
    ax.bar(x, means, yerr=stds, capsize=4, color="tab:blue", alpha=0.8, label="reference")
    runs = [(i, 100 * a["this_run"]) for i, a in enumerate(accuracy) if a.get("this_run") is not None]
    if runs:
        ax.plot(*zip(*runs), "D", color="tab:orange", label="this run")
    ax.set_xticks(x, names, rotation=20)
    ax.set_ylabel("test accuracy (%)")
    shown = [m for m in means if np.isfinite(m)] + [y for _, y in runs]
    low = min(shown) - 10 if shown else 0
    ax.set_ylim(max(0, low), 100)
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    ax.set_title(title)
    return _finish(fig, path)
