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
        masked: whether the layer receives a mask.
        has_initial_state: whether it takes its initial state from another tensor.
    """

    name: str
    layer_class: str
    cell: str
    lowering: Lowering
    reason: str
    directions: int = 1
    masked: bool = False
    has_initial_state: bool = False

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

    def expected_census(self) -> dict[str, int]:
        """Counts of ``WHILE`` and the fused sequence ops the converted file must contain."""
        from rnnx.exporter.lowering import CENSUS_OPS

        expected = dict.fromkeys(CENSUS_OPS, 0)
        for layer in self.layers:
            for op, count in lowering_info(layer.lowering).census[layer.cell].items():
                expected[op] += count * layer.directions
        return expected

    def check_census(self, census: Mapping[str, int]) -> None:
        """Check the op census read back from the converted file against the plan.

        Raises:
            ConversionError: when the file has Flex/custom ops, or other counts of ``WHILE`` and
                fused sequence ops than the plan implies (asking for ``fused`` and getting a
                ``WHILE`` loop is an error, never a silent result).
        """
        custom = sorted(op for op in census if op.startswith("Flex") or not op.replace("_", "").isupper())
        if custom:
            raise ConversionError(f"the converted file contains non-builtin ops: {', '.join(custom)}")
        wrong = [
            f"{census.get(op, 0)} {op} op(s) where the plan implies {expected}"
            for op, expected in self.expected_census().items()
            if census.get(op, 0) != expected
        ]
        if wrong:
            planned = ", ".join(f"{layer.name}: {layer.lowering.value}" for layer in self.layers)
            raise ConversionError(
                f"the converted file has {'; '.join(wrong)} (plan: {planned}); "
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


def _directions(layer) -> list:
    """The per-direction :class:`RecurrentSpec` of a recurrent layer (checks that it can be lowered)."""
    import keras

    from rnnx.exporter.lowering.cells import recurrent_spec

    if isinstance(layer, keras.layers.Bidirectional):
        return [recurrent_spec(layer.forward_layer), recurrent_spec(layer.backward_layer)]
    return [recurrent_spec(layer)]


def _layer_class(layer) -> str:
    import keras

    if isinstance(layer, keras.layers.Bidirectional):
        return f"Bidirectional({_layer_class(layer.forward_layer)})"
    if type(layer) is keras.layers.RNN:
        return f"RNN({type(layer.cell).__name__})"
    return type(layer).__name__


# Preference of ``auto`` per cell, fastest first (measured: benchmarks/lowering_latency.py).
AUTO_ORDER = {
    "lstm": (Lowering.FUSED, Lowering.LOOP, Lowering.UNROLLED),
    "rnn": (Lowering.FUSED, Lowering.UNROLLED, Lowering.LOOP),
    "gru": (Lowering.UNROLLED, Lowering.LOOP),
    "custom": (Lowering.UNROLLED, Lowering.LOOP),
}
CELL_NAMES = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN", "custom": "a hand-written cell"}
# ``auto`` unrolls only up to this many time steps: beyond it the file and the conversion time
# grow linearly (seed GRU model at 581 steps: 4.2 MB and about 3 minutes) for little gain.
AUTO_UNROLL_MAX_STEPS = 256


@dataclass(frozen=True)
class LayerFacts:
    """What decides which lowerings a layer can take.

    Attributes:
        specs: one :class:`RecurrentSpec` per direction.
        masked: the layer receives a mask.
        has_initial_state: the layer receives an initial state from another tensor.
        steps: static number of time steps, ``None`` when dynamic.
        dynamic_batch: the batch size is left dynamic.
    """

    specs: tuple
    masked: bool
    has_initial_state: bool
    steps: int | None
    dynamic_batch: bool


def obstacle(lowering: Lowering, facts: LayerFacts) -> str | None:
    """Why ``lowering`` cannot compute this layer exactly, or ``None`` if it can.

    (``stepped`` concerns the whole model; :func:`plan_export` checks it there.)
    """
    from rnnx.exporter.lowering.fused import fused_obstacle

    if lowering is Lowering.FUSED:
        for spec in facts.specs:
            reason = fused_obstacle(spec, facts.masked, facts.has_initial_state)
            if reason:
                return reason
        if facts.dynamic_batch:
            return "the fused ops need a fixed batch size (drop --dynamic-batch)"
        if facts.steps is None:
            return "the fused ops need a fixed sequence length here (pass --sequence-length)"
        return None
    if lowering is Lowering.UNROLLED and facts.steps is None:
        return "unrolling needs a fixed sequence length (pass --sequence-length, or drop --dynamic-length)"
    return None


def choose_lowering(requested: Lowering, facts: LayerFacts, where: str, source: str) -> tuple[Lowering, str]:
    """The lowering of one layer and the reason, for a request (``auto`` or a concrete lowering).

    Raises:
        UnsupportedModelError: a concrete request the layer rules out; names the layer, the
            obstacle and the lowerings that would work.
    """
    cell = facts.specs[0].kind
    if requested is not Lowering.AUTO:
        reason = obstacle(requested, facts)
        if reason is None:
            return requested, source
        working = [k.value for k in (Lowering.FUSED, Lowering.UNROLLED, Lowering.LOOP) if obstacle(k, facts) is None]
        raise UnsupportedModelError(
            f"{where} cannot be lowered as {requested.value}: {reason}; lowerings that work for it: "
            f"{', '.join(working)} (or auto)"
        )
    skipped = []
    for candidate in AUTO_ORDER[cell]:
        reason = obstacle(candidate, facts)
        if reason is None and candidate is Lowering.UNROLLED and facts.steps > AUTO_UNROLL_MAX_STEPS:
            reason = f"{facts.steps} time steps is more than auto unrolls ({AUTO_UNROLL_MAX_STEPS})"
        if reason is None:
            why = f"auto: fastest exact form for {CELL_NAMES[cell]}"
            return candidate, why + ("" if not skipped else f" ({'; '.join(skipped)})")
        skipped.append(f"not {candidate.value}: {reason}")
    raise AssertionError("loop lowers every layer")  # pragma: no cover


def signature_tensors(
    model, batch_size: int | None, sequence_length: int | None, dynamic_length: bool = False
) -> tuple[tuple[TensorInfo, ...], tuple[str, ...]]:
    """The signature inputs (batch pinned or dynamic, time steps fixed when known) and output names.

    Raises:
        UnsupportedModelError: when ``sequence_length`` or ``dynamic_length`` contradicts the
            model's fixed input length.
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
            if shape[1] is not None and dynamic_length:
                raise UnsupportedModelError(
                    f"input '{name}' has a fixed length of {shape[1]} time steps; --dynamic-length needs a "
                    "model whose input is built with shape=(None, ...)"
                )
            if shape[1] is None and not dynamic_length:
                shape[1] = sequence_length
        inputs.append(TensorInfo(name, str(tensor.dtype), (batch_size, *shape[1:])))
    raw_outputs = getattr(model, "output_names", None) or [model.layers[-1].name]
    outputs = _unique([_clean(n, f"output_{i}") for i, n in enumerate(raw_outputs)])
    return tuple(inputs), tuple(outputs)


