"""One way to fit a zoo model under any strategy, with early stopping, checkpoints and TensorBoard.

``none`` and ``mirrored`` use ``Model.fit`` with Keras callbacks; ``multiworker`` uses
:func:`rnnx.models.training.custom_loop.fit_distributed` (``Model.fit`` fails under that
strategy) with the same checkpoints and TensorBoard scalars written from its per-epoch hook.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class FitSettings:
    """How to fit.

    Attributes:
        epochs: last epoch (as ``Model.fit``'s ``epochs``).
        global_batch: examples per step over all replicas.
        patience: epochs without a lower validation loss before stopping (best weights restored).
        seed: shuffling seed of the multi-worker loop.
        initial_epoch: epochs already done (resuming).
        output_dir: where ``checkpoints/`` and ``logs/`` go.
        show_progress: draw a progress bar per epoch (``Model.fit`` only).
    """

    epochs: int
    global_batch: int
    patience: int
    seed: int
    initial_epoch: int
    output_dir: Path
    show_progress: bool = True


def fit_model(model, distribution, train, valid, settings: FitSettings, previous: dict, log=print) -> dict:
    """Fit ``model`` (built and compiled in ``distribution.strategy.scope()``) on ``train`` = ``(x, y)``.

    Args:
        distribution: a :class:`rnnx.models.training.distribute.Distribution`.
        train, valid: ``(x, y)`` arrays.
        settings: see :class:`FitSettings`.
        previous: the history before ``settings.initial_epoch`` (kept in the checkpoint's history).
        log: one line per epoch.

    Returns:
        This run's history (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` per epoch).
    """
    import keras

    from rnnx.models.training.checkpoints import checkpoint_path, epoch_checkpoint
    from rnnx.models.training.progress import RichProgress

    saver = epoch_checkpoint(checkpoint_path(settings.output_dir), previous)
    logs_dir = settings.output_dir / "logs"
    if distribution.name == "multiworker":
        import tensorflow as tf

        from rnnx.models.training.custom_loop import fit_distributed

        saver.set_model(model)
        writer = tf.summary.create_file_writer(str(logs_dir / "train"))

        def on_epoch_end(epoch, logs):
            saver.on_epoch_end(epoch, logs)
            with writer.as_default():
                for key, value in logs.items():
                    tf.summary.scalar(f"epoch_{key}", value, step=epoch)

        return fit_distributed(
            model,
            distribution.strategy,
            train,
            valid,
            settings.epochs,
            settings.global_batch,
            settings.patience,
            settings.seed,
            settings.initial_epoch,
            on_epoch_end,
            log,
        )
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=settings.patience, restore_best_weights=True),
        saver,
        keras.callbacks.TensorBoard(log_dir=str(logs_dir)),
        RichProgress(show_bar=settings.show_progress and sys.stderr.isatty()),
    ]
    binary = model.outputs[0].shape[-1] == 1
    y_train, y_valid = (np.asarray(y, np.float32) if binary else y for y in (train[1], valid[1]))
    return model.fit(
        train[0],
        y_train,
        validation_data=(valid[0], y_valid),
        epochs=settings.epochs,
        initial_epoch=settings.initial_epoch,
        batch_size=settings.global_batch,
        shuffle=True,
        verbose=0,
        callbacks=callbacks,
    ).history
