"""cifar-course: build and train a CNN on CIFAR-10 with Keras 3 on PyTorch."""

from .backend import BackendError, ensure_torch_backend

ensure_torch_backend()  # before anything below imports keras

from .config import RunConfig  # noqa: E402
from .data import CLASS_NAMES, load_cifar10  # noqa: E402
from .threads import configure_threads  # noqa: E402

configure_threads(RunConfig.from_environment().threads)  # $CIFAR_COURSE_THREADS, where set

__version__ = "0.2.0"  # each lesson's first cell installs and checks this version
__all__ = ["BackendError", "CLASS_NAMES", "__version__", "ensure_torch_backend", "load_cifar10"]
