"""Architecture-search spaces: compact candidate strings, random sampling and mutation.

A `Space` names a registered model family and knows how to turn a candidate string into that
family's config (and back), how to draw a random candidate and how to mutate one. Candidates
are always handled as strings: they name training folders, cache entries and table rows.

- `noahtcv`: the `NoahTCVConfig` space of `models/noahtcv.py` (its own `encode`/`decode`):
  2-5 levels (at most 4 down-samplings, so 480×720 stays divisible), non-decreasing widths
  from a ladder, one op per encoder/decoder level (3×3 conv, depthwise-separable, dilated),
  1-3 blocks per level, down/up-sampling ops and skip type. ReLU only (the GPU delegate fuses it).
- `moma`: `MomaConfig` (`models/moma.py`) encoded here as ``w32-64-96_k3_c2_up:bilinear``.
- `tiny=True` shrinks the width ladders and depth so tests run in seconds.

Design choices: a mutation changes exactly one decision (a width step, one op, the depth,
the block count, a sampling op, the skip type) so children stay near their parent, which is
what makes regularized evolution better than random sampling; a result that is not a valid
config is re-drawn. Validity here is structural; GPU-delegate compatibility is checked on the
exported graph by the search (op audit) before any training.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

from mobiledenoise.errors import UserError
from mobiledenoise.models import moma, noahtcv

MAX_LEVELS = 5  # 2^(5-1) = 16 divides both 480 and 720 and the proxy patch sizes


@dataclass(frozen=True)
class Space:
    name: str
    model: str  # registry name of the family the candidates decode to
    tiny: bool = False

    @property
    def ladder(self) -> tuple[int, ...]:
        if self.tiny:
            return (4, 6, 8)
        if self.name == "noahtcv":
            return (8, 12, 16, 24, 32, 48, 64)
        return (16, 24, 32, 48, 64, 96, 128, 160)

    @property
    def max_levels(self) -> int:
        return 3 if self.tiny else MAX_LEVELS

    def decode(self, text: str):
        return noahtcv.decode(text) if self.name == "noahtcv" else decode_moma(text)

    def encode(self, config) -> str:
        return noahtcv.encode(config) if self.name == "noahtcv" else encode_moma(config)

    def model_config(self, text: str) -> dict:
        """The candidate as a recipe's `model_config` mapping (lists, YAML/JSON-friendly)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self.decode(text)).items()}

    def seeds(self) -> list[str]:
        """Hand-designed starting points: the family's preset (the baseline to beat)."""
        if self.name == "noahtcv":
            config = noahtcv.NoahTCVConfig(**_TINY_NOAH) if self.tiny else noahtcv.NoahTCVConfig()
        else:
            config = moma.MomaConfig(**_TINY_MOMA) if self.tiny else moma.MomaConfig()
        return [self.encode(config)]

    def sample(self, rng: random.Random) -> str:
        levels = rng.randint(2, self.max_levels)
        widths = tuple(sorted(rng.choice(self.ladder) for _ in range(levels)))
        if self.name == "moma":
            return self.encode(moma.MomaConfig(widths=widths, kernel=rng.choice((3, 5)),
                                               convs_per_level=rng.randint(1, 2),
                                               up=rng.choice(("bilinear", "nearest", "transpose"))))
        ops = tuple(noahtcv.OPS)
        return self.encode(noahtcv.NoahTCVConfig(
            widths=widths, encoder_ops=tuple(rng.choice(ops) for _ in range(levels)),
            decoder_ops=tuple(rng.choice(ops) for _ in range(levels - 1)),
            blocks_per_level=rng.randint(1, 2 if self.tiny else 3), down=rng.choice(noahtcv.DOWNS),
            up=rng.choice(noahtcv.UPS), skip=rng.choice(noahtcv.SKIPS)))

    def mutate(self, text: str, rng: random.Random, attempts: int = 50) -> str:
        """A valid candidate differing from `text` in one decision."""
        config = self.decode(text)
        for _ in range(attempts):
            mutate = _mutate_noahtcv if self.name == "noahtcv" else _mutate_moma
            try:
                child = mutate(config, rng, self)
            except (UserError, ValueError, IndexError):
                continue
            child_text = self.encode(child)
            if child_text != text and self.is_valid(child_text):
                return child_text
        raise RuntimeError(f"could not mutate {text!r} into a different valid candidate")

    def is_valid(self, text: str) -> bool:
        try:
            config = self.decode(text)
        except UserError:
            return False
        return 2 <= len(config.widths) <= self.max_levels and min(config.widths) >= 1


