"""A Keras callback that shows training progress with rich."""

from __future__ import annotations

import keras
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class RichProgress(keras.callbacks.Callback):
    """One progress bar per epoch (batches done, loss, accuracy), then a summary line per epoch.

    Args:
        console: where to draw; stderr by default, so stdout stays clean for results.
        show_bar: draw the bar; the summary lines are printed either way (for logs).
    """

    def __init__(self, console: Console | None = None, show_bar: bool = True):
        super().__init__()
        self.console = console or Console(stderr=True, highlight=False)
        self.show_bar = show_bar
        self._progress: Progress | None = None
        self._task = None
        self._epochs = 0

    def on_train_begin(self, logs=None):
        self._epochs = self.params.get("epochs", 0)

    def on_epoch_begin(self, epoch, logs=None):
        if not self.show_bar:
            return
        self._progress = Progress(
            TextColumn(f"epoch {epoch + 1}/{self._epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[metrics]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task("train", total=self.params.get("steps"), metrics="")

    def on_train_batch_end(self, batch, logs=None):
        if self._progress is not None:
            logs = logs or {}
            text = (
                f"loss {float(logs.get('loss', float('nan'))):.4f} acc {float(logs.get('accuracy', float('nan'))):.4f}"
            )
            self._progress.update(self._task, completed=batch + 1, metrics=text)

    def on_epoch_end(self, epoch, logs=None):
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        logs = logs or {}
        parts = [
            f"{key} {float(value):.4f}"
            for key, value in logs.items()
            if key in ("loss", "accuracy", "val_loss", "val_accuracy")
        ]
        self.console.print(f"epoch {epoch + 1}/{self._epochs}: " + ", ".join(parts))
