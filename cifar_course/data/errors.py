"""Errors raised while finding, checking or decoding CIFAR-10.

Every message names the problem and the fix, so that a student who meets one
in a notebook knows what to do next.
"""


class DatasetError(RuntimeError):
    """Base class: something is wrong with the CIFAR-10 source."""


class DatasetNotFoundError(DatasetError):
    """No source was given, found, or downloadable."""


class ChecksumError(DatasetError):
    """An archive's checksum differs from the expected one."""


class LayoutError(DatasetError):
    """A folder or archive is not laid out as CIFAR-10 should be."""


class CorruptDataError(DatasetError):
    """A file could not be read: truncated archive, broken image, wrong size."""
