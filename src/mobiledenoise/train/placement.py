"""Where a training process runs: one device, several on one machine (`mirrored`) or one
worker of a cluster (`multiworker`, configured by the `TF_CONFIG` environment variable).

`batch_size` is always the global batch: each replica trains on its own shard of it
(`PatchSampler.batch(step, shard, shards)`), so a cluster sees the very samples a single
process would, and each worker makes only its own shards. Only the chief writes the run
folder. The tf.distribute strategies need the TensorFlow backend; on the torch backend a run
uses one device (Keras picks the GPU when torch sees one) and TensorFlow is never imported.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from mobiledenoise.errors import UserError

DISTRIBUTE_KINDS = ("none", "mirrored", "multiworker")


@dataclass
class Placement:
    strategy: Any = None  # a tf.distribute strategy; None on the torch backend
    shards: tuple[int, ...] = (0,)  # the global-batch shards this process's replicas train on
    replicas: int = 1  # shards of the global batch, over all workers
    is_chief: bool = True  # writes the run folder
    workers: int = 1

    def scope(self):
        """Where models and optimizers are built (mirrored variables under a strategy)."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def distribute(self, batches: list):
        """(noisy, clean) for this process's replicas from one NumPy batch per shard."""
        from keras import ops

        if self.strategy is None:
            return tuple(ops.convert_to_tensor(a) for a in batches[0])
        import tensorflow as tf

        by_replica = dict(zip(self.shards, batches))

        def part(i):
            return self.strategy.experimental_distribute_values_from_function(
                lambda ctx: tf.convert_to_tensor(by_replica[ctx.replica_id_in_sync_group][i]))

        return part(0), part(1)

    def lost_peer(self, exc: BaseException) -> bool:
        """True for the errors a collective raises when another worker died or timed out."""
        if self.workers < 2:
            return False
        import tensorflow as tf

        return isinstance(exc, (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
                                tf.errors.CancelledError, tf.errors.AbortedError,
                                tf.errors.InternalError))


def place(kind: str, *, worker_timeout_s: float) -> Placement:
    """The placement for `distribute: kind` on the current Keras backend."""
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        if kind != "none":
            raise UserError(f"expected distribute none on the {backend} backend, received "
                            f"{kind!r}; tf.distribute needs --backend tensorflow (a {backend} "
                            "run uses one GPU when there is one)")
        return Placement()
    import tensorflow as tf

    from mobiledenoise.train.rendezvous import CLUSTER_JOBS, wait_for_peers

    workers = 1
    if kind == "mirrored":
        if not tf.config.list_physical_devices("GPU"):
            _split_cpu(tf)
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        strategy = tf.distribute.MirroredStrategy(devices=devices)
    elif kind == "multiworker":
        # A collective that waits longer than this (a dead or hung peer) fails instead of hanging.
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=worker_timeout_s)
        wait_for_peers(worker_timeout_s)  # TensorFlow's own wait for them has no timeout
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        spec = strategy.cluster_resolver.cluster_spec()
        workers = sum(spec.num_tasks(job) for job in spec.jobs if job in CLUSTER_JOBS)
    else:
        strategy = tf.distribute.get_strategy()
    ids = strategy.experimental_distribute_values_from_function(
        lambda ctx: ctx.replica_id_in_sync_group)
    shards = tuple(int(i) for i in strategy.experimental_local_results(ids))
    return Placement(strategy, shards, strategy.num_replicas_in_sync,
                     bool(strategy.extended.should_checkpoint), workers)


def _split_cpu(tf) -> None:
    """Without GPUs, mirror across two logical CPU devices so `mirrored` really replicates."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    except RuntimeError:  # the runtime already started (e.g. inside tests): keep its devices
        pass


def check_batch_split(batch_size: int, replicas: int) -> None:
    if batch_size % replicas:
        raise UserError(f"expected a batch size divisible by the {replicas} replicas, received "
                        f"{batch_size}; use e.g. {max(1, batch_size // replicas) * replicas}")
