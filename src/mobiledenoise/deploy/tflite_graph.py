"""Reading a `.tflite` flatbuffer into plain Python objects, without TensorFlow.

The op audit, MAC counting and anything else that inspects a model file (the server, the
light evaluation side) use this module, so it imports only numpy and the generated schema
of the `tflite` PyPI package (pure Python over `flatbuffers`).

Design choices:
- The whole file is read eagerly and checked once: the "TFL3" identifier at bytes 4..8, and
  every table, vector and constant buffer is touched, so a truncated or corrupt file raises
  `UserError` here instead of surfacing later as an IndexError deep in a caller.
- Work and memory are bounded by the file's size, whatever the file claims. A flatbuffer vector
  holds offsets, so a few MiB can make a naive parse copy one block or one shape vector millions
  of times (an "alias bomb"). Every vector and string is charged to a budget of
  `ALIAS_BUDGET` x the file size *before* it is materialised, each time it is reached, and the
  counts (tensors, operators, buffers, subgraphs in all; rank, op inputs) have caps far above
  any real model (`MAX_TOTALS`, `MAX_PER`), which bound the parse and audit time too; a file
  over either is refused with one line. Constant buffers are zero-copy views.
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
        return _elements(self.shape)


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
        return _parse(data, _Budget(len(data)))
    except _Refused as exc:
        raise UserError(f"expected {exc.expected}, received {what} with {exc.received}; "
                        "re-export it with `mobiledenoise export`") from None
    except (IndexError, struct.error, ValueError, TypeError, AttributeError,
            UnicodeDecodeError, OverflowError) as exc:
        raise UserError(f"expected a complete TFLite model, received {what} which is truncated or "
                        f"corrupt ({type(exc).__name__} while parsing); re-export it") from None


# --- bounds: far above any real model, far below what a hostile file could claim -------------
# The largest finalist model (gdalgo, 18 MB) has 389 tensors, 255 operators and one subgraph.
ALIAS_BUDGET = 2  # bytes of vectors + strings read, as a multiple of the file size
MAX_TOTALS = {"subgraphs": 100, "buffers": 20_000, "operator codes": 1_000, "tensors": 20_000,
              "operators": 10_000}  # in the whole file, all subgraphs together
MAX_PER = {"dimensions per tensor": 16, "inputs per operator": 1_000,
           "outputs per operator": 1_000, "graph inputs": 1_000, "graph outputs": 1_000}


class _Refused(Exception):
    def __init__(self, expected: str, received: str):
        super().__init__(received)
        self.expected, self.received = expected, received


class _Budget:
    """Bytes of vectors and strings the parse reads, each counted every time it is reached,
    and running totals of the tables it walks."""

    def __init__(self, file_size: int):
        self.file_size = file_size
        self.left = ALIAS_BUDGET * file_size + 4096
        self.totals = dict.fromkeys(MAX_TOTALS, 0)

    def spend(self, nbytes: int, what: str) -> None:
        self.left -= nbytes
        if self.left < 0:
            raise _Refused("a TFLite model that stores each vector once (a file describes at "
                           f"most {ALIAS_BUDGET}x its own size)",
                           f"{what} shared by reference so often that parsing it would read "
                           f"more than {ALIAS_BUDGET * self.file_size / 1024**2:.1f} MiB")

    def count(self, n: int, what: str, itemsize: int = 4) -> int:
        """Check a vector's length against its cap, charge it, and return it."""
        if what in MAX_TOTALS:
            self.totals[what] += n
            if self.totals[what] > MAX_TOTALS[what]:
                raise _Refused(f"a TFLite model with at most {MAX_TOTALS[what]:,} {what} (all "
                               f"subgraphs together)", f"{self.totals[what]:,} {what} or more")
        elif n > MAX_PER[what]:
            raise _Refused(f"a TFLite model with at most {MAX_PER[what]:,} {what}", f"{n:,} {what}")
        self.spend(n * itemsize, what)
        return n


def _load(source) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), f"a {len(source):,}-byte model"
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


