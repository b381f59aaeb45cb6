"""TFLite export: FP32/FP16/INT8 conversions agree with Keras, broken conversions are caught,
the file + JSON sidecar are written atomically and never overwrite by accident; the library
functions take a built model, and the CLI maps their errors to one line and exit 2."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from mobiledenoise import fileio
from mobiledenoise.cli import app
from mobiledenoise.data.calibration import (CALIB_PATCHES, calibration_pairs, calibration_patches,
                                            synthetic_pair)
from mobiledenoise.deploy import convert, export
from mobiledenoise.deploy.convert import ExportVerificationError, to_tflite, verify
from mobiledenoise.deploy.export import export_model
from mobiledenoise.errors import UserError
from mobiledenoise.train.runs import load_model

SIZE = (32, 48)


@pytest.fixture(scope="module")
def calib() -> list[np.ndarray]:
    return [synthetic_pair((40, 56), seed=s)[0] for s in range(4)]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_unet):
    from mobiledenoise.models.registry import describe

    run = tmp_path_factory.mktemp("run")
    (run / "model.json").write_text(json.dumps(describe(tiny_unet)))
    tiny_unet.save_weights(run / "best.weights.h5")
    return run


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_each_precision_passes_verification(tiny_unet, calib, precision):
    data = to_tflite(tiny_unet, precision=precision, size=SIZE, calibration=calib)
    noisy, clean = synthetic_pair((40, 60))
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

    data = to_tflite(tiny_unet, precision="int8", size=SIZE, calibration=calib, int8_io=True)
    report = audit(data)
    assert report.inputs[0].dtype == "int8" and report.outputs[0].dtype == "int8"
    figures = verify(tiny_unet, data, "int8", synthetic_pair(SIZE)[0])
    assert figures["psnr_tflite_vs_keras_db"] >= convert.INT8_MIN_PSNR_VS_KERAS_DB


def test_dynamic_size_export_runs_at_any_multiple(tiny_unet):
    data = to_tflite(tiny_unet, size=None)
    figures = verify(tiny_unet, data, "fp32", synthetic_pair((42, 58))[0])
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
    data = to_tflite(tiny_unet, precision=precision, size=SIZE, calibration=calib)
    figure = "max_abs_diff" if precision == "fp32" else "psnr_tflite_vs_keras_db"
    with pytest.raises(ExportVerificationError, match=figure):
        verify(tiny_unet, data, precision, synthetic_pair(SIZE)[0])


def test_bad_requests_are_user_errors(tiny_unet):
    with pytest.raises(UserError, match="divisible by 4"):
        to_tflite(tiny_unet, size=(30, 48))
    with pytest.raises(UserError, match="calibration"):
        to_tflite(tiny_unet, precision="int8", size=SIZE)
    with pytest.raises(UserError, match="precision"):
        to_tflite(tiny_unet, precision="int4", size=SIZE)
    with pytest.raises(UserError, match="empty"):
        to_tflite(tiny_unet, precision="int8", size=SIZE, calibration=[])


def test_export_writes_tflite_and_sidecar(run_dir, tmp_path):
    out = tmp_path / "out" / "model.tflite"
    result = export_model(load_model(run_dir), out, size=SIZE, details={"source": str(run_dir)},
                          verify_pair=synthetic_pair())
    data = out.read_bytes()
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert result["path"] == str(out)
    assert sidecar["model"] == "unet" and sidecar["config"]["width"] == 4
    assert sidecar["source"] == str(run_dir)
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
        export_model(load_model(run_dir), out, size=SIZE)
    assert not out.exists()
    export_model(load_model(run_dir), out, size=SIZE, overwrite=True)
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
        export_model(load_model(run_dir), tmp_path / "model.tflite", size=SIZE)
    assert list(tmp_path.iterdir()) == []


def test_int8_export_calibrates_on_the_noisy_images(run_dir, pair_folder, tmp_path):
    patches = calibration_patches(calibration_pairs(pair_folder), SIZE)
    result = export_model(load_model(run_dir), tmp_path / "q.tflite", patches, "int8", size=SIZE,
                          verify_pair=folder_pair(pair_folder))
    assert result["precision"] == "int8" and result["verification"]["psnr_target"] == "clean"
    assert np.isfinite(result["verification"]["psnr_drop_db"])


def folder_pair(folder):
    from mobiledenoise.data.calibration import verification_pair

    return verification_pair(None, calibration_pairs(folder))


def test_int8_calibration_can_skip_the_validation_scenes(run_dir, pair_folder, tmp_path,
                                                          monkeypatch):
    from mobiledenoise.cli import export as cli_export
    from mobiledenoise.data import calibration
    from mobiledenoise.data.pairs import find_pairs, split_by_scene

    seen = []
    original = calibration.calibration_patches

    def spy(pairs, size, **kwargs):
        seen.extend(pairs)
        return original(pairs, size, **kwargs)

    monkeypatch.setattr(calibration, "calibration_patches", spy)
    options = cli_export.ExportOptions(tmp_path / "q.tflite", "int8", SIZE, pair_folder, "train",
                                       0.0, None, False, None, False)
    result = cli_export.export_run(str(run_dir), "best", options, progress=False)
    val_scenes = {p.scene for p in split_by_scene(find_pairs(pair_folder))[1]}
    assert seen and not {p.scene for p in seen} & val_scenes
    assert result["calibration"]["split"] == "train"
    assert result["calibration"]["patches"] == CALIB_PATCHES


def test_calibration_patches_are_deterministic_noisy_crops(pair_folder):
    pairs = calibration_pairs(pair_folder)
    first = list(calibration_patches(pairs, SIZE, count=3, seed=5))
    again = list(calibration_patches(pairs, SIZE, count=3, seed=5))
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


def test_without_data_an_export_is_verified_on_the_packaged_real_crop(run_dir, tmp_path):
    from mobiledenoise.data.calibration import sample_verification_pair
    from mobiledenoise.data.crops import fit_to_size
    from mobiledenoise.evaluate.metrics import psnr

    noisy, clean = sample_verification_pair()
    assert noisy.shape == clean.shape == (256, 256, 3)
    assert 30 < psnr(noisy, clean) < 45  # real camera noise, not a synthetic pattern
    result = CliRunner().invoke(app, ["export", str(run_dir), "--size", "32x48", "-o",
                                      str(tmp_path / "m.tflite")])
    assert result.exit_code == 0, result.output
    figures = json.loads((tmp_path / "m.json").read_text())["verification"]
    assert figures["psnr_target"] == "clean"
    expected = psnr(fit_to_size(noisy, (32, 48)), fit_to_size(clean, (32, 48)))
    assert figures["psnr_input"] == pytest.approx(expected, abs=1e-3)


@pytest.mark.slow
def test_int8_export_on_real_data_reports_psnr_drop(run_dir, polyu_cropped, tmp_path):
    pairs = calibration_pairs(polyu_cropped)
    result = export_model(load_model(run_dir), tmp_path / "q.tflite",
                          calibration_patches(pairs, (256, 256)), "int8", size=(256, 256),
                          verify_pair=folder_pair(polyu_cropped))
    figures = result["verification"]
    assert figures["psnr_target"] == "clean" and figures["image_size"] == [256, 256]
    assert figures["psnr_tflite_vs_keras_db"] >= convert.INT8_MIN_PSNR_VS_KERAS_DB
    assert abs(figures["psnr_drop_db"]) < 3.0


def test_user_error_is_a_plain_exception_mapped_by_the_cli(tmp_path):
    assert UserError.__mro__[1:] == (Exception, BaseException, object)
    assert UserError("expected a,\n  received b").message == "expected a, received b"
    result = CliRunner().invoke(app, ["export", "no-such-model", "-o", str(tmp_path / "m.tflite")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.strip().startswith("Error: expected a run folder or a registered model")
    assert not list(tmp_path.iterdir())
