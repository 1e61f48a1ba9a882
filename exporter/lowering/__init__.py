"""Lowerings: the forms a recurrent layer takes in the ``.tflite`` file, behind one registry.

Each lowering is a function ``run(spec, inputs, mask=None, initial_state=None) -> (output,
states)`` that recomputes a :class:`~rnnx.exporter.lowering.cells.RecurrentSpec` with TensorFlow
ops the TFLite converter maps to builtin ops, plus the facts the planner and the op-census check
need about it (:class:`LoweringInfo`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType

from rnnx.exporter.errors import UnsupportedModelError


class Lowering(str, Enum):
    """How a recurrent layer is lowered (``auto`` is resolved per layer by the planner)."""

    AUTO = "auto"
    FUSED = "fused"
    UNROLLED = "unrolled"
    LOOP = "loop"
    STEPPED = "stepped"


@dataclass(frozen=True)
class LoweringInfo:
    """One registered lowering.

    Attributes:
        key: its :class:`Lowering`.
        run: the recurrence function (see the package docstring).
        fixed_length: whether it needs a static sequence length.
        census: for each cell (``"rnn"``, ``"gru"``, ``"lstm"``), the ops one lowered layer
            direction must add to the file (the op-census check counts ``WHILE`` and the fused
            ops); a cell missing here cannot take this lowering.
        summary: one line for ``--explain`` and the README.
    """

    key: Lowering
    run: Callable
    fixed_length: bool
    census: Mapping[str, Mapping[str, int]]
    summary: str


def build_registry(entries: Iterable[LoweringInfo]) -> Mapping[Lowering, LoweringInfo]:
    """A read-only registry of ``entries``.

    Raises:
        ValueError: if two entries share a key.
    """
    registry: dict[Lowering, LoweringInfo] = {}
    for entry in entries:
        if entry.key in registry:
            raise ValueError(f"lowering {entry.key.value!r} is registered twice")
        registry[entry.key] = entry
    return MappingProxyType(registry)


CENSUS_OPS = ("WHILE", "UNIDIRECTIONAL_SEQUENCE_LSTM", "UNIDIRECTIONAL_SEQUENCE_RNN")


def _entries() -> list[LoweringInfo]:
    from rnnx.exporter.lowering.fused import run_fused
    from rnnx.exporter.lowering.loop import run_loop
    from rnnx.exporter.lowering.unrolled import run_unrolled

    every_cell = ("rnn", "gru", "lstm", "custom")
    return [
        LoweringInfo(
            Lowering.FUSED,
            run_fused,
            False,
            {"lstm": {"UNIDIRECTIONAL_SEQUENCE_LSTM": 1}, "rnn": {"UNIDIRECTIONAL_SEQUENCE_RNN": 1}},
            "one fused LiteRT sequence op per layer direction (LSTM, SimpleRNN)",
        ),
        LoweringInfo(
            Lowering.UNROLLED,
            run_unrolled,
            True,
            {cell: {} for cell in every_cell},
            "the cell's ops repeated per time step, no control flow; fixed length",
        ),
        LoweringInfo(
            Lowering.LOOP,
            run_loop,
            False,
            {cell: {"WHILE": 1} for cell in every_cell},
            "one WHILE op per layer direction; any sequence length",
        ),
        LoweringInfo(
            Lowering.STEPPED,
            run_loop,  # the whole-sequence graph is not exported; the step signature carries the model
            False,
            {cell: {} for cell in every_cell},
            "only the step signature: one time step per invocation, the caller loops (the whole model)",
        ),
    ]


LOWERINGS: Mapping[Lowering, LoweringInfo] = build_registry(_entries())


def parse_lowering(key: str | Lowering) -> Lowering:
    """``key`` as a :class:`Lowering` (``auto`` included).

    Raises:
        UnsupportedModelError: for an unknown key; the message lists the supported ones.
    """
    try:
        return Lowering(key)
    except ValueError:
        supported = ", ".join(k.value for k in Lowering)
        raise UnsupportedModelError(f"unknown lowering {key!r}; supported: {supported}") from None


def lowering_info(key: str | Lowering) -> LoweringInfo:
    """The registered lowering for ``key`` (a concrete one: not ``auto``).

    Raises:
        UnsupportedModelError: for an unknown key or ``auto``; the message lists the supported ones.
    """
    lowering = parse_lowering(key)
    if lowering not in LOWERINGS:
        supported = ", ".join(k.value for k in LOWERINGS)
        raise UnsupportedModelError(f"lowering {lowering.value!r} is chosen by the planner; concrete: {supported}")
    return LOWERINGS[lowering]
