"""Losses, schedules, recipe resolution, exact resume and tf.distribute training."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mobiledenoise.cli import app
from mobiledenoise.errors import UserError
from mobiledenoise.train import config as train_config

TINY = {"model": "unet", "preset": "tiny", "patch_size": 16, "batch_size": 2, "val_every": 4,
        "checkpoint_every": 4, "log_every": 1, "deterministic": True, "val_crop": 32}


def _config(folder, **overrides):
    return train_config.resolve(None, {**TINY, "data": [str(folder)], **overrides})


def _log(run) -> np.ndarray:
    """(step, loss) rows of a run's log.csv."""
    with open(Path(run) / "log.csv") as f:
        return np.array([(int(r["step"]), float(r["loss"])) for r in csv.DictReader(f)])


def test_psnr_loss_is_the_batch_psnr_so_a_clean_patch_does_not_dominate():
    """A patch already at its target (a clean-only patch) must not outweigh the noisy ones:
    with per-image PSNRs its log-MSE gradient grows as 1/error and pinned Megvii at the
    identity."""
    import tensorflow as tf

    from mobiledenoise.train.losses import make_loss

    rng = np.random.default_rng(0)
    target = tf.constant(rng.uniform(0.2, 0.8, (2, 32, 32, 3)), tf.float32)
    error = np.zeros((2, 32, 32, 3), np.float32)
    error[0] = rng.normal(0, 0.02, (32, 32, 3))  # a noisy patch
    error[1] = rng.normal(0, 1e-4, (32, 32, 3))  # a patch the model barely changed
    pred = tf.Variable(target + error)
    loss = make_loss("psnr")
    with tf.GradientTape() as tape:
        value = loss(pred, target)
    assert float(value) == pytest.approx(10 * np.log10(np.mean(error.astype(np.float64) ** 2)),
                                         abs=1e-3)
    grad = np.abs(tape.gradient(value, pred).numpy()).mean(axis=(1, 2, 3))
    assert grad[1] < 0.02 * grad[0]  # per-image PSNRs gave the barely-changed patch ~200×


def test_losses_values_and_weighted_sums():
    import tensorflow as tf

    from mobiledenoise.train.losses import make_loss, parse_loss

    pred, target = tf.fill((2, 96, 96, 3), 0.5), tf.fill((2, 96, 96, 3), 0.25)
    assert float(make_loss("l1")(pred, target)) == pytest.approx(0.25)
    assert float(make_loss("l2")(pred, target)) == pytest.approx(0.0625)
    assert float(make_loss("charbonnier")(pred, target)) == pytest.approx(0.25, abs=1e-5)
    assert float(make_loss("psnr")(pred, target)) == pytest.approx(10 * np.log10(0.0625), abs=1e-4)
    assert float(make_loss("msssim")(target, target)) == pytest.approx(0.0, abs=1e-5)
    assert parse_loss("l1+0.2*msssim") == [(1.0, "l1"), (0.2, "msssim")]
    combined = float(make_loss("2*l1+0.5*l2")(pred, target))
    assert combined == pytest.approx(2 * 0.25 + 0.5 * 0.0625)
    with pytest.raises(UserError, match="l1\\+0.2\\*msssim"):
        parse_loss("l1+ssimm")


@pytest.mark.parametrize("size", [32, 45, 96])
def test_msssim_in_keras_ops_matches_tensorflows(size):
    import tensorflow as tf

    from mobiledenoise.train.losses import make_loss

    rng = np.random.default_rng(size)
    a = rng.random((2, size, size, 3), dtype=np.float32)
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1).astype(np.float32)
    filter_size = 11 if size >= 88 else 7
    scales = {32: 3, 45: 3, 96: 4}[size]  # halvings while the side stays >= the filter
    weights = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333][:scales])
    reference = 1 - float(tf.reduce_mean(tf.image.ssim_multiscale(
        a, b, 1.0, power_factors=list(weights / weights.sum()), filter_size=filter_size)))
    assert float(make_loss("msssim")(a, b)) == pytest.approx(reference, abs=1e-6)


def test_tensorboard_events_hold_the_logged_scalars(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from mobiledenoise.train.monitor import RunLog
    from mobiledenoise.train.runs import RunFolder

    log = RunLog(RunFolder(tmp_path), start=0)
    for step in (1, 2):
        log.write({"step": step, "loss": 0.5 / step, "lr": 1e-3})
    log.close()
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("loss")] == [(1, 0.5), (2, 0.25)]


def test_once_for_all_needs_a_model_with_a_super_network(pair_folder, tmp_path):
    from mobiledenoise.train.trainer import train

    with pytest.raises(UserError, match="super-network.*enerzai.*received 'unet'"):
        train(_config(pair_folder, steps=2, ofa_threshold_db=30.0), tmp_path / "run", progress=False)


