"""The trainer: one loop for every recipe, with checkpoints and exact resume.

`train(config, out_dir)` builds the data pipeline, the model and the training step from a
resolved `TrainConfig`, then runs steps until `config.steps`, logging to CSV/TensorBoard,
validating every `val_every` steps (best weights kept), and checkpointing every
`checkpoint_every` steps and on Ctrl-C or SIGTERM. Started again on the same folder it resumes from the
last checkpoint and continues exactly as an uninterrupted run would (same batches, same
optimizer state). The step (train/steps.py) decides what is trained and what comes after each
validation; the trainer knows no model names. It runs on the TensorFlow or the torch Keras
backend (`KERAS_BACKEND`); on TensorFlow `distribute` wraps the run in a `tf.distribute`
strategy: the same recipe runs on one CPU, several GPUs (mirrored) or a cluster
(multi-worker, via TF_CONFIG; train/placement.py).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from mobiledenoise.errors import UserError
from mobiledenoise.models.registry import required_multiple
from mobiledenoise.train import checkpoint, runs
from mobiledenoise.train.config import TrainConfig, write
from mobiledenoise.train.monitor import RunLog, TrainProgress


@dataclass
class TrainResult:
    out_dir: Path
    steps: int
    best_val_psnr: float
    input_val_psnr: float
    seconds: float
    resumed_from: int
    replicas: int = 1
    train_seconds: float = 0.0  # wall time of the training loop, summed over resumes
    cpu_seconds: float = 0.0  # process CPU time of the training loop, summed over resumes
    step_seconds: float = float("nan")  # median wall time of this call's steps after the first


def training_pairs(config: TrainConfig):
    """(train, validation) pairs. Only the `data` folders are split by scene: `train_only`
    folders and clean-only `synthetic_from` images only ever train, so adding them can never
    move a scene from validation into training."""
    from mobiledenoise.data.pairs import find_clean_images, find_pairs, is_excluded, split_by_scene

    if not config.data and not config.synthetic_from:
        raise UserError("expected training data, received none; pass --data DIR (a folder of "
                        "noisy/ + clean/ pairs)")
    pairs = [p for folder in config.data for p in find_pairs(folder)]
    if config.val_data:
        train, val = pairs, find_pairs(config.val_data)
    else:
        train, val = split_by_scene(pairs, config.val_fraction, config.seed)
    train += [p for folder in config.train_only for p in find_pairs(folder)]
    train += [p for folder in config.synthetic_from for p in find_clean_images(folder)]
    return [p for p in train if not is_excluded(p.name, config.exclude)], val


def train(config: TrainConfig, out_dir: str | Path, *, progress: bool = True,
          stop_after: int | None = None, time_limit_s: float | None = None) -> TrainResult:
    """Train (or resume) into `out_dir`. `stop_after` ends the process's work after that many
    steps of this call (used to test resume), as if it had been killed right after a checkpoint.

    `time_limit_s` is a wall-clock budget for the whole run: training stops after the first step
    at which the loop's wall time, summed over resumes (the checkpoint keeps it, so a killed run
    is charged up to its last checkpoint), reaches it; that step is validated and checkpointed.
    The first step of each call is not charged: it traces the step function, which can take
    longer than many steps. Resuming with a larger `config.steps` or limit continues the run."""
    import keras

    from mobiledenoise.data.patches import PatchSampler, prefetched_batches
    from mobiledenoise.models.registry import describe
    from mobiledenoise.train.losses import make_loss
    from mobiledenoise.train.placement import check_batch_split, place
    from mobiledenoise.train.steps import build_step
    from mobiledenoise.train.update import PhaseTrainer
    from mobiledenoise.train.validation import ValidationSet

    run = runs.RunFolder(out_dir)
    found = checkpoint.find(run.checkpoint)
    _check_resume(config, run, found)
    _seed(config.seed)
    if config.deterministic:
        _deterministic_ops()
    train_pairs, val_pairs = training_pairs(config)
    placement = place(config.distribute, worker_timeout_s=config.worker_timeout_s)
    check_batch_split(config.batch_size, placement.replicas)
    loss_fn = make_loss(config.loss)
    state = {"step": 0, "best_val_psnr": float("-inf"), "train_seconds": 0.0, "cpu_seconds": 0.0}
    if found is not None:
        state = {**state, **checkpoint.load_state(found)}
    start = int(state["step"])
    with placement.scope():
        step_obj = build_step(config, loss_fn, state.get("phase"))
    trainer = PhaseTrainer(step_obj, config, placement, iterations=start)
    if found is not None:
        trainer.restore(found)
    elif config.init_from:
        _init_weights(step_obj.model, config.init_from)
    model = step_obj.model
    chief = placement.is_chief

    if chief:
        run.root.mkdir(parents=True, exist_ok=True)
        write(config, run.config)
        run.write_identity(describe(model))
    multiple = required_multiple(model)
    validation = ValidationSet(val_pairs, config.val_crop, multiple)
    input_psnr = validation.input_psnr()
    _check_patch_multiple(config.patch_size, multiple, config.model)
    sampler = PatchSampler(train_pairs, config, seed=config.seed)
    end = config.steps if stop_after is None else min(config.steps, start + stop_after)
    batches = prefetched_batches(sampler, start, end, placement.shards, placement.replicas,
                                 ahead=config.data_threads)

    log = RunLog(run, start, enabled=chief)
    began, step = time.time(), start
    clock = _Clock(state)
    bar = TrainProgress(progress, start, config.steps, input_psnr)
    try:
        with _interrupt_on_sigterm(), bar:
            for batch in batches:
                with clock.step():
                    row = {"step": step + 1, **trainer(batch), "lr": trainer.learning_rate()}
                step += 1
                state["step"], state["phase"] = step, trainer.step.phase
                # charged before validating: the last validation is not part of the budget
                elapsed = clock.charge()
                out_of_time = time_limit_s is not None and elapsed >= time_limit_s
                if step % config.val_every == 0 or step == config.steps or out_of_time:
                    row.update(validation.evaluate(model))
                    if row["val_psnr"] > state["best_val_psnr"]:
                        state["best_val_psnr"] = row["val_psnr"]
                        if chief:
                            model.save_weights(run.best_weights)
                    following = trainer.step.after_validation(row, validation.evaluate)
                    if following is not None:  # a new phase: a fresh optimizer for its variables
                        trainer = PhaseTrainer(following, config, placement, iterations=step)
                        state["phase"], state["phase_from"] = following.phase, step
                if step % config.log_every == 0 or "val_psnr" in row:
                    log.write(row)
                if chief and (step % config.checkpoint_every == 0 or step == end or out_of_time):
                    trainer.save(run.checkpoint, state)
                    if config.keep_snapshots:
                        run.snapshots.mkdir(exist_ok=True)
                        model.save_weights(run.snapshot(step))
                bar.advance(row)
                if out_of_time:
                    break
    except KeyboardInterrupt:
        clock.charge()
        if chief:
            trainer.save(run.checkpoint, state)
        log.close()
        raise UserError(f"interrupted at step {step}; checkpoint saved in {run.checkpoint}; run "
                        "the same command again to resume") from None
    except Exception as exc:
        if not placement.lost_peer(exc):
            raise
        log.close()
        saved = checkpoint.find(run.checkpoint)
        resume = checkpoint.load_state(saved)["step"] if saved else 0
        raise UserError(f"expected every worker to keep training, received no answer from another "
                        f"worker after step {step} ({type(exc).__name__}); start every worker's "
                        f"command again to resume from the checkpoint of step {resume}") from None
    log.close()
    if chief and not run.best_weights.exists():
        model.save_weights(run.best_weights)
    return TrainResult(run.root, step, state["best_val_psnr"], input_psnr, time.time() - began,
                       start, placement.replicas, state["train_seconds"], state["cpu_seconds"],
                       clock.median_step())


class _Clock:
    """The run's training time in `state` (train_seconds, cpu_seconds: summed over resumes, so
    checkpoints carry them). The first step of a call also traces the step function: its time
    is not charged, nor counted in `median_step`."""

    def __init__(self, state: dict):
        self.state, self.steps, self.first = state, [], (0.0, 0.0)
        self.began = (time.time(), time.process_time())
        self.before = (state["train_seconds"], state["cpu_seconds"])

    @contextlib.contextmanager
    def step(self):
        wall, cpu = time.time(), time.process_time()
        yield
        self.steps.append(time.time() - wall)
        if len(self.steps) == 1:
            self.first = (self.steps[0], time.process_time() - cpu)

    def charge(self) -> float:
        self.state["train_seconds"] = self.before[0] + time.time() - self.began[0] - self.first[0]
        self.state["cpu_seconds"] = self.before[1] + time.process_time() - self.began[1] - self.first[1]
        return self.state["train_seconds"]

    def median_step(self) -> float:
        return statistics.median(self.steps[1:]) if len(self.steps) > 1 else float("nan")


def _seed(seed: int) -> None:
    """`keras.utils.set_random_seed`, which also seeds TensorFlow when it is installed and so
    imports it; a torch run hides TensorFlow from that call to keep its training side free of it."""
    import sys

    import keras

    if keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    sys.modules["tensorflow"] = None  # `import tensorflow` raises ImportError meanwhile
    try:
        keras.utils.set_random_seed(seed)
    finally:
        del sys.modules["tensorflow"]


def _deterministic_ops() -> None:
    """Deterministic kernels on whichever backend runs (exact resume on GPUs too)."""
    import keras

    if keras.backend.backend() == "torch":
        import torch

        torch.use_deterministic_algorithms(True)
    else:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


@contextlib.contextmanager
def _interrupt_on_sigterm():
    """`kill PID` checkpoints and stops like Ctrl-C. A run started in the background
    (`cmd &`, nohup) ignores SIGINT, so SIGTERM is the way to stop it without losing steps."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _init_weights(model, source: str) -> None:
    """Fine-tuning: start from another run's final weights (same architecture required)."""
    start = runs.load_model(source, weights="last")
    if [w.shape for w in start.get_weights()] != [w.shape for w in model.get_weights()]:
        raise UserError(f"expected init_from {source} to hold a {model.family} of the same "
                        "configuration, received different weight shapes; check the model config")
    model.set_weights(start.get_weights())


def _check_patch_multiple(patch_size: int, multiple: int, model: str) -> None:
    if patch_size % multiple:
        raise UserError(f"expected a patch size divisible by {multiple} for model {model}, "
                        f"received {patch_size}; use e.g. {patch_size // multiple * multiple or multiple}")


def _check_resume(config: TrainConfig, run: runs.RunFolder, found) -> None:
    """A run folder holds one run: resuming with another model or data is refused."""
    saved = run.config
    if found is None or not saved.is_file():
        return
    import yaml

    previous = yaml.safe_load(saved.read_text())
    for key in ("model", "preset", "model_config", "data", "seed", "patch_size", "batch_size"):
        if previous.get(key) != getattr(config, key):
            raise UserError(f"expected the same {key} as the run being resumed in {run.root} "
                            f"({previous.get(key)!r}), received {getattr(config, key)!r}; "
                            "use a new --out folder")
