"""Plan an export before converting: which lowering each recurrent layer gets, and why.

The plan is also what the converted file is checked against afterwards
(:meth:`ExportPlan.check_census`): a lowering that silently turned into something else is an
error, never a result.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from rnnx.exporter.errors import ConversionError, UnsupportedModelError
from rnnx.exporter.lowering import Lowering, lowering_info

_GENERATED_NAME = re.compile(r"^keras_tensor(_\d+)?$|^input_layer(_\d+)?$")


@dataclass(frozen=True)
class TensorInfo:
    """Name, dtype and shape of a signature tensor (``None`` for a dynamic dimension)."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]

    def to_dict(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, data: Mapping) -> TensorInfo:
        return cls(data["name"], data["dtype"], tuple(data["shape"]))


@dataclass(frozen=True)
class LayerPlan:
    """The lowering chosen for one recurrent layer.

    Attributes:
        name: Keras layer name.
        layer_class: e.g. ``"GRU"`` or ``"Bidirectional(LSTM)"``.
        cell: ``"gru"``, ``"lstm"`` or ``"rnn"``.
        lowering: the chosen :class:`Lowering`.
        reason: why, in a few words.
        directions: 2 for ``Bidirectional``, else 1.
    """

    name: str
    layer_class: str
    cell: str
    lowering: Lowering
    reason: str
    directions: int = 1

    def to_dict(self) -> dict:
        data = asdict(self)
        data["lowering"] = self.lowering.value
        return data


@dataclass(frozen=True)
class ExportPlan:
    """What an export will produce.

    Attributes:
        requested: the lowering asked for on the command line.
        layers: one :class:`LayerPlan` per recurrent layer, in model order.
        inputs: the signature inputs (pinned batch size, time steps).
        output_names: the signature output names, in model output order.
    """

    requested: Lowering
    layers: tuple[LayerPlan, ...]
    inputs: tuple[TensorInfo, ...]
    output_names: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def lowerings(self) -> dict[str, Lowering]:
        return {layer.name: layer.lowering for layer in self.layers}

    def expected_while_ops(self) -> int:
        """``WHILE`` ops the converted file must contain."""
        return sum(lowering_info(layer.lowering).while_ops_per_layer * layer.directions for layer in self.layers)

    def check_census(self, census: Mapping[str, int]) -> None:
        """Check the op census read back from the converted file against the plan.

        Raises:
            ConversionError: when the file has Flex/custom ops, or not the number of ``WHILE``
                ops the plan implies.
        """
        custom = sorted(op for op in census if op.startswith("Flex") or not op.replace("_", "").isupper())
        if custom:
            raise ConversionError(f"the converted file contains non-builtin ops: {', '.join(custom)}")
        expected, found = self.expected_while_ops(), census.get("WHILE", 0)
        if found != expected:
            planned = ", ".join(f"{layer.name}: {layer.lowering.value}" for layer in self.layers)
            raise ConversionError(
                f"the converted file has {found} WHILE op(s) but the plan ({planned}) implies {expected}; "
                "the converter did not produce the planned lowering"
            )

    def to_dict(self) -> dict:
        return {
            "requested": self.requested.value,
            "layers": [layer.to_dict() for layer in self.layers],
            "inputs": [i.to_dict() for i in self.inputs],
            "output_names": list(self.output_names),
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> ExportPlan:
        layers = tuple(LayerPlan(**{**layer, "lowering": Lowering(layer["lowering"])}) for layer in data["layers"])
        return cls(
            Lowering(data["requested"]),
            layers,
            tuple(TensorInfo.from_dict(i) for i in data["inputs"]),
            tuple(data["output_names"]),
            tuple(data.get("notes", ())),
        )


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        out.append(name if count == 0 else f"{name}_{count}")
    return out


def _clean(name: str, fallback: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", name.split(":")[0])
    if not name or _GENERATED_NAME.match(name) or name[0].isdigit():
        return fallback
    return name


def recurrent_layers(model) -> list:
    """The recurrent layers of ``model`` (``RNN`` subclasses and ``Bidirectional``), nested models included."""
    import keras

    found = []
    for layer in model.layers:
        if isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional)):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(recurrent_layers(layer))
    return found


