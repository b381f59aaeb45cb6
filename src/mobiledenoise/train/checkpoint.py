"""Checkpoints for exact resume: model weights, every optimizer variable (moments, iteration
count) and the trainer state (step, best validation PSNR, phase), saved atomically.

Batches are a pure function of (seed, step) (see data/patches.py), so the step is all the
data-pipeline state there is. A checkpoint is written into a temporary folder and swapped in
with renames, so a crash mid-save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np

_WEIGHTS, _OPTIMIZER, _STATE = "model.weights.h5", "optimizer.npz", "state.json"


def weights_file(folder: Path) -> Path:
    return Path(folder) / _WEIGHTS


def save(folder: Path, model, optimizer, state: dict) -> None:
    tmp, old = folder.with_name(folder.name + ".tmp"), folder.with_name(folder.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_weights(tmp / _WEIGHTS)
    np.savez(tmp / _OPTIMIZER, *[np.asarray(v.numpy()) for v in optimizer.variables])
    (tmp / _STATE).write_text(json.dumps(_json_safe(state), indent=2, allow_nan=False))
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def find(folder: Path) -> Path | None:
    """The newest complete checkpoint folder (the `.old` one if a crash hit mid-swap)."""
    for candidate in (folder, folder.with_name(folder.name + ".old")):
        if (candidate / _STATE).is_file():
            return candidate
    return None


def load_state(folder: Path) -> dict:
    state = json.loads((folder / _STATE).read_text())
    if state.get("best_val_psnr") is None:  # not validated yet (older files hold -Infinity)
        state["best_val_psnr"] = float("-inf")
    return state


def _json_safe(state: dict) -> dict:
    """Strict JSON: no validation yet is `null`, not Python's non-standard `-Infinity`."""
    best = state.get("best_val_psnr")
    return {**state, "best_val_psnr": best if best is not None and math.isfinite(best) else None}


def restore(folder: Path, model, optimizer, trainable_variables) -> dict:
    model.load_weights(folder / _WEIGHTS)
    optimizer.build(trainable_variables)
    with np.load(folder / _OPTIMIZER) as arrays:
        values = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
    if len(values) != len(optimizer.variables):
        raise RuntimeError(f"checkpoint {folder} holds {len(values)} optimizer variables, the "
                           f"optimizer has {len(optimizer.variables)}")
    for variable, value in zip(optimizer.variables, values):
        variable.assign(value)
    return load_state(folder)
