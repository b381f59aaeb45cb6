"""Benchmark scripts refuse bad input like the CLI does: one `Error: ...` line, exit 2."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mobiledenoise.errors import UserError, run_script

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "mobiledenoise" / "weights"
HOST = socket.gethostname().split(".")[0]  # the benchmarks' result-file suffix


def test_run_script_turns_a_user_error_into_one_line_and_exit_2(capsys):
    def main():
        raise UserError("expected a thing, received another; pass the thing")

    with pytest.raises(SystemExit) as stop:
        run_script(main)
    assert stop.value.code == 2
    assert (capsys.readouterr().err.strip()
            == "Error: expected a thing, received another; pass the thing")
    with pytest.raises(SystemExit) as stop:
        run_script(lambda: 0)
    assert stop.value.code == 0


def test_benchmark_script_with_a_missing_model_exits_2_without_traceback(tmp_path):
    done = subprocess.run([sys.executable, str(BENCHMARKS / "generalisation.py"),
                           str(tmp_path / "missing.tflite"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "Error: expected a .tflite model file" in done.stderr
    assert not list(tmp_path.iterdir())  # nothing written


def test_run_from_tflite_rebuilds_a_run_that_reproduces_the_file(tmp_path):
    """scripts/run_from_tflite.py: an exported stride-2 unet comes back as a run folder whose
    Keras model gives the file's output, and a second call refuses to overwrite it."""
    import json

    import numpy as np

    from mobiledenoise.deploy.export import export_model
    from mobiledenoise.deploy.runtime import TFLiteDenoiser
    from mobiledenoise.models import build_model
    from mobiledenoise.models.registry import describe, resolve_config
    from mobiledenoise.train.runs import load_model

    model = build_model("unet", resolve_config("unet", "fast", width=4))
    rng = np.random.default_rng(1)  # distinct non-zero weights everywhere (the exit starts at
    for layer in model.layers:      # zero; the converter merges equal constants)
        layer.set_weights([rng.normal(0, 0.1, w.shape) for w in layer.get_weights()])
    source = tmp_path / "source"
    source.mkdir()
    model.save_weights(source / "best.weights.h5")
    (source / "model.json").write_text(json.dumps(describe(model)))
    export_model(load_model(source), tmp_path / "m.tflite", size=(32, 48))
    script = [sys.executable, str(Path(__file__).parents[1] / "scripts" / "run_from_tflite.py"),
              str(tmp_path / "m.tflite"), "--out", str(tmp_path / "rebuilt")]
    done = subprocess.run(script, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    image = np.random.default_rng(0).random((32, 48, 3), dtype=np.float32)
    rebuilt = load_model(tmp_path / "rebuilt")(image[None]).numpy()[0]
    reference = TFLiteDenoiser(tmp_path / "m.tflite").run_patch(image)
    assert np.abs(reference - image).max() > 1e-3  # the model does something
    np.testing.assert_allclose(rebuilt, reference, atol=1e-5)
    again = subprocess.run(script, capture_output=True, text=True)
    assert again.returncode == 2 and again.stderr.strip().startswith("Error: expected a new run")


@pytest.mark.parametrize("script", ["noise_response.py", "capacity_probe.py"])
def test_sidd_block_scripts_refuse_a_data_folder_without_sidd_mini(script, tmp_path):
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), "--data",
                           str(tmp_path), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and not (tmp_path / "out").exists()
    assert done.stderr.strip().splitlines() == [
        f"Error: expected a data folder, received {tmp_path / 'sidd_mini'} which does not exist; "
        "check the path"]


