"""Small, hostile `.tflite` flatbuffers for the upload-check tests and the load benchmark.

A flatbuffer vector of tables holds offsets, so many entries can point at ONE table, and many
tables can point at ONE vector. A parse that copies what each entry refers to does work
proportional to entries x target size, not to the file size. Built with the `tflite` schema's
own builder functions (pure Python, no TensorFlow), in well under a second each.

- `buffer_alias_bomb`: `entries` buffer entries, all the same Buffer table of `block` bytes;
- `shape_alias_bomb`: `entries` tensors (one Tensor table, repeated) with one shape of
  `rank` dimensions;
- `subgraph_alias_bomb`: `entries` subgraphs, all the one subgraph of `ops` operators;
- `many_operators`: `n` distinct RELU operators (no aliasing): the parse and audit time that a
  file can demand by sheer count;
- `relu_chain`: a valid-looking model of RELUs over given tensors (contract breaches).
"""

from __future__ import annotations

import flatbuffers
import tflite

FLOAT32, INT16, INT8 = 0, 7, 9
RGB = [1, 8, 8, 3]


def _offsets(builder: flatbuffers.Builder, target: int, entries: int) -> int:
    builder.StartVector(4, entries, 4)
    for _ in range(entries):
        builder.PrependUOffsetTRelative(target)
    return builder.EndVector()


def _ints(builder: flatbuffers.Builder, values) -> int:
    values = list(values)
    builder.StartVector(4, len(values), 4)
    for value in reversed(values):
        builder.PrependInt32(value)
    return builder.EndVector()


def _tensor(builder, shape, name: bytes = b"t", buffer: int = 0, dtype: int = FLOAT32) -> int:
    name_offset = builder.CreateString(name)
    shape_offset = _ints(builder, shape)
    tflite.TensorStart(builder)
    tflite.TensorAddShape(builder, shape_offset)
    tflite.TensorAddType(builder, dtype)
    tflite.TensorAddBuffer(builder, buffer)
    tflite.TensorAddName(builder, name_offset)
    return tflite.TensorEnd(builder)


def _subgraph(builder, tensors: int, operators: int | None = None, io=([0], [0])) -> int:
    inputs, outputs = _ints(builder, io[0]), _ints(builder, io[1])
    tflite.SubGraphStart(builder)
    tflite.SubGraphAddTensors(builder, tensors)
    if operators is not None:
        tflite.SubGraphAddOperators(builder, operators)
    tflite.SubGraphAddInputs(builder, inputs)
    tflite.SubGraphAddOutputs(builder, outputs)
    return tflite.SubGraphEnd(builder)


def _empty_buffer(builder) -> int:
    tflite.BufferStart(builder)
    return tflite.BufferEnd(builder)


