"""Lesson 09 (the speedrun): the whitening and Dirac kernels, the flip schedule, test-time
augmentation.
"""

from __future__ import annotations

import numpy as np

from .common import softmax, to_numpy


def _photo_like_images(seed: int = 0, n: int = 48) -> np.ndarray:
    """Made-up normalised images whose neighbouring pixels and channels correlate (as in
    photographs) and whose mean is not zero, so that an uncentred covariance is not a centred one."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(n, 33, 33, 3))
    smooth = (noise[:, :-1, :-1] + noise[:, 1:, :-1] + noise[:, :-1, 1:] + noise[:, 1:, 1:]) / 2
    mixing = np.array([[1.0, 0.6, 0.4], [0.6, 1.0, 0.6], [0.4, 0.6, 1.0]])
    return (smooth @ mixing + 0.5).astype(np.float32)


def check_whitening_kernel(whitening_kernel, eps: float = 5e-4):
    """``whitening_kernel(images, size, eps)``: eigenvectors over root eigenvalues, then negations."""
    from ...speedrun.model import patches

    images = _photo_like_images()
    kernel = to_numpy(whitening_kernel(images, 2, eps))
    assert kernel.shape == (2, 2, 3, 24), (
        f"the kernel is {kernel.shape}, want (2, 2, 3, 24): keras' layout (height, width, "
        f"channels in, filters), 12 whitening filters and their 12 negations")
    assert np.allclose(kernel[..., 12:], -kernel[..., :12], atol=1e-5), (
        "filters 12-23 must be the negations of filters 0-11 (in the same order)")
    flat = patches(images.astype(np.float64), 2)  # what a Conv2D with this kernel sees
    eigenvalues = np.linalg.eigvalsh(flat.T @ flat / len(flat))[::-1]
    outputs = flat @ kernel[..., :12].reshape(12, 12)
    covariance = outputs.T @ outputs / len(outputs)
    want = eigenvalues / (eigenvalues + eps)
    off_diagonal = np.abs(covariance - np.diag(np.diag(covariance))).max()
    assert off_diagonal < 1e-3, (
        f"the 12 filters' outputs on the patches are correlated (largest covariance between two "
        f"of them {off_diagonal:.3g}, want about 0). Hint: the filters are the eigenvectors of "
        f"the patches' covariance (np.linalg.eigh), and a patch is flattened in keras' kernel "
        f"order (height, width, channel)")
    got = np.diag(covariance)
    assert np.allclose(got, want, atol=1e-3), (
        f"the outputs' variances are {np.round(got, 3).tolist()}, want "
        f"{np.round(want, 3).tolist()} (eigenvalue / (eigenvalue + eps), largest eigenvalue "
        f"first). Hint: divide each eigenvector by sqrt(eigenvalue + eps), and order the "
        f"filters by decreasing eigenvalue (eigh returns them increasing); use the uncentred "
        f"covariance, patches.T @ patches / n")


def check_dirac_kernel(dirac_kernel):
    """``dirac_kernel(kernel)``: the first min(in, out) filters pass their own channel through."""
    rng = np.random.default_rng(0)
    for shape in ((3, 3, 4, 6), (3, 3, 6, 4)):
        kernel = rng.uniform(-0.3, 0.3, shape).astype(np.float32)
        original = kernel.copy()
        result = to_numpy(dirac_kernel(kernel))
        assert np.array_equal(kernel, original), "leave the kernel you are given unchanged: return a new one"
        assert result.shape == shape, f"kernel {shape}: the result is {result.shape}, want the same shape"
        n = min(shape[2], shape[3])
        identity = np.zeros(shape[:3] + (n,))
        identity[1, 1, np.arange(n), np.arange(n)] = 1.0
        assert np.allclose(result[..., :n], identity), (
            f"kernel {shape}: filter i < {n} must be 1 at the centre [1, 1] of input channel i "
            f"and 0 everywhere else (so that it outputs its input channel i unchanged)")
        assert np.allclose(result[..., n:], original[..., n:]), (
            f"kernel {shape}: filters {n} and up must keep their random initial weights")


def check_flip_schedule(flip_schedule):
    """``flip_schedule(n, epochs, seed)``: random in epoch 0, then every image alternates."""
    schedule = to_numpy(flip_schedule(1000, 6, 0)).astype(bool)
    assert schedule.shape == (6, 1000), (
        f"the schedule is {schedule.shape}, want (epochs, images) = (6, 1000)")
    share = schedule[0].mean()
    assert 0.4 < share < 0.6, (
        f"{share:.0%} of the images are flipped in the first epoch, want about half, chosen at "
        f"random image by image")
    for epoch in range(1, 6):
        assert np.array_equal(schedule[epoch], ~schedule[epoch - 1]), (
            f"epoch {epoch}: every image must be flipped exactly when it was not in epoch "
            f"{epoch - 1} ({int((schedule[epoch] == schedule[epoch - 1]).sum())} images are not)")
    again = to_numpy(flip_schedule(1000, 6, 0)).astype(bool)
    other = to_numpy(flip_schedule(1000, 6, 1)).astype(bool)
    assert np.array_equal(again, schedule), "the same seed must give the same schedule"
    assert not np.array_equal(other[0], schedule[0]), (
        "seeds 0 and 1 give the same first epoch: draw it from a generator seeded with `seed`")


class _LinearModel:
    """A made-up classifier with a ``predict`` like keras', not symmetric under flips or shifts."""

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.weights = rng.normal(scale=3e-4, size=(32 * 32 * 3, 10))  # logits of a few units

    def predict(self, images, batch_size=None, verbose=0):
        logits = np.asarray(images, dtype=np.float64).reshape(len(images), -1) @ self.weights
        return softmax(logits)


def check_tta_probabilities(tta_probabilities):
    """``tta_probabilities(predict, images)``: the course's level-2 test-time augmentation."""
    from ...speedrun.pipeline import predict_tta

    model = _LinearModel()
    images = np.random.default_rng(1).integers(0, 256, (16, 32, 32, 3)).astype(np.float32)
    want = predict_tta(model, images, level=2)
    got = to_numpy(tta_probabilities(model.predict, images))
    assert got.shape == want.shape, f"the result is {got.shape}, want {want.shape} (images, classes)"
    assert np.allclose(got.sum(axis=1), 1.0, atol=1e-6), "each image's probabilities must sum to 1"
    assert np.allclose(got, want, atol=1e-6), (
        f"first image: yours {np.round(got[0], 4).tolist()}, want {np.round(want[0], 4).tolist()}. "
        f"Hint: six views (the image, shifted one pixel up-left and down-right with reflect "
        f"padding, then each of the three mirrored left-right: shift first, mirror the shifted "
        f"view), weights 1/4 for the image and its mirror and 1/8 for each shifted view; average "
        f"the log-probabilities, then normalise with a softmax")

