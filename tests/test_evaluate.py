"""Evaluation runner, report and the `evaluate` / `bench` commands (LiteRT and Keras paths)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from model_files import FIXED_SIZE, tflite_model
from typer.testing import CliRunner

from mobiledenoise.cli import app
from mobiledenoise.data.pairs import find_pairs, load_pair, split_by_scene
from mobiledenoise.evaluate.metrics import final_score, psnr, ssim

runner = CliRunner()


def _direct_scores(pairs) -> tuple[list[float], list[float]]:
    loaded = [load_pair(p) for p in pairs]
    return [psnr(n, c) for n, c in loaded], [ssim(n, c) for n, c in loaded]


def test_evaluate_pairs_identity_equals_noisy_vs_clean(pair_folder):
    from mobiledenoise.evaluate.runner import evaluate_pairs

    pairs = find_pairs(pair_folder)
    result = evaluate_pairs(lambda x: x, pairs, progress=False)
    expected_psnr, expected_ssim = _direct_scores(pairs)
    assert [r.name for r in result.images] == [p.name for p in pairs]
    assert [r.psnr for r in result.images] == expected_psnr
    assert result.ssim == pytest.approx(np.mean(expected_ssim))
    assert result.to_dict()["n"] == len(pairs) == 6


def test_evaluate_tflite_keys_and_score(pair_folder):
    from mobiledenoise.evaluate.runner import evaluate_tflite

    result = evaluate_tflite(tflite_model("identity"), pair_folder, runs=2, progress=False)
    assert set(result) >= {"psnr", "ssim", "runtime_ms", "score", "n", "images"}
    assert result["psnr"] == pytest.approx(np.mean(_direct_scores(find_pairs(pair_folder))[0]))
    assert result["score"] == pytest.approx(final_score(result["psnr"], result["runtime_ms"]))
    assert result["runtime_size"] == [480, 720] and result["runtime_scaled"] is False


def test_fixed_size_model_runtime_is_scaled_to_720x480(pair_folder):
    from mobiledenoise.evaluate.runner import evaluate_tflite

    result = evaluate_tflite(tflite_model("fixed"), pair_folder, runs=2, progress=False)
    assert result["runtime_measured_size"] == list(FIXED_SIZE) and result["runtime_scaled"]
    assert result["n"] == 6 and np.isfinite(result["psnr"])  # 40×56 images, 32×48 tiles


def test_real_data_identity_psnr_equals_direct(polyu_cropped):
    from mobiledenoise.deploy.runtime import TFLiteDenoiser
    from mobiledenoise.evaluate.runner import evaluate_pairs

    pairs = find_pairs(polyu_cropped)[:4]
    result = evaluate_pairs(TFLiteDenoiser(tflite_model("identity")).denoise, pairs, progress=False)
    assert [r.psnr for r in result.images] == _direct_scores(pairs)[0]
    assert 30 < result.psnr < 45


def test_cli_evaluate_real_data_val_only_json(polyu_cropped):
    done = runner.invoke(app, ["evaluate", str(tflite_model("identity")), "--data",
                               str(polyu_cropped), "--val-only", "--json", "--runs", "2"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    _, val = split_by_scene(find_pairs(polyu_cropped))
    assert result["n"] == len(val) and 0 < len(val) < 100
    assert result["psnr"] == pytest.approx(np.mean(_direct_scores(val)[0]))
    assert set(result) >= {"psnr", "ssim", "runtime_ms", "score", "n", "images"}


def test_cli_evaluate_keras_path_reports_fidelity_only(pair_folder):
    done = runner.invoke(app, ["evaluate", "unet", "--data", str(pair_folder), "--json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert set(result) >= {"psnr", "ssim", "n"} and "runtime_ms" not in result
    assert result["n"] == 6 and 0 < result["ssim"] <= 1


def test_cli_evaluate_table(pair_folder):
    done = runner.invoke(app, ["evaluate", str(tflite_model("identity")), "--data",
                               str(pair_folder), "--runs", "1"])
    assert done.exit_code == 0, done.output
    assert "scene0_0" in done.output and "mean of 6" in done.output
    assert "Final Score" in done.output


def test_cli_evaluate_errors(tmp_path, pair_folder, monkeypatch):
    import mobiledenoise.weights as weights

    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path)
    done = runner.invoke(app, ["evaluate", "--data", str(pair_folder)])
    assert done.exit_code == 2 and "expected the shipped default model" in done.output
    done = runner.invoke(app, ["evaluate", str(tflite_model("identity")), "--data",
                               str(tmp_path / "nowhere")])
    assert done.exit_code == 2 and "does not exist" in done.output
    done = runner.invoke(app, ["evaluate", "no_such_model", "--data", str(pair_folder)])
    assert done.exit_code == 2 and "registered model name" in done.output


def test_cli_bench_json_and_errors():
    done = runner.invoke(app, ["bench", str(tflite_model("dynamic")), "--size", "64x96",
                               "--runs", "2", "--full-res", "100x130", "--tile", "64", "--json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert set(result) >= {"median_ms", "min_ms", "max_ms", "threads", "size", "peak_rss_mb"}
    assert result["size"] == [64, 96] and result["full_res"]["size"] == [100, 130]
    assert result["full_res"]["tile"] == [64, 64]
    done = runner.invoke(app, ["bench", str(tflite_model("dynamic")), "--size", "64by96"])
    assert done.exit_code == 2 and "HEIGHTxWIDTH" in done.output
    done = runner.invoke(app, ["bench", str(tflite_model("fixed")), "--runs", "1"])
    assert done.exit_code == 0 and "48x32 patch" in done.output


def test_report_json_is_strict():
    from mobiledenoise.evaluate.report import to_json

    text = to_json({"psnr": float("nan"), "images": [{"ssim": float("inf")}], "n": 0})
    assert json.loads(text) == {"psnr": None, "images": [{"ssim": None}], "n": 0}
