"""How much one more JPEG round trip changes the course's CIFAR-10 copy (docs/speedrun.md).

    python experiments/jpeg_round_trip.py [--images 2000]

Prints the RMS change, in grey levels, of the first training images after one
more round trip at quality 75 (the copy's own) and at 90: a second round trip
at the copy's quality is nearly idempotent, which is why the speedrun-rejpeg
profile's change says little about what the copy's first round trip cost.
"""

from __future__ import annotations

import argparse

import numpy as np

import cifar_course  # noqa: F401  (the torch backend first)
from cifar_course.data import load_cifar10
from cifar_course.data.jpeg import jpeg_round_trip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    args = parser.parse_args()
    (x_train, _), _ = load_cifar10()
    images = x_train[:args.images]
    for quality in (75, 90):
        again = jpeg_round_trip(images, quality).astype(np.float64)
        rms = np.sqrt(((again - images) ** 2).mean())
        print(f"one more round trip at quality {quality}: RMS change {rms:.2f} grey levels "
              f"({args.images:,} training images)")


if __name__ == "__main__":
    main()
