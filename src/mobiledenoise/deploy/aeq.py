"""Static-range quantization of a float .tflite through Google's AI Edge Quantizer (public API).

`quantize(float_tflite, calibration)` calibrates the float file on real noisy patches and
writes INT8 weights (per channel) with INT8 or INT16 activations ("16x8"). Options:
- `algorithm`: "minmax" (ranges as calibrated), "octav" or "mse" (clipped weight ranges:
  OCTAV's MSE-optimal clipping, or a search over clipping multipliers; in AEQ 0.10 both fall
  back to min/max for activations);
- activation ranges: AEQ's calibrator keeps a moving average of each tensor's per-patch
  min/max, which clips the brightest pixels (the input's range ended at 0.84 on PolyU
  patches: 4.5 dB lost). By default we set the ranges ourselves on the public calibration
  result that `Quantizer.quantize` takes: exact min/max, and for internal tensors
  `range_percentile` as `int8_ranges` does for the converter (no private function replaced).

What AEQ 0.10 writes, and what this module does about it:
- the graph input and output are quantized in place (int8/int16 I/O; `TFLiteDenoiser`
  handles both through the tensors' scale and zero point);
- ops it cannot quantize (DEPTH_TO_SPACE, MINIMUM) stay float between DEQUANTIZE/QUANTIZE;
- the ops it adds carry `deprecated_builtin_code` 0, which readers that trust that field for
  codes < 127 (the `tflite` package, so our op audit) take for ADD; LiteRT reads the full
  code. `quantize` writes the schema's value (min(code, 127)) into every operator code.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable

import numpy as np

from mobiledenoise.errors import UserError

ALGORITHMS = ("minmax", "octav", "mse")


def quantize(float_tflite: bytes, calibration: Iterable[np.ndarray], *, activation_bits: int = 8,
             algorithm: str = "minmax", range_percentile: float | None = None,
             own_ranges: bool = True, float_io: bool = True, seed: int = 0) -> bytes:
    """The quantized .tflite bytes of `float_tflite` (one 1×H×W×3 float input).

    `calibration`: real noisy H×W×3 images, fitted to the model's input size. `own_ranges`:
    activation ranges from `calibrated_ranges` (exact min/max, `range_percentile`); False
    keeps AEQ's own (moving-average) ranges and ignores `range_percentile`. `float_io`:
    float32 input and output (QUANTIZE / DEQUANTIZE at the ends), as our exports have;
    False keeps AEQ's int8 (int16 for 16x8) I/O."""
    from ai_edge_quantizer import algorithm_manager, qtyping, quantizer, recipe_manager

    from mobiledenoise.deploy.int8_ranges import check_percentile

    if algorithm not in ALGORITHMS:
        raise UserError(f"expected a quantizer algorithm in {', '.join(ALGORITHMS)}, "
                        f"received {algorithm!r}")
    if activation_bits not in (8, 16):
        raise UserError(f"expected 8 or 16 activation bits, received {activation_bits}")
    check_percentile(range_percentile)
    signature, input_name, size = _signature(float_tflite)
    patches = _fitted_patches(calibration, size)
    key = {"minmax": algorithm_manager.AlgorithmName.MIN_MAX_UNIFORM_QUANT,
           "octav": algorithm_manager.AlgorithmName.OCTAV,
           "mse": algorithm_manager.AlgorithmName.MSE}[algorithm]
    recipes = recipe_manager.RecipeManager()
    recipes.add_static_config(".*", qtyping.TFLOperationName.ALL_SUPPORTED, activation_bits, 8,
                              qtyping.QuantGranularity.CHANNELWISE, key)
    engine = quantizer.Quantizer(bytearray(float_tflite), recipes.get_quantization_recipe())
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        ranges = engine.calibrate({signature: [{input_name: p[None]} for p in patches]},
                                  num_threads=1)
        if own_ranges:
            ranges = calibrated_ranges(float_tflite, ranges, patches, range_percentile or 100.0,
                                       seed)
        result = engine.quantize(ranges, enable_progress_bar=False, enable_progress_report=False)
    data = bytes(result.quantized_model)
    return schema_opcodes(with_float_io(data) if float_io else data)


