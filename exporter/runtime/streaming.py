"""Running a model one time step at a time, with its state kept between calls (TensorFlow-free).

>>> stream = Predictor("sentiment.tflite").stream()
>>> for word in "a truly wonderful film".split():
...     print(word, stream.push_text(word)["probability"])
>>> stream.reset()          # back to the zero state for the next, independent sequence

A :class:`Stream` drives the ``step`` signature of an rnnx-exported model: every call feeds one
time step and the current states (``<layer>_hidden``, ``<layer>_cell``) and keeps the new states
(``<layer>_hidden_out``, ``<layer>_cell_out``) for the next call. It writes and reads the
interpreter's tensors in place, so a step costs little more than the kernels themselves (the
per-step cost is measured by ``rnnx infer --stream --timing`` and recorded in BENCHMARKS.md).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from rnnx.exporter.errors import InputFileError, InvalidInputError
from rnnx.exporter.runtime.metadata import STEP_SIGNATURE
from rnnx.exporter.runtime.quantized_io import from_output, is_quantized, to_input


class Stream:
    """One sequence being processed step by step.

    Args:
        interpreter: the LiteRT interpreter holding the model (shared with the predictor).
        metadata: the model's rnnx metadata (``step`` entry: the state tensors).
        tokenizer: the model's word tokenizer, for :meth:`push_text` (``None`` without one).
        source: a name for error messages.

    Raises:
        InputFileError: if the model has no ``step`` signature (the message says why).
    """

    def __init__(self, interpreter, metadata, tokenizer=None, source: str = "model"):
        step = metadata.step or {}
        if step.get("signature") != STEP_SIGNATURE or STEP_SIGNATURE not in interpreter.get_signature_list():
            reason = step.get("reason") or "it was exported without one"
            raise InputFileError(f"{source} has no step signature ({reason}); it can only run whole sequences")
        self._states = [(s["input"], s["output"]) for s in step["states"]]
        self._runner = interpreter.get_signature_runner(STEP_SIGNATURE)
        details = self._runner.get_input_details()
        self._in_details = details
        self._out_details = self._runner.get_output_details()
        state_inputs = {name for name, _ in self._states}
        self.input_names = [name for name in details if name not in state_inputs]
        self._shapes = {name: tuple(int(d) for d in detail["shape"]) for name, detail in details.items()}
        self._sizes = {name: int(np.prod(shape)) for name, shape in self._shapes.items()}
        self._dtypes = {name: detail["dtype"] for name, detail in details.items()}
        self._quantized_inputs = {name: is_quantized(detail) for name, detail in details.items()}
        self.output_names = [o["name"] for o in metadata.outputs]
        self.tokenizer = tokenizer
        self._values = {name: np.zeros(self._shapes[name], dtype=np.float32) for name, _ in self._states}
        self._in: dict | None = None
        self._out: dict | None = None
        self.total_steps = 0
        self.seconds = 0.0
        self._fast = self._bind_views()
        self.reset()

    def _bind_views(self) -> bool:
        """Map the step subgraph's tensors as numpy views (in-place I/O); ``False`` when the runtime can't."""
        try:
            self._runner(**{name: np.zeros(shape, self._dtypes[name]) for name, shape in self._shapes.items()})
            wrapper, subgraph = self._runner._interpreter_wrapper, self._runner._subgraph_index
            inputs, outputs = self._runner._inputs, dict(self._runner._outputs)
            self._invoke = lambda: wrapper.Invoke(subgraph)
            self._in = {name: wrapper.tensor(wrapper, index, subgraph) for name, index in inputs.items()}
            self._out = {name: wrapper.tensor(wrapper, index, subgraph) for name, index in outputs.items()}
        except (AttributeError, TypeError, ValueError, RuntimeError):
            self._in = self._out = None
            return False
        self._pairs = []
        for state_in, state_out in self._states:
            a, b = self._in_details[state_in], self._out_details[state_out]
            same = a.get("quantization") == b.get("quantization") and a["dtype"] == b["dtype"]
            self._pairs.append((self._in[state_in], self._out[state_out], None if same else (a, b)))
        # None where the output is float: the per-step path then only copies
        self._results = [
            (name, self._out[name], self._out_details[name] if is_quantized(self._out_details[name]) else None)
            for name in self.output_names
        ]
        return True

    def reset(self) -> None:
        """Return to the zero state (before an independent sequence); ``steps`` counts from 0 again."""
        for name, _ in self._states:
            self._values[name].fill(0.0)
            if self._in is not None:
                self._in[name][...] = to_input(np.zeros(self._in[name].shape, np.float32), self._in_details[name])
        self.steps = 0

    @property
    def state(self) -> dict[str, np.ndarray]:
        """A copy of the current states (real values), by input name (``<layer>_hidden`` …)."""
        if self._fast:
            return {name: from_output(np.array(self._in[name]), self._in_details[name]) for name, _ in self._states}
        return {name: value.copy() for name, value in self._values.items()}

    def push(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Feed one time step; returns the model's outputs for it (copies) and keeps the new state.

        Args:
            inputs: each model input for one step, shaped as the step signature says
                (``[B, 1, …]``; a scalar or ``[1]`` is accepted for a single token).

        Raises:
            InvalidInputError: a missing input or one that cannot take the step shape.
        """
        feed = {}
        for name in self.input_names:
            if name not in inputs:
                raise InvalidInputError(f"missing step input '{name}'")
            value = np.asarray(inputs[name])
            if not (self._quantized_inputs[name] and np.issubdtype(value.dtype, np.floating)):
                value = value.astype(self._dtypes[name], copy=False)  # real values are quantized below
            if value.size != self._sizes[name]:
                raise InvalidInputError(
                    f"step input '{name}' must have shape {list(self._shapes[name])}, got {list(value.shape)}"
                )
            feed[name] = value.reshape(self._shapes[name])
        started = time.perf_counter()
        if self._fast:
            for name, value in feed.items():
                self._in[name][...] = to_input(value, self._in_details[name]) if self._quantized_inputs[name] else value
            result = self._invoke_in_place()
        else:
            feed = {name: to_input(value, self._in_details[name]) for name, value in feed.items()}
            states = {name: to_input(value, self._in_details[name]) for name, value in self._values.items()}
            outputs = self._runner(**feed, **states)
            for state_in, state_out in self._states:
                self._values[state_in] = from_output(outputs[state_out], self._out_details[state_out])
            result = {name: from_output(outputs[name], self._out_details[name]) for name in self.output_names}
        self.seconds += time.perf_counter() - started
        self.steps += 1
        self.total_steps += 1
        return result

    def _invoke_in_place(self) -> dict[str, np.ndarray]:
        """Invoke the step, carry the new states over to the inputs, copy the outputs out."""
        self._invoke()
        for state_in, state_out, requantize in self._pairs:
            if requantize is None:
                np.copyto(state_in, state_out)
            else:
                state_in[...] = to_input(from_output(state_out, requantize[1]), requantize[0])
        return {
            name: view.copy() if detail is None else from_output(view, detail) for name, view, detail in self._results
        }

    def push_token(self, token_id: int) -> dict[str, np.ndarray]:
        """Feed one token id (models with a single token input); the hot path of streaming."""
        if len(self.input_names) != 1:
            raise InvalidInputError(f"the model takes {len(self.input_names)} inputs per step; use push()")
        if not self._fast:
            return self.push({self.input_names[0]: np.full(self._shapes[self.input_names[0]], token_id)})
        started = time.perf_counter()
        self._in[self.input_names[0]][...] = token_id
        result = self._invoke_in_place()
        self.seconds += time.perf_counter() - started
        self.steps += 1
        self.total_steps += 1
        return result

    def push_text(self, text: str) -> list[tuple[str, dict[str, np.ndarray]]]:
        """Feed ``text`` one token at a time: ``[(token, outputs after it), …]``.

        Tokens are words for a word-tokenizer model and characters (normalised as in training,
        spaces kept) for a character model.

        Raises:
            InvalidInputError: if the model has no tokenizer.
        """
        from rnnx.models.text.chars import CharTokenizer
        from rnnx.models.text.tokenizer import split_words

        if isinstance(self.tokenizer, CharTokenizer):
            chars = self.tokenizer.prepare(text, strip=False)
            return [
                (char, self.push_token(int(token)))
                for char, token in zip(chars, self.tokenizer.encode(text, strip=False))
            ]
        if self.tokenizer is None:
            raise InvalidInputError("the model carries no tokenizer; push token ids with push_token()")
        words = split_words(text)
        return [(word, self.push_token(token)) for word, token in zip(words, self.tokenizer.word_ids(text))]

    @property
    def microseconds_per_step(self) -> float:
        """Mean wall time of a step over the stream's life (interpreter work plus in-place I/O), in µs."""
        return 1e6 * self.seconds / max(self.total_steps, 1)
