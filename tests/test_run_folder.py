"""One record of a run: what a writer saves is what every reader gets back."""

import keras
import numpy as np

from cifar_course.models import build_baseline_cnn
from cifar_course.run_folder import RunFolder


def test_a_run_written_is_read_back_whole(tmp_path):
    folder = RunFolder(tmp_path / "runs" / "quick" / "baseline")
    assert folder.metrics() is None and folder.history() is None and folder.model() is None
    model = build_baseline_cnn()
    history = {"loss": [np.float32(2.0), 1.5], "val_loss": [2.1, 1.7]}
    folder.write(history=history, metrics={"stage": "baseline", "test_accuracy": 0.4}, model=model)
    assert folder.history() == {"loss": [2.0, 1.5], "val_loss": [2.1, 1.7]}
    assert folder.metrics() == {"stage": "baseline", "test_accuracy": 0.4}
    images = np.zeros((2, 32, 32, 3), dtype="uint8")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(folder.model()(images)),
                               keras.ops.convert_to_numpy(model(images)), atol=1e-6)
