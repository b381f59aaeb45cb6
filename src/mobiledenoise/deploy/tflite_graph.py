"""Reading a `.tflite` flatbuffer into plain Python objects, without TensorFlow.

The op audit, MAC counting and anything else that inspects a model file (the server, the
light evaluation side) use this module, so it imports only numpy and the generated schema
of the `tflite` PyPI package (pure Python over `flatbuffers`).

Design choices:
- The whole file is read eagerly and checked once: the "TFL3" identifier at bytes 4..8, and
  every table, vector and constant buffer is touched, so a truncated or corrupt file raises
  `UserError` here instead of surfacing later as an IndexError deep in a caller.
- Only the main subgraph (index 0) is described as the model; other subgraphs exist only as
  bodies of control-flow ops (WHILE, IF, CALL_ONCE), which the audit rejects anyway.
- Shapes: `shape` is the static shape the converter stored (dynamic dims read as 1 there),
  `signature` the declared one with -1 for dynamic dims. MACs are counted from `shape`, so
  for a dynamic-size model they are the cost at the stored (placeholder) size.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import numpy as np

from mobiledenoise.errors import UserError

FILE_IDENTIFIER = b"TFL3"

_NUMPY_DTYPES = {"float32": np.float32, "float16": np.float16, "float64": np.float64,
                 "int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32,
                 "int64": np.int64, "uint64": np.uint64, "bool": np.bool_}
_OTHER_FORMATS = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"PK\x03\x04":
                  "a zip archive (a Keras .keras file?)", b"\x89HDF": "an HDF5 file (Keras weights?)"}


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    signature: tuple[int, ...]  # -1 marks a dynamic dimension
    dtype: str
    buffer: int
    data: np.ndarray | None  # constant contents (reshaped), None for runtime tensors

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def is_dynamic(self) -> bool:
        return any(d < 0 for d in self.signature)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1


@dataclass(frozen=True)
class Operator:
    index: int
    name: str  # builtin name (e.g. CONV_2D) or the custom op's code
    version: int
    is_custom: bool
    inputs: tuple[int, ...]  # tensor indices; -1 marks an omitted optional input
    outputs: tuple[int, ...]
    options: object | None  # the schema's *Options table (e.g. tflite.Conv2DOptions) or None


@dataclass(frozen=True)  # not slots: cached_property needs the instance __dict__
class Graph:
    size_bytes: int
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    subgraphs: int

    @cached_property
    def dequantized_constants(self) -> frozenset[int]:
        """Outputs of DEQUANTIZE ops fed by a constant (how FP16 weights are stored)."""
        return frozenset(op.outputs[0] for op in self.operators if op.name == "DEQUANTIZE"
                         and op.inputs and op.inputs[0] >= 0 and self.tensors[op.inputs[0]].is_constant)

    def op_inputs(self, op: Operator) -> list[Tensor | None]:
        return [self.tensors[i] if i >= 0 else None for i in op.inputs]

    def op_outputs(self, op: Operator) -> list[Tensor]:
        return [self.tensors[i] for i in op.outputs]


def read_graph(source: str | Path | bytes | bytearray) -> Graph:
    """Parse a .tflite file (path or bytes); UserError when it is not a readable TFLite model."""
    data, what = _load(source)
    _check_identifier(data, what)
    try:
        return _parse(data)
    except (IndexError, struct.error, ValueError, TypeError, AttributeError,
            UnicodeDecodeError, OverflowError) as exc:
        raise UserError(f"expected a complete TFLite model, received {what} which is truncated or "
                        f"corrupt ({type(exc).__name__} while parsing); re-export it") from None


def _load(source) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), f"a {len(source)}-byte buffer"
    path = Path(source)
    if not path.is_file():
        raise UserError(f"expected a .tflite file, received {path} which does not exist; check the path")
    return path.read_bytes(), str(path)


def _check_identifier(data: bytes, what: str) -> None:
    if len(data) < 8:
        raise UserError(f"expected a TFLite model, received {what} with only {len(data)} bytes; "
                        "pass a file written by `mobiledenoise export`")
    if data[4:8] != FILE_IDENTIFIER:
        kind = next((name for magic, name in _OTHER_FORMATS.items() if data.startswith(magic)),
                    "not a TFLite flatbuffer")
        raise UserError(f"expected a TFLite model (identifier 'TFL3' at byte 4), received {what} "
                        f"which is {kind}; pass a .tflite file written by `mobiledenoise export`")


def _parse(data: bytes) -> Graph:
    import tflite

    model = tflite.Model.GetRootAsModel(data, 0)
    if model.SubgraphsLength() < 1:
        raise ValueError("no subgraph")
    buffers = [_buffer_bytes(model.Buffers(i), data) for i in range(model.BuffersLength())]
    opcodes = [_opcode(model.OperatorCodes(i)) for i in range(model.OperatorCodesLength())]
    subgraph = model.Subgraphs(0)
    tensors = tuple(_tensor(subgraph.Tensors(i), i, buffers) for i in range(subgraph.TensorsLength()))
    operators = tuple(_operator(subgraph.Operators(i), i, opcodes, len(tensors))
                      for i in range(subgraph.OperatorsLength()))
    for s in range(1, model.SubgraphsLength()):  # touch them too: corruption shows up here
        other = model.Subgraphs(s)
        for i in range(other.OperatorsLength()):
            _operator(other.Operators(i), i, opcodes, other.TensorsLength())
    inputs = tuple(int(i) for i in _ints(subgraph.InputsAsNumpy()))
    outputs = tuple(int(i) for i in _ints(subgraph.OutputsAsNumpy()))
    if any(not 0 <= i < len(tensors) for i in inputs + outputs):
        raise IndexError("graph input/output index out of range")
    return Graph(len(data), tensors, operators, inputs, outputs, model.SubgraphsLength())


def _ints(array) -> np.ndarray:
    return array if isinstance(array, np.ndarray) else np.zeros(0, np.int32)  # 0 = absent


def _buffer_bytes(buffer, data: bytes) -> bytes:
    offset, size = buffer.Offset(), buffer.Size()
    if offset > 1:  # models over 2 GB keep constants after the flatbuffer
        if offset + size > len(data):
            raise IndexError("constant buffer beyond the end of the file")
        return data[offset:offset + size]
    if buffer.DataLength() == 0:
        return b""
    return buffer.DataAsNumpy().tobytes()  # frombuffer raises ValueError when cut short


@cache
def _enum_names(enum_cls) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


def _opcode(code) -> tuple[str, int, bool]:
    import tflite

    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if builtin == tflite.BuiltinOperator.CUSTOM:
        return code.CustomCode().decode("utf-8", "replace"), code.Version(), True
    name = _enum_names(tflite.BuiltinOperator).get(builtin, f"BUILTIN_{builtin}")
    return name, code.Version(), False


def _tensor(t, index: int, buffers: list[bytes]) -> Tensor:
    import tflite

    dtype = _enum_names(tflite.TensorType).get(t.Type(), f"type{t.Type()}").lower()
    shape = tuple(int(d) for d in _ints(t.ShapeAsNumpy()))
    signature = tuple(int(d) for d in _ints(t.ShapeSignatureAsNumpy())) or shape
    raw = buffers[t.Buffer()] if t.Buffer() < len(buffers) else None
    if t.Buffer() >= len(buffers):
        raise IndexError(f"tensor {index} names buffer {t.Buffer()} of {len(buffers)}")
    data = None
    if raw and dtype in _NUMPY_DTYPES:
        flat = np.frombuffer(raw, dtype=_NUMPY_DTYPES[dtype])
        data = flat.reshape(shape) if flat.size == int(np.prod(shape, dtype=np.int64)) else flat
    elif raw:
        data = np.frombuffer(raw, dtype=np.uint8)
    name = (t.Name() or b"").decode("utf-8", "replace")
    return Tensor(index, name, shape, signature, dtype, t.Buffer(), data)


def _operator(op, index: int, opcodes: list[tuple[str, int, bool]], n_tensors: int) -> Operator:
    name, version, is_custom = opcodes[op.OpcodeIndex()]
    inputs = tuple(int(i) for i in _ints(op.InputsAsNumpy()))
    outputs = tuple(int(i) for i in _ints(op.OutputsAsNumpy()))
    if any(i >= n_tensors or i < -1 for i in inputs + outputs):
        raise IndexError(f"operator {index} refers to a tensor out of range")
    return Operator(index, name, version, is_custom, inputs, outputs, _options(op))


def _options(op):
    import tflite

    kind = op.BuiltinOptionsType()
    table = op.BuiltinOptions()
    if not kind or table is None:
        return None
    cls = getattr(tflite, _enum_names(tflite.BuiltinOptions).get(kind, ""), None)
    if cls is None:
        return None
    options = cls()
    options.Init(table.Bytes, table.Pos)
    return options


# --- cost figures shared by the audit and the benchmarks ------------------------------------

def op_macs(graph: Graph, op: Operator) -> int:
    """Multiply-accumulates of one op, from its tensor shapes (0 for ops without weights)."""
    ins, outs = graph.op_inputs(op), graph.op_outputs(op)
    out_size = outs[0].size if outs else 0
    if op.name == "CONV_2D" and len(ins) > 1 and ins[1] is not None:
        _, kh, kw, cin = ins[1].shape  # OHWI; grouped convs store I per group
        return out_size * kh * kw * cin
    if op.name == "DEPTHWISE_CONV_2D" and len(ins) > 1 and ins[1] is not None:
        _, kh, kw, _ = ins[1].shape  # 1HWO
        return out_size * kh * kw
    if op.name == "TRANSPOSE_CONV" and len(ins) > 2:
        cout, kh, kw, _ = ins[1].shape  # inputs: output_shape, weights OHWI, input
        return ins[2].size * kh * kw * cout
    if op.name == "FULLY_CONNECTED" and len(ins) > 1:
        return out_size * ins[1].shape[-1]
    if op.name == "BATCH_MATMUL" and len(ins) > 1:
        adj_x = bool(op.options.AdjX()) if op.options is not None else False
        lhs = ins[0].shape
        return out_size * (lhs[-2] if adj_x else lhs[-1])
    return 0


def count_macs(graph: Graph) -> int:
    return sum(op_macs(graph, op) for op in graph.operators)


_BIAS_POSITIONS = {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "FULLY_CONNECTED": 2, "TRANSPOSE_CONV": 3}


def count_params(graph: Graph) -> int:
    """Elements of the constant weight tensors: float/int8 constants plus int32 biases.

    Other integer constants (shapes, axes, paddings) are bookkeeping, not parameters. An FP16
    model stores each weight once (as float16, dequantized at run time), so counts match FP32.
    """
    biases = {op.inputs[pos] for op in graph.operators
              if (pos := _BIAS_POSITIONS.get(op.name)) is not None and len(op.inputs) > pos}
    total = 0
    for t in graph.tensors:
        if not t.is_constant:
            continue
        if t.dtype in ("float32", "float16", "float64", "int8", "uint8", "int16") or t.index in biases:
            total += t.size
    return total
