"""Training steps: small objects that turn a batch into a dict of named losses.

`loss` is what gets minimised; the other entries (`l_pix`, `l_kd`, `l_super`, ...) are logged.
Swapping the step — not the script — is how distillation and once-for-all training differ
from plain training. Each step lists the variables it trains.
"""

from __future__ import annotations


class PlainStep:
    """loss = L(model(noisy), clean)."""

    def __init__(self, model, loss_fn):
        self.model, self.loss_fn = model, loss_fn

    @property
    def trainable_variables(self):
        return self.model.trainable_variables

    def __call__(self, noisy, clean) -> dict:
        l_pix = self.loss_fn(self.model(noisy, training=True), clean)
        return {"loss": l_pix, "l_pix": l_pix}


class DistillStep:
    """Knowledge distillation (NOAHTCV, ENERZAi): the student is pulled towards both the clean
    target and a frozen teacher's output on the same noisy input:

        loss = (1 − α)·L(student, clean) + α·L(student, teacher(noisy))

    The teacher runs in inference mode on the fly; its weights are never updated.
    """

    def __init__(self, student, teacher, loss_fn, alpha: float):
        self.model, self.teacher, self.loss_fn, self.alpha = student, teacher, loss_fn, alpha
        teacher.trainable = False

    @property
    def trainable_variables(self):
        return self.model.trainable_variables

    def __call__(self, noisy, clean) -> dict:
        import tensorflow as tf

        target = tf.stop_gradient(self.teacher(noisy, training=False))
        prediction = self.model(noisy, training=True)
        l_pix = self.loss_fn(prediction, clean)
        l_kd = self.loss_fn(prediction, target)
        return {"loss": (1.0 - self.alpha) * l_pix + self.alpha * l_kd, "l_pix": l_pix, "l_kd": l_kd}


class SuperSubStep:
    """Once-for-all joint training (ENERZAi): the sub-network and the super-network share their
    U-Net module; both are trained at once:

        loss = L(sub(noisy), clean) + w·L(super(noisy), clean)
    """

    def __init__(self, super_model, sub_model, loss_fn, super_weight: float = 1.0):
        self.model, self.super_model = sub_model, super_model
        self.loss_fn, self.super_weight = loss_fn, super_weight

    @property
    def trainable_variables(self):
        # The super-net's variables include every shared one; keep a stable, unique order.
        seen, result = set(), []
        for v in self.super_model.trainable_variables + self.model.trainable_variables:
            if id(v) not in seen:
                seen.add(id(v))
                result.append(v)
        return result

    def __call__(self, noisy, clean) -> dict:
        l_sub = self.loss_fn(self.model(noisy, training=True), clean)
        l_super = self.loss_fn(self.super_model(noisy, training=True), clean)
        return {"loss": l_sub + self.super_weight * l_super, "l_pix": l_sub, "l_super": l_super}
