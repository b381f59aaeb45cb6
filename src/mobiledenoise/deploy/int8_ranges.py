"""Percentile activation ranges for the INT8 export.

TFLite's calibrator keeps each activation tensor's min/max over the calibration patches, so a
few extreme values set the int8 step of the whole tensor. `percentile_ranges(patches, P)`
narrows every internal tensor's range to the P-th / (100-P)-th percentile of its calibration
values (the approach of TensorRT's percentile calibrator); values beyond saturate, as they do
in any int8 op.

How: inside the context manager, `TFLiteConverter` runs its own pipeline unchanged (graph,
calibration, per-channel weights, I/O types); only the calibrated float model it hands to its
MLIR quantizer is rewritten first: the model is run on the same patches with every tensor kept,
and the stored min/max of each activation are narrowed, never widened.

Kept at min/max: tensors joined to the graph's input or output by weight-free ops only (the
image, the residual, the output and its clamp). They carry pixel values, where clipping the
rarest values would clip highlights; internal features feed a learnt layer that averages.

`deploy/aeq.py` applies the same narrowing to AI Edge Quantizer's calibration result, through
its public API (`narrowed`, `sample_activations`, `pixel_tensors` are shared).

Measured on the shipped model (`unet` preset `fast`, PolyU validation scenes): min/max loses
0.27 dB to FP32, the 99.99th percentile 0.14 dB; 99.99 was chosen on the training scenes
(`benchmarks/int8_ranges.py`, results/int8-ranges-vm.md).
The percentile is estimated from a random sample of each tensor (`SAMPLES_PER_PATCH` values
per calibration patch), seeded, so an export is reproducible.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence

import numpy as np

from mobiledenoise.errors import UserError

SAMPLES_PER_PATCH = 1 << 17
_WEIGHTED_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED"})


def check_percentile(percentile: float | None) -> None:
    if percentile is not None and not 50.0 < percentile <= 100.0:
        raise UserError(f"expected an int8 range percentile in (50, 100] (e.g. 99.99; 100 = "
                        f"min/max), received {percentile}")


@contextlib.contextmanager
def percentile_ranges(patches: Sequence[np.ndarray], percentile: float) -> Iterator[None]:
    """Within this block, int8 conversions narrow activation ranges to `percentile`."""
    from tensorflow.lite.python import lite

    check_percentile(percentile)
    # The converter's private step from calibrated float model to int8 model (TF 2.21, pinned).
    quantize = getattr(lite, "_mlir_quantize", None)
    if quantize is None:
        raise UserError("expected TensorFlow's converter to expose lite._mlir_quantize (TF 2.21), "
                        "received a version without it; export without --calib-percentile")
    calls = []

    def narrowed_then_quantized(calibrated, *args, **kwargs):
        calls.append(1)
        return quantize(narrow_ranges(calibrated, patches, percentile), *args, **kwargs)

    lite._mlir_quantize = narrowed_then_quantized
    try:
        yield
    finally:
        lite._mlir_quantize = quantize
    if not calls:  # never silently export min/max ranges when percentiles were asked for
        raise UserError("expected the int8 conversion to pass through the MLIR quantizer, which "
                        "it did not; export without --calib-percentile")


def narrow_ranges(calibrated: bytes, patches: Sequence[np.ndarray], percentile: float,
                  seed: int = 0) -> bytes:
    """The calibrated float model with internal activation ranges narrowed to `percentile`."""
    from tensorflow.lite.tools import flatbuffer_utils

    from mobiledenoise.deploy.tflite_graph import read_graph

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(calibrated))
    tensors = model.subgraphs[0].tensors
    graph = read_graph(bytes(calibrated))
    keep = pixel_tensors(graph)
    targets = [i for i, tensor in enumerate(tensors)
               if i not in keep and not graph.tensors[i].is_constant
               and tensor.quantization is not None and tensor.quantization.min is not None
               and len(tensor.quantization.min) == 1]
    samples = sample_activations(bytes(calibrated), patches, targets, seed)
    for i in targets:
        stats = tensors[i].quantization
        low, high = narrowed(samples[i], stats.min[0], stats.max[0], percentile)
        stats.min, stats.max = [low], [high]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def narrowed(values: np.ndarray, low: float, high: float, percentile: float) -> tuple[float, float]:
    """The range [low, high] narrowed (never widened) to `percentile` of `values`, keeping 0."""
    p_low, p_high = np.percentile(values, [100.0 - percentile, percentile])
    return float(min(0.0, max(low, p_low))), float(max(0.0, min(high, p_high)))


def pixel_tensors(graph) -> set[int]:
    """Tensors joined to a graph input or output through weight-free ops only."""
    producer = {t: op for op in graph.operators for t in op.outputs}
    consumers: dict[int, list] = {}
    for op in graph.operators:
        for t in op.inputs:
            consumers.setdefault(t, []).append(op)

    def walk(start, linked) -> set[int]:
        seen, frontier = set(start), list(start)
        while frontier:
            for i in linked(frontier.pop()):
                if i >= 0 and i not in seen and not graph.tensors[i].is_constant:
                    seen.add(i)
                    frontier.append(i)
        return seen

    def upstream(t):  # the inputs of a weight-free producer
        op = producer.get(t)
        return op.inputs if op is not None and op.name not in _WEIGHTED_OPS else ()

    def downstream(t):  # the outputs of weight-free consumers
        return [o for op in consumers.get(t, ()) if op.name not in _WEIGHTED_OPS for o in op.outputs]

    return walk(graph.outputs, upstream) | walk(graph.inputs, downstream)


def sample_activations(calibrated: bytes, patches: Sequence[np.ndarray], targets: list[int],
                        seed: int, extremes: dict[int, tuple[float, float]] | None = None
                        ) -> dict[int, np.ndarray]:
    """A seeded random sample of every target tensor's values over the calibration patches;
    `extremes`, if given, receives each target's exact (min, max) over all its values."""
    from ai_edge_litert.interpreter import Interpreter

    if not patches:
        raise UserError("expected calibration patches for int8 percentile ranges, received none")
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():  # "for debugging purposes only": keeping them is the point
        warnings.simplefilter("ignore")
        interpreter = Interpreter(model_content=calibrated, experimental_preserve_all_tensors=True)
    (entry,) = interpreter.get_input_details()
    samples: dict[int, list[np.ndarray]] = {i: [] for i in targets}
    shape = None
    for patch in patches:
        batch = np.asarray(patch, np.float32)[None]
        if batch.shape != shape:
            interpreter.resize_tensor_input(entry["index"], batch.shape)
            interpreter.allocate_tensors()
            shape = batch.shape
        interpreter.set_tensor(entry["index"], batch)
        interpreter.invoke()
        for i in targets:
            values = interpreter.get_tensor(i).ravel()
            pick = rng.integers(0, values.size, min(values.size, SAMPLES_PER_PATCH))
            samples[i].append(values[pick])
            if extremes is not None:
                low, high = extremes.get(i, (np.inf, -np.inf))
                extremes[i] = (min(low, float(values.min())), max(high, float(values.max())))
    return {i: np.concatenate(parts) for i, parts in samples.items()}
