"""Tiny ONNX denoisers built with onnx.helper, for the import tests (no torch needed).

`unet()` is a two-level U-Net in the shape PyTorch exports: NCHW, dynamic H and W, a strided
conv down, a PixelShuffle (CRD DepthToSpace) up, a skip concat, a residual and a clamp.
`graph_model(nodes, ...)` wraps any node list; weights are seeded random values.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class Weights:
    """Seeded initializers: `w.add(name, shape)` returns the name and keeps the tensor."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.tensors: list = []

    def add(self, name: str, shape, scale: float = 0.2, value=None, dtype=np.float32) -> str:
        array = (np.asarray(value, dtype) if value is not None
                 else (self.rng.normal(0, scale, shape)).astype(np.float32))
        self.tensors.append(numpy_helper.from_array(array, name))
        return name

    def conv(self, name: str, x: str, c_in: int, c_out: int, k: int = 3, stride: int = 1,
             pad: int | None = None, group: int = 1) -> onnx.NodeProto:
        pad = k // 2 if pad is None else pad
        w = self.add(f"{name}.w", (c_out, c_in // group, k, k), scale=1.0 / np.sqrt(c_in * k * k))
        b = self.add(f"{name}.b", (c_out,), scale=0.05)
        return helper.make_node("Conv", [x, w, b], [name], name=name, kernel_shape=[k, k],
                                strides=[stride, stride], pads=[pad] * 4, group=group)


def graph_model(nodes, weights: Weights, *, inputs=None, output: str = "out",
                out_channels: int = 3, input_shape=(1, 3, "H", "W")) -> onnx.ModelProto:
    inputs = inputs or [helper.make_tensor_value_info("image", TensorProto.FLOAT, list(input_shape))]
    out_shape = [1, out_channels, *input_shape[2:]]
    graph = helper.make_graph(nodes, "tiny", inputs,
                              [helper.make_tensor_value_info(output, TensorProto.FLOAT, out_shape)],
                              weights.tensors)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def unet(width: int = 8, seed: int = 0, input_shape=(1, 3, "H", "W")) -> onnx.ModelProto:
    w, c = Weights(seed), width
    nodes = [
        w.conv("enc", "image", 3, c), helper.make_node("Relu", ["enc"], ["enc_r"]),
        w.conv("down", "enc_r", c, 2 * c, stride=2),
        helper.make_node("LeakyRelu", ["down"], ["down_r"], alpha=0.1),
        w.conv("mid", "down_r", 2 * c, 2 * c, k=1),
        helper.make_node("PRelu", ["mid", w.add("slope", (2 * c, 1, 1), value=np.full((2 * c, 1, 1), 0.25))],
                         ["mid_r"]),
        w.conv("up", "mid_r", 2 * c, 4 * c, k=1),
        helper.make_node("DepthToSpace", ["up"], ["up_s"], blocksize=2, mode="CRD"),
        helper.make_node("Concat", ["up_s", "enc_r"], ["cat"], axis=1),
        w.conv("dec", "cat", 2 * c, 3),
        helper.make_node("Mul", ["dec", w.add("gain", (1, 3, 1, 1), value=[[[[0.5]], [[0.4]], [[0.3]]]])],
                         ["dec_g"]),
        helper.make_node("Add", ["dec_g", "image"], ["res"]),
        helper.make_node("Clip", ["res", w.add("lo", (), value=0.0), w.add("hi", (), value=1.0)], ["out"]),
    ]
    return graph_model(nodes, w, input_shape=input_shape)


def every_op(seed: int = 1) -> onnx.ModelProto:
    """The other mapped ops in one graph: BatchNorm, ConvTranspose, Resize, pools, depthwise,
    SpaceToDepth, reflect Pad, channel attention (GlobalAveragePool + Sigmoid), Sub, Div, Tanh."""
    w = Weights(seed)
    bn = [w.add(f"bn.{n}", (8,), value=v) for n, v in
          (("s", w.rng.uniform(0.5, 1.5, 8)), ("b", w.rng.normal(0, .1, 8)),
           ("m", w.rng.normal(0, .1, 8)), ("v", w.rng.uniform(0.5, 1.5, 8)))]
    t_w, t_b = w.add("t.w", (8, 8, 2, 2), scale=0.3), w.add("t.b", (8,), scale=0.05)
    t3_w = w.add("t3.w", (8, 8, 3, 3), scale=0.2)
    nodes = [
        helper.make_node("Pad", ["image", w.add("pads", (8,), value=[0, 0, 1, 1, 0, 0, 1, 1], dtype=np.int64)],
                         ["padded"], mode="reflect"),
        w.conv("c1", "padded", 3, 8, pad=0),
        helper.make_node("BatchNormalization", ["c1", *bn], ["bn"], epsilon=1e-3),
        w.conv("dw", "bn", 8, 8, group=8),
        helper.make_node("MaxPool", ["dw"], ["mp"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("ConvTranspose", ["mp", t_w, t_b], ["tu"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("AveragePool", ["tu"], ["ap"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("ConvTranspose", ["ap", t3_w], ["tu3"], kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1], output_padding=[1, 1]),
        helper.make_node("SpaceToDepth", ["tu3"], ["s2d"], blocksize=2),
        w.conv("sq", "s2d", 32, 8, k=1),
        helper.make_node("Resize", ["sq", "", w.add("scales", (4,), value=[1, 1, 2, 2])], ["rs"],
                         mode="linear", coordinate_transformation_mode="half_pixel"),
        helper.make_node("GlobalAveragePool", ["rs"], ["gap"]),
        helper.make_node("Sigmoid", ["gap"], ["att"]),
        helper.make_node("Mul", ["rs", "att"], ["attended"]),
        helper.make_node("Tanh", ["attended"], ["th"]),
        helper.make_node("Sub", ["th", w.add("offset", (1,), value=[0.1])], ["shifted"]),
        helper.make_node("Div", ["shifted", w.add("two", (), value=2.0)], ["halved"]),
        helper.make_node("Resize", ["halved", "", w.add("scales2", (4,), value=[1, 1, 1, 1])], ["same"],
                         mode="nearest"),
        w.conv("out_conv", "same", 8, 3, stride=1),
        helper.make_node("Add", ["out_conv", "image"], ["out"]),
    ]
    return graph_model(nodes, w)


def run_onnx(model: onnx.ModelProto, nchw: np.ndarray) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {model.graph.input[0].name: nchw.astype(np.float32)})[0]
