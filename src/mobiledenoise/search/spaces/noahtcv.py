"""The `noahtcv` search space: `NoahTCVConfig` candidates in the family's own string form
(`models/noahtcv.py` `encode`/`decode`).

2-5 levels (at most 4 down-samplings, so 480×720 stays divisible), non-decreasing widths from
a ladder, one op per encoder/decoder level (3×3 conv, depthwise-separable, dilated), 1-3 blocks
per level, down/up-sampling ops and skip type. ReLU only (the GPU delegate fuses it).
"""

from __future__ import annotations

import dataclasses
import random

from mobiledenoise.models import noahtcv
from mobiledenoise.search.space import Space, register_space


@register_space
class NoahTCVSpace(Space):
    name = model = "noahtcv"
    ladder_widths = (8, 12, 16, 24, 32, 48, 64)

    def encode(self, config: noahtcv.NoahTCVConfig) -> str:
        return noahtcv.encode(config)

    def decode(self, text: str) -> noahtcv.NoahTCVConfig:
        return noahtcv.decode(text)

    @property
    def max_blocks(self) -> int:
        return 2 if self.tiny else 3

    def random_config(self, rng: random.Random) -> noahtcv.NoahTCVConfig:
        widths = self.random_widths(rng)
        ops, levels = tuple(noahtcv.OPS), len(widths)
        return noahtcv.NoahTCVConfig(
            widths=widths, encoder_ops=tuple(rng.choice(ops) for _ in range(levels)),
            decoder_ops=tuple(rng.choice(ops) for _ in range(levels - 1)),
            blocks_per_level=rng.randint(1, self.max_blocks), down=rng.choice(noahtcv.DOWNS),
            up=rng.choice(noahtcv.UPS), skip=rng.choice(noahtcv.SKIPS))

    def change_one(self, config: noahtcv.NoahTCVConfig, rng: random.Random):
        ops = tuple(noahtcv.OPS)
        choice = rng.choice(("width", "depth", "encoder_op", "decoder_op", "blocks", "down", "up",
                             "skip"))
        if choice == "width":
            return dataclasses.replace(config, widths=self.step_width(config.widths, rng))
        if choice == "depth":
            widths = self.change_depth(config.widths, rng)
            grow = len(widths) > len(config.widths)
            enc = config.encoder_ops + (rng.choice(ops),) if grow else config.encoder_ops[:-1]
            dec = config.decoder_ops + (rng.choice(ops),) if grow else config.decoder_ops[:-1]
            return dataclasses.replace(config, widths=widths, encoder_ops=enc, decoder_ops=dec)
        if choice in ("encoder_op", "decoder_op"):
            key = f"{choice}s"
            values = list(getattr(config, key))
            values[rng.randrange(len(values))] = rng.choice(ops)
            return dataclasses.replace(config, **{key: tuple(values)})
        if choice == "blocks":
            return dataclasses.replace(config, blocks_per_level=min(max(
                config.blocks_per_level + rng.choice((-1, 1)), 1), self.max_blocks))
        options = {"down": noahtcv.DOWNS, "up": noahtcv.UPS, "skip": noahtcv.SKIPS}[choice]
        return dataclasses.replace(config, **{choice: rng.choice(options)})
