"""Training on Keras' torch backend: the training side imports no TensorFlow, the tricks run
there, and the run folder exports on the TensorFlow side to a .tflite that computes what the
torch model computes."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from typer.testing import CliRunner

from mobiledenoise.cli import app

pytest.importorskip("torch")

# Runs in a fresh process on the torch backend: three 20-step trainings through the CLI, the
# trained models' outputs on a probe image, and the modules that were imported.
_TORCH_SIDE = textwrap.dedent("""
    import json, sys
    import numpy as np
    from mobiledenoise.cli import app
    from mobiledenoise.train.runs import load_model

    data, out = sys.argv[1], sys.argv[2]
    common = ["--data", data, "--steps", "20", "--patch-size", "16", "--batch-size", "2",
              "--quiet", "--backend", "torch", "--set", "val_every=10", "--set", "val_crop=32",
              "--set", "checkpoint_every=10", "--set", "log_every=1"]
    runs = {
        "plain": ["--model", "unet", "--preset", "tiny"],
        "ofa": ["--model", "enerzai", "--preset", "tiny", "--loss", "l1+0.2*msssim",
                "--set", "ofa_threshold_db=0"],
        "qat_distill": ["--model", "unet", "--preset", "tiny", "--teacher", f"{out}/plain",
                        "--set", "quantization_aware=true"],
    }
    probe = np.random.default_rng(1).random((1, 32, 32, 3), dtype=np.float32)
    outputs = {}
    for name, args in runs.items():
        app(["train", *common, *args, "--out", f"{out}/{name}"], standalone_mode=False)
        model = load_model(f"{out}/{name}", input_shape=(32, 32, 3), batch_size=1)
        outputs[name] = np.asarray(model(probe, training=False).detach().cpu())
    np.savez(f"{out}/outputs.npz", probe=probe, **outputs)
    from mobiledenoise.train.placement import place
    try:  # tf.distribute needs TensorFlow: refused in one line
        place("mirrored", worker_timeout_s=1.0)
        refusal = None
    except Exception as exc:
        refusal = str(exc)
    import keras
    tensorflow = sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow")
    print(json.dumps({"backend": keras.backend.backend(), "tensorflow": tensorflow,
                      "refusal": refusal}))
""")


@pytest.fixture(scope="module")
def torch_runs(tmp_path_factory):
    from conftest import make_pair_folder

    root = tmp_path_factory.mktemp("torch")
    data = make_pair_folder(root / "pairs")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}  # --backend torch must win over it
    result = subprocess.run([sys.executable, "-c", _TORCH_SIDE, str(data), str(root)], env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return root, report


def _log_columns(run) -> set:
    return set((run / "log.csv").read_text().splitlines()[0].split(","))


@pytest.mark.slow
def test_torch_training_imports_no_tensorflow(torch_runs):
    root, report = torch_runs
    assert (report["backend"], report["tensorflow"]) == ("torch", [])
    assert report["refusal"].startswith("expected distribute none on the torch backend")
    for name in ("plain", "ofa", "qat_distill"):
        assert {p.name for p in (root / name).iterdir()} >= {
            "config.yaml", "model.json", "best.weights.h5", "checkpoint", "log.csv", "tensorboard"}
        assert json.loads((root / name / "checkpoint" / "state.json").read_text())["step"] == 20
    assert {"l_super", "val_psnr_super", "detached"} <= _log_columns(root / "ofa")
    assert json.loads((root / "ofa" / "checkpoint" / "state.json").read_text())["phase"] == "sub"
    assert "l_kd" in _log_columns(root / "qat_distill")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["plain", "ofa"])
def test_torch_trained_run_exports_to_a_tflite_matching_the_torch_model(torch_runs, name):
    from ai_edge_litert.interpreter import Interpreter

    root, _ = torch_runs
    tflite = root / f"{name}.tflite"
    result = CliRunner().invoke(app, ["export", str(root / name), "--out", str(tflite),
                                      "--size", "32x32"])
    assert result.exit_code == 0, result.output
    saved = np.load(root / "outputs.npz")
    interpreter = Interpreter(model_path=str(tflite))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], saved["probe"])
    interpreter.invoke()
    output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    assert np.abs(output - saved[name]).max() <= 1e-4
    assert np.abs(saved[name] - saved["probe"]).max() > 1e-3  # the model does something
