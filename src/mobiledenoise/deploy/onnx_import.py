"""An ONNX denoiser -> an NHWC Keras model at a fixed size, for our own TFLite path.

Why our own small converter and not onnx2tf: onnx2tf 2.x needs Python >= 3.12, and its last
release for 3.11 (1.29.24) pins tensorflow==2.19.0, numpy==1.26.4, protobuf==4.25.5 and
onnx==1.19.1, so it cannot sit beside the pinned TensorFlow 2.21; onnx2keras asks for the
`tensorflow` distribution (a second TensorFlow beside tensorflow-cpu); onnx-tf is unmaintained
since 2022. A denoiser uses a small set of image ops, and mapping them to Keras layers lets
the imported model take the same path as ours: the TFLite converter, FP16, INT8 calibrated on
real patches with percentile ranges, verification, the GPU op audit.

What is mapped (NCHW -> NHWC: weights are transposed, the graph is built channels-last, so
the file has a 1×H×W×3 float input and output): Conv (grouped and depthwise too),
ConvTranspose, BatchNormalization, Relu/LeakyRelu/PRelu/Sigmoid/Tanh/Clip, Add/Sub/Mul/Div
(tensors, or constants broadcast per channel), Concat, Resize/Upsample (integer scale,
nearest or bilinear half-pixel), DepthToSpace (DCR; CRD = PixelShuffle when a Conv feeds it,
by reordering that conv's output channels), SpaceToDepth, MaxPool/AveragePool (no padding),
GlobalAveragePool, Identity/Dropout. Anything else is refused with one line naming the op.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mobiledenoise.deploy import onnx_ops
from mobiledenoise.errors import UserError


def export_onnx(path: str | Path, out_path: str | Path, calibration=None, precision: str = "fp32",
                *, size: tuple[int, int] | None = (480, 720), verify_pair=None,
                int8_io: bool = False, range_percentile: float | None = None,
                quantizer: str = "converter", overwrite: bool = False,
                details: dict | None = None, reference=None) -> dict:
    """Convert, verify, audit and write an ONNX denoiser; return the sidecar. Options as in
    `deploy.export.export_model`; `size` fixes dynamic sides (a fixed input must match it).
    The .tflite is verified with `convert.verify`'s bounds (FP32 max abs diff 1e-4, FP16 2e-3,
    INT8 >= 25 dB) against `reference` (a callable on a 1×H×W×3 batch), by default ONNX
    Runtime on the file."""
    import hashlib

    from mobiledenoise.deploy.convert import fixed_to_tflite
    from mobiledenoise.deploy.export import output_paths, save_verified

    output_paths(out_path, overwrite)
    model = load_onnx(path)
    input_name, _, fixed_size = image_io(model, size)
    data = fixed_to_tflite(onnx_to_keras(model, fixed_size), calibration, precision,
                           int8_io=int8_io, range_percentile=range_percentile,
                           quantizer=quantizer)
    identity = {"model": f"onnx:{Path(path).stem}", "config": None}
    details = {"input_size": list(fixed_size), "source": str(path),
               "source_sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
               "converter": "mobiledenoise.deploy.onnx_import", "reference_runtime": "onnxruntime",
               **(details or {})}
    return save_verified(data, out_path, reference=reference or onnx_reference(model, input_name),
                         precision=precision, verify_pair=verify_pair, identity=identity,
                         details=details, overwrite=overwrite)


def load_onnx(path: str | Path):
    """The parsed and checked ONNX model at `path`, or UserError."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise UserError(f"expected an ONNX model file, received {path} which does not exist")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises DecodeError, ValidationError, ... for a bad file
        reason = " ".join(str(exc).split())[:200]
        raise UserError(f"expected a valid ONNX model, received {path} ({reason}); re-export it "
                        "with torch.onnx.export") from None
    return model


