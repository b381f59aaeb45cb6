"""Files shipped inside the package, found the same way from a checkout and from a wheel.

The package carries what its commands read at run time (pyproject's package-data):
`samples/` (the demo's PolyU pair with its licence notice), `recipes/` (the training recipes;
the search writes `best.yaml` from its family's one) and `weights/` (the shipped models).
They are located with `importlib.resources`, never relative to a checkout, so an installed
wheel works from any folder. In a checkout, `examples/` and `recipes/` at the top are links to
the packaged folders, so the documented paths (`recipes/default.yaml`) keep working.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from mobiledenoise.errors import UserError

SAMPLE_NOISY = "polyu_sample_noisy.png"
SAMPLE_CLEAN = "polyu_sample_clean.png"


def package_folder(name: str) -> Path:
    """The packaged folder `name` (samples, recipes, weights) as a real path.

    The package is installed as plain files (setuptools wheels are not zip-safe here), so the
    traversable is a filesystem path; anything else is a broken install, said in one line."""
    folder = Path(str(files("mobiledenoise") / name))
    if not folder.is_dir():
        raise UserError(f"expected the packaged folder {name}/ at {folder}, which is missing; "
                        "reinstall mobiledenoise (pip install --force-reinstall mobiledenoise)")
    return folder


def sample_pair() -> tuple[Path, Path]:
    """(noisy, clean) paths of the bundled 256×256 PolyU validation crop."""
    folder = package_folder("samples")
    return folder / SAMPLE_NOISY, folder / SAMPLE_CLEAN


def recipe_path(name: str) -> Path:
    """Path of the packaged recipe `name` (`recipes/<name>.yaml`); it may not exist (a model
    family without a recipe), which callers check."""
    return package_folder("recipes") / f"{name}.yaml"
