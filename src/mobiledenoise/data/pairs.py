"""Finding noisy/clean pairs in a folder, and splitting them by scene.

Layouts recognised (checked in this order):
1. `noisy/` + `clean/` sub-folders holding files with equal names (shared/data/*, the output
   of `mobiledenoise data build`);
2. a flat folder (searched recursively) of suffix pairs: `<name>_real.*` / `<name>_mean.*`
   (PolyU), `NOISY_<name>.*` / `GT_<name>.*` (SIDD), `<name>_noisy.*` / `<name>_clean.*`.

The scene of a pair is its name with a trailing `_<number>` (crop or frame index) removed,
so crops of one capture never straddle the train/validation split. The split is a pure
function of the scene names and the seed: the same on every machine.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from mobiledenoise.data.imageio import is_image_path
from mobiledenoise.errors import UserError

_SUFFIX_RULES = [  # (regex for the noisy file stem, how the clean stem is made from the name)
    (re.compile(r"^(?P<name>.+)_real$", re.I), ("{name}_mean", "{name}_Mean", "{name}_MEAN")),
    (re.compile(r"^NOISY_(?P<name>.+)$"), ("GT_{name}",)),
    (re.compile(r"^(?P<name>.+)_noisy$", re.I), ("{name}_clean", "{name}_gt")),
]


@dataclass(frozen=True)
class Pair:
    name: str
    noisy: Path
    clean: Path

    @property
    def scene(self) -> str:
        return scene_of(self.name)


def scene_of(name: str) -> str:
    """`Canon5D2_5_160_3200_chair_11` -> `Canon5D2_5_160_3200_chair`."""
    return re.sub(r"_\d+$", "", name)


def find_pairs(root: str | Path) -> list[Pair]:
    """All noisy/clean pairs under `root`, sorted by name."""
    root = Path(root)
    if not root.exists():
        raise UserError(f"expected a data folder, received {root} which does not exist; check the path")
    if not root.is_dir():
        raise UserError(f"expected a data folder, received {root} which is a file")
    if (root / "noisy").is_dir() and (root / "clean").is_dir():
        pairs = _folder_pairs(root)
    else:
        pairs = _suffix_pairs(root)
    if not pairs:
        raise UserError(
            f"expected noisy/clean pairs in {root} (noisy/ + clean/ with equal file names, or "
            f"*_real/*_mean, NOISY_*/GT_* files), found none; check the folder layout")
    return sorted(pairs, key=lambda p: p.name)


def _folder_pairs(root: Path) -> list[Pair]:
    noisy = {p.name: p for p in (root / "noisy").iterdir() if is_image_path(p)}
    clean = {p.name: p for p in (root / "clean").iterdir() if is_image_path(p)}
    unmatched = sorted(set(noisy) ^ set(clean))
    if unmatched and not (set(noisy) & set(clean)):
        raise UserError(f"expected equal file names in {root}/noisy and {root}/clean, found no "
                        f"common name (e.g. {unmatched[0]}); name each pair's two files alike")
    return [Pair(Path(n).stem, noisy[n], clean[n]) for n in sorted(set(noisy) & set(clean))]


def _suffix_pairs(root: Path) -> list[Pair]:
    files = [p for p in root.rglob("*") if p.is_file() and is_image_path(p)]
    by_stem = {(p.parent, p.stem): p for p in files}
    pairs = []
    for path in files:
        for pattern, clean_forms in _SUFFIX_RULES:
            match = pattern.match(path.stem)
            if not match:
                continue
            name = match["name"]
            for form in clean_forms:
                clean = by_stem.get((path.parent, form.format(name=name)))
                if clean is not None:
                    rel = path.parent.relative_to(root)
                    full = name if rel == Path(".") else f"{rel.as_posix().replace('/', '_')}_{name}"
                    pairs.append(Pair(full, path, clean))
                    break
            break
    return pairs


def find_clean_images(root: str | Path) -> list[Pair]:
    """Clean-only images (any folder of photos) as pairs whose noisy side is the clean file
    itself: the patch sampler always gives them synthetic camera noise."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"expected a folder of clean images, received {root}; check the path")
    files = sorted(p for p in root.rglob("*") if p.is_file() and is_image_path(p))
    if not files:
        raise UserError(f"expected clean images (PNG, JPEG, TIFF) in {root}, found none")
    return [Pair(f"synthetic_{p.stem}", p, p) for p in files]


def is_excluded(name: str, patterns) -> bool:
    """Whether a pair or image name (no suffix) matches one of a recipe's `exclude` globs."""
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


def split_by_scene(pairs: list[Pair], val_fraction: float = 0.2, seed: int = 0
                   ) -> tuple[list[Pair], list[Pair]]:
    """Deterministic train/validation split with every scene wholly on one side.

    Scenes are ordered by a hash of (seed, scene) and the first ones (about `val_fraction` of
    the scenes, at least one when there are two or more) go to validation.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise UserError(f"expected a validation fraction in [0, 1), received {val_fraction}")
    scenes = sorted({p.scene for p in pairs},
                    key=lambda s: hashlib.sha256(f"{seed}:{s}".encode()).hexdigest())
    n_val = round(len(scenes) * val_fraction)
    if val_fraction > 0 and len(scenes) >= 2:
        n_val = min(max(n_val, 1), len(scenes) - 1)
    val_scenes = set(scenes[:n_val])
    train = [p for p in pairs if p.scene not in val_scenes]
    val = [p for p in pairs if p.scene in val_scenes]
    return train, val


def load_pair(pair: Pair):
    """(noisy, clean) arrays of one pair; sizes must match. A clean-only pair (one file on
    both sides) is decoded once and returns the same array twice."""
    from mobiledenoise.data.imageio import read_image

    if pair.noisy == pair.clean:
        clean = read_image(pair.clean)
        return clean, clean
    noisy, clean = read_image(pair.noisy), read_image(pair.clean)
    if noisy.shape != clean.shape:
        raise UserError(f"expected noisy and clean of one size for pair {pair.name}, received "
                        f"{noisy.shape[:2]} and {clean.shape[:2]}; re-export or drop the pair")
    return noisy, clean
