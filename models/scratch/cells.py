"""Recurrent cells written from their equations with raw tensor ops, as *Dive into Deep Learning* does.

Source: A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning* (d2l.ai),
§9.5 "Recurrent Neural Network Implementation from Scratch", §10.1 "Long Short-Term Memory
(LSTM)" and §10.2 "Gated Recurrent Units (GRU)" (chapter numbers of the 2023 edition; the
recurrent chapters are 8–10 in older ones). Each parameter is a separate matrix named as in the
book, initialised from N(0, σ²) with σ = 0.01, biases at zero.

* RNN: ``H = tanh(X W_xh + H W_hh + b_h)``;
* GRU: ``Z = σ(X W_xz + H W_hz + b_z)``, ``R = σ(X W_xr + H W_hr + b_r)``,
  ``H̃ = tanh(X W_xh + (R ⊙ H) W_hh + b_h)``, ``H = Z ⊙ H + (1 − Z) ⊙ H̃``;
* LSTM: ``I, F, O = σ(X W_x· + H W_h· + b_·)``, ``C̃ = tanh(X W_xc + H W_hc + b_c)``,
  ``C = F ⊙ C + I ⊙ C̃``, ``H = O ⊙ tanh(C)``.

The cells follow the Keras RNN-cell protocol (``state_size``, ``call(inputs, states) -> (output,
new_states)``), so ``keras.layers.RNN(cell)`` owns the loop over time, trains them, and saves them
in ``.keras`` files. Shapes: inputs ``float32 [batch, features]`` per step, hidden (and cell)
state ``[batch, num_hiddens]``.

Each cell also states which standard cell it computes exactly (:meth:`rnnx_equivalent`), with
its weights in the Keras layout, so that rnnx may lower it to the fused LiteRT ops; ``rnnx
verify`` then compares the result with the cell's own computation.
"""

from __future__ import annotations

import keras
from keras import ops

SIGMA = 0.01


def _normal(sigma: float):
    return keras.initializers.RandomNormal(mean=0.0, stddev=sigma)


class _ScratchCell(keras.layers.Layer):
    """Shared parts: sizes, weight creation, config."""

    gates: tuple[str, ...] = ()

    def __init__(self, num_hiddens: int, sigma: float = SIGMA, **kwargs):
        super().__init__(**kwargs)
        if num_hiddens < 1:
            raise ValueError(f"num_hiddens must be positive, got {num_hiddens}")
        self.num_hiddens = int(num_hiddens)
        self.sigma = float(sigma)

    @property
    def state_size(self):
        return self.num_hiddens

    @property
    def output_size(self):
        return self.num_hiddens

    def build(self, input_shape):
        features = int(input_shape[-1])
        h = self.num_hiddens
        for gate in self.gates:
            setattr(
                self,
                f"W_x{gate}",
                self.add_weight(shape=(features, h), initializer=_normal(self.sigma), name=f"W_x{gate}"),
            )
            setattr(
                self, f"W_h{gate}", self.add_weight(shape=(h, h), initializer=_normal(self.sigma), name=f"W_h{gate}")
            )
            setattr(self, f"b_{gate}", self.add_weight(shape=(h,), initializer="zeros", name=f"b_{gate}"))

    def _weights_of(self, gates: str):
        """``(kernel, recurrent_kernel, bias)`` with the gates' matrices side by side (numpy)."""
        import numpy as np

        kernel = np.concatenate([getattr(self, f"W_x{g}").numpy() for g in gates], axis=1)
        recurrent = np.concatenate([getattr(self, f"W_h{g}").numpy() for g in gates], axis=1)
        bias = np.concatenate([getattr(self, f"b_{g}").numpy() for g in gates])
        return kernel, recurrent, bias

    def get_config(self):
        return {**super().get_config(), "num_hiddens": self.num_hiddens, "sigma": self.sigma}