def image_io(model, size: tuple[int, int] | None) -> tuple[str, str, tuple[int, int]]:
    """(input name, output name, fixed (H, W)) of a one-image-in, one-image-out NCHW model."""
    graph = model.graph
    constants = {init.name for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in constants]
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs) or "none"
        raise UserError(f"expected an ONNX model with one image input, received {len(inputs)} "
                        f"inputs ({names}); export the denoiser alone, with one NCHW input")
    if len(graph.output) != 1:
        raise UserError(f"expected an ONNX model with one output, received {len(graph.output)} "
                        f"({', '.join(o.name for o in graph.output)})")
    entry = inputs[0]
    if entry.type.tensor_type.elem_type != 1:  # onnx.TensorProto.FLOAT
        raise UserError(f"expected a float32 input, received elem_type "
                        f"{entry.type.tensor_type.elem_type} for input {entry.name!r}")
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
            for d in entry.type.tensor_type.shape.dim]
    shape = "x".join(map(str, dims))
    if len(dims) != 4 or dims[1] != 3 or not (dims[0] == 1 or isinstance(dims[0], str)):
        raise UserError(f"expected an NCHW input of shape 1x3xHxW, received {entry.name!r} of "
                        f"shape {shape}; export with a (1, 3, H, W) example input")
    fixed = tuple(d if isinstance(d, int) and d > 0 else None for d in dims[2:])
    if all(fixed):
        if size is not None and tuple(size) != fixed:
            raise UserError(f"expected --size {fixed[0]}x{fixed[1]} (the ONNX input is fixed at "
                            f"{shape}), received {size[0]}x{size[1]}; export it with dynamic H, W "
                            "or pass the fixed size")
        return entry.name, graph.output[0].name, fixed
    if size is None:
        raise UserError(f"expected --size HxW for an ONNX input with dynamic sides ({shape}), "
                        "received --dynamic; imported models are exported at a fixed size")
    return entry.name, graph.output[0].name, (int(size[0]), int(size[1]))


def onnx_to_keras(model, size: tuple[int, int]):
    """A keras.Model with input 1×H×W×3 computing the ONNX graph (see the module docstring)."""
    import keras
    from onnx import numpy_helper

    input_name, output_name, (height, width) = image_io(model, size)
    graph = model.graph
    values: dict[str, object] = {init.name: onnx_ops.constant(numpy_helper.to_array(init))
                                 for init in graph.initializer}
    image = keras.Input((height, width, 3), batch_size=1, name="image")
    values[input_name] = image
    permutations = onnx_ops.crd_conv_permutations(graph)
    for node in graph.node:
        convert = onnx_ops.CONVERTERS.get(node.op_type)
        if convert is None:
            raise UserError(f"expected ONNX ops this converter maps to mobile-GPU ops "
                            f"({', '.join(sorted(onnx_ops.CONVERTERS))}), received unsupported op "
                            f"{node.op_type} (node {node.name or node.output[0]!r}); replace it "
                            "in the model or export that part differently")
        args = [values[name] if name else None for name in node.input]
        outputs = convert(node, args, permutations)
        values.update(zip(node.output, outputs if isinstance(outputs, tuple) else (outputs,)))
    result = values[output_name]
    if isinstance(result, np.ndarray) or tuple(result.shape) != (1, height, width, 3):
        got = "a constant" if isinstance(result, np.ndarray) else "x".join(map(str, result.shape))
        raise UserError(f"expected the ONNX output to be a 1x3x{height}x{width} image, received "
                        f"{got} (NHWC); the converter needs an image-to-image denoiser")
    return keras.Model(image, result, name=Path(graph.name or "onnx").name)


def onnx_reference(model, input_name: str):
    """ONNX Runtime on the model, as a callable on a 1×H×W×3 float batch (the verification
    reference: the source runtime, not our conversion)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])

    def run(batch: np.ndarray) -> np.ndarray:
        nchw = np.ascontiguousarray(np.transpose(batch, (0, 3, 1, 2)), dtype=np.float32)
        return np.transpose(session.run(None, {input_name: nchw})[0], (0, 2, 3, 1))

    return run
