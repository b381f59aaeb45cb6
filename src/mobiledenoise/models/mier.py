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
  it is the registry's `deploy` hook, so every export is fused. The 4×4 stride-2 deconvs stay
  TRANSPOSE_CONV: their DEPTH_TO_SPACE form (`up="depth_to_space"`, exact, tested) needs a 3×3
  conv to 4× the channels, 2.25× those layers' weights and MACs, and measured no INT8 gain
  (benchmarks/results/deploy-rewrite-vm.md), unlike the free 2×2 / stride-2 rewrite. `default` fused: ~0.36 M
  parameters (~1.43 MB FP32). In the fused form the ReLU after each deconv is LeakyReLU(0), the
  same map, which TF's converter leaves as its own op: fused into a trained (biased)
  TRANSPOSE_CONV it made that op version 4, which the GPU delegate refuses
  (benchmarks/results/mier-deconv-act-vm.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from keras import layers

from mobiledenoise.models import blocks, transforms
from mobiledenoise.models.registry import register_model


@dataclass(frozen=True)
class MierConfig:
    widths: tuple[int, int] = (32, 64)
    res_blocks: int = 4
    out_width: int = 32
    fused: bool = False  # True: the deployed form (plain 3×3 convs with bias)
    up: str = "transpose"  # transpose | depth_to_space (the deconvs' deployed form)

    @property
    def multiple(self) -> int:
        return 4


def _conv3(x, filters: int, config: MierConfig, name: str, *, strides: int = 1, relu: bool = True,
           zero_init: bool = False):
    make = blocks.acnet_fused_conv if config.fused else blocks.acnet_conv
    x = make(x, filters, strides=strides, name=name, zero_init=zero_init)
    return layers.ReLU(name=f"{name}_act")(x) if relu else x


def _deconv(x, filters: int, config: MierConfig, name: str):
    x = blocks.learnt_up(x, filters, 2, config.up, kernel=4, name=name)
    if config.fused and config.up == "transpose":
        # TF 2.21's converter fuses a ReLU into a biased TRANSPOSE_CONV, and a fused activation
        # makes it op version 4 (op_version.cc; a bias alone is v3), above the GPU delegate's 3.
        # max(x, 0) written as LeakyReLU(0) is not fused: TRANSPOSE_CONV v3 + LEAKY_RELU.
        return layers.LeakyReLU(negative_slope=0.0, name=f"{name}_act")(x)
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
    x = _deconv(x, config.widths[0], config, "up1")
    x = layers.Add(name="up1_skip")([x, skip])
    x = _deconv(x, config.out_width, config, "up2")
    # the residual starts at zero (a fresh model is the identity): with BN scales of one, the
    # untrained tail added ~N(0, 1) noise, and 14 steps left PolyU at 8.6 dB (input 35.95)
    x = _conv3(x, 3, config, "tail", relu=False, zero_init=True)
    return layers.Add(name="residual")([inputs, x])


def fuse(model):
    """`model` with each ACNet block folded (BN in inference mode) into one 3×3 conv with bias
    (`fused=True`); other weights copied by layer name. A fused model is returned unchanged."""
    if model.config.fused:
        return model
    return transforms.rebuild(model, {"fused": True}, convert=transforms.ACNET)
