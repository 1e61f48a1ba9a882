"""Small Keras models used across the tests (fixed seeds, a few units, short sequences)."""

from __future__ import annotations

import numpy as np

T, F = 9, 3


def cell_layer(cell: str):
    import keras

    return {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM, "rnn": keras.layers.SimpleRNN}[cell]


def stack_model(cell: str, masked: bool = False, steps: int | None = T, return_state: bool = True):
    """Functional model with go_backwards, Bidirectional(merge sum), return_sequences, return_state."""
    import keras

    keras.utils.set_random_seed(11)
    layer = cell_layer(cell)
    inputs = keras.Input((steps, F), name="features")
    x = keras.layers.Masking(0.0)(inputs) if masked else inputs
    x = layer(5, return_sequences=True, go_backwards=True, name="backwards")(x)
    x = keras.layers.Bidirectional(layer(4, return_sequences=True), merge_mode="sum", name="both_ways")(x)
    if return_state:
        last, *states = layer(3, return_state=True, name="with_state")(x)
        x = keras.layers.Concatenate()([last, *states])
    else:
        x = layer(3, name="with_state")(x)
    outputs = keras.layers.Dense(2, name="head")(x)
    return keras.Model(inputs, outputs, name=f"stack_{cell}")


RECURRENT_NAMES = ("backwards", "both_ways", "with_state")


def features(seed: int = 0, batch: int = 2, steps: int = T) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, steps, F)).astype(np.float32)


def run_tflite(model_bytes: bytes, inputs: dict, signature: str = "serving_default") -> dict:
    """One invocation through the LiteRT interpreter (no rnnx code involved)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model_bytes)
    return interpreter.get_signature_runner(signature)(**inputs)