def test_schedules():
    from mobiledenoise.train.schedules import CyclicalLR, make_schedule

    cosine = make_schedule("cosine", lr=1e-3, lr_min=1e-5, steps=100)
    assert float(cosine(0)) == pytest.approx(1e-3) and float(cosine(100)) == pytest.approx(1e-5)
    clr = CyclicalLR(1e-4, 1e-3, half_cycle=10, decay=1.0)
    assert [round(float(clr(s)), 7) for s in (0, 5, 10, 20)] == [1e-4, 5.5e-4, 1e-3, 1e-4]
    with pytest.raises(UserError):
        make_schedule("warm", lr=1, lr_min=0, steps=1)


def test_recipe_then_cli_overrides_and_unknown_keys(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: unet\nlr: 0.002\nsteps: 50\nmodel_config: {width: 8}\n")
    config = train_config.resolve(recipe, {"steps": 7, **train_config.parse_set(["flips=false"])})
    assert (config.lr, config.steps, config.flips, config.model_config) == (0.002, 7, False, {"width": 8})
    recipe.write_text("modle: unet\n")
    with pytest.raises(UserError, match="modle"):
        train_config.resolve(recipe)


def test_training_lowers_loss_and_writes_the_run_folder(pair_folder, tmp_path):
    from mobiledenoise.train.runs import load_model
    from mobiledenoise.train.trainer import train

    result = train(_config(pair_folder, steps=80, lr=3e-3, batch_size=8, patch_size=32, val_every=40),
                   tmp_path / "run", progress=False)
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"config.yaml", "model.json", "best.weights.h5", "checkpoint", "log.csv", "tensorboard"} <= names
    losses = _log(tmp_path / "run")[:, 1]
    assert np.mean(losses[-6:]) < np.mean(losses[:6])
    assert result.best_val_psnr > result.input_val_psnr  # sigma-12 noise is easy to reduce
    model = load_model(tmp_path / "run")
    assert model.family == "unet"


def test_kept_snapshots_hold_each_checkpoints_weights(pair_folder, tmp_path):
    from mobiledenoise.train.runs import RunFolder, load_model
    from mobiledenoise.train.trainer import train

    train(_config(pair_folder, steps=8, keep_snapshots=True), tmp_path / "run", progress=False)
    run = RunFolder(tmp_path / "run")
    assert run.snapshot_steps() == [4, 8]
    last = load_model(run.root, weights="last")
    snapshot = load_model(run.root, weights="last")
    snapshot.load_weights(run.snapshot(8))
    for x, y in zip(last.get_weights(), snapshot.get_weights()):
        np.testing.assert_array_equal(x, y)
    snapshot.load_weights(run.snapshot(4))
    assert any(not np.array_equal(x, y) for x, y in zip(last.get_weights(), snapshot.get_weights()))
    train(_config(pair_folder, steps=4), tmp_path / "plain", progress=False)
    assert RunFolder(tmp_path / "plain").snapshot_steps() == []  # off by default


def _refuse_non_standard_json(constant: str):
    raise AssertionError(f"state.json holds {constant}, which strict JSON readers refuse")


def test_a_checkpoint_before_any_validation_is_strict_json_and_resumes_as_unvalidated(tmp_path):
    import keras

    from mobiledenoise.train import checkpoint

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    checkpoint.save(tmp_path / "ckpt", model, optimizer, {"step": 3, "best_val_psnr": float("-inf")})
    saved = json.loads((tmp_path / "ckpt" / "state.json").read_text(),
                       parse_constant=_refuse_non_standard_json)
    assert saved == {"step": 3, "best_val_psnr": None}
    assert checkpoint.load_state(tmp_path / "ckpt")["best_val_psnr"] == float("-inf")
    checkpoint.save(tmp_path / "ckpt", model, optimizer, {"step": 4, "best_val_psnr": 31.5})
    assert checkpoint.load_state(tmp_path / "ckpt")["best_val_psnr"] == 31.5


@pytest.mark.parametrize("trick", [{}, {"model": "enerzai", "ofa_threshold_db": 0.0}],
                         ids=["plain", "once-for-all"])
