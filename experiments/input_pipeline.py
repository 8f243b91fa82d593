"""Input pipelines: augmentation inside the model (Keras layers, batched) against
torchvision transforms in a DataLoader (per image, in workers).

    python experiments/input_pipeline.py [--images 10240] [--batch-size 128]

Prints images/second of the augmentation alone for each variant, and of one
training epoch of the final-stage model fed each way.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import cifar_course  # noqa: F401  (torch backend)
import torch

from cifar_course.augmentation import build_augmentation
from torch_pipeline import make_dataloader
from cifar_course.models import build_baseline_cnn
from cifar_course.profiles import get_profile
from cifar_course.stages import FINAL_STAGE
from cifar_course.training import build_loss, build_optimizer, one_hot


def timed(run, n):
    start = time.perf_counter()
    run()
    return n / (time.perf_counter() - start)


def compiled_model(augmentation):
    model = build_baseline_cnn(augmentation=augmentation, dropout=FINAL_STAGE.model.dropout)
    model.compile(optimizer=build_optimizer(FINAL_STAGE, get_profile("full")),
                  loss=build_loss(FINAL_STAGE))
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10240)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (args.images, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, args.images)
    n, bs = args.images, args.batch_size

    augmentation = build_augmentation(seed=0)
    batches = [torch.from_numpy(x[i:i + bs].astype("float32")) for i in range(0, n, bs)]

    def keras_layers():
        for batch in batches:
            augmentation(batch, training=True)

    print(f"# input pipelines, {torch.get_num_threads()} torch threads, batch {bs}, {n} images")
    print(f"{'variant':44s} {'img/s':>8s}")
    print(f"{'augmentation only: keras layers (in model)':44s} {timed(keras_layers, n):8.0f}")
    for workers in (0, 2):
        loader = make_dataloader(x, y, augment=True, batch_size=bs, num_workers=workers)
        next(iter(loader))  # start the workers before timing
        rate = timed(lambda loader=loader: sum(1 for _ in loader), n)
        print(f"{f'augmentation only: torchvision, {workers} workers':44s} {rate:8.0f}")

    in_model = compiled_model(build_augmentation(seed=0))
    in_model.fit(x[:bs * 2], one_hot(y[:bs * 2]), batch_size=bs, verbose=0)
    rate = timed(lambda: in_model.fit(x, one_hot(y), batch_size=bs, verbose=0), n)
    print(f"{'training epoch: keras layers in the model':44s} {rate:8.0f}")
    for workers in (0, 2):
        plain = compiled_model(None)
        loader = make_dataloader(x, y, augment=True, batch_size=bs, num_workers=workers)
        plain.fit(loader, epochs=1, steps_per_epoch=2, shuffle=False, verbose=0)
        rate = timed(lambda plain=plain, loader=loader: plain.fit(loader, epochs=1, shuffle=False,
                                                                  verbose=0), n)
        print(f"{f'training epoch: torchvision DataLoader, {workers} workers':44s} {rate:8.0f}")


if __name__ == "__main__":
    main()
