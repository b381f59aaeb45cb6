"""The model contract: what the challenge server accepts, checked the same way by
`mobiledenoise check`, so participants find out before they upload.

A model takes ONE 1×H×W×3 image and returns ONE of the same layout; both tensors are float32,
int8 or uint8 (what `deploy.runtime.TFLiteDenoiser` can feed and read); no input side is above
`max_side`, and no tensor declares more than `max_tensor_bytes` (a file of a few hundred bytes
can declare a 112 GiB tensor, which LiteRT would try to allocate). Works on a parsed
`tflite_graph.Graph`, so no TensorFlow or LiteRT import; each breach is one `UserError` line.
Loadability (LiteRT can build and allocate the interpreter) is the caller's second step:
`check` does it in-process, the server in its sandboxed worker.
"""

from __future__ import annotations

from dataclasses import dataclass

from mobiledenoise.errors import UserError

ALLOWED_DTYPES = ("float32", "int8", "uint8")
_ITEMSIZE = {"float32": 4, "float16": 2, "float64": 8, "int8": 1, "uint8": 1, "int16": 2,
             "int32": 4, "int64": 8, "uint64": 8, "bool": 1}


@dataclass(frozen=True)
class Contract:
    max_side: int = 8192  # longest input side a model may declare (pixels)
    max_tensor_bytes: int = 1024**3  # any one declared tensor


def check_contract(graph, contract: Contract = Contract()) -> None:
    """Raise UserError for the first breach of the contract; return None when it holds."""
    check_io(graph, contract)
    check_declared_sizes(graph, contract)


def check_io(graph, contract: Contract = Contract()) -> None:
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UserError(f"expected one input and one output tensor, received "
                        f"{len(graph.inputs)} input(s) and {len(graph.outputs)} output(s); "
                        "export a single-image denoiser")
    for role, index in (("input", graph.inputs[0]), ("output", graph.outputs[0])):
        tensor = graph.tensors[index]
        sig = tensor.signature
        if len(sig) != 4 or sig[0] not in (1, -1) or sig[3] != 3:
            raise UserError(f"expected a 1xHxWx3 (RGB) {role} tensor, received shape "
                            f"{list(sig)}; export a model taking and returning RGB images")
        if tensor.dtype not in ALLOWED_DTYPES:
            raise UserError(f"expected a float32, int8 or uint8 {role}, received "
                            f"{tensor.dtype}; re-export the model")
        if max(sig[1], sig[2]) > contract.max_side:
            raise UserError(f"expected an {role} of at most {contract.max_side} pixels a "
                            f"side, received {sig[1]}x{sig[2]}; export at 480x720 or "
                            "with a dynamic size")


def check_declared_sizes(graph, contract: Contract = Contract()) -> None:
    for tensor in graph.tensors:
        if any(d < -1 for d in tensor.shape + tensor.signature):
            raise UserError(f"expected tensor dimensions >= -1, received "
                            f"{list(tensor.shape)} for tensor {tensor.name[:60]!r}")
        nbytes = tensor_bytes(tensor)
        if nbytes > contract.max_tensor_bytes:
            raise UserError(f"expected every tensor under {contract.max_tensor_bytes // 1024**2} "
                            f"MiB, received tensor {tensor.name[:60]!r} declaring "
                            f"{list(tensor.shape)} ({nbytes / 1024**3:.1f} GiB); export a "
                            "smaller model")


def declared_bytes(graph) -> int:
    """Bytes of the runtime (non-constant) tensors as declared: what LiteRT allocates at most."""
    return sum(tensor_bytes(t) for t in graph.tensors if not t.is_constant)


def tensor_bytes(tensor) -> int:
    """Declared size of one tensor (dynamic dimensions count as 1), exact for any shape."""
    elements = 1
    for d in tensor.shape:
        elements *= max(d, 1)
    return elements * _ITEMSIZE.get(tensor.dtype, 8)
