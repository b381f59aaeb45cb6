"""Run folders: what a training run leaves behind, and loading a model back from one.

    RUN/
      config.yaml        the resolved training config (defaults <- recipe <- CLI overrides)
      model.json         {"model": name, "config": {...}} — rebuilds the architecture
      best.weights.h5    weights with the best validation PSNR so far
      checkpoint/        last checkpoint: model.weights.h5, optimizer.npz, state.json (exact resume)
      snapshots/         step-N.weights.h5 at every checkpoint, with `keep_snapshots: true`
      log.csv            step, losses, learning rate, validation PSNR
      tensorboard/       the same as TensorBoard events

In a multi-worker run only the chief writes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mobiledenoise.errors import UserError
from mobiledenoise.train import checkpoint as ckpt


@dataclass(frozen=True)
class RunFolder:
    """The one place that knows the layout above (the checkpoint folder's own files are
    `train/checkpoint.py`'s)."""

    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    config = property(lambda self: self.root / "config.yaml")
    model_json = property(lambda self: self.root / "model.json")
    best_weights = property(lambda self: self.root / "best.weights.h5")
    checkpoint = property(lambda self: self.root / "checkpoint")
    last_weights = property(lambda self: ckpt.weights_file(self.checkpoint))
    log = property(lambda self: self.root / "log.csv")
    tensorboard = property(lambda self: self.root / "tensorboard")
    snapshots = property(lambda self: self.root / "snapshots")

    def snapshot(self, step: int) -> Path:
        return self.snapshots / f"step-{step}.weights.h5"

    def snapshot_steps(self) -> list[int]:
        """The steps with a kept snapshot, in order."""
        names = self.snapshots.glob("step-*.weights.h5") if self.snapshots.is_dir() else []
        return sorted(int(p.name[len("step-"):-len(".weights.h5")]) for p in names)

    def write_identity(self, identity: dict) -> None:
        """model.json: what `load_model` rebuilds the architecture from."""
        self.model_json.write_text(json.dumps(identity, indent=2))


def is_run_dir(path: str | Path) -> bool:
    return RunFolder(path).model_json.is_file()


def read_model_json(run_dir: str | Path) -> dict:
    return json.loads(RunFolder(run_dir).model_json.read_text())


def load_model(source: str | Path, *, input_shape=(None, None, 3), batch_size=None,
               weights: str = "best"):
    """A keras.Model from a run folder (trained weights) or a registered model name (fresh).

    `weights` is "best" (best validation PSNR) or "last" (the latest checkpoint).
    """
    from mobiledenoise.models import build_model, list_models

    if weights not in ("best", "last"):
        raise UserError(f"expected weights best|last, received {weights!r}")
    path = Path(source)
    if is_run_dir(path):
        identity = read_model_json(path)
        model = build_model(identity["model"], identity["config"], input_shape=input_shape,
                            batch_size=batch_size)
        run = RunFolder(path)
        candidates = [run.best_weights, run.last_weights]
        if weights == "last":
            candidates.reverse()
        for file in candidates:
            if file.is_file():
                model.load_weights(file)
                return model
        raise UserError(f"expected trained weights in run folder {path}, found none; "
                        "train it first (`mobiledenoise train ... --out RUN`)")
    if path.exists():
        raise UserError(f"expected a run folder holding model.json or a model name, received "
                        f"{path}; pass the folder given to `mobiledenoise train --out`")
    if str(source) in list_models():
        return build_model(str(source), None, input_shape=input_shape, batch_size=batch_size)
    raise UserError(f"expected a run folder or a registered model name ({', '.join(list_models())}), "
                    f"received {source!r}")
