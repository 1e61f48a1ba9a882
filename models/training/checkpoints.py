"""Checkpoints after every epoch, and resuming from them (``rnnx train … --resume``).

A checkpoint is ``checkpoints/last.keras`` (the model with its optimizer state, written whole or
not at all) and ``checkpoints/history.json`` (the per-epoch metrics so far) in the output folder.
Resuming loads the weights and the optimizer state into a freshly built model of the same
architecture and continues at the next epoch; the early-stopping patience starts again there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from rnnx.exporter.errors import InputFileError


def checkpoint_path(output_dir: Path) -> Path:
    """``output_dir / "checkpoints" / "last.keras"``."""
    return Path(output_dir) / "checkpoints" / "last.keras"


def resume_from(checkpoint: Path, model, log=print) -> tuple[int, dict]:
    """Load ``checkpoint``'s weights and optimizer state into ``model`` (built and compiled).

    Returns:
        ``(epochs done, history so far)``.

    Raises:
        InputFileError: no checkpoint, or one of another architecture.
    """
    history_path = checkpoint.parent / "history.json"
    if not checkpoint.is_file() or not history_path.is_file():
        raise InputFileError(f"--resume: no checkpoint in {checkpoint.parent}; train without --resume first")
    import keras

    saved = keras.saving.load_model(checkpoint, compile=True)
    if [w.shape for w in saved.weights] != [w.shape for w in model.weights]:
        raise InputFileError(f"--resume: {checkpoint} is a model of another architecture; use a new --output")
    model.set_weights(saved.get_weights())
    if saved.optimizer is not None and saved.optimizer.variables:
        model.optimizer.build(model.trainable_variables)
        for mine, theirs in zip(model.optimizer.variables, saved.optimizer.variables):
            mine.assign(theirs)
    history = json.loads(history_path.read_text())
    epochs = len(history.get("loss", []))
    log(f"resuming after epoch {epochs} from {checkpoint}")
    return epochs, history


def epoch_checkpoint(path: Path, previous: dict):
    """A Keras callback that writes the model and the history (``previous`` plus each epoch's logs) after every epoch."""
    import keras

    history_path = path.parent / "history.json"
    history = {key: list(values) for key, values in previous.items()}

    class EpochCheckpoint(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            path.parent.mkdir(parents=True, exist_ok=True)
            for key, value in (logs or {}).items():
                history.setdefault(key, []).append(float(value))
            partial = path.with_name(".partial.keras")
            self.model.save(partial)
            os.replace(partial, path)
            history_path.write_text(json.dumps(history))

    return EpochCheckpoint()
