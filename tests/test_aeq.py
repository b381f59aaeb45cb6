"""INT8 / 16x8 through AI Edge Quantizer: float I/O like our exports, operator codes every
reader agrees on, percentile ranges narrowed on its public calibration result, and a model
that still denoises like the float one."""

from __future__ import annotations

import numpy as np
import pytest

from mobiledenoise.data.calibration import synthetic_pair
from mobiledenoise.deploy import aeq
from mobiledenoise.deploy.convert import to_tflite
from mobiledenoise.deploy.int8_ranges import pixel_tensors
from mobiledenoise.deploy.opaudit import audit
from mobiledenoise.deploy.runtime import TFLiteDenoiser
from mobiledenoise.deploy.tflite_graph import read_graph
from mobiledenoise.errors import UserError
from mobiledenoise.evaluate.metrics import psnr

SIZE = (32, 48)


@pytest.fixture(scope="module")
def fp32(tiny_unet) -> bytes:
    return to_tflite(tiny_unet, size=SIZE)


@pytest.fixture(scope="module")
def calib() -> list[np.ndarray]:
    return [synthetic_pair((40, 56), sigma=0.08, seed=s)[0] for s in range(6)]


def _ops_as_litert_reads_them(data: bytes) -> list[str]:
    """Op names from the full builtin code (LiteRT takes the larger of the two code fields)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    return [names[codes[op.opcodeIndex]] for op in model.subgraphs[0].operators]


@pytest.mark.parametrize("bits", [8, 16])
def test_quantized_file_has_float_io_and_denoises_like_fp32(fp32, calib, bits):
    data = aeq.quantize(fp32, calib, activation_bits=bits)
    report = audit(data)
    assert report.inputs[0].dtype == report.outputs[0].dtype == "float32"
    assert report.compatible, [f.reason for f in report.failures]
    # the op audit (the `tflite` package's reader) names every op as LiteRT does
    assert [op.name for op in read_graph(data).operators] == _ops_as_litert_reads_them(data)
    internal = {t.dtype for t in read_graph(data).tensors if not t.is_constant}
    assert ("int16" if bits == 16 else "int8") in internal
    image = synthetic_pair(SIZE, seed=9)[0]
    reference = TFLiteDenoiser(fp32).run_patch(image)
    got = TFLiteDenoiser(data).run_patch(image)
    assert psnr(np.clip(got, 0, 1), np.clip(reference, 0, 1)) >= (25 if bits == 8 else 35)


def test_our_ranges_are_exact_extremes_narrowed_inside(fp32):
    from ai_edge_quantizer import quantizer, recipe

    engine = quantizer.Quantizer(bytearray(fp32), recipe.static_wi8_ai8())
    (signature, entry), = [(k, v["inputs"][0]) for k, v in _signatures(fp32).items()]
    # brightness differs by patch, so the brightest value occurs in one patch only
    patches = [synthetic_pair(SIZE, sigma=0.08, seed=s)[0] * (1.0 - 0.15 * s) for s in range(4)]
    theirs = engine.calibrate({signature: [{entry: p[None]} for p in patches]}, num_threads=1)
    exact = aeq.calibrated_ranges(fp32, theirs, patches)
    narrowed = aeq.calibrated_ranges(fp32, theirs, patches, 99.0)
    graph = read_graph(fp32)
    pixel = {graph.tensors[i].name for i in pixel_tensors(graph)}
    image = next(n for n in theirs if n in pixel and "noisy" in n)  # the input
    assert np.max(exact[image]["max"]) == pytest.approx(max(float(p.max()) for p in patches))
    assert np.max(exact[image]["max"]) > np.max(theirs[image]["max"])  # AEQ averages extremes
    changed = [n for n in exact if not np.array_equal(exact[n]["max"], narrowed[n]["max"])
               or not np.array_equal(exact[n]["min"], narrowed[n]["min"])]
    assert changed and not set(changed) & pixel
    for name in changed:  # narrowed, never widened, zero kept inside
        assert np.all(narrowed[name]["max"] <= exact[name]["max"]) and np.all(narrowed[name]["max"] >= 0)
        assert np.all(narrowed[name]["min"] >= exact[name]["min"]) and np.all(narrowed[name]["min"] <= 0)


def _signatures(data: bytes) -> dict:
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_content=data).get_signature_list()


def test_bad_options_are_refused(fp32, calib):
    with pytest.raises(UserError, match="algorithm in minmax, octav, mse"):
        aeq.quantize(fp32, calib, algorithm="gptq")
    with pytest.raises(UserError, match="8 or 16 activation bits"):
        aeq.quantize(fp32, calib, activation_bits=4)
    with pytest.raises(UserError, match="percentile"):
        aeq.quantize(fp32, calib, range_percentile=20)


def test_export_cli_quantizes_with_aeq(tmp_path, pair_folder):
    import json

    import onnx
    from typer.testing import CliRunner

    import onnx_models
    from mobiledenoise.cli import app

    onnx.save(onnx_models.unet(), str(tmp_path / "m.onnx"))
    out = tmp_path / "q.tflite"
    base = ["export", str(tmp_path / "m.onnx"), "--size", "32x48", "-o", str(out)]
    result = CliRunner().invoke(app, base + ["--quantizer", "aeq"])
    assert result.exit_code == 2 and "--quantizer only with --precision int8" in result.output
    result = CliRunner().invoke(app, base + ["--precision", "int8", "--calib", str(pair_folder),
                                             "--quantizer", "aeq", "--calib-percentile", "99.99"])
    assert result.exit_code == 0, result.output
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["calibration"]["quantizer"] == "aeq" and sidecar["input_dtype"] == "float32"
    assert sidecar["verification"]["psnr_tflite_vs_keras_db"] >= 25
    assert sidecar["versions"]["ai-edge-quantizer"] == "0.10.0"
