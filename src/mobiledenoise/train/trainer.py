"""The trainer: one loop for every recipe, with checkpoints and exact resume.

`train(config, out_dir)` builds the data pipeline, the model and the training step from a
resolved `TrainConfig`, then runs steps until `config.steps`, logging to CSV/TensorBoard,
validating every `val_every` steps (best weights kept), and checkpointing every
`checkpoint_every` steps and on Ctrl-C or SIGTERM. Started again on the same folder it resumes from the
last checkpoint and continues exactly as an uninterrupted run would (same batches, same
optimizer state). `distribute` wraps the run in a `tf.distribute` strategy: the same recipe
runs on one CPU, several GPUs (mirrored) or a cluster (multi-worker, via TF_CONFIG).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import json
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


def _strategy(kind: str):
    import tensorflow as tf

    if kind == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices)
    if kind == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _pairs(config: TrainConfig):
    """(train, validation) pairs. Only the `data` folders are split by scene: `train_only`
    folders and clean-only `synthetic_from` images only ever train, so adding them can never
    move a scene from validation into training."""
    from mobiledenoise.data.pairs import find_clean_images, find_pairs, split_by_scene

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
    excluded = [p for p in train if any(fnmatch.fnmatch(p.name, pat) for pat in config.exclude)]
    return [p for p in train if p not in excluded], val


def _build_step(config: TrainConfig, loss_fn, phase: str):
    """(model to save and export, training step) for this config and phase.

    Phases: "joint" (once-for-all super + sub training) then "sub" (the sub-net alone);
    every other recipe has the single phase "main".
    """
    from mobiledenoise.models import build_model
    from mobiledenoise.models.registry import resolve_config
    from mobiledenoise.train.steps import DistillStep, PlainStep, SuperSubStep

    model_config = resolve_config(config.model, config.preset, **config.model_config)
    if phase in ("joint", "sub"):
        from mobiledenoise.models.enerzai import build_super_and_sub

        if config.model != "enerzai":
            raise UserError(f"expected model enerzai for once-for-all training "
                            f"(ofa_threshold_db), received {config.model!r}")
        super_model, sub_model = build_super_and_sub(model_config)
        if phase == "sub":
            return sub_model, PlainStep(sub_model, loss_fn)
        return sub_model, SuperSubStep(super_model, sub_model, loss_fn, config.ofa_super_weight)
    model = build_model(config.model, model_config)
    trained = model
    if config.quantization_aware:  # the step trains a fake-quant clone sharing model's layers
        from mobiledenoise.train.fake_quant import fake_quant_model

        trained = fake_quant_model(model)
    if config.teacher:
        teacher = runs.load_model(config.teacher)
        return model, DistillStep(trained, teacher, loss_fn, config.distill_alpha)
    return model, PlainStep(trained, loss_fn)


def _optimizer(config: TrainConfig):
    import keras

    from mobiledenoise.train.schedules import make_schedule

    schedule = make_schedule(config.schedule, lr=config.lr, lr_min=config.lr_min,
                             steps=config.steps, cycle_steps=config.cycle_steps)
    kwargs = {"learning_rate": schedule, "clipnorm": config.clipnorm}
    if config.optimizer == "adam":
        return keras.optimizers.Adam(**kwargs)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(weight_decay=config.weight_decay, **kwargs)
    raise UserError(f"expected optimizer adam|adamw, received {config.optimizer!r}")


def train(config: TrainConfig, out_dir: str | Path, *, progress: bool = True,
          stop_after: int | None = None) -> TrainResult:
    """Train (or resume) into `out_dir`. `stop_after` ends the process's work after that many
    steps of this call (used to test resume), as if it had been killed right after a checkpoint."""
    import keras
    import tensorflow as tf

    from mobiledenoise.data.patches import PatchConfig, PatchSampler, make_dataset
    from mobiledenoise.models.registry import describe
    from mobiledenoise.train.losses import make_loss
    from mobiledenoise.train.validation import ValidationSet

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_dir = out_dir / runs.CHECKPOINT_DIR
    found = checkpoint.find(ckpt_dir)
    _check_resume(config, out_dir, found)

    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    train_pairs, val_pairs = _pairs(config)
    strategy = _strategy(config.distribute)
    loss_fn = make_loss(config.loss)
    state = {"step": 0, "best_val_psnr": float("-inf"),
             "phase": "joint" if config.ofa_threshold_db is not None else "main"}
    if found is not None:
        state = {**state, **checkpoint.load_state(found)}
    trainer = _PhaseTrainer(config, strategy, loss_fn, state["phase"])
    if found is not None:
        trainer.restore(found)
    elif config.init_from:
        _init_weights(trainer.model, config.init_from)
    start = int(state["step"])
    model = trainer.model

    write(config, out_dir / "config.yaml")
    (out_dir / runs.MODEL_JSON).write_text(json.dumps(describe(model), indent=2))
    multiple = required_multiple(model)
    validation = ValidationSet(val_pairs, config.val_crop, multiple)
    input_psnr = validation.input_psnr()

    # The patch options are TrainConfig fields of the same names.
    patch = PatchConfig(**{f.name: getattr(config, f.name) for f in dataclasses.fields(PatchConfig)
                           if hasattr(config, f.name)})
    _check_patch_multiple(config.patch_size, multiple, config.model)
    sampler = PatchSampler(train_pairs, patch, seed=config.seed)
    end = config.steps if stop_after is None else min(config.steps, start + stop_after)
    dataset = strategy.experimental_distribute_dataset(make_dataset(sampler, start, end))

    log = RunLog(out_dir, start)
    writer = tf.summary.create_file_writer(str(out_dir / "tensorboard"))
    began, step = time.time(), start
    bar = TrainProgress(progress, start, config.steps, input_psnr)
    try:
        with _interrupt_on_sigterm(), bar:
            for noisy, clean in dataset:
                row = {"step": step + 1, **trainer.step(noisy, clean), "lr": trainer.learning_rate()}
                step += 1
                if step % config.val_every == 0 or step == config.steps:
                    row.update(validation.evaluate(model))
                    if row["val_psnr"] > state["best_val_psnr"]:
                        state["best_val_psnr"] = row["val_psnr"]
                        model.save_weights(out_dir / runs.BEST_WEIGHTS)
                    if state["phase"] == "joint":
                        row["val_psnr_super"] = validation.evaluate(trainer.step_obj.super_model)["val_psnr"]
                        if row["val_psnr_super"] >= config.ofa_threshold_db:
                            # Once-for-all: the super-net passed the bar; detach its blocks and
                            # fine-tune the sub-net alone (a fresh optimizer for its variables).
                            state["phase"], state["detached_at"] = "sub", step
                            trainer = _PhaseTrainer(config, strategy, loss_fn, "sub",
                                                    sub_model=model, step=step)
                            row["detached"] = 1
                if step % config.log_every == 0 or "val_psnr" in row:
                    log.write(row, writer)
                state["step"] = step
                if step % config.checkpoint_every == 0 or step == end:
                    trainer.save(ckpt_dir, state)
                bar.advance(row)
    except KeyboardInterrupt:
        state["step"] = step
        trainer.save(ckpt_dir, state)
        log.close()
        raise UserError(f"interrupted at step {step}; checkpoint saved in {ckpt_dir}; run the "
                        "same command again to resume") from None
    log.close()
    if not (out_dir / runs.BEST_WEIGHTS).exists():
        model.save_weights(out_dir / runs.BEST_WEIGHTS)
    return TrainResult(out_dir, step, state["best_val_psnr"], input_psnr, time.time() - began, start,
                       strategy.num_replicas_in_sync)


class _PhaseTrainer:
    """Model, step, optimizer and the compiled distributed train step of one phase."""

    def __init__(self, config: TrainConfig, strategy, loss_fn, phase: str, *, sub_model=None,
                 step: int = 0):
        import tensorflow as tf

        with strategy.scope():
            if sub_model is not None:  # detaching: keep the trained sub-net itself
                from mobiledenoise.train.steps import PlainStep

                self.model, self.step_obj = sub_model, PlainStep(sub_model, loss_fn)
            else:
                self.model, self.step_obj = _build_step(config, loss_fn, phase)
            self.optimizer = _optimizer(config)
            self.variables = self.step_obj.trainable_variables
            self.optimizer.build(self.variables)
            self.optimizer.iterations.assign(step)  # the LR schedule continues

        step_obj, optimizer, variables = self.step_obj, self.optimizer, self.variables

        def replica_step(noisy, clean):
            with tf.GradientTape() as tape:
                losses = step_obj(noisy, clean)
                scaled = losses["loss"] / strategy.num_replicas_in_sync
            grads = tape.gradient(scaled, variables)
            optimizer.apply_gradients(zip(grads, variables))
            return losses

        @tf.function
        def distributed_step(noisy, clean):
            per_replica = strategy.run(replica_step, args=(noisy, clean))
            return {k: strategy.reduce("MEAN", v, axis=None) for k, v in per_replica.items()}

        self._step = distributed_step

    def step(self, noisy, clean) -> dict:
        return {k: float(v) for k, v in self._step(noisy, clean).items()}

    def learning_rate(self) -> float:
        import keras

        return float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))

    def _weights_model(self):
        """The model whose weights cover every trained variable (the super-net when joint)."""
        return getattr(self.step_obj, "super_model", None) or self.model

    def save(self, folder: Path, state: dict) -> None:
        checkpoint.save(folder, self._weights_model(), self.optimizer, state)

    def restore(self, folder: Path) -> None:
        checkpoint.restore(folder, self._weights_model(), self.optimizer, self.variables)


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
        raise UserError(f"expected init_from {source} to hold a {model.denoiser_name} of the same "
                        "configuration, received different weight shapes; check the model config")
    model.set_weights(start.get_weights())


def _check_patch_multiple(patch_size: int, multiple: int, model: str) -> None:
    if patch_size % multiple:
        raise UserError(f"expected a patch size divisible by {multiple} for model {model}, "
                        f"received {patch_size}; use e.g. {patch_size // multiple * multiple or multiple}")


def _check_resume(config: TrainConfig, out_dir: Path, found) -> None:
    """A run folder holds one run: resuming with another model or data is refused."""
    saved = out_dir / "config.yaml"
    if found is None or not saved.is_file():
        return
    import yaml

    previous = yaml.safe_load(saved.read_text())
    for key in ("model", "preset", "model_config", "data", "seed", "patch_size", "batch_size"):
        if previous.get(key) != getattr(config, key):
            raise UserError(f"expected the same {key} as the run being resumed in {out_dir} "
                            f"({previous.get(key)!r}), received {getattr(config, key)!r}; "
                            "use a new --out folder")