def plan_export(
    model,
    lowering: Lowering | str = Lowering.AUTO,
    layer_lowerings: Mapping[str, Lowering | str] | None = None,
    batch_size: int | None = 1,
    sequence_length: int | None = None,
    dynamic_length: bool = False,
) -> ExportPlan:
    """Decide the lowering of each recurrent layer of ``model``.

    Args:
        model: a built Keras model.
        lowering: ``auto`` (each layer's fastest exact form) or one lowering for every layer.
        layer_lowerings: per-layer overrides, by layer name.
        batch_size: the pinned batch size (at least 1), or ``None`` for a dynamic batch.
        sequence_length: time steps when the model's input length is dynamic.
        dynamic_length: keep the time dimension dynamic (a model built with ``shape=(None, …)``).

    Raises:
        UnsupportedModelError: an unknown lowering or layer name in the overrides, a layer rnnx
            cannot lower, or a lowering that the layer's configuration rules out; each message
            names the layer and what would work.
    """
    from rnnx.exporter.lowering import parse_lowering
    from rnnx.exporter.lowering.keras_layers import probe_recurrent_inputs

    requested = parse_lowering(lowering)
    overrides = {name: parse_lowering(value) for name, value in (layer_lowerings or {}).items()}
    if batch_size is not None and batch_size < 1:
        raise UnsupportedModelError(f"--batch-size must be at least 1, got {batch_size}")
    inputs, outputs = signature_tensors(model, batch_size, sequence_length, dynamic_length)
    layers = recurrent_layers(model)
    unknown = sorted(set(overrides) - {layer.name for layer in layers})
    if unknown:
        names = ", ".join(layer.name for layer in layers) or "none"
        raise UnsupportedModelError(
            f"--layer-lowering names no recurrent layer: {', '.join(unknown)} (recurrent layers: {names})"
        )
    directions = {layer.name: _directions(layer) for layer in layers}
    probed = (
        probe_recurrent_inputs(model, list(directions), [i.shape for i in inputs], [i.dtype for i in inputs])
        if layers
        else {}
    )
    steps = None if any(len(i.shape) >= 2 and i.shape[1] is None for i in inputs) else _steps(inputs)
    plans = []
    for layer in layers:
        masked, has_state = probed.get(layer.name, (False, False))
        facts = LayerFacts(tuple(directions[layer.name]), masked, has_state, steps, batch_size is None)
        wanted = overrides.get(layer.name, requested)
        source = "per-layer override" if layer.name in overrides else f"--lowering {requested.value}"
        where = f"layer `{layer.name}` ({_layer_class(layer)})"
        chosen, reason = choose_lowering(wanted, facts, where, source)
        plans.append(
            LayerPlan(
                layer.name,
                _layer_class(layer),
                facts.specs[0].kind,
                chosen,
                reason,
                len(facts.specs),
                masked,
                has_state,
            )
        )
    notes = () if layers else ("the model has no recurrent layers; it is converted as it is",)
    result = ExportPlan(requested, tuple(plans), inputs, outputs, notes)
    stepped = [layer.name for layer in plans if layer.lowering is Lowering.STEPPED]
    if stepped:
        _check_stepped(model, result, stepped)
    return result


def _check_stepped(model, plan: ExportPlan, stepped: list[str]) -> None:
    """``stepped`` applies to the whole model, and the model must have a step signature."""
    from rnnx.exporter.lowering.stepping import step_obstacle

    others = [layer.name for layer in plan.layers if layer.lowering is not Lowering.STEPPED]
    if others:
        raise UnsupportedModelError(
            f"the stepped form applies to the whole model (layers {', '.join(stepped)} are stepped, "
            f"{', '.join(others)} are not); use --lowering stepped without per-layer overrides"
        )
    reason = step_obstacle(model, plan)
    if reason:
        raise UnsupportedModelError(f"the stepped form needs a step signature and this model has none: {reason}")


def _steps(inputs) -> int | None:
    sequences = [i.shape[1] for i in inputs if len(i.shape) >= 2]
    return sequences[0] if sequences else None
