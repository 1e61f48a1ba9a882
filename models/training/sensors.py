"""``rnnx train sensors``: GRU/LSTM classifiers of sensor and speech sequences.

Writes into the output folder (the chief's, under a multi-worker strategy):

* ``model.keras``: the trained model (the epoch with the lowest validation loss);
* ``task.json``: ``{"kind": "multiclass_classification", "labels": […], "output": "probabilities",
  "dataset": NAME}`` (the exporter embeds it; ``rnnx verify`` finds the test split by ``dataset``);
* ``metrics.json``: configuration, device, cuDNN report, strategy, data sizes, per-epoch history,
  test loss and accuracy, wall time;
* ``training_curve.png``; ``checkpoints/`` (the last epoch's model and state, for ``--resume``);
  ``logs/`` (TensorBoard).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rnnx.exporter.errors import InputFileError
from rnnx.models.data.sensors import SensorSplit, channel_statistics, load_sensor_dataset
from rnnx.models.zoo.sensors import SENSOR_OUTPUT_NAME, SensorSpec


@dataclass(frozen=True)
class SensorTrainConfig:
    """Training options.

    Attributes:
        dataset: ``basic_motions``, ``japanese_vowels`` or ``hapt``.
        cell: ``"gru"`` or ``"lstm"``.
        units: widths of the stacked recurrent layers (per direction).
        bidirectional: ``Bidirectional`` recurrent layers.
        epochs: maximum epochs (early stopping may end sooner).
        batch_size: minibatch size per replica.
        learning_rate: Adam learning rate for one replica (scaled by the replicas).
        validation_fraction: share of the training split held out (stratified by class).
        patience: epochs without a lower validation loss before stopping.
        dropout: dropout before the output layer.
        max_samples: cap on training sequences (before the validation split); ``None`` = all.
        seed: seeds the split, initialisation and dropout.
        strategy: ``none``, ``mirrored`` or ``multiworker`` (:mod:`rnnx.models.training.distribute`).
        cpu_devices: split the CPU into this many logical devices (to try ``mirrored`` without GPUs).
        mixed_precision: float16 compute with float32 variables (``mixed_float16``).
        resume: continue from ``checkpoints/`` in the output folder.
    """

    dataset: str = "basic_motions"
    cell: str = "gru"
    units: tuple[int, ...] = (32, 16)
    bidirectional: bool = False
    epochs: int = 150
    batch_size: int = 16
    learning_rate: float = 3e-3
    validation_fraction: float = 0.2
    patience: int = 25
    dropout: float = 0.2
    max_samples: int | None = None
    seed: int = 0
    strategy: str = "none"
    cpu_devices: int | None = None
    mixed_precision: bool = False
    resume: bool = False


def stratified_split(split: SensorSplit, fraction: float, seed: int) -> tuple[SensorSplit, SensorSplit]:
    """Hold out ``fraction`` of each class (at least one sequence of each class with two or more).

    Raises:
        InputFileError: when fewer than two sequences remain for training.
    """
    rng = np.random.default_rng(seed)
    held = []
    for label in np.unique(split.y):
        members = rng.permutation(np.flatnonzero(split.y == label))
        if len(members) >= 2:
            held.extend(members[: max(1, int(round(len(members) * fraction)))])
    held_mask = np.zeros(len(split), bool)
    held_mask[held] = True
    if (~held_mask).sum() < 2 or held_mask.sum() < 1:
        raise InputFileError(f"{len(split)} training sequences are too few to hold out {fraction:.0%} for validation")
    order = rng.permutation(np.flatnonzero(~held_mask))

    def take(rows):
        return SensorSplit(split.x[rows], split.y[rows], split.lengths[rows])

    return take(order), take(np.flatnonzero(held_mask))


def _capped(split: SensorSplit, count: int | None, seed: int) -> SensorSplit:
    if count is None or count >= len(split):
        return split
    rows = np.random.default_rng(seed).permutation(len(split))[:count]
    return SensorSplit(split.x[rows], split.y[rows], split.lengths[rows])


def train_sensors(
    config: SensorTrainConfig, data: str | Path | None, output_dir: str | Path, show_progress=True, log=print
):
    """Train a sensor classifier and save it with its task, metrics and curve.

    Args:
        config: the options.
        data: the folder with the dataset's ``.npz`` (or the file); ``None`` searches the usual places.
        output_dir: created if missing; files in it are replaced (kept with ``resume``).
        show_progress: draw a progress bar per epoch.
        log: receives one-line status messages.

    Returns:
        A :class:`rnnx.models.training.sentiment.TrainResult`.

    Raises:
        InputFileError, DataNotFoundError: unreadable, missing or too little data; ``resume``
            without a checkpoint, or one of another architecture.
    """
    from rnnx.models.training.distribute import compute_precision, finish_outputs, make_distribution, output_folder

    distribution = make_distribution(config.strategy, config.cpu_devices)
    import keras

    from rnnx.models.training.checkpoints import resume_from
    from rnnx.models.training.cudnn import report_cudnn
    from rnnx.models.training.devices import describe_compute
    from rnnx.models.training.fitting import FitSettings, fit_model
    from rnnx.models.training.plots import plot_history
    from rnnx.models.training.sentiment import TrainResult
    from rnnx.models.zoo.sensors import build_sensor_model, compile_sensor_model

    chief_dir = Path(output_dir)
    output_dir = output_folder(distribution, chief_dir)
    log(f"device: {describe_compute().description}; strategy: {distribution.description}")
    keras.utils.set_random_seed(config.seed)
    with compute_precision(config.mixed_precision, log):
        started = time.perf_counter()
        dataset = load_sensor_dataset(config.dataset, data)
        everything = _capped(dataset.train, config.max_samples, config.seed)
        train, valid = stratified_split(everything, config.validation_fraction, config.seed)
        test = dataset.test
        log(
            f"data: {len(train)} training, {len(valid)} validation, {len(test)} test sequences of "
            f"{dataset.steps} steps × {dataset.channels} channels, {len(dataset.class_names)} classes, "
            f"from {dataset.source}" + ("; padded, masked" if dataset.padded else "")
        )
        mean, variance = channel_statistics(train)
        spec = SensorSpec(
            dataset.steps,
            dataset.channels,
            len(dataset.class_names),
            config.cell,
            tuple(config.units),
            config.bidirectional,
            dataset.padded,
            config.dropout,
        )
        checkpoint = output_dir / "checkpoints" / "last.keras"
        if config.resume and not checkpoint.is_file():
            raise InputFileError(f"--resume: no checkpoint in {checkpoint.parent}; train without --resume first")
        output_dir.mkdir(parents=True, exist_ok=True)  # only once the data and the checkpoint are there
        learning_rate = distribution.learning_rate(config.learning_rate)
        with distribution.strategy.scope():
            model = build_sensor_model(spec, mean, variance)
            compile_sensor_model(model, learning_rate)
        initial_epoch, history_lists = resume_from(checkpoint, model, log) if config.resume else (0, {})
        cudnn = report_cudnn(model, log)
        batch = distribution.global_batch(config.batch_size)
        distribution.log_scaling(config.batch_size, config.learning_rate, log)
        fit_started = time.perf_counter()
        settings = FitSettings(
            config.epochs, batch, config.patience, config.seed, initial_epoch, output_dir, show_progress
        )
        run_history = fit_model(
            model, distribution, (train.x, train.y), (valid.x, valid.y), settings, history_lists, log
        )
        fit_seconds = time.perf_counter() - fit_started
        for key, values in run_history.items():
            history_lists.setdefault(key, []).extend(float(v) for v in values)
        # predict, not evaluate: evaluate fails under the multi-worker strategy as fit does
        probabilities = model.predict(test.x, batch_size=256, verbose=0).astype(np.float32)
        test_loss = float(keras.losses.SparseCategoricalCrossentropy()(test.y, probabilities))
        test_accuracy = float(np.mean(np.argmax(probabilities, -1) == test.y))
    best_epoch = int(np.argmin(history_lists["val_loss"])) + 1
    model_path = output_dir / "model.keras"
    partial = output_dir / ".model.partial.keras"
    model.save(partial)
    os.replace(partial, model_path)
    task = {
        "kind": "multiclass_classification",
        "labels": list(dataset.class_names),
        "threshold": None,
        "output": SENSOR_OUTPUT_NAME,
        "dataset": dataset.name,
    }
    (output_dir / "task.json").write_text(json.dumps(task, indent=2) + "\n")
    metrics = {
        "config": {**asdict(config), "units": list(config.units)},
        "device": describe_compute().description,
        "strategy": {
            "name": distribution.name,
            "replicas": distribution.replicas,
            "global_batch": batch,
            "learning_rate": learning_rate,
        },
        "cudnn": cudnn,
        "data": {"source": dataset.source, "train": len(train), "validation": len(valid), "test": len(test)},
        "epochs_run": len(history_lists["loss"]),
        "best_epoch": best_epoch,
        "history": history_lists,
        "test": {"loss": float(test_loss), "accuracy": float(test_accuracy)},
        "fit_seconds": round(fit_seconds, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    title = f"{'Bidirectional ' if config.bidirectional else ''}{config.cell.upper()} on {dataset.name}"
    plot_history(history_lists, output_dir / "training_curve.png", title, best_epoch)
    log(
        f"test accuracy {test_accuracy:.4f} on {len(test)} sequences after {metrics['epochs_run']} epochs "
        f"(best epoch {best_epoch}); fit took {fit_seconds:.0f} s"
    )
    folder, metrics = finish_outputs(distribution, output_dir, chief_dir, metrics, log)
    return TrainResult(folder, folder / "model.keras", metrics)
