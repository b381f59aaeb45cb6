"""Architecture-search spaces: compact candidate strings, random sampling and mutation.

A space belongs to one registered model family and knows how to turn a candidate string into
that family's config (and back), how to draw a random candidate and how to change one
decision of a candidate. Candidates are always handled as strings: they name training
folders, cache entries and table rows. Each family's space is one module in `spaces/`,
registered with `@register_space` like the models are, and listed in `_SPACE_MODULES`;
adding a space is adding one module (docs/architecture.md).

Design choices: a mutation changes exactly one decision (a width step, one op, the depth,
the block count, a sampling op, the skip type) so children stay near their parent, which is
what makes regularized evolution better than random sampling; a result that is not a valid
config is re-drawn. Validity here is structural; GPU-delegate compatibility is checked on the
exported graph by the search (op audit) before any training. The hand-designed starting point
is the family's own preset (`default`, or `tiny` for tests), not a copy of it.
"""

from __future__ import annotations

import dataclasses
import importlib
import random

from mobiledenoise.errors import UserError

MAX_LEVELS = 5  # 2^(5-1) = 16 divides both 480 and 720 and the proxy patch sizes
TINY_LADDER = (4, 6, 8)
_SPACE_MODULES = ["noahtcv", "moma"]  # the spaces, in spaces/; the first is the default
DEFAULT_SPACE = _SPACE_MODULES[0]
_SPACES: dict[str, type[Space]] = {}


class Space:
    """The search space of family `model`; subclasses give the string form and the moves."""

    name: str = ""
    model: str = ""  # registry name of the family the candidates decode to
    ladder_widths: tuple[int, ...] = ()

    def __init__(self, tiny: bool = False):
        self.tiny = tiny

    @property
    def ladder(self) -> tuple[int, ...]:
        return TINY_LADDER if self.tiny else self.ladder_widths

    @property
    def max_levels(self) -> int:
        return 3 if self.tiny else MAX_LEVELS

    # --- what a family's space writes ---------------------------------------------------------
    def encode(self, config) -> str:
        raise NotImplementedError

    def decode(self, text: str):
        raise NotImplementedError

    def random_config(self, rng: random.Random):
        """A random config (U-Net-like families start from `random_widths`)."""
        raise NotImplementedError

    def change_one(self, config, rng: random.Random):
        """`config` with one decision changed (may be invalid; the caller re-draws)."""
        raise NotImplementedError

    # --- shared ---------------------------------------------------------------------------------
    def model_config(self, text: str) -> dict:
        """The candidate as a recipe's `model_config` mapping (lists, YAML/JSON-friendly)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self.decode(text)).items()}

    def seeds(self) -> list[str]:
        """Hand-designed starting points: the family's preset (the baseline to beat)."""
        from mobiledenoise.models import resolve_config

        return [self.encode(resolve_config(self.model, "tiny" if self.tiny else "default"))]

    def accepts(self, config) -> bool:
        """Whether a decoded config is inside the space (default: 2..max_levels widths)."""
        return 2 <= len(config.widths) <= self.max_levels and min(config.widths) >= 1

    def sample(self, rng: random.Random) -> str:
        return self.encode(self.random_config(rng))

    def mutate(self, text: str, rng: random.Random, attempts: int = 50) -> str:
        """A valid candidate differing from `text` in one decision."""
        config = self.decode(text)
        for _ in range(attempts):
            try:
                child = self.change_one(config, rng)
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
        return self.accepts(config)

    # draws and moves shared by the U-Net-like families
    def random_widths(self, rng: random.Random) -> tuple[int, ...]:
        """2..max_levels non-decreasing widths from the ladder."""
        levels = rng.randint(2, self.max_levels)
        return tuple(sorted(rng.choice(self.ladder) for _ in range(levels)))

    def step_width(self, widths: tuple[int, ...], rng: random.Random) -> tuple[int, ...]:
        """One level's width moved one rung up or down the ladder."""
        ladder = self.ladder
        level = rng.randrange(len(widths))
        nearest = min(range(len(ladder)), key=lambda i: abs(ladder[i] - widths[level]))
        index = min(max(nearest + rng.choice((-1, 1)), 0), len(ladder) - 1)
        changed = list(widths)
        changed[level] = ladder[index]
        return tuple(sorted(changed))

    def change_depth(self, widths: tuple[int, ...], rng: random.Random) -> tuple[int, ...]:
        """One level more (repeating the last width) or one fewer."""
        if len(widths) < self.max_levels and (len(widths) == 2 or rng.random() < 0.5):
            return widths + (widths[-1],)
        return widths[:-1]


def register_space(cls: type[Space]) -> type[Space]:
    """Class decorator: register a family's space under `cls.name` (duplicates are an error)."""
    if cls.name in _SPACES:
        raise RuntimeError(f"search space {cls.name!r} is registered twice ({cls.__module__})")
    _SPACES[cls.name] = cls
    return cls


def list_spaces() -> list[str]:
    for module in _SPACE_MODULES:
        importlib.import_module(f"mobiledenoise.search.spaces.{module}")
    return list(_SPACES)


def get_space(name: str, tiny: bool = False) -> Space:
    names = list_spaces()
    if name not in names:
        raise UserError(f"expected --space one of {', '.join(names)}, received {name!r}")
    return _SPACES[name](tiny)
