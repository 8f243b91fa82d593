"""Where a speedrun run's time goes on this machine (docs/speedrun.md, "Time on a CPU").

    python experiments/speedrun_time.py [--batch-size 1024] [--steps 3] [--images 2000]

Prints, on synthetic images (speed does not depend on pixel values): the
input pipeline's seconds per batch (alternating flips and translations in
numpy), a training step's seconds, the torch operators that take the most of
a training step (``torch.profiler``), and test-time augmentation's cost
against one plain forward pass.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import cifar_course  # noqa: F401  (the torch backend first)
import keras
import torch

from cifar_course.speedrun import (SPEEDRUN, AlternatingFlipTranslate, build_sgd, build_speedrun_cnn,
                                   multiply_adds, predict_tta)


def seconds(function, repeats: int) -> float:
    """The best of ``repeats`` timings of ``function()``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--images", type=int, default=2000, help="test images for the TTA timing")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n = 4 * args.batch_size
    images = rng.integers(0, 256, (n, 32, 32, 3)).astype(np.uint8)
    labels = np.eye(10, dtype="float32")[rng.integers(0, 10, n)]
    batches = AlternatingFlipTranslate(images, labels, args.batch_size, seed=0)
    per_batch = seconds(lambda: [batches[i] for i in range(len(batches))], 3) / len(batches)

    model = build_speedrun_cnn(None)
    model.compile(optimizer=build_sgd(SPEEDRUN, args.batch_size, 100),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=SPEEDRUN.label_smoothing))
    x, y = batches[0]
    model.train_on_batch(x, y)  # warm-up: builds the optimizer's variables
    step = seconds(lambda: model.train_on_batch(x, y), args.steps)
    print(f"torch {torch.__version__}, keras {keras.__version__}, {torch.get_num_threads()} threads; "
          f"batch {args.batch_size}, {multiply_adds(model) / 1e6:.1f} M multiply-adds per image forward")
    print(f"input pipeline: {per_batch:.3f} s a batch ({per_batch / step:.1%} of a training step)")
    print(f"training step:  {step:.2f} s ({args.batch_size / step:.0f} images/s, "
          f"{3 * multiply_adds(model) * args.batch_size / step / 1e9:.0f} G multiply-adds/s)")

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        model.train_on_batch(x, y)
    print("\nOne training step, the operators that take the most time:")
    print(profile.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))

    test = images[:args.images]
    plain = seconds(lambda: model.predict(test, batch_size=1000, verbose=0), 2)
    augmented = seconds(lambda: predict_tta(model, test, SPEEDRUN.tta_level), 2)
    print(f"test-time augmentation (level {SPEEDRUN.tta_level}) on {len(test):,} images: "
          f"{augmented:.1f} s against {plain:.1f} s for one plain pass ({augmented / plain:.1f}x)")


if __name__ == "__main__":
    main()
