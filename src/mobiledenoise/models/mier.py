"""`mier` — Mier (5th place): a small U-Net-like net trained with ACNet blocks, fused for export.

Report §4.5 (Fig. 8): two stride-2 convs, four residual blocks with skip connections, two
deconvolutions; during training asymmetric convolutions (ACNet) strengthen the kernel
skeleton and are fused after training; trained in PyTorch; 1528 KB.
Choices where the text is silent:
- every 3×3 conv is, during training, an ACNet block: 3×3 + 1×3 + 3×1 convs without bias,
  each with BatchNorm, summed (`blocks.acnet_conv`); `fused=True` builds plain 3×3 convs with
  bias in their place (`blocks.acnet_fused_conv`) under the same names. Padding is PyTorch's
  symmetric `padding=1`, so the fusion is exact at stride 2 too (see blocks.py).
- layout: down1 (3×3 s2, widths[0]) -> down2 (3×3 s2, widths[1]) -> `res_blocks` residual
  blocks (conv-ReLU-conv + identity) -> up1 (4×4 transposed conv s2, widths[0]) + down1's
  output (the U-Net skip) -> up2 (4×4 transposed conv s2, `out_width`) -> tail 3×3 conv to
  RGB; output = input + tail. ReLU after every conv except the residual blocks' second conv
  and the tail. 4×4/stride-2 deconvs match PyTorch's `ConvTranspose2d(4, 2, padding=1)`.
- `fuse(model)` folds BN (inference statistics) and the three branches into the 3×3 kernels;
  it is the registry's `deploy` hook, so every export is fused. `default` fused: ~0.36 M
  parameters (~1.43 MB FP32).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from keras import layers

from mobiledenoise.models import blocks
from mobiledenoise.models.registry import build_model, register_model


@dataclass(frozen=True)
class MierConfig:
    widths: tuple[int, int] = (32, 64)
    res_blocks: int = 4
    out_width: int = 32
    fused: bool = False  # True: the deployed form (plain 3×3 convs with bias)

    @property
    def multiple(self) -> int:
        return 4


def _conv3(x, filters: int, config: MierConfig, name: str, *, strides: int = 1, relu: bool = True):
    make = blocks.acnet_fused_conv if config.fused else blocks.acnet_conv
    x = make(x, filters, strides=strides, name=name)
    return layers.ReLU(name=f"{name}_act")(x) if relu else x


def _deconv(x, filters: int, name: str):
    x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", name=name)(x)
    return layers.ReLU(name=f"{name}_act")(x)


@register_model("mier", config=MierConfig, presets={
    "default": {},
    "tiny": {"widths": (4, 8), "res_blocks": 1, "out_width": 4},
}, deploy=lambda model: fuse(model))
def build_mier(config: MierConfig, inputs):
    """Mier: stride-2 convs, residual blocks, deconvs; ACNet blocks fused after training."""
    skip = _conv3(inputs, config.widths[0], config, "down1", strides=2)
    x = _conv3(skip, config.widths[1], config, "down2", strides=2)
    for b in range(config.res_blocks):
        y = _conv3(x, config.widths[1], config, f"res{b}_conv0")
        y = _conv3(y, config.widths[1], config, f"res{b}_conv1", relu=False)
        x = layers.Add(name=f"res{b}")([x, y])
    x = _deconv(x, config.widths[0], "up1")
    x = layers.Add(name="up1_skip")([x, skip])
    x = _deconv(x, config.out_width, "up2")
    x = _conv3(x, 3, config, "tail", relu=False)
    return layers.Add(name="residual")([inputs, x])


def fuse(model):
    """The deployable `mier`: the same architecture with `fused=True`, each ACNet block folded
    (BN in inference mode) into one 3×3 conv with bias; other weights copied by layer name.
    A fused model is returned unchanged."""
    config = model.denoiser_config
    if config.fused:
        return model
    fused = build_model("mier", dataclasses.replace(config, fused=True),
                        input_shape=model.input_shape[1:], batch_size=model.input_shape[0])
    for layer in fused.layers:
        if not layer.weights:
            continue
        source = model.get_layer(layer.name)
        if source.weights:
            layer.set_weights(source.get_weights())
        else:  # the ACNet block's Add layer has this name; its branches hold the weights
            layer.set_weights(list(blocks.fold_acnet(model, layer.name)))
    return fused
