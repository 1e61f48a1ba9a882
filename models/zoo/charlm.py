"""Character-level language model (d2l.ai ch. 9–10): one-hot characters → recurrent layer → logits.

``Y_t = H_t W_hq + b_q`` at every time step, with ``H_t`` from a hand-written cell
(``impl="scratch"``, :mod:`rnnx.models.scratch.cells`) or the Keras layer (``impl="keras"``).
The input is named ``chars`` (``int32 [batch, time]``, dynamic time) and the output ``logits``
(``float32 [batch, time, vocab_size]``).
"""

from __future__ import annotations

from dataclasses import dataclass

CELLS = ("rnn", "gru", "lstm")
IMPLS = ("scratch", "keras")
INPUT_NAME = "chars"
OUTPUT_NAME = "logits"


@dataclass(frozen=True)
class CharLMSpec:
    """Architecture of a character language model.

    Attributes:
        vocab_size: characters including ``<unk>``.
        cell: ``"rnn"``, ``"gru"`` or ``"lstm"``.
        num_hiddens: width of the hidden state (the book's GRU/LSTM runs use 256).
        impl: ``"scratch"`` (cells from their equations) or ``"keras"`` (Keras layers).
        sigma: standard deviation of the N(0, σ²) initialisation of the scratch parameters.
    """

    vocab_size: int
    cell: str = "gru"
    num_hiddens: int = 256
    impl: str = "scratch"
    sigma: float = 0.01

    def __post_init__(self) -> None:
        if self.cell not in CELLS or self.impl not in IMPLS:
            raise ValueError(f"cell must be one of {CELLS} and impl one of {IMPLS}")
        if self.vocab_size < 2 or self.num_hiddens < 1:
            raise ValueError("vocab_size must be at least 2 and num_hiddens positive")


def build_charlm(spec: CharLMSpec, with_state: bool = False):
    """Build the model.

    Args:
        spec: the architecture.
        with_state: the training form: extra inputs ``<cell>_h`` (and ``<cell>_c``) for the
            initial states and the final states as extra outputs, for truncated backpropagation
            through time with sequential partitioning. The exported form has neither.

    Returns:
        A functional ``keras.Model``.
    """
    import keras

    from rnnx.models.scratch.cells import SCRATCH_CELLS, OneHot

    inputs = keras.Input((None,), dtype="int32", name=INPUT_NAME)
    x = OneHot(spec.vocab_size, name="one_hot")(inputs)
    if spec.impl == "scratch":
        cell = SCRATCH_CELLS[spec.cell](spec.num_hiddens, sigma=spec.sigma)
        rnn = keras.layers.RNN(cell, return_sequences=True, return_state=with_state, name=spec.cell)
        dense = keras.layers.Dense(
            spec.vocab_size, kernel_initializer=keras.initializers.RandomNormal(0.0, spec.sigma), name=OUTPUT_NAME
        )
    else:
        layer = {"rnn": keras.layers.SimpleRNN, "gru": keras.layers.GRU, "lstm": keras.layers.LSTM}[spec.cell]
        rnn = layer(spec.num_hiddens, return_sequences=True, return_state=with_state, name=spec.cell)
        dense = keras.layers.Dense(spec.vocab_size, name=OUTPUT_NAME)
    if not with_state:
        return keras.Model(inputs, dense(rnn(x)), name=f"charlm_{spec.cell}_{spec.impl}")
    names = ["h", "c"] if spec.cell == "lstm" else ["h"]
    states = [keras.Input((spec.num_hiddens,), name=f"{spec.cell}_{n}") for n in names]
    sequence, *final = rnn(x, initial_state=states)
    return keras.Model([inputs, *states], [dense(sequence), *final], name=f"charlm_{spec.cell}_{spec.impl}_train")
