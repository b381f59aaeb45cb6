"""One training phase: a step, its optimizer and the compiled update (forward, gradients,
optimizer step) for the current Keras backend.

TensorFlow: a `tf.function` running the step on every replica of the placement's strategy,
losses averaged over replicas. torch: an eager step with `backward()`; TensorFlow is not
imported. Both feed the same NumPy batches and give the same dict of float losses.
"""

from __future__ import annotations

from pathlib import Path

from mobiledenoise.errors import UserError
from mobiledenoise.train import checkpoint
from mobiledenoise.train.placement import Placement


def make_optimizer(config):
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


class PhaseTrainer:
    """The step of one phase with a fresh optimizer whose schedule starts at `iterations`."""

    def __init__(self, step, config, placement: Placement, *, iterations: int = 0):
        import keras

        self.step, self.placement = step, placement
        with placement.scope():
            self.optimizer = make_optimizer(config)
            self.variables = step.trainable_variables
            self.optimizer.build(self.variables)
            self.optimizer.iterations.assign(iterations)  # the LR schedule continues
        if keras.backend.backend() == "torch":
            self._update = _torch_update(step, self.optimizer, self.variables)
        else:
            self._update = _tf_update(step, self.optimizer, self.variables, placement.strategy)

    def __call__(self, batches: list) -> dict:
        """Train on one batch (a NumPy (noisy, clean) per shard of this process)."""
        return self._update(*self.placement.distribute(batches))

    def learning_rate(self) -> float:
        import keras

        return float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))

    def save(self, folder: Path, state: dict) -> None:
        checkpoint.save(folder, self.step.checkpoint_model, self.optimizer, state)

    def restore(self, folder: Path) -> None:
        checkpoint.restore(folder, self.step.checkpoint_model, self.optimizer, self.variables)


def _tf_update(step, optimizer, variables, strategy):
    import tensorflow as tf

    def replica_step(noisy, clean):
        with tf.GradientTape() as tape:
            losses = step(noisy, clean)
            scaled = losses["loss"] / strategy.num_replicas_in_sync
        grads = tape.gradient(scaled, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return losses

    @tf.function
    def distributed_step(noisy, clean):
        per_replica = strategy.run(replica_step, args=(noisy, clean))
        return {k: strategy.reduce("MEAN", v, axis=None) for k, v in per_replica.items()}

    def update(noisy, clean) -> dict:
        return {k: float(v) for k, v in distributed_step(noisy, clean).items()}

    return update


def _torch_update(step, optimizer, variables):
    import torch

    def update(noisy, clean) -> dict:
        for variable in variables:
            variable.value.grad = None
        losses = step(noisy, clean)
        losses["loss"].backward()
        with torch.no_grad():
            optimizer.apply([v.value.grad for v in variables], variables)
        return {k: float(v.detach()) for k, v in losses.items()}

    return update
