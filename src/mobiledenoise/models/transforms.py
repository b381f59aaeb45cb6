"""Deploy transforms: one mechanism that rebuilds a trained model in another form.

`rebuild(model, changes, convert={layer_type: fn})` builds the registry model of the same
family with `changes` applied to its config and carries the weights over by layer name. A
layer whose source layer (same name, in the trained model) is of a type in `convert` gets
`fn(model, name)`: the source's weights rewritten into the new layer's form. Source layers
without a counterpart (a super-network's extra blocks) are dropped. The weight maths lives on
the blocks (`blocks.fold_acnet`, `blocks.transpose_to_depth_to_space`); the families' deploy
hooks only say which config changes give their exported form.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from keras import layers

from mobiledenoise.models import blocks

Convert = Callable[[object, str], list]


def rebuild(model, changes: dict | None = None, *, convert: dict[type, Convert] | None = None,
            input_shape=None, batch_size=None):
    """`model` rebuilt by the registry with `changes` to its config (and `input_shape` /
    `batch_size`, else the model's own), carrying its weights by layer name (module docstring)."""
    from mobiledenoise.models.registry import build_model

    config = dataclasses.replace(model.config, **(changes or {}))
    shape = model.inputs[0].shape
    target = build_model(model.family, config,
                         input_shape=shape[1:] if input_shape is None else input_shape,
                         batch_size=shape[0] if input_shape is None else batch_size)
    for layer in target.layers:
        if not layer.weights:
            continue
        source = model.get_layer(layer.name)
        rewrite = (convert or {}).get(type(source))
        layer.set_weights(list(rewrite(model, layer.name)) if rewrite else source.get_weights())
    return target


def transposed_as_depth_to_space(model, name: str) -> list:
    """The weights of transposed conv `name` as the conv of its DEPTH_TO_SPACE form."""
    layer = model.get_layer(name)
    return list(blocks.transpose_to_depth_to_space(*layer.get_weights(), block=layer.strides[0]))


def acnet_as_conv(model, name: str) -> list:
    """The weights of ACNet block `name` (its sum layer) as one 3×3 conv with bias."""
    return list(blocks.fold_acnet(model, name))


LEARNT_UP = {layers.Conv2DTranspose: transposed_as_depth_to_space}
ACNET = {layers.Add: acnet_as_conv}


def deploy_learnt_up(model, convert: dict[type, Convert] | None = None, **changes):
    """The exported form of a family whose config has an `up` field: a learnt `transpose`
    up-sampling becomes the same map written as a conv + DEPTH_TO_SPACE (`up="depth_to_space"`),
    plus any other config `changes`. `model` itself when nothing changes. For a k×k stride-k
    transposed conv the conv is 1×1 with the same weights (free); an overlapping one (mier's
    4×4 / 2) would need a larger conv, so that family keeps its TRANSPOSE_CONV.

    Equal in float; it matters for INT8. TF 2.21's converter gives a TRANSPOSE_CONV that feeds
    an ADD an int8 range stretched to the ADD's maximum (measured on unet's exit: [-0.27, 1.07]
    where its float output spans [-0.27, 0.37]), so the output is rounded ~3× more coarsely than
    needed; a conv keeps its own range (benchmarks/results/deploy-rewrite-vm.md per family)."""
    if model.config.up == "transpose":
        changes["up"] = "depth_to_space"
    deployed = dataclasses.replace(model.config, **changes)
    if deployed == model.config:
        return model
    return rebuild(model, changes, convert={**LEARNT_UP, **(convert or {})})
