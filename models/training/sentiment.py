"""``rnnx train sentiment``: the seed model on IMDB reviews, from text files to a saved model.

Writes into the output folder:

* ``model.keras``: the trained Keras model (best validation loss, via early stopping);
* ``tokenizer.json``: the word tokenizer fitted on the training reviews (the exporter embeds it);
* ``task.json``: ``{"kind": "binary_classification", "labels": ["negative", "positive"], …}``;
* ``metrics.json``: configuration, data sizes, per-epoch history, test loss and accuracy, wall time;
* ``training_curve.png``: loss and accuracy per epoch.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rnnx.exporter.errors import InputFileError
from rnnx.models.data.imdb import LABEL_NAMES, ImdbSource, LabeledTexts, load_imdb
from rnnx.models.text.tokenizer import WordTokenizer
from rnnx.models.zoo.sentiment import OUTPUT_NAME, SentimentSpec


@dataclass(frozen=True)
class SentimentTrainConfig:
    """Training options.

    Attributes:
        cell: ``"gru"``, ``"lstm"`` or ``"rnn"``.
        units: widths of the stacked recurrent layers.
        num_words: vocabulary size including padding and OOV.
        embedding_dim: embedding width.
        dropout: input dropout of each recurrent layer during training.
        mask_padding: mask the padding (``Embedding(mask_zero=True)``) and pad at the end
            (``"post"``: the same result under a mask, and cuDNN-compatible); without a mask the
            padding goes in front (``"pre"``).
        max_tokens: sequence length; ``None`` = ``ceil(mean + 2·std)`` of training lengths.
        epochs: maximum epochs (early stopping may end sooner).
        batch_size: minibatch size.
        learning_rate: Adam learning rate.
        validation_fraction: share of the (shuffled, capped) training reviews held out.
        patience: epochs without a lower validation loss before stopping.
        max_samples: cap on training reviews (before the validation split); ``None`` = all.
        test_samples: cap on test reviews evaluated; ``None`` = all.
        seed: seeds shuffling, initialisation and dropout.
        strategy: ``none``, ``mirrored`` or ``multiworker`` (:mod:`rnnx.models.training.distribute`;
            ``batch_size`` is then per replica and ``learning_rate`` is scaled by the replicas).
        cpu_devices: split the CPU into this many logical devices (to try ``mirrored`` without GPUs).
        mixed_precision: float16 compute with float32 variables (``mixed_float16``).
        resume: continue from ``checkpoints/`` in the output folder (same options and data).
    """

    cell: str = "gru"
    units: tuple[int, ...] = (16, 8, 4)
    num_words: int = 10000
    embedding_dim: int = 8
    dropout: float = 0.3
    mask_padding: bool = True
    max_tokens: int | None = None
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 1e-3
    validation_fraction: float = 0.1
    patience: int = 2
    max_samples: int | None = None
    test_samples: int | None = None
    seed: int = 0
    strategy: str = "none"
    cpu_devices: int | None = None
    mixed_precision: bool = False
    resume: bool = False


@dataclass(frozen=True)
class TrainResult:
    """What training produced.

    Attributes:
        output_dir: the folder written.
        model_path: ``output_dir / "model.keras"``.
        metrics: the content of ``metrics.json``.
    """

    output_dir: Path
    model_path: Path
    metrics: dict


def split_validation(data: LabeledTexts, fraction: float) -> tuple[LabeledTexts, LabeledTexts]:
    """Split off the last ``fraction`` of ``data`` (already shuffled) for validation.

    Raises:
        InputFileError: when too few reviews remain on either side.
    """
    held = int(round(len(data) * fraction))
    if held < 1 or len(data) - held < 2:
        raise InputFileError(f"{len(data)} training reviews are too few to hold out {fraction:.0%} for validation")
    cut = len(data) - held
    train = LabeledTexts(data.texts[:cut], data.labels[:cut], data.source)
    valid = LabeledTexts(data.texts[cut:], data.labels[cut:], data.source)
    return train, valid


def train_sentiment(
    config: SentimentTrainConfig, source: ImdbSource, output_dir: str | Path, show_progress: bool = True, log=print
) -> TrainResult:
    """Train the sentiment model and save it with its tokenizer, metrics and curve.

    Args:
        config: the options.
        source: where the IMDB reviews are (:func:`rnnx.models.data.imdb.find_imdb`).
        output_dir: created if missing; files in it are replaced.
        show_progress: draw a progress bar per epoch (a summary line per epoch is printed anyway).
        log: receives one-line status messages.

    Returns:
        A :class:`TrainResult`.

    Raises:
        InputFileError, DataNotFoundError: unreadable or too little data.
    """
    import keras

    from rnnx.models.training.checkpoints import checkpoint_path, resume_from
    from rnnx.models.training.cudnn import report_cudnn
    from rnnx.models.training.devices import describe_compute
    from rnnx.models.training.distribute import compute_precision, finish_outputs, make_distribution, output_folder
    from rnnx.models.training.fitting import FitSettings, fit_model
    from rnnx.models.training.plots import plot_history
    from rnnx.models.zoo.sentiment import build_sentiment_model, compile_sentiment_model

    distribution = make_distribution(config.strategy, config.cpu_devices)
    chief_dir = Path(output_dir)
    output_dir = output_folder(distribution, chief_dir)
    device = describe_compute()
    log(f"device: {device.description}; strategy: {distribution.description}")
    keras.utils.set_random_seed(config.seed)

    started = time.perf_counter()
    everything = load_imdb(source, "train").shuffled(config.seed).head(config.max_samples)
    train, valid = split_validation(everything, config.validation_fraction)
    test = load_imdb(source, "test").shuffled(config.seed + 1).head(config.test_samples)
    tokenizer = WordTokenizer.fit(
        train.texts,
        num_words=config.num_words,
        max_tokens=config.max_tokens,
        padding="post" if config.mask_padding else "pre",
    )
    log(
        f"data: {len(train)} training, {len(valid)} validation, {len(test)} test reviews from {source.describe()}; "
        f"vocabulary {tokenizer.num_words} ids, {tokenizer.max_tokens} tokens per review"
    )
    x_train, x_valid, x_test = (tokenizer.encode(d.texts) for d in (train, valid, test))

    spec = SentimentSpec(
        tokenizer.max_tokens,
        config.cell,
        tuple(config.units),
        tokenizer.num_words,
        config.embedding_dim,
        config.dropout,
        config.mask_padding,
    )
    with compute_precision(config.mixed_precision, log):
        learning_rate = distribution.learning_rate(config.learning_rate)
        batch = distribution.global_batch(config.batch_size)
        with distribution.strategy.scope():
            model = build_sentiment_model(spec)
            compile_sentiment_model(model, learning_rate)
        checkpoint = checkpoint_path(output_dir)
        initial_epoch, previous = resume_from(checkpoint, model, log) if config.resume else (0, {})
        cudnn = report_cudnn(model, log)
        distribution.log_scaling(config.batch_size, config.learning_rate, log)
        fit_started = time.perf_counter()
        settings = FitSettings(
            config.epochs, batch, config.patience, config.seed, initial_epoch, output_dir, show_progress
        )
        history = fit_model(
            model, distribution, (x_train, train.labels), (x_valid, valid.labels), settings, previous, log
        )
        fit_seconds = time.perf_counter() - fit_started
        # predict, not evaluate: evaluate fails under the multi-worker strategy as fit does
        probabilities = model.predict(x_test, batch_size=256, verbose=0).astype(np.float32).reshape(-1)
        test_loss = float(keras.losses.BinaryCrossentropy()(test.labels.astype(np.float32), probabilities))
        test_accuracy = float(np.mean((probabilities >= 0.5) == test.labels.astype(bool)))
    history_lists = {key: list(values) for key, values in previous.items()}
    for key, values in history.items():
        history_lists.setdefault(key, []).extend(float(v) for v in values)
    output_dir.mkdir(parents=True, exist_ok=True)
    best_epoch = int(np.argmin(history_lists["val_loss"])) + 1

    model_path = output_dir / "model.keras"
    partial = output_dir / ".model.partial.keras"
    model.save(partial)
    os.replace(partial, model_path)
    tokenizer.save(output_dir / "tokenizer.json")
    task = {"kind": "binary_classification", "labels": list(LABEL_NAMES), "threshold": 0.5, "output": OUTPUT_NAME}
    (output_dir / "task.json").write_text(json.dumps(task, indent=2) + "\n")
    metrics = {
        "config": {**asdict(config), "units": list(config.units), "max_tokens": tokenizer.max_tokens},
        "device": device.description,
        "strategy": {
            "name": distribution.name,
            "replicas": distribution.replicas,
            "global_batch": batch,
            "learning_rate": learning_rate,
        },
        "cudnn": cudnn,
        "data": {"source": source.describe(), "train": len(train), "validation": len(valid), "test": len(test)},
        "epochs_run": len(history_lists["loss"]),
        "best_epoch": best_epoch,
        "history": history_lists,
        "test": {"loss": float(test_loss), "accuracy": float(test_accuracy)},
        "fit_seconds": round(fit_seconds, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    plot_history(
        history_lists, output_dir / "training_curve.png", f"{config.cell.upper()} sentiment on IMDB", best_epoch
    )
    log(
        f"test accuracy {test_accuracy:.4f} on {len(test)} reviews after {metrics['epochs_run']} epochs "
        f"(best epoch {best_epoch}); fit took {fit_seconds:.0f} s"
    )
    folder, metrics = finish_outputs(distribution, output_dir, chief_dir, metrics, log)
    return TrainResult(folder, folder / "model.keras", metrics)
