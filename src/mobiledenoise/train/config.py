"""The training config: dataclass defaults <- YAML recipe <- CLI overrides, resolved once and
written into the run folder as `config.yaml`.

A recipe is a flat YAML mapping of these fields (plus `model_config:` for architecture
overrides); an unknown key is an error that lists the valid ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mobiledenoise.data.patches import PatchConfig
from mobiledenoise.errors import UserError


@dataclass(frozen=True)
class TrainConfig(PatchConfig):
    """Every recipe key. The patch and augmentation keys (patch_size, batch_size, flips,
    mixup_*, synthetic_*, clean_only_share, cache_mb) are `PatchConfig`'s, defaults included;
    `batch_size` is the global batch, split evenly over the replicas of a distributed run."""

    # what to train
    model: str = "unet"
    preset: str = "default"
    model_config: dict[str, Any] = field(default_factory=dict)
    # data
    data: list[str] = field(default_factory=list)  # folders of noisy/clean pairs
    val_data: str | None = None  # separate validation folder; default: split of `data` by scene
    val_fraction: float = 0.2
    train_only: list[str] = field(default_factory=list)  # extra folders never split for validation
    exclude: list[str] = field(default_factory=list)  # glob patterns of pair names not to train on
    val_crop: int = 512  # validation images are centre-cropped to at most this size
    synthetic_from: list[str] = field(default_factory=list)  # folders of clean images
    # optimisation
    init_from: str | None = None  # run folder whose weights start a new run (fine-tuning)
    steps: int = 2000
    loss: str = "l1"
    optimizer: str = "adam"
    lr: float = 1e-3
    lr_min: float = 1e-5
    schedule: str = "cosine"  # constant | cosine | cyclical
    cycle_steps: int = 0
    weight_decay: float = 0.0
    clipnorm: float | None = None
    # training tricks (see train/steps.py)
    teacher: str | None = None  # run folder or model name: knowledge distillation
    distill_alpha: float = 0.5  # weight of the teacher term
    ofa_threshold_db: float | None = None  # ENERZAi: detach the super-net above this val PSNR
    ofa_super_weight: float = 1.0
    quantization_aware: bool = False  # train through int8 rounding (train/fake_quant.py)
    unrolled_passes: int = 1  # > 1: also train the model run again on its own output (steps.py)
    # bookkeeping
    seed: int = 0
    checkpoint_every: int = 200
    keep_snapshots: bool = False  # also keep each checkpoint's weights in RUN/snapshots/
    val_every: int = 200
    log_every: int = 10
    data_threads: int = 2  # threads making batches ahead of the step (more on a GPU machine)
    distribute: str = "none"  # none | mirrored | multiworker (TensorFlow backend)
    worker_timeout_s: float = 300.0  # multiworker: a collective waiting longer ends the run
    deterministic: bool = False
    notes: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_LIST_FIELDS = {"data", "synthetic_from", "train_only", "exclude"}


def field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(TrainConfig)]


def merge(base: dict, updates: dict, source: str) -> dict:
    known = set(field_names())
    unknown = sorted(set(updates) - known)
    if unknown:
        raise UserError(f"expected recipe keys among {', '.join(sorted(known))}, received unknown "
                        f"{', '.join(unknown)} in {source}; fix the spelling or remove it")
    merged = dict(base)
    for key, value in updates.items():
        if value is None:
            continue
        if key in _LIST_FIELDS and isinstance(value, (str, Path)):
            value = [str(value)]
        if key == "model_config":
            value = {**merged.get("model_config", {}), **value}
        merged[key] = value
    return merged


def load_recipe(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"expected a YAML recipe file, received {path} which does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"could not parse recipe {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UserError(f"expected a mapping of keys in recipe {path}, received {type(data).__name__}")
    return data


def resolve(recipe: str | Path | None = None, overrides: dict | None = None) -> TrainConfig:
    """Defaults <- recipe <- overrides; values are type-checked against the defaults."""
    values = TrainConfig().to_dict()
    if recipe is not None:
        values = merge(values, load_recipe(recipe), str(recipe))
    values = merge(values, overrides or {}, "the command-line overrides")
    config = TrainConfig(**values)
    _check(config)
    return config


def _check(config: TrainConfig) -> None:
    for f in dataclasses.fields(TrainConfig):
        value, default = getattr(config, f.name), getattr(TrainConfig(), f.name)
        if isinstance(default, bool) and not isinstance(value, bool):
            raise UserError(f"expected true/false for {f.name}, received {value!r}")
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise UserError(f"expected a number for {f.name}, received {value!r}")
    if config.steps < 1:
        raise UserError(f"expected steps >= 1, received {config.steps}")
    if config.quantization_aware and config.ofa_threshold_db is not None:
        raise UserError("expected either quantization_aware or ofa_threshold_db, received both; "
                        "fine-tune the detached sub-net quantisation-aware in a second run "
                        "(init_from)")
    if config.unrolled_passes < 1:
        raise UserError(f"expected unrolled_passes >= 1, received {config.unrolled_passes}")
    if config.unrolled_passes > 1 and (config.teacher or config.ofa_threshold_db is not None):
        raise UserError("expected unrolled_passes with plain or quantisation-aware training, "
                        "received it with a teacher or once-for-all; drop one of them")
    if config.data_threads < 1:
        raise UserError(f"expected data_threads >= 1, received {config.data_threads}")
    if config.distribute not in ("none", "mirrored", "multiworker"):
        raise UserError(f"expected distribute none|mirrored|multiworker, received {config.distribute!r}")


def parse_set(items: list[str]) -> dict:
    """`--set key=value` items, values parsed as YAML scalars (`lr=1e-4`, `flips=false`)."""
    result = {}
    for item in items:
        if "=" not in item:
            raise UserError(f"expected --set KEY=VALUE, received {item!r}")
        key, raw = item.split("=", 1)
        result[key.strip()] = yaml.safe_load(raw)
    return result


def write(config: TrainConfig, path: Path) -> None:
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
