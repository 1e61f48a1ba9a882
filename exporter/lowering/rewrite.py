"""Finishing the fused lowerings in the converted flatbuffer (flatbuffers object API only).

Two rewrites, applied to every converted model (each is a no-op when there is nothing to do):

* every ``UNIDIRECTIONAL_SEQUENCE_LSTM`` op gets ``cell_clip = 0`` and ``proj_clip = 0`` (no
  clipping): the converter writes a cell clip of 10, which Keras' LSTM does not apply, so the op
  would differ from the Keras layer wherever the cell state leaves [-10, 10];
* every custom op ``rnnx_sequence_rnn`` (see :mod:`rnnx.exporter.lowering.fused`) becomes the
  builtin ``UNIDIRECTIONAL_SEQUENCE_RNN`` (inputs: sequence ``[B, T, F]``, weights ``[U, F]``,
  recurrent weights ``[U, U]``, bias ``[U]``, and a new variable tensor ``[B, U]`` for the hidden
  state), with its activation and ``time_major = False``.
"""

from __future__ import annotations

import flatbuffers
import numpy as np

from rnnx.exporter.errors import ConversionError
from rnnx.exporter.lowering.fused import RNN_CUSTOM_CODE
from rnnx.exporter.runtime.model_file import FILE_IDENTIFIER, schema


def _custom_activation(options: bytes | None) -> str:
    """The ``activation`` string attribute of a ``tfl_fusable_op`` custom op (a flexbuffer map)."""
    from flatbuffers import flexbuffers

    if options is None or len(options) == 0:
        raise ConversionError(f"the {RNN_CUSTOM_CODE} op lost its options in conversion")
    return flexbuffers.Loads(bytes(options))["activation"]


def _opcode_index(model, builtin: int) -> int:
    """Index of the operator code for ``builtin``, added when missing."""
    fb = schema()
    for index, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            return index
    code = fb.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)
    code.version = 1
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _rewrite_rnn(model, graph, op) -> None:
    fb = schema()
    activation = getattr(fb.ActivationFunctionType, _custom_activation(op.customOptions))
    sequence = graph.tensors[op.inputs[0]]
    output = graph.tensors[op.outputs[0]]
    state = fb.TensorT()
    state.shape = np.array([sequence.shape[0], output.shape[-1]], dtype=np.int32)
    state.type = fb.TensorType.FLOAT32
    state.isVariable = True
    state.name = (output.name or b"rnn") + b"/hidden_state"
    empty = fb.BufferT()
    model.buffers.append(empty)
    state.buffer = len(model.buffers) - 1
    graph.tensors.append(state)
    options = fb.SequenceRNNOptionsT()
    options.timeMajor = False
    options.fusedActivationFunction = activation
    op.opcodeIndex = _opcode_index(model, fb.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_RNN)
    op.inputs = np.array([*op.inputs[:4], len(graph.tensors) - 1], dtype=np.int32)
    op.builtinOptionsType = fb.BuiltinOptions.SequenceRNNOptions
    op.builtinOptions = options
    op.customOptions = None
    op.customOptionsFormat = 0


def _drop_unused_operator_codes(model) -> None:
    """Remove operator codes no op refers to any more (the replaced custom op) and renumber."""
    used = sorted({op.opcodeIndex for graph in model.subgraphs for op in graph.operators or []})
    renumber = {old: new for new, old in enumerate(used)}
    model.operatorCodes = [model.operatorCodes[i] for i in used]
    for graph in model.subgraphs:
        for op in graph.operators or []:
            op.opcodeIndex = renumber[op.opcodeIndex]


def finish_fused_ops(model_bytes: bytes) -> bytes:
    """Apply the rewrites of the module docstring; returns the bytes unchanged when none applies.

    Raises:
        ConversionError: when a marked op is not in the form rnnx emitted.
    """
    fb = schema()
    model = fb.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    codes = model.operatorCodes or []
    lstm = fb.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    changed = False
    for graph in model.subgraphs or []:
        for op in graph.operators or []:
            code = codes[op.opcodeIndex]
            builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
            if builtin == lstm and (op.builtinOptions.cellClip != 0.0 or op.builtinOptions.projClip != 0.0):
                op.builtinOptions.cellClip = 0.0
                op.builtinOptions.projClip = 0.0
                changed = True
            elif builtin == fb.BuiltinOperator.CUSTOM and (code.customCode or b"").decode() == RNN_CUSTOM_CODE:
                if len(op.inputs) != 4:
                    raise ConversionError(f"the {RNN_CUSTOM_CODE} op has {len(op.inputs)} inputs, expected 4")
                _rewrite_rnn(model, graph, op)
                changed = True
    if not changed:
        return model_bytes
    _drop_unused_operator_codes(model)
    builder = flatbuffers.Builder(len(model_bytes) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def split_probe_signature(model_bytes: bytes, serving: str, probes: str, prefix: str) -> bytes:
    """Move the outputs named ``<prefix>…`` of signature ``serving`` into a signature ``probes``.

    Both signatures run the same subgraph: ``serving`` keeps the model's outputs, ``probes``
    lists the recurrent layers' outputs (the tensors stay subgraph outputs, so the interpreter
    keeps their values after an invocation). Returns the bytes unchanged when there is no probe.
    """
    import copy

    fb = schema()
    model = fb.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    key = serving.encode()
    for signature in model.signatureDefs or []:
        if signature.signatureKey not in (key, serving):
            continue
        kept = [m for m in signature.outputs if not _name(m).startswith(prefix)]
        moved = [m for m in signature.outputs if _name(m).startswith(prefix)]
        if not moved:
            return model_bytes
        signature.outputs = kept
        extra = fb.SignatureDefT()
        extra.signatureKey = probes
        extra.subgraphIndex = signature.subgraphIndex
        extra.inputs = copy.deepcopy(signature.inputs)
        extra.outputs = moved
        model.signatureDefs.append(extra)
        break
    else:
        return model_bytes
    builder = flatbuffers.Builder(len(model_bytes) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def _name(tensor_map) -> str:
    name = tensor_map.name
    return name.decode() if isinstance(name, bytes) else (name or "")
