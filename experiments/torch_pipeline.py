"""The PyTorch-side input pipeline: torchvision transforms in a DataLoader.

The course puts augmentation inside the model (Keras layers); this is the
other way, the reference project's: per-image torchvision transforms run by
DataLoader workers. ``keras.Model.fit`` accepts the loader directly; pass
``shuffle=False`` to ``fit`` (the loader shuffles itself, and keras warns that
its own ``shuffle=True`` default is ignored). input_pipeline.py compares the two.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from cifar_course.data.sources import CIFAR10_MEAN


def reference_transforms() -> v2.Compose:
    """Crop after 4-pixel padding, flip, erasing with the mean colour, on uint8 CHW tensors."""
    return v2.Compose([
        v2.RandomCrop(32, padding=4),
        v2.RandomHorizontalFlip(),
        v2.RandomErasing(p=0.5, scale=(0.02, 0.33), value=[round(m) for m in CIFAR10_MEAN]),
    ])


class ArrayImageDataset(Dataset):
    """uint8 NHWC arrays -> (float32 HWC image in [0, 255], one-hot label)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform=None, num_classes=10):
        self.images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
        self.targets = torch.nn.functional.one_hot(
            torch.from_numpy(np.ravel(labels).astype(np.int64)), num_classes).float()
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        # The course models take channels-last [0, 255] floats.
        return image.permute(1, 2, 0).float(), self.targets[index]


def make_dataloader(images, labels, *, augment: bool = False, batch_size: int = 128,
                    shuffle: bool = True, num_workers: int = 0, seed: int = 0) -> DataLoader:
    """A DataLoader of (images, one-hot labels) batches for ``model.fit(loader, shuffle=False)``.

    ``shuffle`` here is the one that counts: keras ignores its own for a DataLoader.
    """
    dataset = ArrayImageDataset(images, labels, reference_transforms() if augment else None)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                      generator=generator, persistent_workers=num_workers > 0)