def test_resume_gives_the_same_loss_curve_and_weights(pair_folder, tmp_path, trick):
    """Once-for-all detaches at the first validation (step 4): the stop at step 5 is in the
    sub-net phase, which the resumed run must rebuild from the checkpoint."""
    from mobiledenoise.train.runs import load_model
    from mobiledenoise.train.trainer import train

    config = _config(pair_folder, steps=12, **trick)
    train(config, tmp_path / "whole", progress=False)
    first = train(config, tmp_path / "split", progress=False, stop_after=5)  # "killed" at step 5
    assert first.steps == 5
    state = json.loads((tmp_path / "split" / "checkpoint" / "state.json").read_text())
    assert state["phase"] == ("sub" if trick else "main")
    second = train(config, tmp_path / "split", progress=False)
    assert second.resumed_from == 5 and second.steps == 12
    np.testing.assert_allclose(_log(tmp_path / "split"), _log(tmp_path / "whole"), atol=1e-6)
    a = load_model(tmp_path / "whole", weights="last").get_weights()
    b = load_model(tmp_path / "split", weights="last").get_weights()
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=1e-6)


def test_time_limit_stops_validates_and_is_charged_across_resumes(pair_folder, tmp_path):
    from mobiledenoise.train import checkpoint
    from mobiledenoise.train.trainer import train

    config = _config(pair_folder, steps=500, val_every=1000, checkpoint_every=1000)
    first = train(config, tmp_path / "run", progress=False, time_limit_s=0.0)
    assert first.steps == 1 and first.train_seconds >= 0 and np.isnan(first.step_seconds)
    assert np.isfinite(first.best_val_psnr)  # the stopping step was validated
    state = checkpoint.load_state(tmp_path / "run" / "checkpoint")
    assert state["step"] == 1 and state["train_seconds"] == pytest.approx(first.train_seconds)
    # the budget counts the whole run: a resume already over it trains one step and stops
    again = train(config, tmp_path / "run", progress=False, time_limit_s=first.train_seconds)
    assert again.resumed_from == 1 and again.steps == 2
    done = train(_config(pair_folder, steps=5, val_every=1000, checkpoint_every=1000),
                 tmp_path / "run", progress=False, time_limit_s=3600)
    assert done.steps == 5 and done.step_seconds > 0  # the median of the 2nd and 3rd steps
    assert done.train_seconds >= again.train_seconds + 2 * done.step_seconds * 0.5
    assert done.cpu_seconds > 0


def test_resume_refuses_a_different_model(pair_folder, tmp_path):
    from mobiledenoise.train.trainer import train

    train(_config(pair_folder, steps=4), tmp_path / "run", progress=False)
    with pytest.raises(UserError, match="same preset"):
        train(_config(pair_folder, steps=8, preset="default"), tmp_path / "run", progress=False)


def _cli(*args, env=None):
    return [sys.executable, "-m", "mobiledenoise.cli.__main__", *args]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "torch"])