@keras.saving.register_keras_serializable(package="rnnx")
class ScratchRNNCell(_ScratchCell):
    """Elman RNN cell from its equation (d2l.ai §9.5): ``H = tanh(X W_xh + H W_hh + b_h)``."""

    gates = ("h",)

    def call(self, inputs, states):
        h = states[0] if isinstance(states, (list, tuple)) else states
        h = ops.tanh(ops.matmul(inputs, self.W_xh) + ops.matmul(h, self.W_hh) + self.b_h)
        return h, [h]

    def rnnx_equivalent(self) -> dict:
        """The standard cell this one computes: a Keras ``SimpleRNN`` (tanh) with these weights."""
        kernel, recurrent, bias = self._weights_of("h")
        return {"kind": "rnn", "kernel": kernel, "recurrent_kernel": recurrent, "bias": bias, "activation": "tanh"}


@keras.saving.register_keras_serializable(package="rnnx")
class ScratchGRUCell(_ScratchCell):
    """GRU cell from its equations (d2l.ai §10.2); the reset gate acts before ``W_hh``."""

    gates = ("z", "r", "h")

    def call(self, inputs, states):
        h = states[0] if isinstance(states, (list, tuple)) else states
        z = ops.sigmoid(ops.matmul(inputs, self.W_xz) + ops.matmul(h, self.W_hz) + self.b_z)
        r = ops.sigmoid(ops.matmul(inputs, self.W_xr) + ops.matmul(h, self.W_hr) + self.b_r)
        h_tilde = ops.tanh(ops.matmul(inputs, self.W_xh) + ops.matmul(r * h, self.W_hh) + self.b_h)
        h = z * h + (1.0 - z) * h_tilde
        return h, [h]

    def rnnx_equivalent(self) -> dict:
        """The standard cell this one computes: Keras ``GRU(reset_after=False)`` with gates ``[z, r, h]``."""
        kernel, recurrent, bias = self._weights_of("zrh")
        return {
            "kind": "gru",
            "kernel": kernel,
            "recurrent_kernel": recurrent,
            "bias": bias,
            "activation": "tanh",
            "recurrent_activation": "sigmoid",
            "reset_after": False,
        }


@keras.saving.register_keras_serializable(package="rnnx")
class ScratchLSTMCell(_ScratchCell):
    """LSTM cell from its equations (d2l.ai §10.1); state ``[H, C]``."""

    gates = ("i", "f", "o", "c")

    @property
    def state_size(self):
        return [self.num_hiddens, self.num_hiddens]

    def call(self, inputs, states):
        h, c = states
        i = ops.sigmoid(ops.matmul(inputs, self.W_xi) + ops.matmul(h, self.W_hi) + self.b_i)
        f = ops.sigmoid(ops.matmul(inputs, self.W_xf) + ops.matmul(h, self.W_hf) + self.b_f)
        o = ops.sigmoid(ops.matmul(inputs, self.W_xo) + ops.matmul(h, self.W_ho) + self.b_o)
        c_tilde = ops.tanh(ops.matmul(inputs, self.W_xc) + ops.matmul(h, self.W_hc) + self.b_c)
        c = f * c + i * c_tilde
        h = o * ops.tanh(c)
        return h, [h, c]

    def rnnx_equivalent(self) -> dict:
        """The standard cell this one computes: Keras ``LSTM`` (gate order ``[i, f, c, o]``)."""
        kernel, recurrent, bias = self._weights_of("ifco")
        return {
            "kind": "lstm",
            "kernel": kernel,
            "recurrent_kernel": recurrent,
            "bias": bias,
            "activation": "tanh",
            "recurrent_activation": "sigmoid",
        }


SCRATCH_CELLS = {"rnn": ScratchRNNCell, "gru": ScratchGRUCell, "lstm": ScratchLSTMCell}


@keras.saving.register_keras_serializable(package="rnnx")
class OneHot(keras.layers.Layer):
    """Token ids ``int [batch, time]`` → one-hot ``float32 [batch, time, vocab_size]`` (the book's input)."""

    def __init__(self, vocab_size: int, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = int(vocab_size)

    def call(self, inputs):
        return ops.one_hot(ops.cast(inputs, "int32"), self.vocab_size, dtype="float32")

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.vocab_size)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size}
