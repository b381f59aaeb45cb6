"""TFLite export: FP32/FP16/INT8 conversions agree with Keras, broken conversions are caught,
the file + JSON sidecar are written atomically and never overwrite by accident."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from mobiledenoise import fileio
from mobiledenoise.cli import app
from mobiledenoise.deploy import convert
from mobiledenoise.deploy.convert import ExportVerificationError, to_tflite, verify
from mobiledenoise.errors import UserError

SIZE = (32, 48)


@pytest.fixture(scope="module")
def calib() -> list[np.ndarray]:
    return [convert.synthetic_pair((40, 56), seed=s)[0] for s in range(4)]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_unet):
    from mobiledenoise.models.registry import describe

    run = tmp_path_factory.mktemp("run")
    (run / "model.json").write_text(json.dumps(describe(tiny_unet)))
    tiny_unet.save_weights(run / "best.weights.h5")
    return run


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_each_precision_passes_verification(tiny_unet, calib, precision):
    data = to_tflite(tiny_unet, precision=precision, size=SIZE, calib=calib)
    noisy, clean = convert.synthetic_pair((40, 60))
    figures = verify(tiny_unet, data, precision, noisy, clean)
    assert figures["image_size"] == list(SIZE)
    bound = {"fp32": 1e-4, "fp16": 2e-3, "int8": 0.2}[precision]
    assert 0 < figures["max_abs_diff"] <= bound
    assert figures["psnr_target"] == "clean"
    assert figures["psnr_drop_db"] == pytest.approx(figures["psnr_keras"] - figures["psnr_tflite"])
    if precision == "int8":
        assert figures["psnr_tflite_vs_keras_db"] >= convert.INT8_MIN_PSNR_VS_KERAS_DB


def test_int8_io_quantizes_input_and_output(tiny_unet, calib):
    from mobiledenoise.deploy.opaudit import audit

    data = to_tflite(tiny_unet, precision="int8", size=SIZE, calib=calib, int8_io=True)
    report = audit(data)
    assert report.inputs[0].dtype == "int8" and report.outputs[0].dtype == "int8"
    figures = verify(tiny_unet, data, "int8", convert.synthetic_pair(SIZE)[0])
    assert figures["psnr_tflite_vs_keras_db"] >= convert.INT8_MIN_PSNR_VS_KERAS_DB


def test_dynamic_size_export_runs_at_any_multiple(tiny_unet):
    data = to_tflite(tiny_unet, size=None)
    figures = verify(tiny_unet, data, "fp32", convert.synthetic_pair((42, 58))[0])
    assert figures["image_size"] == [40, 56]  # cropped down to multiples of 4
    assert figures["max_abs_diff"] <= 1e-4


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_broken_conversion_is_caught(tiny_unet, calib, monkeypatch, precision):
    real_rebuild = convert._rebuild

    def wrong_weights(model, size):
        fixed = real_rebuild(model, size)
        fixed.set_weights([np.roll(w, 1) for w in fixed.get_weights()])
        return fixed

    monkeypatch.setattr(convert, "_rebuild", wrong_weights)
    data = to_tflite(tiny_unet, precision=precision, size=SIZE, calib=calib)
    figure = "max_abs_diff" if precision == "fp32" else "psnr_tflite_vs_keras_db"
    with pytest.raises(ExportVerificationError, match=figure):
        verify(tiny_unet, data, precision, convert.synthetic_pair(SIZE)[0])


def test_bad_requests_are_user_errors(tiny_unet):
    with pytest.raises(UserError, match="divisible by 4"):
        to_tflite(tiny_unet, size=(30, 48))
    with pytest.raises(UserError, match="calibration"):
        to_tflite(tiny_unet, precision="int8", size=SIZE)
    with pytest.raises(UserError, match="precision"):
        to_tflite(tiny_unet, precision="int4", size=SIZE)
    with pytest.raises(UserError, match="empty"):
        to_tflite(tiny_unet, precision="int8", size=SIZE, calib=[])


def test_export_writes_tflite_and_sidecar(run_dir, tmp_path):
    out = tmp_path / "out" / "model.tflite"
    result = convert.export(run_dir, out, size=SIZE, progress=False)
    data = out.read_bytes()
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert result["path"] == str(out)
    assert sidecar["model"] == "unet" and sidecar["config"]["width"] == 4
    assert sidecar["precision"] == "fp32" and sidecar["input_size"] == list(SIZE)
    assert sidecar["input_dtype"] == sidecar["output_dtype"] == "float32"
    assert sidecar["tflite_bytes"] == len(data)
    assert sidecar["sha256"] == hashlib.sha256(data).hexdigest()
    assert sidecar["verification"]["max_abs_diff"] <= 1e-4
    assert sidecar["verification"]["psnr_target"] == "clean"  # the synthetic pair
    assert sidecar["gpu_delegate_compatible"] is True and sidecar["macs"] > 0
    assert {"keras", "ai-edge-litert"} <= set(sidecar["versions"])
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.json", "model.tflite"]


def test_export_refuses_to_overwrite(run_dir, tmp_path):
    out = tmp_path / "model.tflite"
    out.with_suffix(".json").write_text("{}")  # even the sidecar alone blocks the export
    with pytest.raises(UserError, match="--overwrite"):
        convert.export(run_dir, out, size=SIZE, progress=False)
    assert not out.exists()
    convert.export(run_dir, out, size=SIZE, overwrite=True, progress=False)
    assert json.loads(out.with_suffix(".json").read_text())["model"] == "unet"


@pytest.mark.parametrize("failure", ["verify", "rename"])
def test_failed_export_leaves_nothing(run_dir, tmp_path, monkeypatch, failure):
    def boom(*args, **kwargs):
        raise ExportVerificationError("expected agreement, received none")

    if failure == "verify":
        monkeypatch.setattr(convert, "verify", boom)
    else:
        monkeypatch.setattr(fileio.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises((ExportVerificationError, OSError)):
        convert.export(run_dir, tmp_path / "model.tflite", size=SIZE, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_int8_export_calibrates_on_the_noisy_images(run_dir, pair_folder, tmp_path):
    out = tmp_path / "q.tflite"
    result = convert.export(run_dir, out, precision="int8", size=SIZE, calib_dir=pair_folder,
                            progress=False)
    assert result["calibration"]["patches"] == convert.CALIB_PATCHES
    assert result["verification"]["psnr_target"] == "clean"
    assert np.isfinite(result["verification"]["psnr_drop_db"])


def test_int8_calibration_can_skip_the_validation_scenes(run_dir, pair_folder, tmp_path,
                                                          monkeypatch):
    from mobiledenoise.data.pairs import find_pairs, split_by_scene

    seen = []
    original = convert.calibration_patches

    def spy(calib_dir, size, pairs=None, **kwargs):
        seen.extend(pairs)
        return original(calib_dir, size, pairs=pairs, **kwargs)

    monkeypatch.setattr(convert, "calibration_patches", spy)
    result = convert.export(run_dir, tmp_path / "q.tflite", precision="int8", size=SIZE,
                            calib_dir=pair_folder, calib_split="train", progress=False)
    val_scenes = {p.scene for p in split_by_scene(find_pairs(pair_folder))[1]}
    assert seen and not {p.scene for p in seen} & val_scenes
    assert result["calibration"]["split"] == "train"


def test_calibration_patches_are_deterministic_noisy_crops(pair_folder):
    first = list(convert.calibration_patches(pair_folder, SIZE, count=3, seed=5))
    again = list(convert.calibration_patches(pair_folder, SIZE, count=3, seed=5))
    assert [p.shape for p in first] == [(*SIZE, 3)] * 3
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


def test_export_cli(run_dir, tmp_path):
    out = tmp_path / "m.tflite"
    result = CliRunner().invoke(app, ["export", str(run_dir), "--size", "32x48", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "max_abs_diff" in result.output and out.exists()
    result = CliRunner().invoke(app, ["export", str(run_dir), "--size", "32by48", "-o", str(out)])
    assert result.exit_code == 2 and "Error: expected a size as HEIGHTxWIDTH" in result.output
    result = CliRunner().invoke(app, ["export", str(run_dir), "--precision", "int8", "--size",
                                      "32x48", "-o", str(tmp_path / "q.tflite")])
    assert result.exit_code == 2 and "--calib" in result.output


@pytest.mark.slow
def test_int8_export_on_real_data_reports_psnr_drop(run_dir, polyu_cropped, tmp_path):
    result = convert.export(run_dir, tmp_path / "q.tflite", precision="int8", size=(256, 256),
                            calib_dir=polyu_cropped, progress=False)
    figures = result["verification"]
    assert figures["psnr_target"] == "clean" and figures["image_size"] == [256, 256]
    assert figures["psnr_tflite_vs_keras_db"] >= convert.INT8_MIN_PSNR_VS_KERAS_DB
    assert abs(figures["psnr_drop_db"]) < 3.0
