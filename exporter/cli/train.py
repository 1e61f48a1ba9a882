"""``rnnx train …``: train the model zoo's models on real data."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from rnnx.exporter.cli._common import handles_errors, quiet_tensorflow, require_training_stack, stderr

app = typer.Typer(help="Train the model zoo's recurrent models on real data.", no_args_is_help=True)


class Strategy(str, Enum):
    none = "none"
    mirrored = "mirrored"
    multiworker = "multiworker"


StrategyOption = Annotated[
    Strategy,
    typer.Option(help="none, mirrored (the GPUs of this host), multiworker (hosts listed in TF_CONFIG)."),
]
CpuDevicesOption = Annotated[
    Optional[int],
    typer.Option(min=2, help="Split the CPU into this many logical devices (try --strategy mirrored without GPUs)."),
]
MixedPrecisionOption = Annotated[
    bool, typer.Option(help="float16 compute with float32 variables (for GPUs with tensor cores).")
]
ResumeOption = Annotated[
    bool, typer.Option(help="Continue from the checkpoint in the output folder (same options and data).")
]


class Cell(str, Enum):
    gru = "gru"
    lstm = "lstm"
    rnn = "rnn"


def parse_units(text: str) -> tuple[int, ...]:
    """``"16,8,4"`` → ``(16, 8, 4)``."""
    try:
        units = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated widths such as 16,8,4, got {text!r}") from None
    if not units or min(units) < 1:
        raise typer.BadParameter(f"expected positive widths such as 16,8,4, got {text!r}")
    return units


@app.command("sentiment")
@handles_errors
def sentiment(
    data: Annotated[
        Optional[str],
        typer.Option(
            help="IMDB location: folder with imdb_{train,test}.jsonl.gz, an aclImdb folder, or 'keras' to download. Default: $RNNX_DATA, then ./data, ../shared/data."
        ),
    ] = None,
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Folder for model.keras, tokenizer.json, metrics.json, training_curve.png."
        ),
    ] = Path("runs/sentiment"),
    cell: Annotated[Cell, typer.Option(help="Recurrent cell of every layer.")] = Cell.gru,
    units: Annotated[str, typer.Option(help="Widths of the stacked recurrent layers.")] = "16,8,4",
    epochs: Annotated[int, typer.Option(min=1, help="Maximum epochs (early stopping may end sooner).")] = 10,
    batch_size: Annotated[int, typer.Option(min=1, help="Minibatch size.")] = 64,
    max_samples: Annotated[
        Optional[int],
        typer.Option(min=10, help="Use at most this many training reviews (before the validation split)."),
    ] = None,
    test_samples: Annotated[
        Optional[int], typer.Option(min=1, help="Evaluate on at most this many test reviews.")
    ] = None,
    max_tokens: Annotated[
        Optional[int], typer.Option(min=1, help="Tokens per review; default ceil(mean + 2*std) of training lengths.")
    ] = None,
    num_words: Annotated[int, typer.Option(min=3, help="Vocabulary size, padding and OOV included.")] = 10000,
    learning_rate: Annotated[float, typer.Option(min=0.0, help="Adam learning rate.")] = 1e-3,
    dropout: Annotated[
        float, typer.Option(min=0.0, max=0.9, help="Input dropout of each recurrent layer while training.")
    ] = 0.3,
    validation_fraction: Annotated[
        float, typer.Option(min=0.01, max=0.5, help="Share of training reviews held out for validation.")
    ] = 0.1,
    mask_padding: Annotated[
        bool,
        typer.Option(
            help="Mask the padding (Embedding(mask_zero=True), padding at the end) so that the model cannot read "
            "the review length from it; --no-mask-padding pads in front without a mask."
        ),
    ] = True,
    patience: Annotated[int, typer.Option(min=0, help="Epochs without a lower validation loss before stopping.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed for shuffling, initialisation and dropout.")] = 0,
    strategy: StrategyOption = Strategy.none,
    cpu_devices: CpuDevicesOption = None,
    mixed_precision: MixedPrecisionOption = False,
    resume: ResumeOption = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar per epoch.")] = True,
) -> None:
    """Train the stacked-RNN sentiment classifier on IMDB movie reviews."""
    require_training_stack("train")
    quiet_tensorflow()
    from rnnx.models.data.imdb import find_imdb
    from rnnx.models.training.sentiment import SentimentTrainConfig, train_sentiment

    config = SentimentTrainConfig(
        cell=cell.value,
        units=parse_units(units),
        num_words=num_words,
        max_tokens=max_tokens,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        dropout=dropout,
        mask_padding=mask_padding,
        validation_fraction=validation_fraction,
        patience=patience,
        max_samples=max_samples,
        test_samples=test_samples,
        seed=seed,
        strategy=strategy.value,
        cpu_devices=cpu_devices,
        mixed_precision=mixed_precision,
        resume=resume,
    )
    source = find_imdb(data)
    result = train_sentiment(config, source, output, show_progress=progress, log=stderr.print)
    if result.metrics.get("chief", True):
        stderr.print(
            f"wrote {result.output_dir}/: model.keras, tokenizer.json, task.json, metrics.json, training_curve.png, "
            "checkpoints/, logs/"
        )


class Impl(str, Enum):
    scratch = "scratch"
    keras = "keras"


class Corpus(str, Enum):
    timemachine = "timemachine"
    tinyshakespeare = "tinyshakespeare"


class Partitioning(str, Enum):
    sequential = "sequential"
    random = "random"


@app.command("charlm")
@handles_errors
def charlm(
    data: Annotated[
        Optional[str],
        typer.Option(help="The corpus text file, or a folder holding it. Default: ./data, then ../shared/data."),
    ] = None,
    corpus: Annotated[Corpus, typer.Option(help="Which corpus file to look for in a folder.")] = Corpus.timemachine,
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Folder for model.keras, tokenizer.json, metrics.json, training_curve.png."
        ),
    ] = Path("runs/charlm"),
    cell: Annotated[Cell, typer.Option(help="Recurrent cell.")] = Cell.gru,
    impl: Annotated[
        Impl, typer.Option(help="scratch: cells written from their equations (d2l.ai); keras: Keras layers.")
    ] = Impl.scratch,
    hiddens: Annotated[int, typer.Option(min=1, help="Hidden units.")] = 256,
    epochs: Annotated[int, typer.Option(min=1, help="Epochs (the book's budget is 500).")] = 500,
    batch_size: Annotated[int, typer.Option(min=1, help="Sequences per minibatch.")] = 32,
    num_steps: Annotated[int, typer.Option(min=1, help="Characters per sequence (truncation length of BPTT).")] = 35,
    learning_rate: Annotated[float, typer.Option(min=0.0, help="SGD learning rate.")] = 1.0,
    clip_norm: Annotated[float, typer.Option(min=0.0, help="Global gradient-norm clip.")] = 1.0,
    partitioning: Annotated[
        Partitioning, typer.Option(help="Minibatches by sequential (state carried) or random partitioning.")
    ] = Partitioning.sequential,
    max_tokens: Annotated[
        int,
        typer.Option(
            min=0,
            help="Training characters from the start of the corpus (the book: 10,000; 0 = all before the held-out tenth).",
        ),
    ] = 10000,
    seed: Annotated[int, typer.Option(help="Seed for initialisation and partitioning.")] = 0,
) -> None:
    """Train a character-level language model on The Time Machine (or Tiny Shakespeare)."""
    require_training_stack("train")
    quiet_tensorflow()
    from rnnx.models.data.corpus import find_corpus
    from rnnx.models.training.charlm import CharLMTrainConfig, train_charlm

    config = CharLMTrainConfig(
        cell=cell.value,
        impl=impl.value,
        num_hiddens=hiddens,
        epochs=epochs,
        batch_size=batch_size,
        num_steps=num_steps,
        learning_rate=learning_rate,
        clip_norm=clip_norm,
        partitioning=partitioning.value,
        max_tokens=max_tokens or None,
        seed=seed,
    )
    result = train_charlm(config, find_corpus(data, corpus.value), output, log=stderr.print)
    final = result.metrics["final"]
    stderr.print(
        f"perplexity {final['perplexity']:.2f} (held-out {final['heldout_perplexity']:.2f}); "
        f"wrote {result.output_dir}/: model.keras, tokenizer.json, task.json, metrics.json, training_curve.png"
    )


class SensorDatasetName(str, Enum):
    basic_motions = "basic_motions"
    japanese_vowels = "japanese_vowels"
    hapt = "hapt"


class SensorCell(str, Enum):
    gru = "gru"
    lstm = "lstm"


@app.command("sensors")
@handles_errors
def sensors(
    dataset: Annotated[
        SensorDatasetName,
        typer.Option(help="basic_motions (4 activities), japanese_vowels (9 speakers), hapt (12 activities)."),
    ] = SensorDatasetName.basic_motions,
    data: Annotated[
        Optional[str],
        typer.Option(help="Folder with the dataset's .npz (or the file). Default: $RNNX_DATA, ./data, ../shared/data."),
    ] = None,
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Folder for model.keras, task.json, metrics.json, curve, checkpoints, logs."
        ),
    ] = Path("runs/sensors"),
    cell: Annotated[SensorCell, typer.Option(help="Recurrent cell of every layer.")] = SensorCell.gru,
    units: Annotated[str, typer.Option(help="Widths of the stacked recurrent layers (per direction).")] = "32,16",
    bidirectional: Annotated[bool, typer.Option(help="Bidirectional recurrent layers.")] = False,
    epochs: Annotated[int, typer.Option(min=1, help="Maximum epochs (early stopping may end sooner).")] = 150,
    batch_size: Annotated[int, typer.Option(min=1, help="Minibatch size per replica.")] = 16,
    learning_rate: Annotated[
        float, typer.Option(min=0.0, help="Adam learning rate of one replica (scaled by the replicas).")
    ] = 3e-3,
    validation_fraction: Annotated[
        float, typer.Option(min=0.01, max=0.5, help="Share of each class held out for validation.")
    ] = 0.2,
    patience: Annotated[int, typer.Option(min=0, help="Epochs without a lower validation loss before stopping.")] = 25,
    max_samples: Annotated[Optional[int], typer.Option(min=4, help="Use at most this many training sequences.")] = None,
    dropout: Annotated[
        float, typer.Option(min=0.0, max=0.9, help="Dropout before the output layer while training.")
    ] = 0.2,
    strategy: StrategyOption = Strategy.none,
    cpu_devices: CpuDevicesOption = None,
    mixed_precision: MixedPrecisionOption = False,
    resume: ResumeOption = False,
    seed: Annotated[int, typer.Option(help="Seed for the split, initialisation and dropout.")] = 0,
    progress: Annotated[bool, typer.Option(help="Show a progress bar per epoch.")] = True,
) -> None:
    """Train a GRU/LSTM classifier of sensor or speech sequences (float inputs, no embedding)."""
    require_training_stack("train")
    quiet_tensorflow()
    from rnnx.models.training.sensors import SensorTrainConfig, train_sensors

    config = SensorTrainConfig(
        dataset=dataset.value,
        cell=cell.value,
        units=parse_units(units),
        bidirectional=bidirectional,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        validation_fraction=validation_fraction,
        patience=patience,
        max_samples=max_samples,
        dropout=dropout,
        seed=seed,
        strategy=strategy.value,
        cpu_devices=cpu_devices,
        mixed_precision=mixed_precision,
        resume=resume,
    )
    result = train_sensors(config, data, output, show_progress=progress, log=stderr.print)
    if result.metrics.get("chief", True):
        stderr.print(
            f"wrote {result.output_dir}/: model.keras, task.json, metrics.json, training_curve.png, checkpoints/, logs/"
        )
