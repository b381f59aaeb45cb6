"""Registry of model families.

Each family module defines a frozen dataclass config (with a `multiple` property: the factor
the input height and width must be divisible by), named presets as plain dicts, and one
builder function decorated with `@register_model`:

    @register_model("unet", config=UNetConfig, presets={"default": {}, "tiny": {"width": 8}})
    def build_unet(config: UNetConfig, inputs: keras.KerasTensor) -> keras.KerasTensor: ...

The builder maps an input tensor to an output tensor; the registry wraps it into a
`Denoiser` (a functional `keras.Model` that knows its `family` and `config`), so the same
weights build at any input shape (training on patches, export at a fixed 1×H×W×3). Config
flows one way: dataclass defaults <- preset <- overrides. Family modules are imported lazily
from the explicit `_FAMILY_MODULES` list; a listed module that fails to import is an error.
A family's optional `deploy` hook gives its exported form through `transforms.rebuild`.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mobiledenoise.errors import UserError

_FAMILY_MODULES = ["unet", "noahtcv", "megvii", "enerzai", "moma", "mier", "gdalgo"]

_REGISTRY: dict[str, ModelSpec] = {}
_loaded = False


@dataclass(frozen=True)
class ModelSpec:
    name: str
    config_cls: type
    build_fn: Callable[..., Any]
    presets: dict[str, dict] = field(default_factory=dict)
    summary: str = ""
    deploy_fn: Callable[[Any], Any] | None = None  # training model -> deployable model
    supernet_fn: Callable[[Any], Any] | None = None  # config -> (super-net, sub-net), shared layers


def register_model(name: str, *, config: type, presets: dict[str, dict] | None = None,
                   deploy: Callable[[Any], Any] | None = None,
                   supernet: Callable[[Any], Any] | None = None):
    """Decorator registering a builder; a duplicate name is an error, not an override.

    `deploy` turns a trained `Denoiser` into the one that is exported (fuse ACNet branches,
    drop a super-network's extra blocks, transposed convs as DEPTH_TO_SPACE); it returns a
    registry-built model, normally through `transforms.rebuild`. `supernet` builds
    (super-net, sub-net) from a config for once-for-all training (train/steps.py).
    """

    def decorator(build_fn):
        if name in _REGISTRY:
            raise RuntimeError(f"model {name!r} is registered twice ({build_fn.__module__})")
        doc = (build_fn.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = ModelSpec(name, config, build_fn, dict(presets or {"default": {}}),
                                    doc[0] if doc else "", deploy, supernet)
        return build_fn

    return decorator


def _load_families() -> None:
    """Import every family module; a missing one is an error, not a family quietly gone."""
    global _loaded
    if _loaded:
        return
    for module in _FAMILY_MODULES:
        importlib.import_module(f"mobiledenoise.models.{module}")
    _loaded = True


def list_models() -> list[str]:
    _load_families()
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    _load_families()
    if name not in _REGISTRY:
        raise UserError(f"expected a registered model name ({', '.join(sorted(_REGISTRY))}), "
                        f"received {name!r}; run `mobiledenoise zoo list` to see them")
    return _REGISTRY[name]


def resolve_config(name: str, preset: str | None = None, **overrides):
    """Dataclass defaults <- preset <- overrides (None overrides are dropped)."""
    spec = get_spec(name)
    preset = preset or "default"
    if preset not in spec.presets:
        raise UserError(f"expected a preset of {name} ({', '.join(spec.presets)}), received {preset!r}")
    values = {**spec.presets[preset], **{k: v for k, v in overrides.items() if v is not None}}
    return config_from_dict(name, values)


def config_from_dict(name: str, values: dict):
    spec = get_spec(name)
    known = {f.name: f for f in dataclasses.fields(spec.config_cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise UserError(f"expected config keys of {name} ({', '.join(known)}), received unknown "
                        f"{', '.join(unknown)}; fix the recipe or override")
    coerced = {k: _coerce(v, known[k].default) for k, v in values.items()}
    return spec.config_cls(**coerced)


def _coerce(value, default):
    """YAML/JSON give lists where dataclasses hold tuples."""
    if isinstance(value, list) and isinstance(default, tuple):
        return tuple(_coerce(v, None) for v in value)
    return value


def build_model(name: str, config=None, *, input_shape=(None, None, 3), batch_size=None,
                preset: str | None = None, **overrides):
    """Build model `name` as a `Denoiser`; `config` may be a dataclass or a dict."""
    import keras

    from mobiledenoise.models.denoiser import Denoiser

    spec = get_spec(name)
    if config is None:
        config = resolve_config(name, preset, **overrides)
    elif isinstance(config, dict):
        config = config_from_dict(name, config)
    inputs = keras.Input(shape=tuple(input_shape), batch_size=batch_size, name="noisy")
    outputs = spec.build_fn(config, inputs)
    return Denoiser(inputs, outputs, family=name, config=config, name=name)


def describe(model) -> dict:
    """The JSON-able identity of a `Denoiser`: {"model": name, "config": {...}}."""
    return model.identity


def deployable(model):
    """The model to export: the family's `deploy` transform applied, or the model itself."""
    spec = get_spec(model.family)
    return spec.deploy_fn(model) if spec.deploy_fn else model


def required_multiple(model) -> int:
    """The factor a `Denoiser`'s input height and width must be divisible by."""
    return model.multiple


def family_of(config) -> str:
    """The registered family whose config dataclass `config` is."""
    _load_families()
    return next(spec.name for spec in _REGISTRY.values() if isinstance(config, spec.config_cls))


def check_input_size(config, height: int, width: int) -> None:
    """UserError unless H and W are multiples of the factor `config` (a family config) needs."""
    multiple = config.multiple
    if height % multiple or width % multiple:
        raise UserError(f"expected height and width divisible by {multiple} for model "
                        f"{family_of(config)}, received {height}x{width}; pad or crop to a multiple "
                        f"of {multiple} (the tiled runner pads automatically)")
