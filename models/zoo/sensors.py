"""Sequence classifiers for sensor and speech features: float inputs, no embedding.

``features [batch, T, channels] → (Masking(0.0)) → Normalization(mean, variance) →
(Bidirectional) GRU/LSTM(units[0], return_sequences=True) → … → (Bidirectional) GRU/LSTM(units[-1])
→ Dropout → Dense(classes, softmax)``, trained with Adam and sparse categorical cross-entropy.

The per-channel normalisation is a layer of the model, with the training split's statistics as
constants, so the exported file takes raw sensor values (the device does no preprocessing).
``Masking(0.0)`` comes first when sequences are padded: a padded step is all zeros before
normalisation, and the recurrent layers skip it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SENSOR_CELLS = ("gru", "lstm")
SENSOR_INPUT_NAME = "features"
SENSOR_OUTPUT_NAME = "probabilities"


@dataclass(frozen=True)
class SensorSpec:
    """Architecture of a sensor classifier.

    Attributes:
        steps: time steps ``T`` of the input (``None``: any length).
        channels: features per step.
        classes: output classes.
        cell: ``"gru"`` or ``"lstm"``.
        units: width of each stacked recurrent layer (per direction).
        bidirectional: wrap every recurrent layer in ``Bidirectional`` (merge ``concat``).
        masked: mask all-zero steps (padding).
        dropout: dropout before the output layer (training only).
    """

    steps: int | None
    channels: int
    classes: int
    cell: str = "gru"
    units: tuple[int, ...] = field(default=(32, 16))
    bidirectional: bool = False
    masked: bool = False
    dropout: float = 0.2

    def __post_init__(self) -> None:
        if self.cell not in SENSOR_CELLS:
            raise ValueError(f"cell must be one of {SENSOR_CELLS}, got {self.cell!r}")
        if not self.units or min(self.units) < 1:
            raise ValueError(f"units must be positive widths, got {self.units}")
        if self.classes < 2 or self.channels < 1:
            raise ValueError(f"need at least 2 classes and 1 channel, got {self.classes} and {self.channels}")


def build_sensor_model(spec: SensorSpec, mean: np.ndarray, variance: np.ndarray):
    """A ``keras.Sequential`` classifier for ``spec``.

    Args:
        spec: the architecture.
        mean, variance: ``float32 [channels]`` statistics of the training split (see
            :func:`rnnx.models.data.sensors.channel_statistics`).

    Raises:
        ValueError: statistics of the wrong length.
    """
    import keras

    if len(mean) != spec.channels or len(variance) != spec.channels:
        raise ValueError(f"mean and variance need {spec.channels} values, got {len(mean)} and {len(variance)}")
    layer_class = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}[spec.cell]
    layers = [keras.Input(shape=(spec.steps, spec.channels), name=SENSOR_INPUT_NAME)]
    if spec.masked:
        layers.append(keras.layers.Masking(0.0, name="padding"))
    layers.append(
        keras.layers.Normalization(mean=np.asarray(mean).tolist(), variance=np.asarray(variance).tolist(), name="scale")
    )
    for i, units in enumerate(spec.units):
        name = f"{spec.cell}_{i + 1}"
        layer = layer_class(units, return_sequences=i < len(spec.units) - 1, name=name)
        layers.append(keras.layers.Bidirectional(layer, name=f"bi_{name}") if spec.bidirectional else layer)
    layers.append(keras.layers.Dropout(spec.dropout, name="dropout"))
    layers.append(keras.layers.Dense(spec.classes, activation="softmax", name=SENSOR_OUTPUT_NAME))
    return keras.Sequential(layers, name=f"sensors_{spec.cell}")


def compile_sensor_model(model, learning_rate: float = 3e-3) -> None:
    """Compile with Adam(``learning_rate``), sparse categorical cross-entropy and accuracy."""
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
