"""One record of a run on disk, for every writer and reader: a folder holding the trained
``model.keras``, its ``history.json`` (the curves ``fit`` recorded) and ``metrics.json``
(what was measured, and where: stage or recipe, profile, seed, test figures)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

MODEL_FILE = "model.keras"
HISTORY_FILE = "history.json"
METRICS_FILE = "metrics.json"


@dataclass(frozen=True)
class RunFolder:
    path: Path

    def write(self, *, history: dict, metrics: dict, model=None) -> None:
        """Save a finished run (the model too, where given: later lessons start from it)."""
        self.path.mkdir(parents=True, exist_ok=True)
        history = {k: [float(v) for v in values] for k, values in history.items()}
        (self.path / HISTORY_FILE).write_text(json.dumps(history) + "\n")
        (self.path / METRICS_FILE).write_text(json.dumps(metrics, indent=1) + "\n")
        if model is not None:
            model.save(self.path / MODEL_FILE)

    def metrics(self) -> dict | None:
        return self._read(METRICS_FILE)

    def history(self) -> dict | None:
        return self._read(HISTORY_FILE)

    def model(self):
        """The saved model, or None where this run saved none."""
        import keras

        from . import models  # noqa: F401  (registers the course's layers)

        path = self.path / MODEL_FILE
        return keras.saving.load_model(path) if path.exists() else None

    def _read(self, name: str) -> dict | None:
        path = self.path / name
        return json.loads(path.read_text()) if path.exists() else None
