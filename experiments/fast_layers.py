"""What the course's fast layers buy: the course CNN built from them against the same
network built from plain keras layers (what lesson 01's student writes).

    python experiments/fast_layers.py [--batch-size 128] [--images 2560] [--repeats 3]

Prints the best images/second over ``--repeats`` of one training epoch (``fit``)
and of ``predict`` for each, and their ratio. Run it under each keras version to
compare (the layers fall back to keras' own code where their fast path does not
apply). Speed does not depend on pixel values: the images are random.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import cifar_course  # noqa: F401  (torch backend)
import keras
import torch
from keras import layers

from cifar_course.models import BN_MOMENTUM, build_baseline_cnn


def plain_block(x, filters, l2=0.0, name="block"):
    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn{i}")(x)
        x = layers.ReLU(name=f"{name}_relu{i}")(x)
    return layers.MaxPooling2D(2, name=f"{name}_pool")(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--images", type=int, default=2560)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (args.images, 32, 32, 3)).astype("uint8")
    y = keras.utils.to_categorical(rng.integers(0, 10, args.images), 10)
    best = {}
    for _ in range(args.repeats):
        for name, block in (("course layers", None), ("plain keras", plain_block)):
            keras.utils.set_random_seed(0)
            model = build_baseline_cnn(block=block, dropout=0.5)
            model.compile(keras.optimizers.AdamW(1e-3),
                          keras.losses.CategoricalCrossentropy(label_smoothing=0.1))
            model.fit(x[:256], y[:256], batch_size=args.batch_size, epochs=1, verbose=0)  # warm-up
            start = time.perf_counter()
            model.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0)
            train = args.images / (time.perf_counter() - start)
            start = time.perf_counter()
            model.predict(x, batch_size=args.batch_size, verbose=0)
            predict = args.images / (time.perf_counter() - start)
            old = best.get(name, (0.0, 0.0))
            best[name] = (max(old[0], train), max(old[1], predict))
    print(f"keras {keras.__version__}, torch {torch.__version__}, {torch.get_num_threads()} "
          f"threads, batch {args.batch_size}, best of {args.repeats}")
    for name, (train, predict) in best.items():
        print(f"  {name:14s} train {train:6.0f} img/s   predict {predict:6.0f} img/s")
    (ct, cp), (pt, pp) = best["course layers"], best["plain keras"]
    print(f"  course/plain   train {ct / pt:.2f}x        predict {cp / pp:.2f}x")


if __name__ == "__main__":
    main()