def _describe(layer) -> tuple[str, str, int]:
    """``(layer_class, cell, directions)`` of a recurrent layer, checking it can be lowered."""
    import keras

    from rnnx.exporter.lowering.cells import recurrent_spec

    if isinstance(layer, keras.layers.Bidirectional):
        spec = recurrent_spec(layer.forward_layer)
        recurrent_spec(layer.backward_layer)
        return f"Bidirectional({type(layer.forward_layer).__name__})", spec.kind, 2
    return type(layer).__name__, recurrent_spec(layer).kind, 1


def signature_tensors(
    model, batch_size: int, sequence_length: int | None
) -> tuple[tuple[TensorInfo, ...], tuple[str, ...]]:
    """The signature inputs (batch pinned, time steps fixed when known) and output names.

    Raises:
        UnsupportedModelError: when ``sequence_length`` contradicts the model's fixed input length.
    """
    inputs = []
    names = _unique(
        [_clean(t.name, "input" if len(model.inputs) == 1 else f"input_{i}") for i, t in enumerate(model.inputs)]
    )
    for name, tensor in zip(names, model.inputs):
        shape = list(tensor.shape)
        if len(shape) >= 2:
            if shape[1] is not None and sequence_length is not None and shape[1] != sequence_length:
                raise UnsupportedModelError(
                    f"input '{name}' has a fixed length of {shape[1]} time steps; "
                    f"--sequence-length {sequence_length} contradicts it (omit the option)"
                )
            if shape[1] is None:
                shape[1] = sequence_length
        inputs.append(TensorInfo(name, str(tensor.dtype), (batch_size, *shape[1:])))
    raw_outputs = getattr(model, "output_names", None) or [model.layers[-1].name]
    outputs = _unique([_clean(n, f"output_{i}") for i, n in enumerate(raw_outputs)])
    return tuple(inputs), tuple(outputs)


def plan_export(
    model,
    lowering: Lowering | str = Lowering.LOOP,
    layer_lowerings: Mapping[str, Lowering | str] | None = None,
    batch_size: int = 1,
    sequence_length: int | None = None,
) -> ExportPlan:
    """Decide the lowering of each recurrent layer of ``model``.

    Args:
        model: a built Keras model.
        lowering: the lowering for every recurrent layer.
        layer_lowerings: per-layer overrides, by layer name.
        batch_size: the pinned batch size (at least 1).
        sequence_length: time steps when the model's input length is dynamic.

    Raises:
        UnsupportedModelError: an unknown lowering or layer name in the overrides, a layer rnnx
            cannot lower, or a lowering that the layer's configuration rules out; each message
            names the layer and what would work.
    """
    requested = lowering_info(lowering).key
    overrides = {name: lowering_info(value).key for name, value in (layer_lowerings or {}).items()}
    if batch_size < 1:
        raise UnsupportedModelError(f"--batch-size must be at least 1, got {batch_size}")
    inputs, outputs = signature_tensors(model, batch_size, sequence_length)
    layers = recurrent_layers(model)
    unknown = sorted(set(overrides) - {layer.name for layer in layers})
    if unknown:
        names = ", ".join(layer.name for layer in layers) or "none"
        raise UnsupportedModelError(
            f"--layer-lowering names no recurrent layer: {', '.join(unknown)} (recurrent layers: {names})"
        )
    fixed_time = all(len(i.shape) < 2 or i.shape[1] is not None for i in inputs)
    plans = []
    for layer in layers:
        layer_class, cell, directions = _describe(layer)
        chosen = overrides.get(layer.name, requested)
        reason = "per-layer override" if layer.name in overrides else f"--lowering {requested.value}"
        if lowering_info(chosen).fixed_length and not fixed_time:
            working = ", ".join(k.value for k in Lowering if not lowering_info(k).fixed_length)
            raise UnsupportedModelError(
                f"layer `{layer.name}` ({layer_class}): the {chosen.value} lowering needs a fixed sequence "
                f"length and the model's is dynamic; pass --sequence-length N, or use {working}"
            )
        plans.append(LayerPlan(layer.name, layer_class, cell, chosen, reason, directions))
    notes = () if layers else ("the model has no recurrent layers; it is converted as it is",)
    return ExportPlan(requested, tuple(plans), inputs, outputs, notes)
