"""The seed model: a stacked recurrent sentiment classifier over word ids.

``Embedding(num_words, 8) → GRU(16, return_sequences=True) → GRU(8, return_sequences=True)
→ GRU(4) → Dense(1, sigmoid)``, trained with Adam (learning rate 1e-3) and binary cross-entropy;
the cell (GRU, LSTM, SimpleRNN) and the widths are options.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CELLS = ("gru", "lstm", "rnn")
INPUT_NAME = "token_ids"
OUTPUT_NAME = "probability"


@dataclass(frozen=True)
class SentimentSpec:
    """Architecture of a sentiment model.

    Attributes:
        max_tokens: sequence length ``T`` of the ``int32 [batch, T]`` input; ``None`` leaves the
            time dimension dynamic.
        cell: ``"gru"``, ``"lstm"`` or ``"rnn"`` (``SimpleRNN``).
        units: width of each stacked recurrent layer; every layer but the last returns sequences.
        num_words: vocabulary size (``Embedding.input_dim``), padding and OOV included.
        embedding_dim: ``Embedding.output_dim``.
        dropout: input dropout of every recurrent layer (training only; ``recurrent_dropout``
            stays 0 so that GRU/LSTM keep their cuDNN kernels on a GPU).
        mask_padding: ``Embedding(mask_zero=True)``: the recurrent layers skip the padding, so
            the model cannot read a review's length from it.
    """

    max_tokens: int | None
    cell: str = "gru"
    units: tuple[int, ...] = field(default=(16, 8, 4))
    num_words: int = 10000
    embedding_dim: int = 8
    dropout: float = 0.0
    mask_padding: bool = False

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if not self.units or any(u < 1 for u in self.units):
            raise ValueError(f"units must be one or more positive widths, got {self.units!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.num_words < 3 or self.embedding_dim < 1:
            raise ValueError("num_words must be at least 3 and embedding_dim at least 1")


def build_sentiment_model(spec: SentimentSpec):
    """Build (uncompiled) the Keras model described by ``spec``.

    The input is named ``token_ids`` (``int32 [batch, T]``) and the output layer ``probability``
    (``float32 [batch, 1]``, the probability of a positive review); the exporter keeps these names
    in the ``.tflite`` signature.

    Args:
        spec: the architecture. Weights are initialised from Keras' global random state; call
            ``keras.utils.set_random_seed`` first for a reproducible model.

    Returns:
        A ``keras.Sequential`` model.
    """
    import keras

    layer_class = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM, "rnn": keras.layers.SimpleRNN}[spec.cell]
    layers = [
        keras.Input(shape=(spec.max_tokens,), dtype="int32", name=INPUT_NAME),
        keras.layers.Embedding(spec.num_words, spec.embedding_dim, mask_zero=spec.mask_padding, name="embedding"),
    ]
    for i, units in enumerate(spec.units):
        layers.append(
            layer_class(
                units,
                return_sequences=i < len(spec.units) - 1,
                dropout=spec.dropout,
                name=f"{spec.cell}_{i + 1}",
            )
        )
    layers.append(keras.layers.Dense(1, activation="sigmoid", name=OUTPUT_NAME))
    return keras.Sequential(layers, name=f"sentiment_{spec.cell}")


def compile_sentiment_model(model, learning_rate: float = 1e-3) -> None:
    """Compile with Adam(``learning_rate``), binary cross-entropy and accuracy."""
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
