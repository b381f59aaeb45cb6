"""One function per ONNX op, building its NHWC Keras equivalent (used by `onnx_import`).

Each converter takes (node, inputs, permutations) and returns a Keras tensor, or a numpy array
for constant folding. Inputs are Keras tensors (1×H×W×C) or numpy constants in ONNX's NCHW
layout; `permutations` maps a Conv output to the channel order that turns a following
CRD DepthToSpace (PyTorch's PixelShuffle) into the DCR one TFLite has. Refusals are one line
naming the op, the node and the attribute.
"""

from __future__ import annotations

import numpy as np

from mobiledenoise.errors import UserError

NCHW_TO_NHWC_AXIS = {0: 0, 1: 3, 2: 1, 3: 2}


def constant(array: np.ndarray) -> np.ndarray:
    return array.astype(np.float32) if array.dtype.kind == "f" else array


def attributes(node) -> dict:
    from onnx import helper

    found = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in found.items()}


def refuse(node, expected: str, received: str):
    raise UserError(f"expected {expected}, received {received} in {node.op_type} node "
                    f"{node.name or node.output[0]!r}; change that layer or export it differently")


def _const(node, value, what: str) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        refuse(node, f"a constant {what}", "a computed tensor (a dynamic shape or value)")
    return value


def _channel_const(node, value: np.ndarray) -> np.ndarray:
    """An NCHW-broadcast constant (scalar, C×1×1 or 1×C×1×1) in NHWC broadcast form."""
    value = np.asarray(value, np.float32)
    if value.size == 1:
        return value.reshape(())
    if value.ndim in (3, 4) and value.shape[-2:] == (1, 1) and value.shape[:-3] in ((), (1,)):
        return value.reshape(1, 1, 1, -1)
    return refuse(node, "a scalar or per-channel (C×1×1) constant operand",
                  f"a constant of shape {value.shape}")


def crd_conv_permutations(graph) -> dict[str, np.ndarray]:
    """{conv output: channel order} for each CRD DepthToSpace fed by a Conv it alone reads."""
    producers = {out: node for node in graph.node for out in node.output}
    readers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    weights = {init.name: tuple(init.dims) for init in graph.initializer}
    found = {}
    for node in graph.node:
        if node.op_type != "DepthToSpace" or attributes(node).get("mode", "DCR") != "CRD":
            continue
        producer = producers.get(node.input[0])
        if producer is None or producer.op_type != "Conv" or readers[node.input[0]] != 1:
            continue
        block, channels = attributes(node)["blocksize"], weights[producer.input[1]][0]
        depth = channels // (block * block)
        order = np.arange(channels).reshape(depth, block, block)  # CRD index c·b² + i·b + j
        # placed at DCR index (i·b + j)·C + c
        found[node.input[0]] = order.transpose(1, 2, 0).reshape(-1)
    return found


def _bias(args, channels: int) -> np.ndarray:
    return args[2] if len(args) > 2 and args[2] is not None else np.zeros(channels, np.float32)


def _pad_layer(node, x, pads, mode="constant"):
    import keras

    top, left, bottom, right = pads
    if not any(pads):
        return x
    if mode == "constant":
        return keras.layers.ZeroPadding2D(((top, bottom), (left, right)))(x)
    return keras.ops.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), mode=mode)


