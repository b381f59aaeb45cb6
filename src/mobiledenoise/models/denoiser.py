"""`Denoiser`: a registry-built model that carries its identity as a type.

A `Denoiser` is a functional `keras.Model` (the same graph, weights and speed) plus the two
things that built it: the registered `family` name and its config dataclass. Everything that
must know what a model is (export, the run folder's model.json, input-size checks, deploy
transforms) reads these two fields; nothing attaches attributes to a model after the fact.
`get_config` / `from_config` serialise the identity, not the layer graph, and rebuild through
the registry (keras-hub's `Backbone` does the same).
"""

from __future__ import annotations

import dataclasses

import keras


@keras.saving.register_keras_serializable(package="mobiledenoise")
class Denoiser(keras.Model):
    """A functional model of registered family `family` built from `config`."""

    def __init__(self, inputs, outputs, *, family: str, config, **kwargs):
        super().__init__(inputs, outputs, **kwargs)
        self.family = family
        self.config = config

    @property
    def multiple(self) -> int:
        """The factor the input height and width must be divisible by."""
        return self.config.multiple

    @property
    def identity(self) -> dict:
        """The JSON-able identity: {"model": family, "config": {...}} (a run's model.json)."""
        return {"model": self.family, "config": dataclasses.asdict(self.config)}

    def get_config(self) -> dict:
        shape = self.inputs[0].shape
        return {"name": self.name, **self.identity, "input_shape": list(shape[1:]),
                "batch_size": shape[0]}

    @classmethod
    def from_config(cls, config: dict) -> Denoiser:
        from mobiledenoise.models.registry import build_model

        return build_model(config["model"], config["config"],
                           input_shape=tuple(config["input_shape"]), batch_size=config["batch_size"])
