"""CIFAR-10 data: loading from any source, splitting, which copy it is."""

from .errors import ChecksumError, CorruptDataError, DatasetError, DatasetNotFoundError, LayoutError
from ..config import DATA_ENV
from .loading import SourceInfo, load_cifar10, load_cifar10_with_info
from .sources import CIFAR10_MEAN, CIFAR10_STD, CLASS_NAMES
from .split import stratified_subset, train_val_split

__all__ = [
    "CIFAR10_MEAN", "CIFAR10_STD", "CLASS_NAMES", "DATA_ENV", "ChecksumError", "CorruptDataError", "DatasetError",
    "DatasetNotFoundError", "LayoutError", "SourceInfo", "load_cifar10",
    "load_cifar10_with_info", "stratified_subset", "train_val_split",
]