def test_killed_process_resumes_with_the_same_curve(pair_folder, tmp_path, backend):
    """SIGKILL a real training process after its first checkpoint; the rerun matches."""
    if backend == "torch":
        pytest.importorskip("torch")
    args = ["train", "--backend", backend, "--model", "unet", "--preset", "tiny", "--data", str(pair_folder),
            "--steps", "40", "--patch-size", "16", "--batch-size", "2", "--quiet",
            "--set", "checkpoint_every=4", "--set", "log_every=1", "--set", "deterministic=true",
            "--set", "val_every=20", "--set", "val_crop=32"]
    subprocess.run(_cli(*args, "--out", str(tmp_path / "whole")), check=True, capture_output=True)
    proc = subprocess.Popen(_cli(*args, "--out", str(tmp_path / "killed")),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = tmp_path / "killed" / "checkpoint" / "state.json"
    deadline = time.time() + 120
    while not state.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_rows = _log(tmp_path / "killed")
    assert len(killed_rows) and killed_rows[-1][0] < 40, "the process was killed before finishing"
    subprocess.run(_cli(*args, "--out", str(tmp_path / "killed")), check=True, capture_output=True)
    np.testing.assert_allclose(_log(tmp_path / "killed"), _log(tmp_path / "whole"), atol=1e-6)


@pytest.mark.slow
def test_sigterm_checkpoints_a_background_run_that_ignores_sigint(pair_folder, tmp_path):
    """`cmd &` runs ignore SIGINT; `kill` (SIGTERM) must still save the step reached."""
    args = ["train", "--model", "unet", "--preset", "tiny", "--data", str(pair_folder),
            "--steps", "100000", "--patch-size", "16", "--batch-size", "2", "--quiet",
            "--set", "checkpoint_every=100000", "--set", "log_every=1", "--set", "val_every=100000",
            "--set", "val_crop=32", "--out", str(tmp_path / "run")]
    proc = subprocess.Popen(_cli(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    log = tmp_path / "run" / "log.csv"
    deadline = time.time() + 600  # TensorFlow's start-up alone takes minutes on a busy machine
    while time.time() < deadline and proc.poll() is None and (
            not log.exists() or len(_log(tmp_path / "run")) < 3):
        time.sleep(0.2)
    assert log.exists() and len(_log(tmp_path / "run")) >= 3, "training never got going"
    os.kill(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "interrupted at step" in stderr, stderr[-2000:]
    saved = json.loads((tmp_path / "run" / "checkpoint" / "state.json").read_text())["step"]
    assert saved >= 3 and log.exists()


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(pair_folder, tmp_path):
    result = subprocess.run(
        _cli("train", "--model", "unet", "--preset", "tiny", "--data", str(pair_folder),
             "--steps", "6", "--patch-size", "16", "--batch-size", "4", "--quiet",
             "--distribute", "mirrored", "--set", "val_every=6", "--set", "val_crop=32",
             "--out", str(tmp_path / "run")), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 replica(s)" in result.stdout
    assert len(_log(tmp_path / "run")) >= 1


@pytest.mark.parametrize("args,message", [
    (["--data", "/nonexistent/folder"], "does not exist"),
    (["--model", "nosuchnet"], "registered model name"),
    (["--loss", "l7"], "expected a loss"),
    (["--set", "bogus_key=1"], "bogus_key"),
    (["--backend", "jax"], "expected --backend tensorflow|torch"),
])
def test_train_cli_bad_input_is_one_line_exit_2(pair_folder, tmp_path, args, message):
    base = ["train", "--data", str(pair_folder), "--steps", "1", "--out", str(tmp_path / "r")]
    result = CliRunner().invoke(app, base + args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_extra_training_sources_never_change_the_validation_split(pair_folder, tmp_path):
    """train_only folders and clean-only synthetic_from images train, never validate, and adding
    them leaves the by-scene validation set of --data exactly as it was."""
    from mobiledenoise.train.trainer import training_pairs

    from conftest import make_pair_folder

    extra = make_pair_folder(tmp_path / "extra", n_scenes=5, seed=3)
    plain_train, plain_val = training_pairs(_config(pair_folder))
    config = _config(pair_folder, train_only=[str(extra)], synthetic_from=[str(extra / "clean")],
                     exclude=["*scene4_1"])
    train, val = training_pairs(config)
    assert [p.name for p in val] == [p.name for p in plain_val]
    assert not any(p.noisy == p.clean for p in val)
    names = [p.name for p in train]
    assert "synthetic_scene4_0" in names and not any(n.endswith("scene4_1") for n in names)
    assert len(train) == len(plain_train) + 2 * 10 - 2


def test_unrolled_step_sums_the_loss_of_each_pass_on_its_own_output():
    import keras

    from mobiledenoise.models import build_model
    from mobiledenoise.train.losses import make_loss
    from mobiledenoise.train.steps import UnrolledStep

    model, loss_fn = build_model("unet", preset="tiny"), make_loss("l1")
    rng = np.random.default_rng(0)
    clean = rng.random((2, 16, 16, 3)).astype(np.float32)
    noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    losses = UnrolledStep(model, loss_fn, passes=3)(noisy, clean)
    once = model(noisy, training=True)
    twice = model(once, training=True)
    expected = [loss_fn(once, clean), loss_fn(twice, clean),
                loss_fn(model(twice, training=True), clean)]
    got = [losses["l_pix"], losses["l_pass2"], losses["l_pass3"]]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.stack(got)),
                               keras.ops.convert_to_numpy(keras.ops.stack(expected)), rtol=1e-5)
    np.testing.assert_allclose(float(losses["loss"]), float(sum(expected)), rtol=1e-5)


def test_unrolled_run_logs_each_pass_and_refuses_a_teacher(pair_folder, tmp_path):
    from mobiledenoise.train.trainer import train

    train(_config(pair_folder, steps=4, unrolled_passes=2), tmp_path / "run", progress=False)
    with open(tmp_path / "run" / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and all(float(r["l_pass2"]) > 0 for r in rows)
    assert all(abs(float(r["loss"]) - float(r["l_pix"]) - float(r["l_pass2"])) < 1e-5 for r in rows)
    with pytest.raises(UserError, match="unrolled_passes"):
        _config(pair_folder, unrolled_passes=2, teacher="unet")
    with pytest.raises(UserError, match="unrolled_passes >= 1"):
        _config(pair_folder, unrolled_passes=0)


def test_more_data_threads_give_the_same_batches(pair_folder, tmp_path):
    # Batch `step` is drawn from a generator seeded by (seed, step), whichever thread makes it.
    from mobiledenoise.train.trainer import train

    for threads in (1, 3):
        train(_config(pair_folder, steps=6, data_threads=threads), tmp_path / f"t{threads}",
              progress=False)
    np.testing.assert_allclose(_log(tmp_path / "t1"), _log(tmp_path / "t3"), atol=1e-6)
    with pytest.raises(UserError, match="data_threads >= 1"):
        _config(pair_folder, data_threads=0)
