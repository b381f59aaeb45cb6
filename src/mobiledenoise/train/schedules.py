"""Learning-rate schedules: constant, cosine decay (NOAHTCV, Megvii, Mier, MOMA) and the
triangular cyclical schedule (ENERZAi, after Smith 2017), all as Keras schedules."""

from __future__ import annotations

import keras

from mobiledenoise.errors import UserError


@keras.saving.register_keras_serializable(package="mobiledenoise")
class CyclicalLR(keras.optimizers.schedules.LearningRateSchedule):
    """Triangular cycles between `low` and `high`, `half_cycle` steps up then down;
    with `decay` < 1 the amplitude shrinks by that factor each cycle ("triangular2"-like)."""

    def __init__(self, low: float, high: float, half_cycle: int, decay: float = 1.0):
        self.low, self.high, self.half_cycle, self.decay = low, high, int(half_cycle), decay

    def __call__(self, step):
        from keras import ops

        step = ops.cast(step, "float32")
        cycle = ops.floor(step / (2.0 * self.half_cycle))
        x = ops.abs(step / self.half_cycle - 2.0 * cycle - 1.0)
        amplitude = (self.high - self.low) * ops.power(self.decay, cycle)
        return self.low + amplitude * ops.maximum(0.0, 1.0 - x)

    def get_config(self):
        return {"low": self.low, "high": self.high, "half_cycle": self.half_cycle,
                "decay": self.decay}


def make_schedule(kind: str, *, lr: float, lr_min: float, steps: int, cycle_steps: int = 0):
    if kind == "constant":
        return lr
    if kind == "cosine":
        return keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, steps),
                                                      alpha=lr_min / lr if lr else 0.0)
    if kind == "cyclical":
        half = max(1, (cycle_steps or max(2, steps // 4)) // 2)
        return CyclicalLR(lr_min, lr, half, decay=0.5)
    raise UserError(f"expected a schedule constant|cosine|cyclical, received {kind!r}")
