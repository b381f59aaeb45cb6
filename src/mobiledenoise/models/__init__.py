"""Model zoo: a registry of Keras denoisers built by name from dataclass configs."""

from mobiledenoise.models.registry import (  # noqa: F401
    ModelSpec,
    build_model,
    config_from_dict,
    get_spec,
    list_models,
    register_model,
    resolve_config,
)