def _parse(data: bytes, budget: _Budget) -> Graph:
    import tflite

    model = tflite.Model.GetRootAsModel(data, 0)
    n_subgraphs = budget.count(model.SubgraphsLength(), "subgraphs")
    if n_subgraphs < 1:
        raise ValueError("no subgraph")
    buffers = [_buffer_view(model.Buffers(i), data, budget)
               for i in range(budget.count(model.BuffersLength(), "buffers"))]
    opcodes = [_opcode(model.OperatorCodes(i), budget)
               for i in range(budget.count(model.OperatorCodesLength(), "operator codes"))]
    subgraph = model.Subgraphs(0)
    tensors = tuple(_tensor(subgraph.Tensors(i), i, buffers, budget)
                    for i in range(budget.count(subgraph.TensorsLength(), "tensors")))
    operators = tuple(_operator(subgraph.Operators(i), i, opcodes, len(tensors), budget)
                      for i in range(budget.count(subgraph.OperatorsLength(), "operators")))
    for s in range(1, n_subgraphs):  # touch them too: corruption shows up here
        other = model.Subgraphs(s)
        for i in range(budget.count(other.OperatorsLength(), "operators")):
            _operator(other.Operators(i), i, opcodes, other.TensorsLength(), budget)
    budget.count(subgraph.InputsLength(), "graph inputs")
    budget.count(subgraph.OutputsLength(), "graph outputs")
    inputs = tuple(int(i) for i in _ints(subgraph.InputsAsNumpy()))
    outputs = tuple(int(i) for i in _ints(subgraph.OutputsAsNumpy()))
    if any(not 0 <= i < len(tensors) for i in inputs + outputs):
        raise IndexError("graph input/output index out of range")
    return Graph(len(data), tensors, operators, inputs, outputs, n_subgraphs)


def _ints(array) -> np.ndarray:
    return array if isinstance(array, np.ndarray) else np.zeros(0, np.int32)  # 0 = absent


def _buffer_view(buffer, data: bytes, budget: _Budget) -> memoryview:
    """A constant buffer's bytes as a zero-copy view into the file."""
    offset, size = buffer.Offset(), buffer.Size()
    if offset > 1:  # models over 2 GB keep constants after the flatbuffer
        if offset + size > len(data):
            raise IndexError("constant buffer beyond the end of the file")
        budget.spend(size, "a constant buffer")
        return memoryview(data)[offset:offset + size]
    length = buffer.DataLength()
    budget.spend(length, "a constant buffer")
    if length == 0:
        return memoryview(b"")
    return memoryview(buffer.DataAsNumpy())  # frombuffer raises ValueError when cut short


@cache
def _enum_names(enum_cls) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


def _opcode(code, budget: _Budget) -> tuple[str, int, bool]:
    import tflite

    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if builtin == tflite.BuiltinOperator.CUSTOM:
        custom = code.CustomCode() or b""
        budget.spend(len(custom), "a custom op name")
        return custom.decode("utf-8", "replace"), code.Version(), True
    name = _enum_names(tflite.BuiltinOperator).get(builtin, f"BUILTIN_{builtin}")
    return name, code.Version(), False


def _tensor(t, index: int, buffers: list[memoryview], budget: _Budget) -> Tensor:
    import tflite

    dtype = _enum_names(tflite.TensorType).get(t.Type(), f"type{t.Type()}").lower()
    budget.count(t.ShapeLength(), "dimensions per tensor")
    budget.count(t.ShapeSignatureLength(), "dimensions per tensor")
    shape = tuple(int(d) for d in _ints(t.ShapeAsNumpy()))
    signature = tuple(int(d) for d in _ints(t.ShapeSignatureAsNumpy())) or shape
    if t.Buffer() >= len(buffers):
        raise IndexError(f"tensor {index} names buffer {t.Buffer()} of {len(buffers)}")
    raw = buffers[t.Buffer()]
    data = None
    if len(raw) and dtype in _NUMPY_DTYPES:
        flat = np.frombuffer(raw, dtype=_NUMPY_DTYPES[dtype])
        data = flat.reshape(shape) if flat.size == _elements(shape) else flat
    elif len(raw):
        data = np.frombuffer(raw, dtype=np.uint8)
    name_bytes = t.Name() or b""
    budget.spend(len(name_bytes), "a tensor name")
    return Tensor(index, name_bytes.decode("utf-8", "replace"), shape, signature, dtype, t.Buffer(), data)


def _elements(shape: tuple[int, ...]) -> int:
    """Declared element count, exact (Python ints do not overflow)."""
    total = 1
    for d in shape:
        total *= d
    return total


def _operator(op, index: int, opcodes: list[tuple[str, int, bool]], n_tensors: int,
              budget: _Budget) -> Operator:
    name, version, is_custom = opcodes[op.OpcodeIndex()]
    budget.count(op.InputsLength(), "inputs per operator")
    budget.count(op.OutputsLength(), "outputs per operator")
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
