"""GPU-delegate op audit of a `.tflite` model: which ops the mobile GPU delegate would run.

`tf.lite.experimental.Analyzer(gpu_compatibility=True)` cannot fail (it passed TOPK_V2,
SIGN, FLOOR_MOD, ...), so the verdict here comes from an explicit rule table, `RULES`, that
mirrors shared/GPU_DELEGATE_OPS.md: the official list plus what the delegate's own checker
(gpu_compatibility.cc) accepts, each with its written constraints. Ops the checker accepts
but the project's reference list leaves out (SIGN, FLOOR_MOD, comparisons, PADV2, ...) are
refused on purpose: the reference is the older, stricter runtime of the phones judged.

Rules applying to every op: tensors at most 4-D (BHWC), no dynamic dimension in any
`shape_signature` (the delegate refuses dynamic graphs), op version at most the table's
`max_version` (float ops are version 1; the quantized forms the converter writes for INT8
models bump versions, e.g. CONV_2D v3 per-channel, DEQUANTIZE v3 for FP16 weights).
Custom ops: only the four the delegate implements.

No TensorFlow import: the server and the light evaluation side use this module.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mobiledenoise.deploy import tflite_graph as tg

Check = Callable[[tg.Graph, tg.Operator], "str | None"]  # reason when unsupported, else None

_ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
_SUPPORTED_ACTIVATIONS = {"NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGMOID"}
CUSTOM_OPS = {"Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D", "Resampler"}


@dataclass(frozen=True)
class OpRule:
    max_version: int = 1
    checks: tuple[Check, ...] = ()


# --- constraint checks -----------------------------------------------------------------------

def fused_activation(graph, op):
    getter = getattr(op.options, "FusedActivationFunction", None)
    if getter is None:
        return None
    name = _ACTIVATIONS.get(getter(), f"#{getter()}")
    return None if name in _SUPPORTED_ACTIVATIONS else f"fused activation {name} is not supported"


def _runtime_inputs(graph, op) -> list[tg.Tensor]:
    return [t for t in graph.op_inputs(op) if t is not None and not _is_constant(graph, t)]


def _is_constant(graph: tg.Graph, tensor: tg.Tensor) -> bool:
    """Constant, or the DEQUANTIZE of a constant (FP16 weights): the delegate folds those."""
    return tensor.is_constant or tensor.index in graph.dequantized_constants


def conv_io(graph, op):
    if len(_runtime_inputs(graph, op)) > 2:
        return "more than 2 runtime (non-constant) inputs"
    if len(op.outputs) != 1:
        return f"{len(op.outputs)} outputs, expected 1"
    return None


def strides_dilations(graph, op):
    o = op.options
    if o is None:
        return None
    values = [o.StrideH(), o.StrideW()]
    if hasattr(o, "DilationHFactor"):
        values += [o.DilationHFactor(), o.DilationWFactor()]
    return None if min(values) > 0 else f"non-positive stride/dilation {values}"


def depthwise(graph, op):
    ins, out = graph.op_inputs(op), graph.op_outputs(op)[0]
    if len(ins[0].shape) != 4 or len(out.shape) != 4:
        return "DEPTHWISE_CONV_2D needs 4-D input and output"
    multiplier = op.options.DepthMultiplier() if op.options is not None else 1
    if multiplier != 1 and ins[0].shape[3] != 1:
        return f"depth_multiplier {multiplier} with {ins[0].shape[3]} input channels (needs 1)"
    return None


def add_mul_broadcast(graph, op):
    ins = graph.op_inputs(op)
    if len(ins) != 2 or None in ins:
        return f"{op.name} needs exactly two inputs"
    a, b = ins[0].shape, ins[1].shape
    if len(a) == len(b):
        if op.name == "MUL" and any(x < y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b)):
            return f"MUL where neither input covers the other ({list(a)} x {list(b)})"
        return None
    if len(a) <= 1 or len(b) <= 1:
        return None
    long, short = (a, b) if len(a) > len(b) else (b, a)
    ok = (len(long) == 4 and long[0] == 1 and len(short) == 3) or \
         (len(long) == 4 and len(short) == 2 and long[0] == 1 and tuple(short) == (1, 1)) or \
         (len(long) == 4 and len(short) == 2 and long[0] == short[0] and long[3] == short[1])
    return None if ok else f"broadcasting {list(a)} with {list(b)} is not supported"


def slice_rank_masks(graph, op):
    rank = len(graph.op_inputs(op)[0].shape)
    if rank not in (3, 4):
        return f"{op.name} on a {rank}-D tensor (only 3-D or 4-D)"
    o = op.options
    if op.name == "STRIDED_SLICE" and o is not None:
        masks = {"ellipsis": o.EllipsisMask(), "new-axis": o.NewAxisMask(), "shrink-axis": o.ShrinkAxisMask()}
        used = [name for name, value in masks.items() if value]
        if used:
            return f"STRIDED_SLICE with {', '.join(used)} mask"
    return None


def paddings(graph, op):
    pads = graph.op_inputs(op)[1]
    if pads is None or len(pads.shape) != 2 or pads.shape[0] not in (3, 4) or pads.shape[1] != 2:
        return f"paddings of shape {list(pads.shape) if pads else None} (needs 3x2 or 4x2)"
    if op.name == "MIRROR_PAD" and op.options is not None and op.options.Mode() != 0:
        return "MIRROR_PAD mode SYMMETRIC (only REFLECT)"
    return None


def resize_flags(graph, op):
    o = op.options
    if o is not None and o.AlignCorners() and o.HalfPixelCenters():
        return "RESIZE_BILINEAR with both align_corners and half_pixel_centers"
    return None


def constant_axes(graph, op):
    axes = graph.op_inputs(op)[1] if len(op.inputs) > 1 else None
    if axes is None or not axes.is_constant or axes.dtype != "int32":
        return f"{op.name} needs constant int32 axes"
    return None


def softmax_beta(graph, op):
    beta = op.options.Beta() if op.options is not None else 1.0
    return None if beta == 1.0 else f"SOFTMAX beta {beta} (only 1)"


def cast_types(graph, op):
    src, dst = graph.op_inputs(op)[0].dtype, graph.op_outputs(op)[0].dtype
    floats = {"float16", "float32"}
    ok = (src == "bool" and dst in floats) or (src in floats and dst == "bool") or \
         ({src, dst} <= {"float32", "int32"})
    return None if ok else f"CAST {src} -> {dst}"


def block_size(graph, op):
    size = op.options.BlockSize() if op.options is not None else 0
    return None if size > 1 else f"{op.name} block size {size} (needs > 1)"


def gather_indices(graph, op):
    ins = graph.op_inputs(op)
    if ins[0].dtype == "int32":
        return "GATHER of an int32 tensor"
    if len(ins[1].shape) != 1 or ins[1].dtype != "int32":
        return "GATHER needs 1-D int32 indices"
    return None


def two_inputs(graph, op):
    return None if len(op.inputs) == 2 else f"{op.name} needs exactly 2 inputs"


_CONV = (conv_io, strides_dilations, fused_activation)
_ELEMENTWISE = (fused_activation,)

RULES: dict[str, OpRule] = {
    # the official list (LiteRT GPU delegate docs)
    "ADD": OpRule(2, (add_mul_broadcast, fused_activation)),
    "AVERAGE_POOL_2D": OpRule(2, (strides_dilations, fused_activation)),
    "CONCATENATION": OpRule(2, (fused_activation,)),
    "CONV_2D": OpRule(6, _CONV),
    "DEPTHWISE_CONV_2D": OpRule(6, (*_CONV, depthwise)),
    "EXP": OpRule(2),
    "FULLY_CONNECTED": OpRule(9, (fused_activation,)),
    "LOGICAL_AND": OpRule(1),
    "LOGISTIC": OpRule(3),
    "MAX_POOL_2D": OpRule(2, (strides_dilations, fused_activation)),
    "MAXIMUM": OpRule(2),
    "MINIMUM": OpRule(2),
    "MUL": OpRule(3, (add_mul_broadcast, fused_activation)),
    "PAD": OpRule(2, (paddings,)),
    "PRELU": OpRule(1),
    "RELU": OpRule(2),
    "RELU6": OpRule(2),
    "RESHAPE": OpRule(1),
    "RESIZE_BILINEAR": OpRule(3, (resize_flags,)),
    "SOFTMAX": OpRule(2, (softmax_beta,)),
    "STRIDED_SLICE": OpRule(2, (slice_rank_masks,)),
    "SUB": OpRule(2, _ELEMENTWISE),
    "TRANSPOSE_CONV": OpRule(3, (conv_io, strides_dilations, fused_activation)),
    # also accepted by the delegate's own checker (gpu_compatibility.cc)
    "DEPTH_TO_SPACE": OpRule(2, (block_size,)),
    "SPACE_TO_DEPTH": OpRule(2, (block_size,)),
    "RESIZE_NEAREST_NEIGHBOR": OpRule(3),
    "MEAN": OpRule(2, (constant_axes,)),
    "SUM": OpRule(2, (constant_axes,)),
    "REDUCE_MAX": OpRule(2, (constant_axes,)),
    "REDUCE_MIN": OpRule(2, (constant_axes,)),
    "REDUCE_PROD": OpRule(1, (constant_axes,)),
    "SPLIT": OpRule(2),
    "SPLIT_V": OpRule(2),
    "PACK": OpRule(2),
    "TILE": OpRule(1),
    "TRANSPOSE": OpRule(2),
    "SLICE": OpRule(2, (slice_rank_masks,)),
    "LEAKY_RELU": OpRule(2),
    "HARD_SWISH": OpRule(1),
    "TANH": OpRule(2),
    "GELU": OpRule(1),
    "ELU": OpRule(1),
    "DIV": OpRule(1, _ELEMENTWISE),
    "POW": OpRule(1),
    "SQUARED_DIFFERENCE": OpRule(1),
    "RSQRT": OpRule(2),
    "SQRT": OpRule(1),
    "ABS": OpRule(2),
    "CAST": OpRule(1, (cast_types,)),
    "SELECT_V2": OpRule(1),
    "MIRROR_PAD": OpRule(2, (paddings,)),
    "GATHER": OpRule(2, (gather_indices,)),
    "BATCH_MATMUL": OpRule(2, (two_inputs,)),
    "QUANTIZE": OpRule(2),
    "DEQUANTIZE": OpRule(3),
    "CUMSUM": OpRule(1),
}


# --- the report --------------------------------------------------------------------------------

@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]  # the signature: -1 marks a dynamic dimension
    dtype: str


@dataclass(frozen=True)
class OpFinding:
    index: int
    op: str
    version: int
    supported: bool
    reason: str  # why not, "" when supported
    input_shapes: list[tuple[int, ...]] = field(default_factory=list)
    output_shapes: list[tuple[int, ...]] = field(default_factory=list)
    macs: int = 0


@dataclass
class AuditReport:
    compatible: bool
    ops: list[OpFinding]
    histogram: dict[str, int]
    macs: int
    params: int
    size_bytes: int
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]

    @property
    def failures(self) -> list[OpFinding]:
        return [f for f in self.ops if not f.supported]

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def render(self) -> str:
        lines = [f"size: {self.size_bytes / 1024:.1f} KiB   params: {self.params:,}   "
                 f"MACs: {self.macs / 1e9:.3f} G ({self.macs:,})"]
        lines += [f"input  {t.name}: {list(t.shape)} {t.dtype}" for t in self.inputs]
        lines += [f"output {t.name}: {list(t.shape)} {t.dtype}" for t in self.outputs]
        lines.append("ops: " + ", ".join(f"{name} x{n}" for name, n in sorted(self.histogram.items())))
        lines.append("")
        for f in self.ops:
            mark = "ok " if f.supported else "NO "
            shapes = " ".join(str(list(s)) for s in f.input_shapes) + " -> " + \
                " ".join(str(list(s)) for s in f.output_shapes)
            lines.append(f"{mark} #{f.index:<3} {f.op} v{f.version}  {shapes}")
        lines.append("")
        if self.compatible:
            lines.append(f"GPU delegate: all {len(self.ops)} ops supported")
        else:
            lines.append(f"GPU delegate: {len(self.failures)} of {len(self.ops)} ops NOT supported")
            lines.append("error log for incompatible operations:")
            lines += [f"  op #{f.index} {f.op}: {f.reason}" for f in self.failures]
        return "\n".join(lines)


def audit(path_or_bytes: str | Path | bytes) -> AuditReport:
    """Audit a .tflite model (path or bytes) against the GPU-delegate rule table."""
    return audit_graph(tg.read_graph(path_or_bytes))


def audit_graph(graph: tg.Graph) -> AuditReport:
    """Audit an already parsed model (the server parses each upload once)."""
    findings = [_check_op(graph, op) for op in graph.operators]
    if graph.subgraphs > 1:
        findings.append(OpFinding(len(findings), "SUBGRAPHS", 1, False,
                                  f"{graph.subgraphs} subgraphs: control flow is not supported"))
    return AuditReport(
        compatible=all(f.supported for f in findings),
        ops=findings,
        histogram=dict(Counter(op.name for op in graph.operators)),
        macs=sum(f.macs for f in findings),
        params=tg.count_params(graph),
        size_bytes=graph.size_bytes,
        inputs=[_spec(graph.tensors[i]) for i in graph.inputs],
        outputs=[_spec(graph.tensors[i]) for i in graph.outputs],
    )


def _spec(tensor: tg.Tensor) -> TensorSpec:
    return TensorSpec(tensor.name, tensor.signature, tensor.dtype)


def _check_op(graph: tg.Graph, op: tg.Operator) -> OpFinding:
    tensors = [t for t in graph.op_inputs(op) + graph.op_outputs(op) if t is not None]
    reason = _reason(graph, op, tensors)
    return OpFinding(op.index, op.name, op.version, reason is None, reason or "",
                     [t.signature for t in graph.op_inputs(op)
                      if t is not None and not _is_constant(graph, t)],
                     [t.signature for t in graph.op_outputs(op)], tg.op_macs(graph, op))


def _reason(graph: tg.Graph, op: tg.Operator, tensors: list[tg.Tensor]) -> str | None:
    if op.is_custom:
        return None if op.name in CUSTOM_OPS else \
            f"custom op not supported by the TFLite GPU delegate (only {', '.join(sorted(CUSTOM_OPS))})"
    rule = RULES.get(op.name)
    if rule is None:
        return "not supported by the TFLite GPU delegate (not in its op list; the graph would be " \
               "split between CPU and GPU)"
    if op.version > rule.max_version:
        return f"version {op.version} is above the delegate's maximum {rule.max_version} for {op.name}"
    dynamic = [t for t in tensors if t.is_dynamic]
    if dynamic:
        return f"dynamic shape {list(dynamic[0].signature)} (the delegate needs static shapes; " \
               "export with a fixed --size)"
    big = [t for t in tensors if len(t.shape) > 4]
    if big:
        return f"{len(big[0].shape)}-D tensor {list(big[0].shape)} (the delegate handles at most 4-D)"
    for check in rule.checks:
        problem = check(graph, op)
        if problem:
            return problem
    return None