def conv(node, args, permutations):
    import keras

    x, weight = args[0], _const(node, args[1], "weight")
    bias = _bias(args, weight.shape[0])
    if node.output[0] in permutations:
        order = permutations[node.output[0]]
        weight, bias = weight[order], bias[order]
    a = attributes(node)
    kernel = tuple(weight.shape[2:])
    strides, dilation = tuple(a.get("strides", (1, 1))), tuple(a.get("dilations", (1, 1)))
    group, channels_in, channels_out = a.get("group", 1), x.shape[-1], weight.shape[0]
    padding = "valid"
    if a.get("auto_pad", "NOTSET") == "SAME_UPPER":
        padding = "same"
    elif a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        refuse(node, "auto_pad NOTSET, VALID or SAME_UPPER", f"auto_pad {a['auto_pad']}")
    else:
        pads = list(a.get("pads", (0, 0, 0, 0)))
        same = [(k - 1) * d // 2 for k, d in zip(kernel, dilation)]
        if strides == (1, 1) and all(k % 2 for k in kernel) and pads == same * 2:
            padding = "same"  # one CONV_2D instead of PAD + CONV_2D
        else:
            x = _pad_layer(node, x, pads)
    if group == 1:
        layer = keras.layers.Conv2D(channels_out, kernel, strides, padding, dilation_rate=dilation)
        values = weight.transpose(2, 3, 1, 0)
    elif group == channels_in and weight.shape[1] == 1:
        multiplier = channels_out // channels_in
        layer = keras.layers.DepthwiseConv2D(kernel, strides, padding, depth_multiplier=multiplier,
                                             dilation_rate=dilation)
        values = weight.reshape(channels_in, multiplier, *kernel).transpose(2, 3, 0, 1)
    else:
        layer = keras.layers.Conv2D(channels_out, kernel, strides, padding, dilation_rate=dilation,
                                    groups=group)
        values = weight.transpose(2, 3, 1, 0)
    y = layer(x)
    layer.set_weights([values, bias])
    return y


def conv_transpose(node, args, permutations):
    import keras

    x, weight = args[0], _const(node, args[1], "weight")
    a = attributes(node)
    if a.get("group", 1) != 1 or tuple(a.get("dilations", (1, 1))) != (1, 1) or "output_shape" in a:
        refuse(node, "group 1, dilation 1 and no output_shape", f"attributes {sorted(a)}")
    bias = _bias(args, weight.shape[1])
    kernel, strides = tuple(weight.shape[2:]), tuple(a.get("strides", (1, 1)))
    layer = keras.layers.Conv2DTranspose(weight.shape[1], kernel, strides, "valid")
    y = layer(x)
    layer.set_weights([weight.transpose(2, 3, 1, 0), bias])
    top, left, bottom, right = a.get("pads", (0, 0, 0, 0))
    crops = []
    for axis, (start, end, extra) in enumerate(((top, bottom, 0), (left, right, 1))):
        size_in, k, s = x.shape[1 + axis], kernel[axis], strides[axis]
        wanted = (size_in - 1) * s + k - start - end + a.get("output_padding", (0, 0))[extra]
        crops.append((start, y.shape[1 + axis] - start - wanted))
    if min(c for pair in crops for c in pair) < 0:
        refuse(node, "output_padding within pads", f"pads {a.get('pads')} and output_padding "
               f"{a.get('output_padding')}")
    return keras.layers.Cropping2D(tuple(crops))(y) if any(c for p in crops for c in p) else y


def batch_norm(node, args, permutations):
    scale, bias, mean, var = (_const(node, v, "statistic") for v in args[1:5])
    factor = scale / np.sqrt(var + attributes(node).get("epsilon", 1e-5))
    return _affine(args[0], factor, bias - mean * factor)


def _affine(x, factor, shift):
    import keras

    return keras.ops.add(keras.ops.multiply(x, factor.reshape(1, 1, 1, -1).astype(np.float32)),
                         shift.reshape(1, 1, 1, -1).astype(np.float32))


def binary(name: str):
    fold = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[name]

    def convert(node, args, permutations):
        import keras

        a, b = args
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
            return fold(a, b)
        a, b = (_channel_const(node, v) if isinstance(v, np.ndarray) else v for v in (a, b))
        if name == "Div" and isinstance(b, np.ndarray):
            return keras.ops.multiply(a, (1.0 / b).astype(np.float32))
        op = {"Add": keras.ops.add, "Sub": keras.ops.subtract, "Mul": keras.ops.multiply,
              "Div": keras.ops.divide}[name]
        return op(a, b)

    return convert


def prelu(node, args, permutations):
    import keras

    slope = _channel_const(node, _const(node, args[1], "slope"))
    shared = [1, 2, 3] if slope.ndim == 0 else [1, 2]
    layer = keras.layers.PReLU(shared_axes=shared)
    y = layer(args[0])
    layer.set_weights([slope.reshape(1, 1, -1)])
    return y


def clip(node, args, permutations):
    import keras

    a = attributes(node)
    low = args[1] if len(args) > 1 and args[1] is not None else a.get("min")
    high = args[2] if len(args) > 2 and args[2] is not None else a.get("max")
    x = args[0]
    if low is not None:
        x = keras.ops.maximum(x, np.float32(_const(node, np.asarray(low), "minimum")))
    if high is not None:
        x = keras.ops.minimum(x, np.float32(_const(node, np.asarray(high), "maximum")))
    return x


def concat(node, args, permutations):
    import keras

    axis = attributes(node)["axis"] % 4
    if any(isinstance(v, np.ndarray) for v in args):
        refuse(node, "Concat of computed tensors", "a constant operand")
    return keras.ops.concatenate(args, axis=NCHW_TO_NHWC_AXIS[axis])


def resize(node, args, permutations):
    import keras

    a, x = attributes(node), args[0]
    scales = args[1] if node.op_type == "Upsample" else (args[2] if len(args) > 2 else None)
    if scales is None or not np.size(scales):
        sizes = _const(node, args[3], "sizes")
        scales = np.asarray(sizes, np.float32) / np.asarray([1, x.shape[3], x.shape[1], x.shape[2]])
    factors = np.asarray(_const(node, scales, "scale"), np.float64)
    mode = a.get("mode", "nearest")
    transform = a.get("coordinate_transformation_mode", "half_pixel")
    whole = (factors[2:] == np.round(factors[2:])).all()
    if (factors[:2] != 1).any() or not whole or (factors < 1).any():
        refuse(node, "integer up-scaling of H and W", f"scales {factors.tolist()}")
    if mode == "linear" and transform not in ("half_pixel", "pytorch_half_pixel"):
        refuse(node, "bilinear resize with half-pixel centres (align_corners=False)",
               f"coordinate_transformation_mode {transform}")
    rounding = a.get("nearest_mode", "round_prefer_floor")
    if mode == "nearest" and rounding not in ("floor", "round_prefer_floor"):
        refuse(node, "nearest_mode floor", f"nearest_mode {a.get('nearest_mode')}")
    if mode not in ("nearest", "linear"):
        refuse(node, "resize mode nearest or linear", f"mode {mode}")
    return keras.layers.UpSampling2D(tuple(int(f) for f in factors[2:]),
                                     interpolation="bilinear" if mode == "linear" else "nearest")(x)


def depth_to_space(node, args, permutations):
    import keras

    a = attributes(node)
    if a.get("mode", "DCR") == "CRD" and node.input[0] not in permutations:
        refuse(node, "a CRD DepthToSpace (PixelShuffle) fed directly by a Conv", "another producer")
    return keras.ops.depth_to_space(args[0], a["blocksize"])


def space_to_depth(node, args, permutations):
    import keras

    return keras.ops.space_to_depth(args[0], attributes(node)["blocksize"])


def pool(node, args, permutations):
    import keras

    a = attributes(node)
    dilated = any(d != 1 for d in a.get("dilations", ()))
    if any(a.get("pads", ())) or a.get("ceil_mode", 0) or dilated:
        refuse(node, "pooling without padding, ceil_mode or dilation", f"attributes {a}")
    kernel = tuple(a["kernel_shape"])
    layer = {"MaxPool": keras.layers.MaxPooling2D,
             "AveragePool": keras.layers.AveragePooling2D}[node.op_type]
    return layer(kernel, tuple(a.get("strides", (1, 1))), "valid")(args[0])


def pad(node, args, permutations):
    a = attributes(node)
    pads = np.asarray(_const(node, args[1], "pads") if len(args) > 1 else a["pads"]).tolist()
    value = args[2] if len(args) > 2 and args[2] is not None else a.get("value", 0.0)
    mode = a.get("mode", "constant")
    if pads[:2] != [0, 0] or pads[4:6] != [0, 0] or float(np.asarray(value)) != 0.0 or \
            mode not in ("constant", "reflect"):
        refuse(node, "zero or reflect padding of H and W only", f"pads {pads}, mode {mode}")
    return _pad_layer(node, args[0], (pads[2], pads[3], pads[6], pads[7]), mode)


def _activation(name: str):
    def convert(node, args, permutations):
        import keras

        x = args[0]
        if name == "LeakyRelu":
            return keras.ops.leaky_relu(x, negative_slope=attributes(node).get("alpha", 0.01))
        plain = {"Relu": keras.ops.relu, "Sigmoid": keras.ops.sigmoid, "Tanh": keras.ops.tanh}
        return plain[name](x)

    return convert


def global_average_pool(node, args, permutations):
    import keras

    return keras.ops.mean(args[0], axis=(1, 2), keepdims=True)


def constant_node(node, args, permutations):
    from onnx import numpy_helper

    value = attributes(node).get("value")
    if value is None:
        refuse(node, "a Constant with a tensor value", f"attributes {sorted(attributes(node))}")
    return constant(numpy_helper.to_array(value))


CONVERTERS = {
    "Conv": conv, "ConvTranspose": conv_transpose, "BatchNormalization": batch_norm,
    **{name: binary(name) for name in ("Add", "Sub", "Mul", "Div")},
    **{name: _activation(name) for name in ("Relu", "LeakyRelu", "Sigmoid", "Tanh")},
    "PRelu": prelu, "Clip": clip, "Concat": concat, "Resize": resize, "Upsample": resize,
    "DepthToSpace": depth_to_space, "SpaceToDepth": space_to_depth, "MaxPool": pool,
    "AveragePool": pool, "Pad": pad,
    "GlobalAveragePool": global_average_pool, "Constant": constant_node,
    "Identity": lambda node, args, permutations: args[0],
    "Dropout": lambda node, args, permutations: args[0],  # inference: the identity
}
