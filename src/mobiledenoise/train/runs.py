"""Run folders: what a training run leaves behind, and loading a model back from one.

    RUN/
      config.yaml        the resolved training config (defaults <- recipe <- CLI overrides)
      model.json         {"model": name, "config": {...}} — rebuilds the architecture
      best.weights.h5    weights with the best validation PSNR so far
      checkpoint/        last checkpoint: weights.h5, optimizer.npz, state.json (exact resume)
      log.csv            step, losses, learning rate, validation PSNR
      tensorboard/       the same as TensorBoard events
"""

from __future__ import annotations

import json
from pathlib import Path

from mobiledenoise.errors import UserError

MODEL_JSON = "model.json"
BEST_WEIGHTS = "best.weights.h5"
CHECKPOINT_DIR = "checkpoint"


def is_run_dir(path: str | Path) -> bool:
    return (Path(path) / MODEL_JSON).is_file()


def read_model_json(run_dir: str | Path) -> dict:
    return json.loads((Path(run_dir) / MODEL_JSON).read_text())


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
        candidates = [path / BEST_WEIGHTS, path / CHECKPOINT_DIR / "model.weights.h5"]
        if weights == "last":
            candidates.reverse()
        for file in candidates:
            if file.is_file():
                model.load_weights(file)
                return model
        raise UserError(f"expected trained weights in run folder {path}, found none; "
                        "train it first (`mobiledenoise train ... --out RUN`)")
    if path.exists():
        raise UserError(f"expected a run folder holding {MODEL_JSON} or a model name, received "
                        f"{path}; pass the folder given to `mobiledenoise train --out`")
    if str(source) in list_models():
        return build_model(str(source), None, input_shape=input_shape, batch_size=batch_size)
    raise UserError(f"expected a run folder or a registered model name ({', '.join(list_models())}), "
                    f"received {source!r}")