def _signature(float_tflite: bytes) -> tuple[str, str, tuple[int, int]]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=float_tflite)
    signatures = interpreter.get_signature_list()
    (entry,) = interpreter.get_input_details()
    if len(signatures) != 1 or len(next(iter(signatures.values()))["inputs"]) != 1:
        raise UserError(f"expected a float .tflite with one signature and one input, received "
                        f"{signatures}")
    if entry["dtype"] != np.float32 or len(entry["shape"]) != 4 or min(entry["shape"][1:3]) < 1:
        raise UserError(f"expected a fixed-size float32 1×H×W×3 input to quantize, received "
                        f"{entry['dtype'].__name__} {list(entry['shape'])}")
    name = next(iter(signatures))
    return name, signatures[name]["inputs"][0], tuple(int(d) for d in entry["shape"][1:3])


def _fitted_patches(calibration: Iterable[np.ndarray], size: tuple[int, int]) -> list[np.ndarray]:
    from mobiledenoise.deploy.convert import fitted_patches

    patches = list(fitted_patches(calibration, size, 1))
    return [np.ascontiguousarray(p, np.float32) for p in patches]


def calibrated_ranges(float_tflite: bytes, ranges: dict, patches: list[np.ndarray],
                      percentile: float = 100.0, seed: int = 0) -> dict:
    """AEQ's calibration result with our activation ranges, as the TFLite converter's path has:
    the exact min/max over the calibration patches (AEQ keeps a moving average of per-patch
    extremes, which clips: the image input's range ended at 0.84), narrowed to `percentile`
    for internal tensors (`int8_ranges`). Pixel tensors, joined to the input or output by
    weight-free ops, keep the exact min/max."""
    from mobiledenoise.deploy.int8_ranges import narrowed, pixel_tensors, sample_activations
    from mobiledenoise.deploy.tflite_graph import read_graph

    graph = read_graph(float_tflite)
    keep = pixel_tensors(graph)
    index = {t.name: t.index for t in graph.tensors if not t.is_constant}
    targets = {name: index[name] for name, qsv in ranges.items()
               if name in index and np.size(qsv.get("min", ())) == 1}
    extremes: dict[int, tuple[float, float]] = {}
    samples = sample_activations(float_tflite, patches, list(targets.values()), seed, extremes)
    out = dict(ranges)
    for name, i in targets.items():
        low, high = min(extremes[i][0], 0.0), max(extremes[i][1], 0.0)
        if i not in keep and percentile < 100.0:
            low, high = narrowed(samples[i], low, high, percentile)
        qsv = ranges[name]
        out[name] = {**qsv, "min": np.full_like(qsv["min"], low),
                     "max": np.full_like(qsv["max"], high)}
    return out


def with_float_io(data: bytes) -> bytes:
    """`data` with a float32 input QUANTIZEd into its input and its output DEQUANTIZEd to a
    float32 output, where they are quantized (signature updated)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    graph = model.subgraphs[0]

    def opcode(builtin: int) -> int:
        for i, code in enumerate(model.operatorCodes):
            if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
                return i
        code = schema.OperatorCodeT()
        code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
        model.operatorCodes.append(code)
        return len(model.operatorCodes) - 1

    def float_twin(index: int) -> int:
        twin, source = schema.TensorT(), graph.tensors[index]
        twin.shape, twin.shapeSignature = source.shape, source.shapeSignature
        twin.type, twin.buffer, twin.name = schema.TensorType.FLOAT32, 0, source.name + b"_float"
        graph.tensors.append(twin)
        return len(graph.tensors) - 1

    def op(builtin: int, source: int, target: int):
        new = schema.OperatorT()
        new.opcodeIndex, new.inputs, new.outputs = opcode(builtin), [source], [target]
        return new

    (old_in,), (old_out,) = graph.inputs, graph.outputs
    float_in, float_out = old_in, old_out
    if graph.tensors[old_in].type != schema.TensorType.FLOAT32:
        float_in = float_twin(old_in)
        graph.operators.insert(0, op(schema.BuiltinOperator.QUANTIZE, float_in, old_in))
    if graph.tensors[old_out].type != schema.TensorType.FLOAT32:
        float_out = float_twin(old_out)
        graph.operators.append(op(schema.BuiltinOperator.DEQUANTIZE, old_out, float_out))
    graph.inputs, graph.outputs = [float_in], [float_out]
    for signature in model.signatureDefs or ():
        for entry, old, new in ((signature.inputs[0], old_in, float_in),
                                (signature.outputs[0], old_out, float_out)):
            if entry.tensorIndex == old:
                entry.tensorIndex = new
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def schema_opcodes(data: bytes) -> bytes:
    """`data` with every operator code's deprecated_builtin_code = min(builtin_code, 127)."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    for code in model.operatorCodes:
        code.deprecatedBuiltinCode = min(code.builtinCode, 127)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