def test_capacity_probe_latency_only_times_fast_beside_the_candidates(tmp_path):
    # Nothing is trained: each candidate is exported and timed, `fast` always, as the yardstick.
    import json

    from mobiledenoise.models import build_model

    done = subprocess.run([sys.executable, str(BENCHMARKS / "capacity_probe.py"), "--latency-only",
                           "--rounds", "1", "--candidates", "stem4", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads((tmp_path / f"capacity-latency-{HOST}.json").read_text())["rows"]
    assert list(rows) == ["fast", "stem4"]
    stem4 = build_model("unet", {"width": 16, "depth": 3, "convs_per_level": 1, "entry": "stride2",
                                 "skip": "add", "up": "depth_to_space", "stem": 4})
    assert rows["stem4"]["params"] == stem4.count_params() > rows["fast"]["params"]
    for row in rows.values():  # both precisions, every round
        assert len(row["fp32_round_ms"]) == len(row["int8_round_ms"]) == 1
        assert row["fp32_ms"] > 0 and row["int8_ms"] > 0
    assert "| stem4 | stem=4 |" in (tmp_path / f"capacity-latency-{HOST}.md").read_text()


def test_capacity_probe_puts_a_layout_on_the_cheapest_rung_whose_budgets_it_meets():
    sys.path.insert(0, str(BENCHMARKS))
    import capacity_probe

    assert capacity_probe.rung({"fp32": 13.3, "int8": 9.0}) == "fast"
    assert capacity_probe.rung({"fp32": 35.0, "int8": 18.6}) == "default"
    assert capacity_probe.rung({"fp32": 49.6, "int8": 25.9}) == "over"  # INT8 binds
    assert capacity_probe.rung({"fp32": 61.0, "int8": 20.0}) == "over"


@pytest.mark.parametrize("script, flag", [("capacity_probe.py", "--steps"),
                                          ("int8_ranges.py", "--clean-limit"),
                                          ("capacity_probe.py", "--bank"),
                                          ("snapshots.py", "--every")])
def test_benchmark_counts_below_one_are_refused_before_any_work(script, flag, tmp_path):
    args = [str(tmp_path)] if script in ("snapshots.py", "int8_ranges.py") else []
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args, flag, "0",
                           "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and not (tmp_path / "out").exists()
    assert done.stderr.strip().splitlines() == [  # one line, as in the CLI, not argparse's usage
        f"Error: expected valid arguments, received: argument {flag}: expected a whole number "
        "of at least 1, received '0'; see --help"]


@pytest.mark.parametrize("folder, error", [
    ("../shared/data/clean_photos/kodak24", "Error: expected training-side clean photos for "
     "--clean, received kodak24, which is validation only; use e.g. clean_photos/cbsd68"),
    ("no_such_folder", "Error: expected a folder of clean images, received no_such_folder; "
     "check the path")])
def test_int8_ranges_refuses_kodak24_or_a_missing_clean_folder(folder, error, tmp_path):
    done = subprocess.run([sys.executable, str(BENCHMARKS / "int8_ranges.py"), str(tmp_path),
                           "--clean", folder, "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and not (tmp_path / "out").exists()
    assert done.stderr.strip().splitlines() == [error]


def test_int8_ranges_chooses_the_smallest_worst_loss_over_the_choosing_sets():
    sys.path.insert(0, str(BENCHMARKS))
    import int8_ranges

    train, clean = (f"{name} loss_db" for name in int8_ranges.CHOOSING)
    rows = [{"percentile": 99.99, train: 0.10, clean: 0.22, "validation scenes loss_db": 0.0},
            {"percentile": 99.999, train: 0.13, clean: 0.11, "validation scenes loss_db": 0.9}]
    assert int8_ranges.chosen_percentile(rows) == 99.999


def _snapshots(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCHMARKS / "snapshots.py"), *args],
                          capture_output=True, text=True, timeout=300)


def test_snapshots_refuses_a_folder_that_is_not_a_run(tmp_path):
    done = _snapshots(str(tmp_path), "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and not (tmp_path / "out").exists()
    assert done.stderr.strip().splitlines() == [
        f"Error: expected a run folder, received {tmp_path}; pass what `train --out` wrote"]


def test_snapshots_lists_the_start_and_every_kept_step_and_refuses_a_run_without(pair_folder,
                                                                                 tmp_path):
    sys.path.insert(0, str(BENCHMARKS))
    import snapshots

    from mobiledenoise.train import config as train_config
    from mobiledenoise.train.runs import RunFolder
    from mobiledenoise.train.trainer import train

    tiny = {"model": "unet", "preset": "tiny", "patch_size": 16, "batch_size": 2, "val_every": 4,
            "checkpoint_every": 4, "val_crop": 32, "data": [str(pair_folder)]}
    train(train_config.resolve(None, {**tiny, "steps": 4}), tmp_path / "plain", progress=False)
    with pytest.raises(UserError, match="expected snapshots in"):
        snapshots.checkpoints(tmp_path / "plain")
    train(train_config.resolve(None, {**tiny, "steps": 8, "keep_snapshots": True,
                                      "init_from": str(tmp_path / "plain")}),
          tmp_path / "kept", progress=False)
    found = snapshots.checkpoints(tmp_path / "kept")
    assert [label for label, _ in found] == [f"start ({tmp_path / 'plain'})", "step 4", "step 8"]
    assert all(path.is_file() for _, path in found)
    assert found[0][1] == RunFolder(tmp_path / "plain").last_weights  # where the fine-tune began
    every_8 = snapshots.checkpoints(tmp_path / "kept", every=8)
    assert [label for label, _ in every_8] == [f"start ({tmp_path / 'plain'})", "step 8"]


def test_snapshots_rewrite_keeps_the_notes_under_the_tables():
    sys.path.insert(0, str(BENCHMARKS))
    import snapshots

    setup = {"host": "vm", "kodak": 2, "input": {"polyu_val": 35.0}}
    row = {"run": "r", "weights": "step 8", **{name: 30.0 for name in snapshots.SETS}}
    tables = snapshots.markdown([row], setup)
    # a file from before the mark: the notes are what follows the first table
    legacy = tables + "\nThe 0.6 run leads at every step.\n"
    first = snapshots.with_notes(tables, legacy)
    assert first.endswith("The 0.6 run leads at every step.\n")
    # a rerun with new numbers: new tables, the same notes, once
    row[snapshots.SETS[0]] = 31.0
    second = snapshots.with_notes(snapshots.markdown([row], setup), first)
    assert "31.00" in second and "30.00 | 30.00 | 30.00 | 30.00" not in second
    assert second.count("The 0.6 run leads at every step.") == 1
    assert snapshots.with_notes(tables, None).rstrip().endswith(snapshots.NOTES_MARK)


def test_ladder_scales_each_budget_by_the_yardstick_at_the_same_precision():
    sys.path.insert(0, str(BENCHMARKS))
    import ladder

    # a machine 2x slower than the reference in float, 8x in int8 (no fast int8 kernels)
    ref = ladder.REFERENCE_FAST_MS
    yard_fp32, yard_int8 = 2 * ref["fp32"], 8 * ref["int8"]
    table = ladder.rows({(ladder.YARDSTICK, "fp32"): yard_fp32,
                         (ladder.YARDSTICK, "int8"): yard_int8,
                         ("fast", "fp32"): 1.25 * yard_fp32, ("fast", "int8"): 1.5 * yard_int8,
                         ("default", "fp32"): 6 * yard_fp32, ("default", "int8"): 4 * yard_int8})
    by_key = {(r["model"], r["precision"]): r for r in table}
    assert by_key["default", "fp32"]["x_yardstick"] == 6.0
    assert by_key["default", "int8"]["x_yardstick"] == 4.0
    assert by_key["default", "fp32"]["reference_ms"] == round(6 * ref["fp32"], 1)
    assert by_key["default", "fp32"]["within"] is False  # 64.2 ms > 60 ms
    assert by_key["default", "int8"]["reference_ms"] == round(4 * ref["int8"], 1)
    assert by_key["default", "int8"]["within"] is False  # 28.4 ms > 25 ms
    assert by_key["fast", "fp32"]["reference_ms"] == round(1.25 * ref["fp32"], 1)  # 13.4 ms
    assert by_key["fast", "fp32"]["within"] is True and by_key["fast", "int8"]["within"] is None
    assert by_key[ladder.YARDSTICK, "fp32"]["within"] is None  # no budget of its own


SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def test_gpu_data_pack_keeps_training_data_only_and_is_faithful(shared_data, tmp_path):
    import cv2

    done = subprocess.run([sys.executable, str(SCRIPTS / "pack_gpu_data.py"), "--data",
                           str(shared_data), "--out", str(tmp_path / "pack")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    pack = tmp_path / "pack"
    assert not (pack / "clean_photos" / "kodak24").exists()  # validation only
    frames = {f.stem for f in (pack / "polyu_full" / "clean").iterdir()}
    assert frames and "Canon5D2_desk" not in frames  # a validation scene of the recipes
    copied = pack / "polyu_cropped" / "noisy"
    for file in list(copied.iterdir())[:5]:  # real noise travels byte for byte
        original = shared_data / "polyu_cropped" / "noisy" / file.name
        assert file.read_bytes() == original.read_bytes()
    for name in ("cbsd68", "urban100"):  # PNG sources: re-encoded, near-lossless
        source = sorted((shared_data / "clean_photos" / name).glob("*.png"))[0]
        packed = cv2.imread(str(pack / "clean_photos" / name / f"{source.stem}.jpg"))
        assert cv2.PSNR(cv2.imread(str(source)), packed) > 38
    assert sum(f.stat().st_size for f in pack.rglob("*") if f.is_file()) < 50 * 2**20


def test_gpu_data_pack_refuses_a_folder_without_the_data(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPTS / "pack_gpu_data.py"), "--data",
                           str(tmp_path), "--out", str(tmp_path / "pack")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "Error: expected the shared data folder" in done.stderr
    assert not (tmp_path / "pack").exists()


def test_train_until_ends_its_schedule_by_the_deadline(pair_folder, tmp_path):
    import json
    import time

    script = str(SCRIPTS / "gpu" / "train_until.py")
    common = ["--set", "model=unet", "--set", "preset=tiny", "--set", f"data=[{pair_folder}]",
              "--set", "patch_size=16", "--set", "batch_size=2", "--set", "val_crop=32",
              "--set", "val_every=1000"]
    late = subprocess.run([sys.executable, script, "none.yaml", str(tmp_path / "late"),
                           "--deadline", "1", *common], capture_output=True, text=True, timeout=300)
    assert late.returncode == 2 and "Error: expected a deadline more than" in late.stderr
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("steps: 100000\n")  # the probe runs the recipe's schedule, cut short
    deadline = time.time() + 45
    done = subprocess.run([sys.executable, script, str(recipe), str(tmp_path / "run"),
                           "--deadline", str(deadline), *common],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert time.time() < deadline + 20  # then the final validation and checkpoint
    planned, result = (json.loads(line) for line in done.stdout.strip().splitlines()[-2:])
    assert 10 < planned["planned_steps"] < 100000
    assert planned["planned_steps"] * 0.5 < result["steps"] <= planned["planned_steps"]
    assert not (tmp_path / "late").exists()


def test_noise_shape_scores_the_same_photos_under_each_preset(shared_data, tmp_path):
    fast = WEIGHTS / "fast_fp32.tflite"
    done = subprocess.run([sys.executable, str(BENCHMARKS / "noise_shape.py"), "--data",
                           str(shared_data), "--images", "1", "--shots", "0.008",
                           "--presets", "chroma_denoised,camera_wide", "--model", f"fast={fast}",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    import json

    (result,) = tmp_path.glob("noise-shape-*.json")
    rows = json.loads(result.read_text())["rows"]
    assert [(r["preset"], r["shot"]) for r in rows] == [("chroma_denoised", 0.008),
                                                        ("camera_wide", 0.008)]
    for r in rows:  # NLM cleans the photo at an h from the search's range
        assert r["nlm_oracle"] > r["noisy"] + 1 and 1 <= r["h"] <= 40
    # The finding the script exists for: fast, trained on camera_wide, removes its own noise
    # shape far better than luma-heavy ISP noise, against NLM (8 photos: +0.50 and -2.30 dB).
    luma_heavy, own = (r["fast"] - r["nlm_oracle"] for r in rows)
    assert own > luma_heavy + 1
    assert "| camera_wide | 0.008 |" in (tmp_path / result.name).with_suffix(".md").read_text()


@pytest.mark.parametrize("flag, value, error", [
    ("--presets", "nope", "expected --presets from"),
    ("--shots", "a", "expected --shots as numbers"),
    ("--model", "x=/no/such.tflite", "expected --model NAME=FILE with an existing .tflite")])
def test_noise_shape_refuses_bad_arguments_in_one_line(flag, value, error, tmp_path):
    done = subprocess.run([sys.executable, str(BENCHMARKS / "noise_shape.py"), flag, value,
                           "--out", str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2 and not (tmp_path / "out").exists()
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("Error: " + error)


def test_candidates_scores_a_file_once_and_as_denoise_runs_it(shared_data, tmp_path):
    fast = WEIGHTS / "fast_fp32.tflite"
    done = subprocess.run([sys.executable, str(BENCHMARKS / "candidates.py"), "--data-root",
                           str(shared_data), "--sets", "kodak_clean", "--model", f"fast={fast}",
                           "--name", "t", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    import json

    (result,) = tmp_path.glob("candidates-t-*.json")
    row = json.loads(result.read_text())["psnr"]["kodak_clean"]
    # A clean photo: fast changes it a little (vs_classical: 41.52 dB) and `auto` adds no pass.
    assert 40 < row["fast"] < 44 and row["fast_auto"] == row["fast"]


@pytest.mark.parametrize("args, error", [
    (["--model", "x=/no/such.tflite"], "expected a .tflite model file"),
    (["--model", f"x={WEIGHTS / 'fast_fp32.tflite'}", "--sets", "nope"], "expected sets from"),
    ([], "expected valid arguments")])
def test_candidates_refuses_bad_arguments_in_one_line(args, error, tmp_path):
    done = subprocess.run([sys.executable, str(BENCHMARKS / "candidates.py"), *args,
                           "--out", str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2 and not (tmp_path / "out").exists()
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("Error: " + error)