_TINY_NOAH = {"widths": (4, 8), "encoder_ops": ("conv3x3", "dilated"), "decoder_ops": ("dwsep",),
              "blocks_per_level": 1}
_TINY_MOMA = {"widths": (8, 16), "convs_per_level": 1}


def get_space(name: str, tiny: bool = False) -> Space:
    if name not in SPACES:
        raise UserError(f"expected --space one of {', '.join(SPACES)}, received {name!r}")
    return Space(name, SPACES[name], tiny)


SPACES = {"noahtcv": "noahtcv", "moma": "moma"}


# --- mutations ----------------------------------------------------------------------------------

def _step_width(widths: tuple[int, ...], rng: random.Random,
                ladder: tuple[int, ...]) -> tuple[int, ...]:
    level = rng.randrange(len(widths))
    nearest = min(range(len(ladder)), key=lambda i: abs(ladder[i] - widths[level]))
    index = min(max(nearest + rng.choice((-1, 1)), 0), len(ladder) - 1)
    changed = list(widths)
    changed[level] = ladder[index]
    return tuple(sorted(changed))


def _change_depth(widths: tuple[int, ...], rng: random.Random, space: Space) -> tuple[int, ...]:
    if len(widths) < space.max_levels and (len(widths) == 2 or rng.random() < 0.5):
        return widths + (widths[-1],)
    return widths[:-1]


def _mutate_noahtcv(config: noahtcv.NoahTCVConfig, rng: random.Random, space: Space):
    ops = tuple(noahtcv.OPS)
    choice = rng.choice(("width", "depth", "encoder_op", "decoder_op", "blocks", "down", "up",
                         "skip"))
    if choice == "width":
        return dataclasses.replace(config, widths=_step_width(config.widths, rng, space.ladder))
    if choice == "depth":
        widths = _change_depth(config.widths, rng, space)
        grow = len(widths) > len(config.widths)
        enc = config.encoder_ops + (rng.choice(ops),) if grow else config.encoder_ops[:-1]
        dec = config.decoder_ops + (rng.choice(ops),) if grow else config.decoder_ops[:-1]
        return dataclasses.replace(config, widths=widths, encoder_ops=enc, decoder_ops=dec)
    if choice in ("encoder_op", "decoder_op"):
        key = f"{choice.split('_')[0]}_ops"
        values = list(getattr(config, key))
        values[rng.randrange(len(values))] = rng.choice(ops)
        return dataclasses.replace(config, **{key: tuple(values)})
    if choice == "blocks":
        top = 2 if space.tiny else 3
        return dataclasses.replace(config, blocks_per_level=min(max(
            config.blocks_per_level + rng.choice((-1, 1)), 1), top))
    options = {"down": noahtcv.DOWNS, "up": noahtcv.UPS, "skip": noahtcv.SKIPS}[choice]
    return dataclasses.replace(config, **{choice: rng.choice(options)})


def _mutate_moma(config: moma.MomaConfig, rng: random.Random, space: Space):
    choice = rng.choice(("width", "depth", "kernel", "convs", "up"))
    if choice == "width":
        return dataclasses.replace(config, widths=_step_width(config.widths, rng, space.ladder))
    if choice == "depth":
        return dataclasses.replace(config, widths=_change_depth(config.widths, rng, space))
    if choice == "kernel":
        return dataclasses.replace(config, kernel=5 if config.kernel == 3 else 3)
    if choice == "convs":
        return dataclasses.replace(config, convs_per_level=min(max(
            config.convs_per_level + rng.choice((-1, 1)), 1), 3))
    return dataclasses.replace(config, up=rng.choice(("bilinear", "nearest", "transpose")))


# --- the moma string form -------------------------------------------------------------------------

def encode_moma(config: moma.MomaConfig) -> str:
    return (f"w{'-'.join(map(str, config.widths))}_k{config.kernel}_c{config.convs_per_level}"
            f"_up:{config.up}")


def decode_moma(text: str) -> moma.MomaConfig:
    values: dict = {}
    try:
        for part in text.split("_"):
            if part.startswith("w"):
                values["widths"] = tuple(int(v) for v in part[1:].split("-"))
            elif part.startswith("k"):
                values["kernel"] = int(part[1:])
            elif part.startswith("c"):
                values["convs_per_level"] = int(part[1:])
            elif part.startswith("up:"):
                values["up"] = part[3:]
            else:
                raise ValueError(f"unknown part {part!r}")
    except ValueError as exc:
        raise UserError(f"expected a moma candidate string like "
                        f"{encode_moma(moma.MomaConfig())!r}, received {text!r} ({exc})") from None
    return moma.MomaConfig(**values)