def _model(builder, subgraphs: int, buffers: int, opcodes: int | None = None) -> bytes:
    tflite.ModelStart(builder)
    tflite.ModelAddVersion(builder, 3)
    if opcodes is not None:
        tflite.ModelAddOperatorCodes(builder, opcodes)
    tflite.ModelAddSubgraphs(builder, subgraphs)
    tflite.ModelAddBuffers(builder, buffers)
    builder.Finish(tflite.ModelEnd(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def buffer_alias_bomb(entries: int = 200_000, block: int = 1 << 20) -> bytes:
    builder = flatbuffers.Builder(block + 8 * entries + 4096)
    data = builder.CreateByteVector(bytes(block))
    tflite.BufferStart(builder)
    tflite.BufferAddData(builder, data)
    big = tflite.BufferEnd(builder)
    buffers = _offsets(builder, big, entries)
    tensor = _tensor(builder, [1, 8, 8, 3])
    subgraph = _subgraph(builder, _offsets(builder, tensor, 1))
    return _model(builder, _offsets(builder, subgraph, 1), buffers)


def shape_alias_bomb(entries: int = 200_000, rank: int = 250_000) -> bytes:
    builder = flatbuffers.Builder(4 * (rank + entries) + 4096)
    tensor = _tensor(builder, [1] * rank)
    subgraph = _subgraph(builder, _offsets(builder, tensor, entries))
    empty = _empty_buffer(builder)
    return _model(builder, _offsets(builder, subgraph, 1), _offsets(builder, empty, 1))


def subgraph_alias_bomb(entries: int = 100_000, ops: int = 100_000) -> bytes:
    builder = flatbuffers.Builder(4 * (ops + entries) + 4096)
    code = _relu_code(builder)
    op_inputs, op_outputs = _ints(builder, [0]), _ints(builder, [0])
    tflite.OperatorStart(builder)
    tflite.OperatorAddInputs(builder, op_inputs)
    tflite.OperatorAddOutputs(builder, op_outputs)
    operator = tflite.OperatorEnd(builder)
    tensor = _tensor(builder, [1, 8, 8, 3])
    subgraph = _subgraph(builder, _offsets(builder, tensor, 1), _offsets(builder, operator, ops))
    empty = _empty_buffer(builder)
    return _model(builder, _offsets(builder, subgraph, entries), _offsets(builder, empty, 1),
                  _offsets(builder, code, 1))


def many_operators(n: int = 12_000) -> bytes:
    builder = flatbuffers.Builder(64 * n + 4096)
    code = _relu_code(builder)
    operators = []
    for _ in range(n):
        op_inputs, op_outputs = _ints(builder, [0]), _ints(builder, [1])
        tflite.OperatorStart(builder)
        tflite.OperatorAddInputs(builder, op_inputs)
        tflite.OperatorAddOutputs(builder, op_outputs)
        operators.append(tflite.OperatorEnd(builder))
    tensors = [_tensor(builder, RGB, b"x"), _tensor(builder, RGB, b"y")]
    subgraph = _subgraph(builder, _vector(builder, tensors), _vector(builder, operators),
                         io=([0], [1]))
    return _model(builder, _offsets(builder, subgraph, 1), _offsets(builder, _empty_buffer(builder), 1),
                  _offsets(builder, code, 1))


def _relu_code(builder) -> int:
    tflite.OperatorCodeStart(builder)
    tflite.OperatorCodeAddBuiltinCode(builder, tflite.BuiltinOperator.RELU)
    tflite.OperatorCodeAddDeprecatedBuiltinCode(builder, tflite.BuiltinOperator.RELU)
    return tflite.OperatorCodeEnd(builder)


def relu_chain(tensors, inputs=(0,), outputs=None) -> bytes:
    """A valid-looking model: RELU from tensor i to tensor i+1 along `tensors`, a list of
    (shape, TensorType) pairs; graph inputs/outputs are tensor indices (default: first, last).
    Tiny files that break the contract: a 112 GiB inner tensor, two inputs, an int16 input."""
    outputs = (len(tensors) - 1,) if outputs is None else outputs
    builder = flatbuffers.Builder(4096)
    code = _relu_code(builder)
    operators = []
    for i in range(len(tensors) - 1):
        op_inputs, op_outputs = _ints(builder, [i]), _ints(builder, [i + 1])
        tflite.OperatorStart(builder)
        tflite.OperatorAddInputs(builder, op_inputs)
        tflite.OperatorAddOutputs(builder, op_outputs)
        operators.append(tflite.OperatorEnd(builder))
    tables = [_tensor(builder, shape, f"t{i}".encode(), dtype=dtype)
              for i, (shape, dtype) in enumerate(tensors)]
    subgraph = _subgraph(builder, _vector(builder, tables), _vector(builder, operators),
                         io=(list(inputs), list(outputs)))
    empty = _empty_buffer(builder)
    return _model(builder, _offsets(builder, subgraph, 1), _offsets(builder, empty, 1),
                  _offsets(builder, code, 1))


def _vector(builder, offsets: list[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()
