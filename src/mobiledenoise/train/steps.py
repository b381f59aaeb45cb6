"""Training steps: small objects that turn a batch into a dict of named losses.

`loss` is what gets minimised; the other entries (`l_pix`, `l_kd`, `l_super`, ...) are logged.
Swapping the step — not the script — is how distillation and once-for-all training differ
from plain training. The trainer knows steps only through this protocol:

- `step(noisy, clean) -> {"loss": ..., ...}` and `step.trainable_variables`;
- `step.model`: the model that is validated, kept as best weights and exported;
- `step.checkpoint_model`: the model whose weights cover every trained variable;
- `step.phase`: a name saved in the checkpoint, so `build_step` resumes the same phase;
- `step.after_validation(row, evaluate)`: may add entries to the logged row and returns the
  step that trains from now on (a fresh optimizer is built for it) or None to keep going.

Written in keras.ops: every step runs on the TensorFlow and the torch backend.
"""

from __future__ import annotations

from keras import ops

from mobiledenoise.errors import UserError


class PlainStep:
    """loss = L(model(noisy), clean). `forward` (default: `model`) is the network trained, e.g.
    a fake-quantised clone sharing the model's layers (train/fake_quant.py)."""

    def __init__(self, model, loss_fn, *, forward=None, phase: str = "main"):
        self.model, self.loss_fn, self.phase = model, loss_fn, phase
        self.forward = forward or model

    @property
    def checkpoint_model(self):
        return self.model

    @property
    def trainable_variables(self):
        return self.forward.trainable_variables

    def after_validation(self, row: dict, evaluate):
        return None

    def __call__(self, noisy, clean) -> dict:
        l_pix = self.loss_fn(self.forward(noisy, training=True), clean)
        return {"loss": l_pix, "l_pix": l_pix}


class UnrolledStep(PlainStep):
    """A model trained to be run `passes` times in a row on its own output (what
    `denoise --passes auto` does on heavy noise, deploy/adaptive.py):

        loss = Σₖ L(modelᵏ(noisy), clean),  k = 1..passes

    Gradients flow through every pass. The first pass keeps its own loss, so one pass stays as
    good as it can be, and the later passes learn to leave a denoised image alone where it is
    clean and to take out what the first pass left where it is not."""

    def __init__(self, model, loss_fn, passes: int, *, forward=None):
        super().__init__(model, loss_fn, forward=forward)
        self.passes = passes

    def __call__(self, noisy, clean) -> dict:
        output = self.forward(noisy, training=True)
        losses = {"l_pix": self.loss_fn(output, clean)}
        for k in range(2, self.passes + 1):
            output = self.forward(output, training=True)
            losses[f"l_pass{k}"] = self.loss_fn(output, clean)
        return {"loss": sum(losses.values()), **losses}


class DistillStep(PlainStep):
    """Knowledge distillation (NOAHTCV, ENERZAi): the student is pulled towards both the clean
    target and a frozen teacher's output on the same noisy input:

        loss = (1 − α)·L(student, clean) + α·L(student, teacher(noisy))

    The teacher runs in inference mode on the fly; its weights are never updated.
    """

    def __init__(self, student, teacher, loss_fn, alpha: float, *, forward=None):
        super().__init__(student, loss_fn, forward=forward)
        self.teacher, self.alpha = teacher, alpha
        teacher.trainable = False

    def __call__(self, noisy, clean) -> dict:
        target = ops.stop_gradient(self.teacher(noisy, training=False))
        prediction = self.forward(noisy, training=True)
        l_pix = self.loss_fn(prediction, clean)
        l_kd = self.loss_fn(prediction, target)
        loss = (1.0 - self.alpha) * l_pix + self.alpha * l_kd
        return {"loss": loss, "l_pix": l_pix, "l_kd": l_kd}


class SuperSubStep(PlainStep):
    """Once-for-all joint training (ENERZAi): the sub-network and the super-network share their
    trunk; both are trained at once:

        loss = L(sub(noisy), clean) + w·L(super(noisy), clean)

    Once the super-net's validation PSNR reaches `threshold_db`, its extra blocks are detached:
    the next step fine-tunes the sub-net alone (phase "sub").
    """

    def __init__(self, super_model, sub_model, loss_fn, super_weight: float = 1.0,
                 threshold_db: float = float("inf")):
        super().__init__(sub_model, loss_fn, phase="joint")
        self.super_model, self.super_weight = super_model, super_weight
        self.threshold_db = threshold_db

    @property
    def checkpoint_model(self):
        return self.super_model  # its weights include every shared one

    @property
    def trainable_variables(self):
        # The super-net's variables include every shared one; keep a stable, unique order.
        seen, result = set(), []
        for v in self.super_model.trainable_variables + self.model.trainable_variables:
            if id(v) not in seen:
                seen.add(id(v))
                result.append(v)
        return result

    def after_validation(self, row: dict, evaluate):
        row["val_psnr_super"] = evaluate(self.super_model)["val_psnr"]
        if row["val_psnr_super"] < self.threshold_db:
            return None
        row["detached"] = 1
        return PlainStep(self.model, self.loss_fn, phase="sub")

    def __call__(self, noisy, clean) -> dict:
        l_sub = self.loss_fn(self.model(noisy, training=True), clean)
        l_super = self.loss_fn(self.super_model(noisy, training=True), clean)
        return {"loss": l_sub + self.super_weight * l_super, "l_pix": l_sub, "l_super": l_super}


def build_step(config, loss_fn, phase: str | None = None):
    """The step a `TrainConfig` asks for, in `phase` when resuming one (None: the first)."""
    from mobiledenoise.models import build_model, get_spec, list_models
    from mobiledenoise.models.registry import resolve_config

    model_config = resolve_config(config.model, config.preset, **config.model_config)
    if config.ofa_threshold_db is not None:
        build_pair = get_spec(config.model).supernet_fn
        if build_pair is None:
            with_supernet = [m for m in list_models() if get_spec(m).supernet_fn]
            raise UserError(f"expected a model with a super-network for once-for-all training "
                            f"(ofa_threshold_db): {', '.join(with_supernet)}, received "
                            f"{config.model!r}; remove ofa_threshold_db or change the model")
        super_model, sub_model = build_pair(model_config)
        if phase == "sub":
            return PlainStep(sub_model, loss_fn, phase="sub")
        return SuperSubStep(super_model, sub_model, loss_fn, config.ofa_super_weight,
                            config.ofa_threshold_db)
    model = build_model(config.model, model_config)
    forward = None
    if config.quantization_aware:  # the step trains a fake-quant clone sharing model's layers
        from mobiledenoise.train.fake_quant import fake_quant_model

        forward = fake_quant_model(model)
    if config.teacher:
        from mobiledenoise.train.runs import load_model

        return DistillStep(model, load_model(config.teacher), loss_fn, config.distill_alpha,
                           forward=forward)
    if config.unrolled_passes > 1:
        return UnrolledStep(model, loss_fn, config.unrolled_passes, forward=forward)
    return PlainStep(model, loss_fn, forward=forward)
