"""benchmarks/vs_classical.py and before_after.py: a quick run on real data, and bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from model_files import tflite_model
from typer.testing import CliRunner

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import before_after  # noqa: E402  (benchmarks/ is a folder of scripts, not a package)
import classical  # noqa: E402
import vs_classical  # noqa: E402


@pytest.fixture
def fast_sigma(monkeypatch):
    """A cheap stand-in for the project's noise estimate: these tests check the script, not
    the estimator (test_noise_sigma_reads_the_project_estimator checks the link)."""
    def sigma(noisy: np.ndarray) -> float:
        x = noisy.astype(np.float32)
        return float(np.std(x[1:, 1:] - x[:-1, 1:] - x[1:, :-1] + x[:-1, :-1]) / 2)

    monkeypatch.setattr(classical, "noise_sigma", sigma)


def _models() -> list[str]:
    # identity (does nothing) and a random conv, named as one model shipped in two precisions
    return ["--model", f"toy_fp32={tflite_model('identity')}",
            "--model", f"toy_int8={tflite_model('conv')}"]


@pytest.mark.filterwarnings("ignore:Statistics for quantized inputs")
def test_quick_run_writes_every_set_and_method(shared_data, tmp_path, fast_sigma):
    sets = ["polyu_val", "sidd_val", "kodak_clean", "kodak_shot0.03"]
    out = tmp_path / "results"
    result = CliRunner().invoke(vs_classical.app, [
        *_models(), "--sets", ",".join(sets), "--limit", "1", "--data-root", str(shared_data),
        "--out", str(out), "--no-photo", "--tune-images", "1", "--tune-crop", "48",
        "--bm3d-images", "1", "--bm3d-crop", "24", "--fit-crop", "64"])
    assert result.exit_code == 0, result.output
    (csv_path,) = out.glob("vs_classical-*.csv")
    with csv_path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == vs_classical.COLUMNS
    assert list(dict.fromkeys(r["set"] for r in rows)) == sets
    methods = ["identity", "toy_fp32", "toy_int8", "nlm_oracle", "nlm_blind", "wavelet_bayes",
               "bm3d"]
    for name in sets:
        mine = [r for r in rows if r["set"] == name]
        assert list(dict.fromkeys(r["method"] for r in mine)) == methods
        assert all(r["n_images"] == "1" for r in mine)
        timed = [r for r in mine if r["ms_per_mp"]]
        assert bool(timed) == (name == "polyu_val")  # timing only on the PolyU set
    polyu = {(r["method"], r["threads"]): r for r in rows if r["set"] == "polyu_val"}
    assert {("toy_fp32", "1"), ("toy_fp32", "2"), ("nlm_oracle", "1"), ("nlm_oracle", "2")} <= set(polyu)
    assert float(polyu["nlm_oracle", "1"]["speed_vs_cv2_nlm"]) == pytest.approx(1.0)
    by_set = {(r["set"], r["method"]): float(r["psnr"]) for r in rows}
    assert by_set["polyu_val", "toy_fp32"] == pytest.approx(by_set["polyu_val", "identity"])
    assert by_set["kodak_clean", "identity"] == 100.0  # clean input scored against itself
    assert by_set["kodak_shot0.03", "nlm_oracle"] > by_set["kodak_shot0.03", "identity"] + 1
    saved = json.loads(csv_path.with_suffix(".json").read_text())
    assert set(saved["sets"]) == set(sets) and saved["h_map"]["n_samples"] == 3
    assert saved["sets"]["kodak_shot0.03"]["noise_std"] > 10 > saved["sets"]["polyu_val"]["noise_std"]
    markdown = csv_path.with_suffix(".md").read_text()
    assert "## Summary" in markdown and "toy INT8 − FP32" in markdown and "Blind OpenCV NLM: h =" in markdown
    for png in (csv_path.with_suffix(".png"), out / csv_path.name.replace(".csv", "-sets.png")):
        assert png.stat().st_size > 5000


@pytest.mark.parametrize("argv, message", [
    (["--model", "m=missing.tflite"], "Error: expected a .tflite model file"),
    (["--sets", "polyu_val,nope"], "Error: expected sets from polyu_val"),
    (["--data-root", "no/such/folder"], "Error: expected the shared data folders"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, argv, message):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(BENCHMARKS / "vs_classical.py"), *argv,
                           "--out", str(out)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().startswith(message) and len(done.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_no_shipped_model_asks_for_one(tmp_path, monkeypatch):
    monkeypatch.setattr(vs_classical, "WEIGHTS", tmp_path)
    result = CliRunner().invoke(vs_classical.app, ["--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "--model NAME=FILE.tflite" in result.output
    result = CliRunner().invoke(before_after.app, ["--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and not (tmp_path / "out").exists()


def test_model_names_and_sets_are_parsed():
    path = tflite_model("identity")
    assert vs_classical.parse_models([f"a={path}", str(path)]) == {"a": path, "identity": path}
    with pytest.raises(vs_classical.UserError):
        vs_classical.parse_models([f"a={path}", f"a={path}"])
    assert [s.name for s in vs_classical.parse_sets("sidd_val, polyu_val")] == ["polyu_val", "sidd_val"]
    assert len(vs_classical.parse_sets(None)) == len(vs_classical.SETS) == 8


def test_every_model_method_of_the_timed_set_is_timed_on_the_photo(monkeypatch):
    # speed_vs_cv2_nlm divides by the photo time where there is one: a `--passes auto` row
    # without it would compare a crop time against the one-pass rows' photo time.
    monkeypatch.setattr(vs_classical, "photo_timer", lambda run, sample: lambda: 1.0)
    ctx = vs_classical.Context(
        models={"toy_fp32": tflite_model("identity")}, runner=lambda path, threads: lambda x: x,
        h_map=None, photo=True, skip_bm3d=True, bm3d_images=1, bm3d_crop=32, tune_images=1,
        tune_crop=32, adaptive=("toy_fp32",))
    monkeypatch.setattr(vs_classical, "adaptive_runner", lambda path, threads: lambda x: x)
    image = np.zeros((32, 32, 3), np.uint8)
    timed = vs_classical.build_methods(vs_classical.SETS[0], [("a", image, image)], 10.0, ctx)
    models = [m for m in timed if m.key.startswith(("model:", "auto:"))]
    assert {m.name for m in models} == {"toy_fp32", "toy_fp32_auto"}
    assert all(m.photo_ms_per_mp is not None for m in models)
    untimed = vs_classical.build_methods(vs_classical.SETS[1], [("a", image, image)], 10.0, ctx)
    assert all(m.photo_ms_per_mp is None for m in untimed)


def test_before_after_grid(shared_data, tmp_path, fast_sigma):
    import socket

    saved = {"h_map": {"slope": 1.0, "intercept": 0.0}, "sets": {"sidd_mini": {"h_oracle": 20}}}
    (tmp_path / f"vs_classical-{socket.gethostname()}.json").write_text(json.dumps(saved))
    result = CliRunner().invoke(before_after.app, [
        "--model", f"toy={tflite_model('identity')}", "--data-root", str(shared_data),
        "--out", str(tmp_path), "--crop", "40", "--scale", "1"])
    assert result.exit_code == 0, result.output
    assert "fitting" not in result.output  # the h map and oracle h came from the .json
    (png,) = tmp_path.glob("before_after-*.png")
    from PIL import Image

    with Image.open(png) as image:  # 4 columns of 40 px cells + gaps; 8 rows + 2 titles
        assert image.size[0] == 4 * 44 - 4 and image.size[1] > 8 * 40


def test_noise_sigma_reads_the_project_estimator():
    pytest.importorskip("mobiledenoise.data.noise_level")
    rng = np.random.default_rng(0)
    flat = np.clip(128 + rng.normal(0, 10, (128, 128, 3)), 0, 255).astype(np.uint8)
    assert 5 < classical.noise_sigma(flat) < 20
