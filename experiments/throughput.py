"""Training and inference throughput: Keras (torch backend) against plain PyTorch.

Both sides train the course's final-stage network (same layers, initial
weights copied from keras to torch, AdamW, label smoothing 0.1, dropout 0.5)
on the same uint8 images and batch size, with the same thread count, in one
process. Augmentation is left out of both so the comparison is of the
training machinery; experiments/input_pipeline.py measures augmentation.

    python experiments/throughput.py [--batch-size 128] [--images 5120] [--repeats 3]

Prints the best images/second of each side and their keras/pytorch ratio, for
training (``fit`` against a hand-written loop) and for inference (``predict``
and ``evaluate`` against a ``no_grad`` loop), then the spread of the ratios of
runs made back to back. Real CIFAR-10 is not needed: speed does not depend on
pixel values.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

import cifar_course  # noqa: F401  (torch backend)
import keras
import torch
import torch.nn as nn
import torch.nn.functional as F

from cifar_course.data import CIFAR10_MEAN, CIFAR10_STD
from cifar_course.models import BN_MOMENTUM, build_baseline_cnn
from cifar_course.profiles import get_profile
from cifar_course.stages import FINAL_STAGE
from cifar_course.training import build_loss, build_optimizer


class TorchCNN(nn.Module):
    """The course CNN written in plain PyTorch (NCHW, channels-last memory)."""

    def __init__(self, widths=(32, 64, 128), dropout=0.5):
        super().__init__()
        layers, channels = [], 3
        for width in widths:
            for _ in range(2):
                layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False),
                           nn.BatchNorm2d(width, eps=1e-3, momentum=1 - BN_MOMENTUM), nn.ReLU()]
                channels = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(channels, 10)
        self.register_buffer("mean", torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(CIFAR10_STD).view(1, 3, 1, 1))

    def forward(self, images_nhwc_uint8):
        x = images_nhwc_uint8.permute(0, 3, 1, 2).float()  # channels-last view
        x = (x - self.mean) / self.std
        x = self.features(x).mean(dim=(2, 3))
        return self.classifier(self.dropout(x))


def copy_keras_weights(keras_model, torch_model):
    convs = [l for l in keras_model.layers if isinstance(l, keras.layers.Conv2D)]
    bns = [l for l in keras_model.layers if isinstance(l, keras.layers.BatchNormalization)]
    t_convs = [m for m in torch_model.modules() if isinstance(m, nn.Conv2d)]
    t_bns = [m for m in torch_model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for k, t in zip(convs, t_convs):
            t.weight.copy_(torch.as_tensor(keras.ops.convert_to_numpy(k.kernel)).permute(3, 2, 0, 1))
        for k, t in zip(bns, t_bns):
            t.weight.copy_(torch.as_tensor(keras.ops.convert_to_numpy(k.gamma)))
            t.bias.copy_(torch.as_tensor(keras.ops.convert_to_numpy(k.beta)))
        dense = keras_model.get_layer("classifier")
        torch_model.classifier.weight.copy_(torch.as_tensor(keras.ops.convert_to_numpy(dense.kernel)).T)
        torch_model.classifier.bias.copy_(torch.as_tensor(keras.ops.convert_to_numpy(dense.bias)))


def keras_side(x, y_onehot, batch_size):
    model = build_baseline_cnn(dropout=FINAL_STAGE.model.dropout)
    model.compile(optimizer=build_optimizer(FINAL_STAGE, get_profile("full")),
                  loss=build_loss(FINAL_STAGE), metrics=["accuracy"])
    model.fit(x[: 4 * batch_size], y_onehot[: 4 * batch_size], batch_size=batch_size, verbose=0)

    def train():
        model.fit(x, y_onehot, batch_size=batch_size, epochs=1, shuffle=True, verbose=0)

    def predict():
        model.predict(x, batch_size=batch_size, verbose=0)

    def evaluate():
        model.evaluate(x, y_onehot, batch_size=batch_size, verbose=0)

    return model, {"train": train, "predict": predict, "evaluate": evaluate}


def torch_side(keras_model, x, labels, batch_size):
    model = TorchCNN().to(memory_format=torch.channels_last)
    copy_keras_weights(keras_model, model)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=1e-3)
    images, targets = torch.from_numpy(x), torch.from_numpy(labels.astype(np.int64))

    def batches():
        order = torch.randperm(len(images))
        for start in range(0, len(images), batch_size):
            index = order[start:start + batch_size]
            yield images[index], targets[index]

    def train():
        model.train()
        for xb, yb in batches():
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb, label_smoothing=0.1)
            loss.backward()
            optimizer.step()

    @torch.no_grad()
    def predict():
        model.eval()
        for start in range(0, len(images), batch_size):
            F.softmax(model(images[start:start + batch_size]), dim=1)

    @torch.no_grad()
    def evaluate():
        model.eval()
        total, correct = 0.0, 0
        for start in range(0, len(images), batch_size):
            logits = model(images[start:start + batch_size])
            yb = targets[start:start + batch_size]
            total += float(F.cross_entropy(logits, yb, label_smoothing=0.1)) * len(yb)
            correct += int((logits.argmax(1) == yb).sum())

    train()  # warm-up, as keras' first fit above
    return {"train": train, "predict": predict, "evaluate": evaluate}


def rate(run, n_images):
    start = time.perf_counter()
    run()
    return n_images / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--images", type=int, default=5120)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (args.images, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, args.images)
    y_onehot = keras.utils.to_categorical(labels, 10).astype("float32")
    keras_model, keras_runs = keras_side(x, y_onehot, args.batch_size)
    torch_runs = torch_side(keras_model, x, labels, args.batch_size)

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    print(f"# throughput: keras {keras.__version__} (torch backend) vs torch {torch.__version__}")
    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"device {device}, batch {args.batch_size}, {args.images} images, best of {args.repeats}")
    print(f"{'task':10s} {'keras img/s':>12s} {'pytorch img/s':>14s} {'ratio':>7s} "
          f"{'paired ratios min/median/max':>29s}")
    for task in ("train", "predict", "evaluate"):
        # Alternate the two sides so that drift in machine load hits both alike;
        # each keras run and the torch run right after it make one paired ratio,
        # whose spread shows how far machine noise moves the figure.
        keras_rates, torch_rates = [], []
        for _ in range(args.repeats):
            keras_rates.append(rate(keras_runs[task], args.images))
            torch_rates.append(rate(torch_runs[task], args.images))
        k_best, t_best = max(keras_rates), max(torch_rates)
        paired = sorted(k / t for k, t in zip(keras_rates, torch_rates))
        spread = f"{paired[0]:.2f} / {float(np.median(paired)):.2f} / {paired[-1]:.2f}"
        print(f"{task:10s} {k_best:12.0f} {t_best:14.0f} {k_best / t_best:7.2f} {spread:>29s}")


if __name__ == "__main__":
    main()
