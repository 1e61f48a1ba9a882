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
    """How a recurrent layer is lowered."""

    LOOP = "loop"
    UNROLLED = "unrolled"


@dataclass(frozen=True)
class LoweringInfo:
    """One registered lowering.

    Attributes:
        key: its :class:`Lowering`.
        run: the recurrence function (see the package docstring).
        fixed_length: whether it needs a static sequence length.
        while_ops_per_layer: ``WHILE`` ops one lowered layer (one direction) adds to the file.
        summary: one line for ``--explain`` and the README.
    """

    key: Lowering
    run: Callable
    fixed_length: bool
    while_ops_per_layer: int
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


def _entries() -> list[LoweringInfo]:
    from rnnx.exporter.lowering.loop import run_loop
    from rnnx.exporter.lowering.unrolled import run_unrolled

    return [
        LoweringInfo(Lowering.LOOP, run_loop, False, 1, "one WHILE op per layer; any sequence length"),
        LoweringInfo(Lowering.UNROLLED, run_unrolled, True, 0, "the cell's ops repeated per time step; fixed length"),
    ]


LOWERINGS: Mapping[Lowering, LoweringInfo] = build_registry(_entries())


def lowering_info(key: str | Lowering) -> LoweringInfo:
    """The registered lowering for ``key``.

    Raises:
        UnsupportedModelError: for an unknown key; the message lists the supported ones.
    """
    try:
        return LOWERINGS[Lowering(key)]
    except ValueError:
        supported = ", ".join(k.value for k in LOWERINGS)
        raise UnsupportedModelError(f"unknown lowering {key!r}; supported: {supported}") from None
