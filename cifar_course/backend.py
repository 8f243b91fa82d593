"""Make sure Keras runs on the PyTorch backend.

Keras 3 picks its backend once, when it is first imported, and defaults to
TensorFlow (which this course does not install). This module must therefore run
before anything imports keras: ``cifar_course/__init__.py`` imports it first.
"""

from __future__ import annotations

import os
import sys

REQUIRED_BACKEND = "torch"


class BackendError(RuntimeError):
    """Keras was set up with a backend other than PyTorch."""


def ensure_torch_backend() -> None:
    """Select the torch backend, or explain how to fix a wrong one.

    - keras not imported yet and ``KERAS_BACKEND`` unset: set it to ``torch``.
    - ``KERAS_BACKEND`` names another backend: raise, since the user chose it.
    - keras already imported on another backend: raise (it cannot be switched
      in a running process without breaking already-built objects).
    """
    chosen = os.environ.get("KERAS_BACKEND")
    if "keras" not in sys.modules:
        if chosen is None:
            os.environ["KERAS_BACKEND"] = REQUIRED_BACKEND
        elif chosen != REQUIRED_BACKEND:
            raise BackendError(
                f"KERAS_BACKEND is set to {chosen!r}, but cifar_course needs the "
                f"PyTorch backend. Fix: set KERAS_BACKEND=torch (in a notebook: "
                f"os.environ['KERAS_BACKEND'] = 'torch' in the first cell) and "
                f"restart the kernel or process."
            )
        return

    import keras  # already imported: this only reads the module

    active = keras.backend.backend()
    if active != REQUIRED_BACKEND:
        raise BackendError(
            f"keras was already imported with the {active!r} backend, but "
            f"cifar_course needs the PyTorch backend. Fix: restart the kernel "
            f"or process, then set os.environ['KERAS_BACKEND'] = 'torch' before "
            f"the first `import keras` (or import cifar_course first)."
        )
