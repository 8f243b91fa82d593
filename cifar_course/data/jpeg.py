"""A lossy JPEG round trip, to measure what the course's JPEG copy of CIFAR-10 costs."""

from __future__ import annotations

import io

import numpy as np

# The course's copy was saved at quality 75 with the standard tables (its README).
COPY_QUALITY = 75


def jpeg_round_trip(images: np.ndarray, quality: int = COPY_QUALITY) -> np.ndarray:
    """Each uint8 NHWC image encoded as JPEG at ``quality`` with Pillow and decoded again."""
    from PIL import Image

    out = np.empty_like(images)
    for index, image in enumerate(images):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=quality)
        buffer.seek(0)
        out[index] = np.asarray(Image.open(buffer).convert("RGB"))
    return out
